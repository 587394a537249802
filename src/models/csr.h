/*
 * Loss, gradient, Hessian diagonal and decision values of a linear model whose X is a
 * compressed-sparse-row matrix; part of models_impl.h, included with it once per element
 * type (FGDM_T, FGDM_S, FGDM_TSUF), and including csr_impl.h once per index type
 * (int32_t, int64_t). fastgd/backends/numba_models.py runs the same operations in the
 * same order, and fastgd/reference/models.py (csr_loss_grad) states the mathematics.
 *
 * Numerical contract (the dense kernels', with the dot product's order changed):
 *  - everything in double; the outputs rounded once to the element type;
 *  - a row's decision value z_c = sum over the row's stored entries, in storage order,
 *    of x_v * coef[col_v, c] (one running sum, repeated columns adding), then + b_c;
 *  - a row's contribution to the gradient (Hessian) is added at each stored entry, in
 *    storage order, into a double partial of the gradient's size;
 *  - sums over rows run in batch order within the chunks of fgdm_n_chunks (the dense
 *    kernels' chunks, which depend on the batch size and the size of coef only), the
 *    chunks' partials added in chunk order: the same bits for any thread count.
 *
 * Cost: a batch of nnz_b stored entries costs O(nnz_b * k) multiply-adds. The gradient is
 * returned dense, so each call also writes every one of its d * k outputs once (the
 * division by the batch weight and the penalty's terms are added in that pass); the
 * partial sums are calloc'ed (the system hands large blocks out as zero pages, touched
 * only where the batch's columns fall). A batch of more than 1024 rows is split into
 * chunks whose partials have coef's size each (at most 2^22 doubles in all, as dense).
 */

/* Sums of |coef| (s1) and coef^2 (s2) over m values in eight lanes (fgdm_penalty_sums'
 * order), read from the element type. */
static void FGDM_S(fgdm_csr_penalty_sums)(ptrdiff_t m, const FGDM_T *w, double *s1,
                                          double *s2)
{
    double l1[8] = {0, 0, 0, 0, 0, 0, 0, 0}, l2[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    ptrdiff_t j = 0;
    for (; j + 8 <= m; j += 8)
        for (int q = 0; q < 8; ++q) {
            const double v = (double)w[j + q];
            l1[q] += fabs(v);
            l2[q] += v * v;
        }
    for (int q = 0; j + q < m; ++q) {
        const double v = (double)w[j + q];
        l1[q] += fabs(v);
        l2[q] += v * v;
    }
    *s1 = FGDM_COMBINE8(l1, 1);
    *s2 = FGDM_COMBINE8(l2, 1);
}

/* The outputs from the summed partials: tot [0] loss, [1] weights, [2, 2+k) intercept
 * gradient, [2+k, 2+2k) its Hessian; G the coef gradient (m values), then its Hessian
 * (m more). touched (nt columns) or NULL: G is zero outside those columns (a
 * mini-batch), and without a penalty only they are computed, the rest of the outputs
 * set to zero (the same bits: 0 / W is +0). Returns FGDM_ZERO_WEIGHT having written
 * nothing, or FGDM_OK. */
static int FGDM_S(fgdm_csr_finish)(fgdm_args *a, const double *tot, const double *G,
                                   const int64_t *touched, ptrdiff_t nt)
{
    const ptrdiff_t k = a->k, m = a->d * a->k;
    const FGDM_T *coef = (const FGDM_T *)a->coef;
    const double W = tot[1], a1 = a->a1, a2 = a->a2;
    if (W == 0.0) return FGDM_ZERO_WEIGHT;
    double loss = tot[0] / W;
    if (a1 != 0.0 || a2 != 0.0) {
        double s1, s2;
        FGDM_S(fgdm_csr_penalty_sums)(m, coef, &s1, &s2);
        if (a1 != 0.0) loss = loss + a1 * s1;
        if (a2 != 0.0) loss = loss + 0.5 * a2 * s2;
    }
    a->loss = loss;
    if (a->grad_coef) {
        FGDM_T *gc = (FGDM_T *)a->grad_coef, *gi = (FGDM_T *)a->grad_intercept;
        if (touched && a1 == 0.0 && a2 == 0.0) {
            memset(gc, 0, (size_t)m * sizeof(FGDM_T));
            for (ptrdiff_t t = 0; t < nt; ++t) {
                const ptrdiff_t j0 = (ptrdiff_t)touched[t] * k;
                for (ptrdiff_t c = 0; c < k; ++c) gc[j0 + c] = (FGDM_T)(G[j0 + c] / W);
            }
        } else if (a1 == 0.0 && a2 == 0.0) {
            for (ptrdiff_t j = 0; j < m; ++j) gc[j] = (FGDM_T)(G[j] / W);
        } else {
            for (ptrdiff_t j = 0; j < m; ++j) {
                double v = G[j] / W;
                const double wj = (double)coef[j];
                if (a1 != 0.0) v = v + a1 * (wj > 0.0 ? 1.0 : (wj < 0.0 ? -1.0 : wj));
                if (a2 != 0.0) v = v + a2 * wj;
                gc[j] = (FGDM_T)v;
            }
        }
        if (gi)
            for (ptrdiff_t c = 0; c < k; ++c) gi[c] = (FGDM_T)(tot[2 + c] / W);
    }
    if (a->hess_coef) {
        FGDM_T *hc = (FGDM_T *)a->hess_coef, *hi = (FGDM_T *)a->hess_intercept;
        const double *H = G + m;
        for (ptrdiff_t j = 0; j < m; ++j) {
            double v = H[j] / W;
            if (a2 != 0.0) v = v + a2;
            hc[j] = (FGDM_T)v;
        }
        if (hi)
            for (ptrdiff_t c = 0; c < k; ++c) hi[c] = (FGDM_T)(tot[2 + k + c] / W);
    }
    return FGDM_OK;
}

#ifndef FGDM_CSR_SCRATCH
#define FGDM_CSR_SCRATCH
/* Each thread's scratch for mini-batch gradients, kept between calls (grown, never
 * shrunk; held until the process ends): acc, m doubles, zero between calls; stamp, one
 * per column, marks the columns seen in the call numbered epoch; cols lists them. */
static __thread struct {
    double *acc;
    uint32_t *stamp;
    int64_t *cols;
    size_t acc_n, stamp_n, cols_n;
    uint32_t epoch;
} fgdm_csr_ws;

static inline void *fgdm_grow(void *p, size_t *have, size_t want, size_t size, int zero)
{
    if (*have >= want) return p;
    void *q = zero ? calloc(want, size) : malloc(want * size);
    if (!q) return NULL;
    free(p);
    *have = want;
    return q;
}

/* The scratch for d columns of k classes and up to nnz_b entries, zeroed where needed,
 * a new epoch started; NULL when out of memory. */
static inline double *fgdm_csr_scratch(ptrdiff_t d, ptrdiff_t k, ptrdiff_t nnz_b)
{
    void *p;
    p = fgdm_grow(fgdm_csr_ws.acc, &fgdm_csr_ws.acc_n, (size_t)(d * k), sizeof(double), 1);
    if (!p) return NULL;
    fgdm_csr_ws.acc = (double *)p;
    const size_t old_n = fgdm_csr_ws.stamp_n;
    p = fgdm_grow(fgdm_csr_ws.stamp, &fgdm_csr_ws.stamp_n, (size_t)d, sizeof(uint32_t), 1);
    if (!p) return NULL;
    if (p != fgdm_csr_ws.stamp || fgdm_csr_ws.stamp_n != old_n) fgdm_csr_ws.epoch = 0;
    fgdm_csr_ws.stamp = (uint32_t *)p;
    p = fgdm_grow(fgdm_csr_ws.cols, &fgdm_csr_ws.cols_n, (size_t)(nnz_b > 0 ? nnz_b : 1),
                  sizeof(int64_t), 0);
    if (!p) return NULL;
    fgdm_csr_ws.cols = (int64_t *)p;
    if (++fgdm_csr_ws.epoch == 0) {   /* wrapped: no stamp may match an old epoch */
        memset(fgdm_csr_ws.stamp, 0, fgdm_csr_ws.stamp_n * sizeof(uint32_t));
        fgdm_csr_ws.epoch = 1;
    }
    return fgdm_csr_ws.acc;
}
#endif

#define FGDM_SI(name) FGD_CAT(FGD_CAT(FGD_CAT(name, FGDM_TSUF), FGDM_ISUF), FGD_ISA_TAG)

#define FGDM_I int32_t
#define FGDM_ISUF _i32
#include "csr_impl.h"
#undef FGDM_I
#undef FGDM_ISUF

#define FGDM_I int64_t
#define FGDM_ISUF _i64
#include "csr_impl.h"
#undef FGDM_I
#undef FGDM_ISUF

#undef FGDM_SI
