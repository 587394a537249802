/*
 * SparseAdam's row update (torch.optim.SparseAdam): Adam on the rows a sparse gradient
 * touches, rows i = indices[j] of the 2-D views param, exp_avg, exp_avg_sq (n x width),
 * with rows[j] the gradient's row. The indices are sorted and distinct (the caller
 * coalesces them and checks their range), so the rows are written independently.
 *
 * Not an element-wise kernel of the table (kernels.h): the compiled core calls it from
 * sparse_adam.pxi. The order of operations is fastgd/reference/sparse_adam.py's
 * sparse_adam_rows, each scalar rounded once to the element type, so that the three
 * backends give the same bits (no contraction: src/cflags.txt).
 */
#ifndef FGD_SPARSE_ADAM_H
#define FGD_SPARSE_ADAM_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define FGD_SPARSE_ADAM_ROWS(T, SUFFIX, SQRT)                                              \
static void fgd_sparse_adam_rows_##SUFFIX(                                                 \
    T *restrict param, T *restrict exp_avg, T *restrict exp_avg_sq, ptrdiff_t width,       \
    const int64_t *restrict indices, const T *restrict rows, ptrdiff_t k,                  \
    double one_minus_beta1, double one_minus_beta2, double eps, double neg_step_size,      \
    int maximize)                                                                          \
{                                                                                          \
    const T w1 = (T)one_minus_beta1, w2 = (T)one_minus_beta2;                              \
    const T e = (T)eps, s = (T)neg_step_size;                                              \
    for (ptrdiff_t j = 0; j < k; ++j) {                                                    \
        const ptrdiff_t at = (ptrdiff_t)indices[j] * width;                                \
        T *restrict p = param + at;                                                        \
        T *restrict m = exp_avg + at;                                                      \
        T *restrict v = exp_avg_sq + at;                                                   \
        const T *restrict g = rows + j * width;                                            \
        for (ptrdiff_t c = 0; c < width; ++c) {                                            \
            const T gc = maximize ? -g[c] : g[c];                                          \
            const T m_old = m[c], v_old = v[c];                                            \
            const T m_new = (gc - m_old) * w1 + m_old;                                     \
            const T v_new = (gc * gc - v_old) * w2 + v_old;                                \
            m[c] = m_new;                                                                  \
            v[c] = v_new;                                                                  \
            p[c] = p[c] + s * (m_new / (SQRT(v_new) + e));                                 \
        }                                                                                  \
    }                                                                                      \
}

FGD_SPARSE_ADAM_ROWS(float, f32, sqrtf)
FGD_SPARSE_ADAM_ROWS(double, f64, sqrt)

#undef FGD_SPARSE_ADAM_ROWS

#endif
