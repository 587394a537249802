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

#define FGD_LBFGS_DEFINE(T, S, ABS)                                                            \
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
/* Eight lanes of maxima (branch-free, so it vectorises; a maximum is exact in any order); \
 * NaN, which the comparisons skip, is looked for only when the integer scan of the       \
 * exponents finds a NaN or an infinity. */                                                \
static inline double fgd_lbfgs_abs_max_##S(ptrdiff_t n, const T *FGD_RESTRICT x)            \
{                                                                                           \
    T l[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                      \
    ptrdiff_t i = 0;                                                                        \
    for (; i + 8 <= n; i += 8)                                                              \
        for (int j = 0; j < 8; ++j) {                                                       \
            const T v = ABS(x[i + j]);                                                      \
            l[j] = v > l[j] ? v : l[j];                                                     \
        }                                                                                   \
    for (int j = 0; i + j < n; ++j) {                                                       \
        const T v = ABS(x[i + j]);                                                          \
        l[j] = v > l[j] ? v : l[j];                                                         \
    }                                                                                       \
    T m = l[0];                                                                             \
    for (int j = 1; j < 8; ++j)                                                             \
        m = l[j] > m ? l[j] : m;                                                            \
    if (fgd_any_nonfinite_##S(n, x))                                                        \
        for (i = 0; i < n; ++i)                                                             \
            if (x[i] != x[i])                                                               \
                return (double)NAN;                                                         \
    return (double)m;                                                                       \
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
/* One pass of the two-loop recursion: d = d + alpha * x (times h when SCALE), rounded   \
 * as apart, and returns z . d of the new d in the eight-lane order (z NULL: no dot).      \
 * Fusing the dot of the next pair into the update of this one halves the passes over d    \
 * and gives the bits of the two passes. */                                                \
static inline double fgd_lbfgs_pass_##S(ptrdiff_t n, T *FGD_RESTRICT d, double alpha,       \
                                        const T *FGD_RESTRICT x, const T *FGD_RESTRICT z,   \
                                        const int scale, const T h)                         \
{                                                                                           \
    const T a = (T)alpha;                                                                   \
    double l[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                 \
    ptrdiff_t i = 0;                                                                        \
    if (z == NULL) {                                                                        \
        for (; i < n; ++i)                                                                  \
            d[i] += a * x[i];                                                               \
        return 0.0;                                                                         \
    }                                                                                       \
    for (; i + 8 <= n; i += 8)                                                              \
        for (int j = 0; j < 8; ++j) {                                                       \
            T v = d[i + j] + a * x[i + j];                                                  \
            if (scale)                                                                      \
                v = v * h;                                                                  \
            d[i + j] = v;                                                                   \
            l[j] += (double)z[i + j] * (double)v;                                           \
        }                                                                                   \
    for (int j = 0; i + j < n; ++j) {                                                       \
        T v = d[i + j] + a * x[i + j];                                                      \
        if (scale)                                                                          \
            v = v * h;                                                                      \
        d[i + j] = v;                                                                       \
        l[j] += (double)z[i + j] * (double)v;                                               \
    }                                                                                       \
    return FGD_LBFGS_COMBINE(l);                                                            \
}                                                                                           \
                                                                                            \
/* The two-loop recursion, torch.optim.LBFGS's order: q = -g; for i = m-1 .. 0:            \
 * al[i] = (s_i . q) * ro[i], q += (-al[i]) * y_i; d = q * h_diag; for i = 0 .. m-1:        \
 * be = (y_i . d) * ro[i], d += (al[i] - be) * s_i. q is d's memory throughout; each pass   \
 * updates d and takes the dot the next step needs (fgd_lbfgs_pass). */                    \
static inline void fgd_lbfgs_two_loop_##S(ptrdiff_t n, T *FGD_RESTRICT d,                   \
                                          const T *FGD_RESTRICT g, ptrdiff_t m,             \
                                          T *const *dirs, T *const *stps,                   \
                                          const double *ro, double h_diag, double *al)      \
{                                                                                           \
    const T h = (T)h_diag;                                                                  \
    if (m == 0) {                                                                           \
        for (ptrdiff_t i = 0; i < n; ++i)                                                   \
            d[i] = -g[i] * h;                                                               \
        return;                                                                             \
    }                                                                                       \
    for (ptrdiff_t i = 0; i < n; ++i)                                                       \
        d[i] = -g[i];                                                                       \
    al[m - 1] = fgd_lbfgs_dot_##S(n, stps[m - 1], d) * ro[m - 1];                           \
    for (ptrdiff_t k = m - 1; k >= 1; --k)                                                  \
        al[k - 1] = fgd_lbfgs_pass_##S(n, d, -al[k], dirs[k], stps[k - 1], 0, h)            \
                    * ro[k - 1];                                                            \
    double be = fgd_lbfgs_pass_##S(n, d, -al[0], dirs[0], dirs[0], 1, h) * ro[0];           \
    for (ptrdiff_t k = 0; k < m; ++k) {                                                     \
        const double alpha = al[k] - be;                                                    \
        if (k + 1 < m)                                                                      \
            be = fgd_lbfgs_pass_##S(n, d, alpha, stps[k], dirs[k + 1], 0, h) * ro[k + 1];   \
        else                                                                                \
            fgd_lbfgs_pass_##S(n, d, alpha, stps[k], NULL, 0, h);                           \
    }                                                                                       \
}

FGD_LBFGS_DEFINE(float, f32, fabsf)
FGD_LBFGS_DEFINE(double, f64, fabs)

#undef FGD_LBFGS_DEFINE

#endif /* FGD_LBFGS_H */
