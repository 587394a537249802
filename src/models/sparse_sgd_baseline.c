/* The sparse training loops compiled for the baseline instruction set: one compilation unit per
 * instruction set (src/common/fgd_isa.h), as the model kernels. */
#include "sparse_sgd_decl.h"

#define FGD_ISA 0
#define FGD_ISA_BODY "sparse_sgd_types.h"
#include "fgd_isa.h"

/* The loops of every instruction set, by [isa][loop][value type, index type]. */
#define FGDSP_ROW(tag) { \
    {FGDSP_FNS(fgdsp_sgd_epoch, tag)}, {FGDSP_FNS(fgdsp_adam_epoch, tag)}, \
    {FGDSP_FNS(fgdsp_softmax_epoch, tag)}, {FGDSP_FNS(fgdsp_momentum_epoch, tag)} }
const fgdsp_fn fgdsp_table[FGD_N_ISAS][FGDSP_N_LOOPS][4] = {
    FGDSP_ROW(_baseline),
#if FGD_HAVE_X86_VARIANTS
    FGDSP_ROW(_avx2),
    FGDSP_ROW(_avx512),
#endif
};
