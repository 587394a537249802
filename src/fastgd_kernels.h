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

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FGD_RESTRICT __restrict__
#else
#define FGD_RESTRICT
#endif

/* Buffers shorter than this run on the calling thread: below it the fork/join of an
 * OpenMP region costs more than the work it would share. Measured on 2 cores (float32):
 * two threads ran Adam 1.7x and SGD-momentum 1.3x faster at 2^15 elements; SGD broke
 * even near 2^14. */
#ifndef FGD_PARALLEL_MIN
#define FGD_PARALLEL_MIN ((ptrdiff_t)1 << 15)
#endif

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

/* Run STMT over [lo, hi) ranges covering [0, N): one range on this thread for small N,
 * one contiguous range per OpenMP thread otherwise. */
#ifdef _OPENMP
#define FGD_CHUNKED(N, STMT)                                         \
    do {                                                             \
        if ((N) >= FGD_PARALLEL_MIN && omp_get_max_threads() > 1) {  \
            _Pragma("omp parallel")                                  \
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

#define FGD_T float
#define FGD_SUFFIX(name) name##_f32
#define FGD_SQRT sqrtf
#include "fastgd_kernels_impl.h"
#undef FGD_T
#undef FGD_SUFFIX
#undef FGD_SQRT

#define FGD_T double
#define FGD_SUFFIX(name) name##_f64
#define FGD_SQRT sqrt
#include "fastgd_kernels_impl.h"
#undef FGD_T
#undef FGD_SUFFIX
#undef FGD_SQRT

#endif /* FASTGD_KERNELS_H */
