/* The model kernels compiled for AVX2: one compilation unit per instruction set
 * (src/common/fgd_isa.h), so that the build compiles them in parallel. */
#include "models.h"

#define FGD_ISA 1
#define FGD_ISA_BODY "models_dtype.h"
#include "fgd_isa.h"
