/* The sparse training loops compiled for AVX-512F: one compilation unit per
 * instruction set (src/common/fgd_isa.h), as the model kernels. */
#include "sparse_sgd_decl.h"

#define FGD_ISA 2
#define FGD_ISA_BODY "sparse_sgd_types.h"
#include "fgd_isa.h"
