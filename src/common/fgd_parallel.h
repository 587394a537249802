/*
 * Threads and buffers for the optimizer kernels: restrict, the size from which a buffer is
 * shared between threads, each thread's contiguous chunk (FGD_CHUNKED), and the scan for
 * NaN and infinity. Included by src/optim/kernels.h (so by every per-instruction-set
 * compilation unit and by fastgd.backends._core, which sets the thread settings).
 *
 * Large buffers are split into contiguous chunks, one per OpenMP thread. The kernels are
 * element-wise (no reductions), so results do not depend on the number of threads.
 */
#ifndef FGD_PARALLEL_H
#define FGD_PARALLEL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fgd_isa.h"

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
 * import by fastgd.backends._core; fastgd.set_parallel_min or FASTGD_PARALLEL_MIN set it). */
#ifndef FGD_PARALLEL_MIN
#define FGD_PARALLEL_MIN ((ptrdiff_t)1 << 15)
#endif
#ifndef FGD_PARALLEL_MIN_PASSIVE
#define FGD_PARALLEL_MIN_PASSIVE ((ptrdiff_t)1 << 20)
#endif
/* One variable for every instruction set's kernels (defined in kernels.c). */
extern FGD_HIDDEN ptrdiff_t fgd_parallel_min;

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
extern FGD_HIDDEN int fgd_thread_override;  /* 0 (defined in kernels.c) */

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

#endif /* FGD_PARALLEL_H */
