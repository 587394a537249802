/*
 * L-BFGS: the vector work of torch.optim.LBFGS's step over the flat parameter vector
 * (fastgd/reference/lbfgs.py is the specification, operation for operation).
 *
 *   fgd_lbfgs_dot      x . y
 *   fgd_lbfgs_axpy     y += alpha * x
 *   fgd_lbfgs_abs_max  max |x_i| (NaN propagates)
 *   fgd_lbfgs_abs_sum  sum |x_i|
 *   fgd_lbfgs_memory   y = g - g_prev, s = d * t; returns y . s and y . y
 *   fgd_lbfgs_two_loop d = -H g by the two-loop recursion over the history
 *
 * Reductions are summed in double in one fixed order, that of fgd_sumsq and
 * fastgd.reference.sum_of_squares: eight lanes, lane j adding the terms of the elements
 * i = j (mod 8) in index order, then ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)).
 * The order depends on nothing but n (not on threads or the instruction set), so every
 * backend gives the same bits. A product of two floats is exact in double, so float32
 * vectors are dotted exactly term by term. Scalars multiplying a vector arrive as double
 * and are rounded once to the vector's type, as NumPy rounds a Python float against an
 * array. Compiled once (the compiler's default target) into fastgd.backends._core; the
 * loops are memory-bound, and -ffp-contract=off keeps every product and sum rounded apart.
 */
#ifndef FGD_LBFGS_H
#define FGD_LBFGS_H

#include <math.h>
#include <stddef.h>

#include "fgd_parallel.h"

#define FGD_LBFGS_COMBINE(l) (((l)[0] + (l)[1]) + ((l)[2] + (l)[3])) \
    + (((l)[4] + (l)[5]) + ((l)[6] + (l)[7]))

#define FGD_LBFGS_DEFINE(T, S)                                                              \
static inline double fgd_lbfgs_dot_##S(ptrdiff_t n, const T *FGD_RESTRICT x,                \
                                       const T *FGD_RESTRICT y)                             \
{                                                                                           \
    double l[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                 \
    ptrdiff_t i = 0;                                                                        \
    for (; i + 8 <= n; i += 8)                                                              \
        for (int j = 0; j < 8; ++j)                                                         \
            l[j] += (double)x[i + j] * (double)y[i + j];                                    \
    for (int j = 0; i + j < n; ++j)                                                         \
        l[j] += (double)x[i + j] * (double)y[i + j];                                        \
    return FGD_LBFGS_COMBINE(l);                                                            \
}                                                                                           \
                                                                                            \
/* x . x where x may alias nothing else (y . y of the memory update). */                   \
static inline double fgd_lbfgs_sumsq_##S(ptrdiff_t n, const T *FGD_RESTRICT x)              \
{                                                                                           \
    double l[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                 \
    ptrdiff_t i = 0;                                                                        \
    for (; i + 8 <= n; i += 8)                                                              \
        for (int j = 0; j < 8; ++j)                                                         \
            l[j] += (double)x[i + j] * (double)x[i + j];                                    \
    for (int j = 0; i + j < n; ++j)                                                         \
        l[j] += (double)x[i + j] * (double)x[i + j];                                        \
    return FGD_LBFGS_COMBINE(l);                                                            \
}                                                                                           \
                                                                                            \
static inline void fgd_lbfgs_axpy_##S(ptrdiff_t n, T *FGD_RESTRICT y, double alpha,         \
                                      const T *FGD_RESTRICT x)                              \
{                                                                                           \
    const T a = (T)alpha;                                                                   \
    for (ptrdiff_t i = 0; i < n; ++i)                                                       \
        y[i] += a * x[i];                                                                   \
}                                                                                           \
                                                                                            \
static inline double fgd_lbfgs_abs_max_##S(ptrdiff_t n, const T *FGD_RESTRICT x)            \
{                                                                                           \
    T m = 0;                                                                                \
    int nan = 0;                                                                            \
    for (ptrdiff_t i = 0; i < n; ++i) {                                                     \
        const T v = x[i] < 0 ? -x[i] : x[i];                                                \
        m = v > m ? v : m;                                                                  \
        nan |= v != v;                                                                      \
    }                                                                                       \
    return nan ? (double)NAN : (double)m;                                                   \
}                                                                                           \
                                                                                            \
static inline double fgd_lbfgs_abs_sum_##S(ptrdiff_t n, const T *FGD_RESTRICT x)            \
{                                                                                           \
    double l[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                 \
    ptrdiff_t i = 0;                                                                        \
    for (; i + 8 <= n; i += 8)                                                              \
        for (int j = 0; j < 8; ++j)                                                         \
            l[j] += fabs((double)x[i + j]);                                                 \
    for (int j = 0; i + j < n; ++j)                                                         \
        l[j] += fabs((double)x[i + j]);                                                     \
    return FGD_LBFGS_COMBINE(l);                                                            \
}                                                                                           \
                                                                                            \
/* y = g - g_prev and s = d * t (t rounded to T), in one pass; *ys = y . s, *yy = y . y. */ \
static inline void fgd_lbfgs_memory_##S(ptrdiff_t n, T *FGD_RESTRICT y, T *FGD_RESTRICT s,  \
                                        const T *FGD_RESTRICT g,                            \
                                        const T *FGD_RESTRICT g_prev,                       \
                                        const T *FGD_RESTRICT d, double t,                  \
                                        double *ys, double *yy)                             \
{                                                                                           \
    const T tt = (T)t;                                                                      \
    for (ptrdiff_t i = 0; i < n; ++i) {                                                     \
        y[i] = g[i] - g_prev[i];                                                            \
        s[i] = d[i] * tt;                                                                   \
    }                                                                                       \
    *ys = fgd_lbfgs_dot_##S(n, y, s);                                                       \
    *yy = fgd_lbfgs_sumsq_##S(n, y);                                                        \
}                                                                                           \
                                                                                            \
/* The two-loop recursion, torch.optim.LBFGS's order: q = -g; for i = m-1 .. 0:            \
 * al[i] = (s_i . q) * ro[i], q += (-al[i]) * y_i; d = q * h_diag; for i = 0 .. m-1:        \
 * be = (y_i . d) * ro[i], d += (al[i] - be) * s_i. q is d's memory throughout. */         \
static inline void fgd_lbfgs_two_loop_##S(ptrdiff_t n, T *FGD_RESTRICT d,                   \
                                          const T *FGD_RESTRICT g, ptrdiff_t m,             \
                                          T *const *dirs, T *const *stps,                   \
                                          const double *ro, double h_diag, double *al)      \
{                                                                                           \
    for (ptrdiff_t i = 0; i < n; ++i)                                                       \
        d[i] = -g[i];                                                                       \
    for (ptrdiff_t k = m - 1; k >= 0; --k) {                                                \
        al[k] = fgd_lbfgs_dot_##S(n, stps[k], d) * ro[k];                                   \
        fgd_lbfgs_axpy_##S(n, d, -al[k], dirs[k]);                                          \
    }                                                                                       \
    const T h = (T)h_diag;                                                                  \
    for (ptrdiff_t i = 0; i < n; ++i)                                                       \
        d[i] = d[i] * h;                                                                    \
    for (ptrdiff_t k = 0; k < m; ++k) {                                                     \
        const double be = fgd_lbfgs_dot_##S(n, dirs[k], d) * ro[k];                         \
        fgd_lbfgs_axpy_##S(n, d, al[k] - be, stps[k]);                                      \
    }                                                                                       \
}

FGD_LBFGS_DEFINE(float, f32)
FGD_LBFGS_DEFINE(double, f64)

#undef FGD_LBFGS_DEFINE

#endif /* FGD_LBFGS_H */
