/*
 * fastgd native kernels: element-wise optimizer updates over contiguous buffers.
 *
 * Every kernel exists for float and double. The body is written once, in
 * fastgd_kernels_impl.h, and included twice with FGD_T set to each type.
 *
 * Numerical contract (see DESIGN.md, "Numerics"):
 *  - hyperparameters arrive as double; each is rounded once to FGD_T before the loop,
 *    exactly as torch and NumPy round a Python scalar against an array of that type;
 *  - the order of operations follows torch.optim's single-tensor code, and
 *    fastgd/reference.py spells out the same order in NumPy;
 *  - the build uses -ffp-contract=off, so no fused multiply-add changes the rounding
 *    whichever instruction set the compiler targets.
 *
 * Large buffers are split into contiguous chunks, one per OpenMP thread. The kernels are
 * element-wise (no reductions), so results do not depend on the number of threads.
 */
#ifndef FASTGD_KERNELS_H
#define FASTGD_KERNELS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FGD_RESTRICT __restrict__
#else
#define FGD_RESTRICT
#endif

/* Buffers shorter than fgd_parallel_min run on the calling thread: below it the fork/join
 * of an OpenMP region costs more than the work it would share. Measured on 2 cores
 * (float32): with OpenMP's default waiting (threads spin a while between regions), two
 * threads ran Adam 1.7x and SGD-momentum 1.3x faster at 2^15 elements; SGD broke even near
 * 2^14. With OMP_WAIT_POLICY=PASSIVE each region wakes sleeping threads, and two threads
 * ran Adam slower than one up to about 10^6 elements (FGD_PARALLEL_MIN_PASSIVE, chosen at
 * import by fastgd._core; fastgd.set_parallel_min or FASTGD_PARALLEL_MIN set it). */
#ifndef FGD_PARALLEL_MIN
#define FGD_PARALLEL_MIN ((ptrdiff_t)1 << 15)
#endif
#ifndef FGD_PARALLEL_MIN_PASSIVE
#define FGD_PARALLEL_MIN_PASSIVE ((ptrdiff_t)1 << 20)
#endif
static ptrdiff_t fgd_parallel_min = FGD_PARALLEL_MIN;

static inline int fgd_openmp_enabled(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* Contiguous share of [0, n) for the calling thread; boundaries fall on multiples of
 * 16 elements so that each chunk starts on a cache line when the buffer does. */
static inline void fgd_thread_chunk(ptrdiff_t n, ptrdiff_t *lo, ptrdiff_t *hi)
{
#ifdef _OPENMP
    ptrdiff_t nt = omp_get_num_threads(), id = omp_get_thread_num();
    ptrdiff_t per = ((n + nt - 1) / nt + 15) & ~(ptrdiff_t)15;
    *lo = per * id < n ? per * id : n;
    *hi = *lo + per < n ? *lo + per : n;
#else
    *lo = 0;
    *hi = n;
#endif
}

/* Threads for large buffers: fgd_thread_override when set (fastgd.set_num_threads),
 * otherwise OpenMP's own setting (OMP_NUM_THREADS, threadpoolctl, omp_set_num_threads). */
static int fgd_thread_override = 0;

static inline int fgd_max_threads(void)
{
#ifdef _OPENMP
    return fgd_thread_override > 0 ? fgd_thread_override : omp_get_max_threads();
#else
    return 1;
#endif
}

/* Whether x[0..n) holds a NaN or an infinity (1) or only finite values (0), for
 * Optimizer.step(nonfinite=...). A value is not finite exactly when its exponent field is
 * all ones: with the sign bit cleared, adding one unit of the exponent then carries into
 * the sign bit. The loop ORs those sums together (integer operations only, which the
 * compiler vectorises at any instruction set) and looks at the sign bit after each block
 * of FGD_SCAN_BLOCK elements, so a bad value stops the scan early. The values are read
 * with memcpy: the bits of a float, without type punning through pointers. */
#define FGD_SCAN_BLOCK ((ptrdiff_t)4096)

static inline int fgd_any_nonfinite_f32(ptrdiff_t n, const float *x)
{
    for (ptrdiff_t lo = 0; lo < n; lo += FGD_SCAN_BLOCK) {
        const ptrdiff_t hi = n - lo < FGD_SCAN_BLOCK ? n : lo + FGD_SCAN_BLOCK;
        uint32_t acc = 0;
        for (ptrdiff_t i = lo; i < hi; ++i) {
            uint32_t u;
            memcpy(&u, x + i, sizeof u);
            acc |= (u & UINT32_C(0x7fffffff)) + UINT32_C(0x00800000);
        }
        if (acc & UINT32_C(0x80000000))
            return 1;
    }
    return 0;
}

static inline int fgd_any_nonfinite_f64(ptrdiff_t n, const double *x)
{
    for (ptrdiff_t lo = 0; lo < n; lo += FGD_SCAN_BLOCK) {
        const ptrdiff_t hi = n - lo < FGD_SCAN_BLOCK ? n : lo + FGD_SCAN_BLOCK;
        uint64_t acc = 0;
        for (ptrdiff_t i = lo; i < hi; ++i) {
            uint64_t u;
            memcpy(&u, x + i, sizeof u);
            acc |= (u & UINT64_C(0x7fffffffffffffff)) + UINT64_C(0x0010000000000000);
        }
        if (acc & UINT64_C(0x8000000000000000))
            return 1;
    }
    return 0;
}

/* Run STMT over [lo, hi) ranges covering [0, N): one range on this thread for small N,
 * one contiguous range per thread otherwise. */
#ifdef _OPENMP
#define FGD_CHUNKED(N, STMT)                                         \
    do {                                                             \
        const int nt_ = (N) >= fgd_parallel_min ? fgd_max_threads() : 1; \
        if (nt_ > 1) {                                               \
            _Pragma("omp parallel num_threads(nt_)")                 \
            {                                                        \
                ptrdiff_t lo, hi;                                    \
                fgd_thread_chunk((N), &lo, &hi);                     \
                STMT;                                                \
            }                                                        \
        } else {                                                     \
            ptrdiff_t lo = 0, hi = (N);                              \
            STMT;                                                    \
        }                                                            \
    } while (0)
#else
#define FGD_CHUNKED(N, STMT)                                         \
    do {                                                             \
        ptrdiff_t lo = 0, hi = (N);                                  \
        STMT;                                                        \
    } while (0)
#endif

#define FGD_CAT_(a, b) a##b
#define FGD_CAT(a, b) FGD_CAT_(a, b)

/* Every kernel is compiled once per instruction set and chosen at import (fastgd._core):
 * "baseline" is what the compiler targets by default (SSE2 on x86-64, so the wheel runs on
 * any x86-64 machine); on x86-64 the same source is also compiled for AVX2 and AVX-512F.
 * -ffp-contract=off keeps FMA out of every variant, and IEEE add, multiply, divide and
 * sqrt round the same at any vector width, so all variants give the same bits (tested). */
#define FGD_ISA_TAG _baseline
#include "fastgd_kernels_isa.h"
#undef FGD_ISA_TAG

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FGD_HAVE_X86_VARIANTS 1
#pragma GCC push_options
#pragma GCC target("avx2")
#define FGD_ISA_TAG _avx2
#include "fastgd_kernels_isa.h"
#undef FGD_ISA_TAG
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f")
#define FGD_ISA_TAG _avx512
#include "fastgd_kernels_isa.h"
#undef FGD_ISA_TAG
#pragma GCC pop_options
#else
#define FGD_HAVE_X86_VARIANTS 0
#endif

/* Every kernel, in one list: X(name) for each, matching a declaration in
 * fastgd/_checks.py (fastgd._core refuses to load if the two disagree).
 *
 * Adding a kernel: write its *_range loop, its public entry (FGD_KERNEL) and its table
 * entry (FGD_CALL) in the family's kernels_*.h, and add X(name) here. */
#define FGD_KERNEL_LIST(X)                                          \
    X(sgd) X(adam) X(adagrad) X(rmsprop) X(stream)                  \
    /* ---- begin kernels: adam-family ---- */                      \
    X(adadelta) X(adamax) X(nadam) X(radam)                         \
    X(adam_eps_root) X(rmsprop_eps_in_sqrt)                         \
    /* ---- end kernels: adam-family ---- */                        \
    /* ---- begin kernels: torch-other ---- */                      \
    X(rprop) X(asgd) X(adafactor)                                   \
    /* ---- end kernels: torch-other ---- */                        \
    /* ---- begin kernels: optax ---- */                            \
    X(lion) X(adabelief) X(lamb) X(lars) X(yogi)                    \
    /* ---- end kernels: optax ---- */                              \
    /* ---- begin kernels: sophia-schedulefree ---- */              \
    X(sophia) X(sophia_hessian) X(sgd_schedule_free) X(adamw_schedule_free) \
    /* ---- end kernels: sophia-schedulefree ---- */

typedef void (*fgd_kernel_fn)(ptrdiff_t n, const ptrdiff_t *dims, char *const *b,
                              const double *s, const int *f);

#define FGD_ENUM_(k) FGD_K_##k,
enum { FGD_KERNEL_LIST(FGD_ENUM_) FGD_N_KERNELS };
#undef FGD_ENUM_

#define FGD_NAME_(k) #k,
static const char *const fgd_kernel_names[] = { FGD_KERNEL_LIST(FGD_NAME_) };
#undef FGD_NAME_

/* One table of entry points per instruction set, indexed by FGD_K_<name>. */
typedef struct {
    const char *name;
    fgd_kernel_fn f32[FGD_N_KERNELS];
    fgd_kernel_fn f64[FGD_N_KERNELS];
} fgd_kernel_table;

#define FGD_F32_baseline_(k) fgd_##k##_call_f32_baseline,
#define FGD_F64_baseline_(k) fgd_##k##_call_f64_baseline,
#define FGD_F32_avx2_(k) fgd_##k##_call_f32_avx2,
#define FGD_F64_avx2_(k) fgd_##k##_call_f64_avx2,
#define FGD_F32_avx512_(k) fgd_##k##_call_f32_avx512,
#define FGD_F64_avx512_(k) fgd_##k##_call_f64_avx512,
#define FGD_TABLE(TAG) { #TAG, { FGD_KERNEL_LIST(FGD_F32_##TAG##_) },             \
                         { FGD_KERNEL_LIST(FGD_F64_##TAG##_) } }

static const fgd_kernel_table fgd_tables[] = {
    FGD_TABLE(baseline),
#if FGD_HAVE_X86_VARIANTS
    FGD_TABLE(avx2),
    FGD_TABLE(avx512),
#endif
};

#define FGD_N_TABLES ((int)(sizeof(fgd_tables) / sizeof(fgd_tables[0])))

/* Whether this CPU (and its operating system) can run table i. */
static inline int fgd_table_supported(int i)
{
#if FGD_HAVE_X86_VARIANTS
    __builtin_cpu_init();
    if (i == 1) return __builtin_cpu_supports("avx2");
    if (i == 2) return __builtin_cpu_supports("avx512f");
#endif
    return i == 0;
}

#endif /* FASTGD_KERNELS_H */
