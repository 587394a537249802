/*
 * One instruction set's model kernels, for both element types. Included by
 * src/common/fgd_isa.h in each models_<isa>.c, with FGD_ISA_TAG (_baseline, _avx2,
 * _avx512) defined and the matching `#pragma GCC target` in force.
 */

#define FGDM_T float
#define FGDM_TSUF _f32
#define FGDM_S(name) FGD_CAT(FGD_CAT(name, _f32), FGD_ISA_TAG)
#include "models_impl.h"
#undef FGDM_T
#undef FGDM_TSUF
#undef FGDM_S

#define FGDM_T double
#define FGDM_TSUF _f64
#define FGDM_S(name) FGD_CAT(FGD_CAT(name, _f64), FGD_ISA_TAG)
#include "models_impl.h"
#undef FGDM_T
#undef FGDM_TSUF
#undef FGDM_S
