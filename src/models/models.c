/*
 * The model core's tables of entry points, one per instruction set (the kernels are in
 * models_<isa>.c), narrowest first, in the order of fgd_isa_supported.
 */
#include "models.h"

#define FGDM_TABLE(TAG) { #TAG,                                                          \
    { fgdm_loss_grad_f32_##TAG, fgdm_loss_grad_f64_##TAG },                               \
    { fgdm_norm_part_f32_##TAG, fgdm_norm_part_f64_##TAG },                               \
    { fgdm_scale_f32_##TAG, fgdm_scale_f64_##TAG },                                       \
    { fgdm_clamp_f32_##TAG, fgdm_clamp_f64_##TAG },                                       \
    { { fgdm_csr_loss_grad_f32_i32_##TAG, fgdm_csr_loss_grad_f32_i64_##TAG },              \
      { fgdm_csr_loss_grad_f64_i32_##TAG, fgdm_csr_loss_grad_f64_i64_##TAG } },            \
    { { fgdm_csr_decision_f32_i32_##TAG, fgdm_csr_decision_f32_i64_##TAG },                \
      { fgdm_csr_decision_f64_i32_##TAG, fgdm_csr_decision_f64_i64_##TAG } } }

FGD_HIDDEN const fgdm_table fgdm_tables[FGDM_N_TABLES] = {
    FGDM_TABLE(baseline),
#if FGD_HAVE_X86_VARIANTS
    FGDM_TABLE(avx2),
    FGDM_TABLE(avx512),
#endif
};
