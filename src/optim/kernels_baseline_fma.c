/* The fused multiply-add twin of the baseline optimizer kernels (src/common/fgd_isa.h,
 * FGD_MADD in kernel_dtype.h): torch.optim's rules only, for fastgd.set_fma(True). */
#include "kernels.h"

#define FGD_ISA 0
#define FGD_FMA 1
#define FGD_ISA_BODY "kernel_dtype.h"
#include "fgd_isa.h"
