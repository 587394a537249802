/*
 * One instruction set's kernels, for both element types. Included by fastgd_kernels.h once
 * per instruction set, with FGD_ISA_TAG (_baseline, _avx2, _avx512) defined and the
 * matching `#pragma GCC target` in force.
 */

#define FGD_T float
#define FGD_SUFFIX(name) FGD_CAT(FGD_CAT(name, _f32), FGD_ISA_TAG)
#define FGD_SQRT sqrtf
#include "fastgd_kernels_impl.h"
#undef FGD_T
#undef FGD_SUFFIX
#undef FGD_SQRT

#define FGD_T double
#define FGD_SUFFIX(name) FGD_CAT(FGD_CAT(name, _f64), FGD_ISA_TAG)
#define FGD_SQRT sqrt
#include "fastgd_kernels_impl.h"
#undef FGD_T
#undef FGD_SUFFIX
#undef FGD_SQRT
