/*
 * Instruction sets, for both compiled cores (src/optim, src/models).
 *
 * Every kernel is compiled once per instruction set and chosen at import
 * (fastgd.backends._core): "baseline" is what the compiler targets by default (SSE2 on
 * x86-64, so the wheel runs on any x86-64 machine); on x86-64 the same source is also
 * compiled for AVX2 and AVX-512F. -ffp-contract=off keeps FMA out of every variant, and
 * IEEE add, multiply, divide and sqrt round the same at any vector width, so all variants
 * give the same bits (tested).
 *
 * Each instruction set is a compilation unit of its own (src/optim/kernels_<isa>.c,
 * src/models/models_<isa>.c, src/models/sparse_sgd_<isa>.c), so that setup.py compiles
 * the three in parallel. The tables
 * of entry points (kernels.c, models.c) list them narrowest first, in the order of
 * fgd_isa_supported.
 *
 * Per-ISA inclusion: a unit includes its core's header, then defines FGD_ISA (0 baseline,
 * 1 AVX2, 2 AVX-512F) and FGD_ISA_BODY (the header of its bodies, e.g. "kernel_dtype.h")
 * and includes this file again: the bodies are compiled with FGD_ISA_TAG (_baseline,
 * _avx2, _avx512) defined and the matching `#pragma GCC target` in force, or not at all
 * where the build has no such variant.
 */
#ifndef FGD_ISA_H
#define FGD_ISA_H

#define FGD_CAT_(a, b) a##b
#define FGD_CAT(a, b) FGD_CAT_(a, b)

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FGD_HAVE_X86_VARIANTS 1
#else
#define FGD_HAVE_X86_VARIANTS 0
#endif

/* Instruction sets this build has kernels for: the length of each core's tables. */
#define FGD_N_ISAS (FGD_HAVE_X86_VARIANTS ? 3 : 1)

/* Shared between the compilation units of one extension module, invisible outside it. */
#if defined(__GNUC__) || defined(__clang__)
#define FGD_HIDDEN __attribute__((visibility("hidden")))
#else
#define FGD_HIDDEN
#endif

/* Whether this CPU (and its operating system) can run table i. */
static inline int fgd_isa_supported(int i)
{
#if FGD_HAVE_X86_VARIANTS
    __builtin_cpu_init();
    if (i == 1) return __builtin_cpu_supports("avx2");
    if (i == 2) return __builtin_cpu_supports("avx512f");
#endif
    return i == 0;
}

/* Whether this CPU runs the fused multiply-add twin of table i in hardware. The baseline
 * twin runs everywhere (C's fmaf/fma); the AVX2 and AVX-512F twins need the FMA unit. */
static inline int fgd_fma_supported(int i)
{
#if FGD_HAVE_X86_VARIANTS
    __builtin_cpu_init();
    if (i > 0) return fgd_isa_supported(i) && __builtin_cpu_supports("fma");
#endif
    return i == 0;
}

/* Whether this CPU has the AVX-512 byte permutes (VBMI, with BW) that the AVX-512 unit's
 * 8-bit dequantizer uses where it may (src/optim/quant_avx512.h); a CPU without them runs
 * that unit's gathers instead. */
static inline int fgd_vbmi_supported(void)
{
#if FGD_HAVE_X86_VARIANTS
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
           && __builtin_cpu_supports("avx512vbmi");
#else
    return 0;
#endif
}

#endif /* FGD_ISA_H */

/* Per-ISA inclusion (see above), once per compilation unit. A unit that also defines
 * FGD_FMA 1 compiles the bodies a second time as that instruction set's fused
 * multiply-add twin (src/optim/kernel_dtype.h: FGD_MADD): tag _<isa>_fma, and for AVX2 and
 * AVX-512F the target gains "fma"; the baseline twin calls C's fmaf/fma, which round
 * exactly once on any CPU (in hardware where the CPU has FMA, else in software). */
#ifdef FGD_ISA_BODY
#ifndef FGD_FMA
#define FGD_FMA 0
#endif
#if FGD_ISA == 0
#if FGD_FMA
#define FGD_ISA_TAG _baseline_fma
#else
#define FGD_ISA_TAG _baseline
#endif
#include FGD_ISA_BODY
#undef FGD_ISA_TAG
#elif FGD_ISA == 1 && FGD_HAVE_X86_VARIANTS
#pragma GCC push_options
#if FGD_FMA
#pragma GCC target("avx2,fma")
#define FGD_ISA_TAG _avx2_fma
#else
#pragma GCC target("avx2")
#define FGD_ISA_TAG _avx2
#endif
#include FGD_ISA_BODY
#undef FGD_ISA_TAG
#pragma GCC pop_options
#elif FGD_ISA == 2 && FGD_HAVE_X86_VARIANTS
#pragma GCC push_options
#if FGD_FMA
#pragma GCC target("avx512f,fma")
#define FGD_ISA_TAG _avx512_fma
#else
#pragma GCC target("avx512f")
#define FGD_ISA_TAG _avx512
#endif
#include FGD_ISA_BODY
#undef FGD_ISA_TAG
#pragma GCC pop_options
#endif
#undef FGD_ISA_BODY
#endif
