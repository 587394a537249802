/*
 * The optimizer core's tables of entry points, one per instruction set (the kernels are in
 * kernels_<isa>.c), the kernel names and the names each kernel's entry reads, and the thread settings every instruction set's
 * kernels read (fgd_parallel.h; fastgd.backends._core sets them).
 */
#include "kernels.h"

FGD_HIDDEN ptrdiff_t fgd_parallel_min = FGD_PARALLEL_MIN;
FGD_HIDDEN int fgd_thread_override = 0;

#define FGD_NAME_(k) #k,
FGD_HIDDEN const char *const fgd_kernel_names[FGD_N_KERNELS] = { FGD_KERNEL_LIST(FGD_NAME_) };
#undef FGD_NAME_

#define FGD_ARGS_(k) &fgd_##k##_args,
FGD_HIDDEN const fgd_kernel_args *const fgd_kernel_arguments[FGD_N_KERNELS] = {
    FGD_KERNEL_LIST(FGD_ARGS_)
};
#undef FGD_ARGS_

#define FGD_F32_baseline_(k) fgd_##k##_call_f32_baseline,
#define FGD_F64_baseline_(k) fgd_##k##_call_f64_baseline,
#define FGD_F32_avx2_(k) fgd_##k##_call_f32_avx2,
#define FGD_F64_avx2_(k) fgd_##k##_call_f64_avx2,
#define FGD_F32_avx512_(k) fgd_##k##_call_f32_avx512,
#define FGD_F64_avx512_(k) fgd_##k##_call_f64_avx512,
#define FGD_TABLE(TAG) { #TAG, { FGD_KERNEL_LIST(FGD_F32_##TAG##_) },             \
                         { FGD_KERNEL_LIST(FGD_F64_##TAG##_) } }

#define FGD_F32_baseline_fma_(k) fgd_##k##_call_f32_baseline_fma,
#define FGD_F64_baseline_fma_(k) fgd_##k##_call_f64_baseline_fma,
#define FGD_F32_avx2_fma_(k) fgd_##k##_call_f32_avx2_fma,
#define FGD_F64_avx2_fma_(k) fgd_##k##_call_f64_avx2_fma,
#define FGD_F32_avx512_fma_(k) fgd_##k##_call_f32_avx512_fma,
#define FGD_F64_avx512_fma_(k) fgd_##k##_call_f64_avx512_fma,
/* A fused multiply-add twin: torch.optim's kernels from the twin's unit, the others the
 * plain table's entries. */
#define FGD_FMA_TABLE(TAG) { #TAG "_fma",                                                \
    { FGD_KERNEL_LIST2(FGD_F32_##TAG##_fma_, FGD_F32_##TAG##_) },                         \
    { FGD_KERNEL_LIST2(FGD_F64_##TAG##_fma_, FGD_F64_##TAG##_) } }

/* Narrowest first, in the order of fgd_isa_supported. */
FGD_HIDDEN const fgd_kernel_table fgd_tables[FGD_N_TABLES] = {
    FGD_TABLE(baseline),
#if FGD_HAVE_X86_VARIANTS
    FGD_TABLE(avx2),
    FGD_TABLE(avx512),
#endif
};

/* The twins, in the same order (fgd_fma_supported). */
FGD_HIDDEN const fgd_kernel_table fgd_fma_tables[FGD_N_TABLES] = {
    FGD_FMA_TABLE(baseline),
#if FGD_HAVE_X86_VARIANTS
    FGD_FMA_TABLE(avx2),
    FGD_FMA_TABLE(avx512),
#endif
};

/* The low-bit step (quant.h) of the instruction set of table isa. */
FGD_HIDDEN int fgd_lowbit_f32(int isa, const fgd_lowbit_call *a)
{
#if FGD_HAVE_X86_VARIANTS
    if (isa == 2) return fgd_lowbit_f32_avx512(a);
    if (isa == 1) return fgd_lowbit_f32_avx2(a);
#endif
    (void)isa;
    return fgd_lowbit_f32_baseline(a);
}
