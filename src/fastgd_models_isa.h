/*
 * One instruction set's model kernels, for both element types. Included by
 * fastgd_models.h once per instruction set, with FGDM_ISA_TAG (_baseline, _avx2, _avx512)
 * defined and the matching `#pragma GCC target` in force.
 */

#define FGDM_T float
#define FGDM_S(name) FGDM_CAT(FGDM_CAT(name, _f32), FGDM_ISA_TAG)
#include "fastgd_models_impl.h"
#undef FGDM_T
#undef FGDM_S

#define FGDM_T double
#define FGDM_S(name) FGDM_CAT(FGDM_CAT(name, _f64), FGDM_ISA_TAG)
#include "fastgd_models_impl.h"
#undef FGDM_T
#undef FGDM_S
