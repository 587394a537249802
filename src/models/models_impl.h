/*
 * Model kernel bodies, included by models_dtype.h once per element type with
 *   FGDM_T        the element type of X, y (except softmax labels), the weights, coef,
 *                 intercept and the outputs (float or double),
 *   FGDM_S(x)     the name of x for that type and instruction set.
 *
 * fastgd/backends/numba_models.py mirrors every loop here operation for operation, and
 * fastgd/reference/models.py states the same mathematics in NumPy.
 */

#include "points.h"

/* ------------------------------------------------------------- checks --- */

/* The first batch position whose row, target or weight is invalid (see fgdm_args). */
static int FGDM_S(fgdm_check)(fgdm_args *a)
{
    const FGDM_T *y = (const FGDM_T *)a->y;
    const int64_t *labels = (const int64_t *)a->y;
    const FGDM_T *sw = (const FGDM_T *)a->sw;
    const int kind = a->kind;
    const int check_y = kind == FGDM_LOG_LOSS || kind == FGDM_HINGE || kind == FGDM_SOFTMAX;
    if (!a->rows && !check_y && !sw) return FGDM_OK;
    for (ptrdiff_t p = 0; p < a->n; ++p) {
        ptrdiff_t r = p;
        if (a->rows) {
            const int64_t v = a->rows[p * a->rs];
            if (v < 0 || v >= (int64_t)a->n_samples) {
                a->err_pos = p;
                return FGDM_BAD_ROW;
            }
            r = (ptrdiff_t)v;
        }
        if (kind == FGDM_SOFTMAX) {
            const int64_t c = labels[r * a->ys];
            if (c < 0 || c >= (int64_t)a->k) {
                a->err_pos = p;
                return FGDM_BAD_LABEL;
            }
        } else if (check_y) {
            const double v = (double)y[r * a->ys];
            const int ok = kind == FGDM_LOG_LOSS ? (v >= 0.0 && v <= 1.0)
                                                 : (v == 1.0 || v == 0.0 || v == -1.0);
            if (!ok) {
                a->err_pos = p;
                return FGDM_BAD_LABEL;
            }
        }
        if (sw) {
            const double v = (double)sw[r * a->ss];
            if (!(v >= 0.0 && v < INFINITY)) {
                a->err_pos = p;
                return FGDM_BAD_WEIGHT;
            }
        }
    }
    return FGDM_OK;
}

/* ------------------------------------------------- one chunk of the batch --- */

/* The partial sums of batch positions [lo, hi) go to part: [0] the weighted loss, [1] the
 * weights, [2 .. 2+k) the intercept gradient, [2+k .. 2+2k) its Hessian diagonal,
 * [2+2k .. 2+2k+m) the coef gradient, then its Hessian diagonal (m = d*k). w holds coef
 * (m values) then the intercept (k values) in double. Every sum runs in order of batch
 * position, whatever the path. */

/* Binary and regression losses (k = 1), X row-major (xs1 == 1). */
FGDM_INLINE void FGDM_S(fgdm_chunk_linear_rows)(
    const fgdm_args *a, const double *FGDM_RESTRICT w, ptrdiff_t lo, ptrdiff_t hi,
    double *FGDM_RESTRICT part, const int want_grad, const int want_hess)
{
    const FGDM_T *X = (const FGDM_T *)a->X, *y = (const FGDM_T *)a->y;
    const FGDM_T *sw = (const FGDM_T *)a->sw;
    const ptrdiff_t d = a->d;
    const int has_b = a->intercept != NULL, kind = a->kind;
    const double b = has_b ? w[d] : 0.0, eps = a->eps;
    double *FGDM_RESTRICT G = part + 4;
    double *FGDM_RESTRICT H = part + 4 + d;
    double L = 0.0, W = 0.0, Gb = 0.0, Hb = 0.0;
    ptrdiff_t p = lo;
    /* Four rows at a time: their decision values side by side, then the four updates of
     * each gradient element in row order within one loop (the same sequence of roundings
     * per element as one row at a time). */
    for (; p + 4 <= hi; p += 4) {
        const FGDM_T *xs[4];
        double z[4], g[4], hw[4];
        ptrdiff_t rr[4];
        for (int u = 0; u < 4; ++u) {
            rr[u] = a->rows ? (ptrdiff_t)a->rows[(p + u) * a->rs] : p + u;
            xs[u] = X + rr[u] * a->xs0;
        }
        FGDM_S(fgdm_dot8x4)(d, xs[0], xs[1], xs[2], xs[3], w, z);
        for (int u = 0; u < 4; ++u) {
            const ptrdiff_t r = rr[u];
            double zu = z[u];
            if (has_b) zu = zu + b;
            const double wi = sw ? (double)sw[r * a->ss] : 1.0;
            double dl, h;
            const double l = FGDM_S(fgdm_point)(kind, zu, (double)y[r * a->ys], eps, &dl, &h);
            L += wi * l;
            W += wi;
            g[u] = wi * dl;
            Gb += g[u];
            hw[u] = wi * h;
            Hb += hw[u];
        }
        if (want_grad) {
            const FGDM_T *FGDM_RESTRICT x0 = xs[0], *FGDM_RESTRICT x1 = xs[1];
            const FGDM_T *FGDM_RESTRICT x2 = xs[2], *FGDM_RESTRICT x3 = xs[3];
            const double g0 = g[0], g1 = g[1], g2 = g[2], g3 = g[3];
            for (ptrdiff_t j = 0; j < d; ++j)
                G[j] = (((G[j] + g0 * (double)x0[j]) + g1 * (double)x1[j])
                        + g2 * (double)x2[j]) + g3 * (double)x3[j];
        }
        if (want_hess) {
            const FGDM_T *FGDM_RESTRICT x0 = xs[0], *FGDM_RESTRICT x1 = xs[1];
            const FGDM_T *FGDM_RESTRICT x2 = xs[2], *FGDM_RESTRICT x3 = xs[3];
            const double h0 = hw[0], h1 = hw[1], h2 = hw[2], h3 = hw[3];
            for (ptrdiff_t j = 0; j < d; ++j) {
                const double v0 = (double)x0[j], v1 = (double)x1[j];
                const double v2 = (double)x2[j], v3 = (double)x3[j];
                H[j] = (((H[j] + h0 * (v0 * v0)) + h1 * (v1 * v1)) + h2 * (v2 * v2))
                       + h3 * (v3 * v3);
            }
        }
    }
    for (; p < hi; ++p) {
        const ptrdiff_t r = a->rows ? (ptrdiff_t)a->rows[p * a->rs] : p;
        const FGDM_T *FGDM_RESTRICT x = X + r * a->xs0;
        double z = FGDM_S(fgdm_dot8)(d, x, w);
        if (has_b) z = z + b;
        const double wi = sw ? (double)sw[r * a->ss] : 1.0;
        double dl, h;
        const double l = FGDM_S(fgdm_point)(kind, z, (double)y[r * a->ys], eps, &dl, &h);
        L += wi * l;
        W += wi;
        if (want_grad) {
            const double g = wi * dl;
            Gb += g;
            for (ptrdiff_t j = 0; j < d; ++j) G[j] += g * (double)x[j];
        }
        if (want_hess) {
            const double hw = wi * h;
            Hb += hw;
            for (ptrdiff_t j = 0; j < d; ++j) {
                const double xj = (double)x[j];
                H[j] += hw * (xj * xj);
            }
        }
    }
    part[0] = L;
    part[1] = W;
    part[2] = Gb;
    part[3] = Hb;
}

/* The same, X column-major (xs0 == 1): a block of rows at a time, the lanes of the block's
 * decision values side by side, the gradient summed column by column (four at a time, each
 * in row order). gather: rows is given (otherwise the block's rows are contiguous). */
FGDM_INLINE void FGDM_S(fgdm_chunk_linear_cols)(
    const fgdm_args *a, const double *FGDM_RESTRICT w, ptrdiff_t lo, ptrdiff_t hi,
    double *FGDM_RESTRICT part, char *work, const int want_grad, const int want_hess,
    const int gather)
{
    const FGDM_T *X = (const FGDM_T *)a->X, *y = (const FGDM_T *)a->y;
    const FGDM_T *sw = (const FGDM_T *)a->sw;
    const ptrdiff_t d = a->d, B = FGDM_BLOCK, xs1 = a->xs1;
    const int has_b = a->intercept != NULL, kind = a->kind;
    const double b = has_b ? w[d] : 0.0, eps = a->eps;
    double *FGDM_RESTRICT G = part + 4;
    double *FGDM_RESTRICT H = part + 4 + d;
    double *FGDM_RESTRICT lanes = (double *)work;          /* 8 * B */
    double *FGDM_RESTRICT gb = lanes + 8 * B;              /* B */
    double *FGDM_RESTRICT hb = gb + B;                     /* B */
    ptrdiff_t *FGDM_RESTRICT rb = (ptrdiff_t *)(hb + B);   /* B */
    double L = 0.0, W = 0.0, Gb = 0.0, Hb = 0.0;
    for (ptrdiff_t p0 = lo; p0 < hi; p0 += B) {
        const ptrdiff_t nb = hi - p0 < B ? hi - p0 : B;
        for (ptrdiff_t i = 0; i < nb; ++i)
            rb[i] = gather ? (ptrdiff_t)a->rows[(p0 + i) * a->rs] : p0 + i;
        memset(lanes, 0, (size_t)(8 * B) * sizeof(double));
        for (ptrdiff_t j = 0; j < d; ++j) {
            const FGDM_T *FGDM_RESTRICT col = X + j * xs1;
            const FGDM_T *FGDM_RESTRICT colb = col + p0;
            double *FGDM_RESTRICT ln = lanes + (j & 7) * B;
            const double wj = w[j];
            if (gather)
                for (ptrdiff_t i = 0; i < nb; ++i) ln[i] += (double)col[rb[i]] * wj;
            else
                for (ptrdiff_t i = 0; i < nb; ++i) ln[i] += (double)colb[i] * wj;
        }
        for (ptrdiff_t i = 0; i < nb; ++i) {
            const ptrdiff_t r = rb[i];
            double z = FGDM_COMBINE8(lanes + i, B);
            if (has_b) z = z + b;
            const double wi = sw ? (double)sw[r * a->ss] : 1.0;
            double dl, h;
            const double l = FGDM_S(fgdm_point)(kind, z, (double)y[r * a->ys], eps, &dl, &h);
            L += wi * l;
            W += wi;
            gb[i] = wi * dl;
            Gb += gb[i];
            hb[i] = wi * h;
            Hb += hb[i];
        }
        if (want_grad) {
            ptrdiff_t j = 0;
            for (; j + 4 <= d; j += 4) {
                const FGDM_T *c0 = X + j * xs1, *c1 = c0 + xs1, *c2 = c1 + xs1, *c3 = c2 + xs1;
                double s0 = G[j], s1 = G[j + 1], s2 = G[j + 2], s3 = G[j + 3];
                for (ptrdiff_t i = 0; i < nb; ++i) {
                    const ptrdiff_t r = gather ? rb[i] : p0 + i;
                    const double g = gb[i];
                    s0 += g * (double)c0[r];
                    s1 += g * (double)c1[r];
                    s2 += g * (double)c2[r];
                    s3 += g * (double)c3[r];
                }
                G[j] = s0;
                G[j + 1] = s1;
                G[j + 2] = s2;
                G[j + 3] = s3;
            }
            for (; j < d; ++j) {
                const FGDM_T *c0 = X + j * xs1;
                double s0 = G[j];
                for (ptrdiff_t i = 0; i < nb; ++i) s0 += gb[i] * (double)c0[gather ? rb[i] : p0 + i];
                G[j] = s0;
            }
        }
        if (want_hess) {
            for (ptrdiff_t j = 0; j < d; ++j) {
                const FGDM_T *c0 = X + j * xs1;
                double s0 = H[j];
                for (ptrdiff_t i = 0; i < nb; ++i) {
                    const double xv = (double)c0[gather ? rb[i] : p0 + i];
                    s0 += hb[i] * (xv * xv);
                }
                H[j] = s0;
            }
        }
    }
    part[0] = L;
    part[1] = W;
    part[2] = Gb;
    part[3] = Hb;
}

/* Softmax cross-entropy, X row-major. wt is coef transposed (k rows of d), so that each
 * decision value is a fgdm_dot8; the gradient and Hessian partials are kept transposed
 * too (G[c*d + j]): each element sees the same additions in the same order as in the
 * column-major path. work: z, e, g, hh (k each). */
FGDM_INLINE void FGDM_S(fgdm_chunk_softmax_rows)(
    const fgdm_args *a, const double *FGDM_RESTRICT w, const double *FGDM_RESTRICT wt,
    ptrdiff_t lo, ptrdiff_t hi, double *FGDM_RESTRICT part, char *work, const int want_grad,
    const int want_hess)
{
    const FGDM_T *X = (const FGDM_T *)a->X;
    const int64_t *labels = (const int64_t *)a->y;
    const FGDM_T *sw = (const FGDM_T *)a->sw;
    const ptrdiff_t d = a->d, k = a->k, m = d * k;
    const double *FGDM_RESTRICT bias = a->intercept ? w + m : NULL;
    double *FGDM_RESTRICT Gb = part + 2;
    double *FGDM_RESTRICT Hb = part + 2 + k;
    double *FGDM_RESTRICT G = part + 2 + 2 * k;
    double *FGDM_RESTRICT H = G + m;
    double *FGDM_RESTRICT z = (double *)work;
    double *FGDM_RESTRICT e = z + k;
    double *FGDM_RESTRICT g = e + k;
    double *FGDM_RESTRICT hh = g + k;
    double L = 0.0, W = 0.0;
    for (ptrdiff_t p = lo; p < hi; ++p) {
        const ptrdiff_t r = a->rows ? (ptrdiff_t)a->rows[p * a->rs] : p;
        const FGDM_T *FGDM_RESTRICT x = X + r * a->xs0;
        for (ptrdiff_t c = 0; c < k; ++c) {
            z[c] = FGDM_S(fgdm_dot8)(d, x, wt + c * d);
            if (bias) z[c] = z[c] + bias[c];
        }
        const double wi = sw ? (double)sw[r * a->ss] : 1.0;
        const double l = FGDM_S(fgdm_softmax_point)(k, z, labels[r * a->ys], wi, e, g, hh);
        L += wi * l;
        W += wi;
        if (want_grad)
            for (ptrdiff_t c = 0; c < k; ++c) {
                const double gc = g[c];
                double *FGDM_RESTRICT Gc = G + c * d;
                Gb[c] += gc;
                for (ptrdiff_t j = 0; j < d; ++j) Gc[j] += gc * (double)x[j];
            }
        if (want_hess)
            for (ptrdiff_t c = 0; c < k; ++c) {
                const double hc = hh[c];
                double *FGDM_RESTRICT Hc = H + c * d;
                Hb[c] += hc;
                for (ptrdiff_t j = 0; j < d; ++j) {
                    const double xv = (double)x[j];
                    Hc[j] += hc * (xv * xv);
                }
            }
    }
    part[0] = L;
    part[1] = W;
}

/* Softmax cross-entropy, X column-major: a block of Bs rows at a time; lane q of class c of
 * row i at lanes[(q*k + c)*Bs + i]. work: lanes, z, e (k each), g and hh (Bs*k each), rows. */
FGDM_INLINE void FGDM_S(fgdm_chunk_softmax_cols)(
    const fgdm_args *a, const double *FGDM_RESTRICT w, ptrdiff_t lo, ptrdiff_t hi,
    double *FGDM_RESTRICT part, char *work, const int want_grad, const int want_hess,
    const int gather)
{
    const FGDM_T *X = (const FGDM_T *)a->X;
    const int64_t *labels = (const int64_t *)a->y;
    const FGDM_T *sw = (const FGDM_T *)a->sw;
    const ptrdiff_t d = a->d, k = a->k, m = d * k, xs1 = a->xs1;
    const ptrdiff_t Bs = fgdm_block_rows(k);
    const double *FGDM_RESTRICT bias = a->intercept ? w + m : NULL;
    double *FGDM_RESTRICT Gb = part + 2;
    double *FGDM_RESTRICT Hb = part + 2 + k;
    double *FGDM_RESTRICT G = part + 2 + 2 * k;
    double *FGDM_RESTRICT H = G + m;
    double *FGDM_RESTRICT lanes = (double *)work;
    double *FGDM_RESTRICT z = lanes + 8 * k * Bs;
    double *FGDM_RESTRICT e = z + k;
    double *FGDM_RESTRICT gblk = e + k;
    double *FGDM_RESTRICT hblk = gblk + Bs * k;
    ptrdiff_t *FGDM_RESTRICT rb = (ptrdiff_t *)(hblk + Bs * k);
    double L = 0.0, W = 0.0;
    for (ptrdiff_t p0 = lo; p0 < hi; p0 += Bs) {
        const ptrdiff_t nb = hi - p0 < Bs ? hi - p0 : Bs;
        for (ptrdiff_t i = 0; i < nb; ++i)
            rb[i] = gather ? (ptrdiff_t)a->rows[(p0 + i) * a->rs] : p0 + i;
        memset(lanes, 0, (size_t)(8 * k * Bs) * sizeof(double));
        for (ptrdiff_t j = 0; j < d; ++j) {
            const FGDM_T *FGDM_RESTRICT col = X + j * xs1;
            const FGDM_T *FGDM_RESTRICT colb = col + p0;
            for (ptrdiff_t c = 0; c < k; ++c) {
                double *FGDM_RESTRICT ln = lanes + ((j & 7) * k + c) * Bs;
                const double wjc = w[j * k + c];
                if (gather)
                    for (ptrdiff_t i = 0; i < nb; ++i) ln[i] += (double)col[rb[i]] * wjc;
                else
                    for (ptrdiff_t i = 0; i < nb; ++i) ln[i] += (double)colb[i] * wjc;
            }
        }
        for (ptrdiff_t i = 0; i < nb; ++i) {
            const ptrdiff_t r = rb[i];
            for (ptrdiff_t c = 0; c < k; ++c) {
                z[c] = FGDM_COMBINE8(lanes + c * Bs + i, k * Bs);
                if (bias) z[c] = z[c] + bias[c];
            }
            const double wi = sw ? (double)sw[r * a->ss] : 1.0;
            double *gi = gblk + i * k, *hi_ = hblk + i * k;
            const double l = FGDM_S(fgdm_softmax_point)(k, z, labels[r * a->ys], wi, e, gi, hi_);
            L += wi * l;
            W += wi;
            if (want_grad)
                for (ptrdiff_t c = 0; c < k; ++c) Gb[c] += gi[c];
            if (want_hess)
                for (ptrdiff_t c = 0; c < k; ++c) Hb[c] += hi_[c];
        }
        if (want_grad)
            for (ptrdiff_t j = 0; j < d; ++j) {
                const FGDM_T *FGDM_RESTRICT col = X + j * xs1;
                double *FGDM_RESTRICT Gj = G + j * k;
                for (ptrdiff_t i = 0; i < nb; ++i) {
                    const double xv = (double)col[gather ? rb[i] : p0 + i];
                    const double *FGDM_RESTRICT gi = gblk + i * k;
                    for (ptrdiff_t c = 0; c < k; ++c) Gj[c] += gi[c] * xv;
                }
            }
        if (want_hess)
            for (ptrdiff_t j = 0; j < d; ++j) {
                const FGDM_T *FGDM_RESTRICT col = X + j * xs1;
                double *FGDM_RESTRICT Hj = H + j * k;
                for (ptrdiff_t i = 0; i < nb; ++i) {
                    const double xv = (double)col[gather ? rb[i] : p0 + i];
                    const double x2 = xv * xv;
                    const double *FGDM_RESTRICT hi_ = hblk + i * k;
                    for (ptrdiff_t c = 0; c < k; ++c) Hj[c] += hi_[c] * x2;
                }
            }
    }
    part[0] = L;
    part[1] = W;
}

/* Bytes of scratch one thread needs for a chunk. */
static size_t FGDM_S(fgdm_work_bytes)(const fgdm_args *a)
{
    const size_t k = (size_t)a->k, B = (size_t)FGDM_BLOCK, Bs = (size_t)fgdm_block_rows(a->k);
    if (a->kind != FGDM_SOFTMAX)
        return a->row_major ? 0 : (10 * B) * sizeof(double) + B * sizeof(ptrdiff_t);
    if (a->row_major) return 4 * k * sizeof(double);
    return (8 * k * Bs + 2 * k + 2 * Bs * k) * sizeof(double) + Bs * sizeof(ptrdiff_t);
}

static void FGDM_S(fgdm_chunk)(const fgdm_args *a, const double *w, const double *wt,
                               ptrdiff_t lo, ptrdiff_t hi, double *part, char *work,
                               int want_grad, int want_hess)
{
    /* Each combination of flags is its own loop (the flags are literal constants). */
#define FGDM_FLAGS(CALL) \
    do { \
        if (want_hess) CALL(1, 1); \
        else if (want_grad) CALL(1, 0); \
        else CALL(0, 0); \
    } while (0)
#define FGDM_LR(G_, H_) FGDM_S(fgdm_chunk_linear_rows)(a, w, lo, hi, part, G_, H_)
#define FGDM_LC(G_, H_) FGDM_S(fgdm_chunk_linear_cols)(a, w, lo, hi, part, work, G_, H_, 1)
#define FGDM_LC0(G_, H_) FGDM_S(fgdm_chunk_linear_cols)(a, w, lo, hi, part, work, G_, H_, 0)
#define FGDM_SR(G_, H_) FGDM_S(fgdm_chunk_softmax_rows)(a, w, wt, lo, hi, part, work, G_, H_)
#define FGDM_SC(G_, H_) FGDM_S(fgdm_chunk_softmax_cols)(a, w, lo, hi, part, work, G_, H_, 1)
#define FGDM_SC0(G_, H_) FGDM_S(fgdm_chunk_softmax_cols)(a, w, lo, hi, part, work, G_, H_, 0)
    if (a->kind != FGDM_SOFTMAX) {
        if (a->row_major) FGDM_FLAGS(FGDM_LR);
        else if (a->rows) FGDM_FLAGS(FGDM_LC);
        else FGDM_FLAGS(FGDM_LC0);
    } else {
        if (a->row_major) FGDM_FLAGS(FGDM_SR);
        else if (a->rows) FGDM_FLAGS(FGDM_SC);
        else FGDM_FLAGS(FGDM_SC0);
    }
#undef FGDM_FLAGS
#undef FGDM_LR
#undef FGDM_LC
#undef FGDM_LC0
#undef FGDM_SR
#undef FGDM_SC
#undef FGDM_SC0
}

/* Sums over w[0..m) in eight lanes, as fgdm_dot8: of |w| (s1) and of w^2 (s2). */
static void FGDM_S(fgdm_penalty_sums)(ptrdiff_t m, const double *w, double *s1, double *s2)
{
    double l1[8] = {0, 0, 0, 0, 0, 0, 0, 0}, l2[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    ptrdiff_t j = 0;
    for (; j + 8 <= m; j += 8)
        for (int q = 0; q < 8; ++q) {
            l1[q] += fabs(w[j + q]);
            l2[q] += w[j + q] * w[j + q];
        }
    for (int q = 0; j + q < m; ++q) {
        l1[q] += fabs(w[j + q]);
        l2[q] += w[j + q] * w[j + q];
    }
    *s1 = FGDM_COMBINE8(l1, 1);
    *s2 = FGDM_COMBINE8(l2, 1);
}

/* ---------------------------------------------------------- the entry --- */

/* Loss (and gradient, and Hessian diagonal) of a linear model on a batch; see fgdm_args.
 * With m = d*k and W the sum of the batch's weights:
 *   loss       = (sum_i w_i l_i) / W  [+ a1 * sum|coef|]  [+ 0.5 * a2 * sum coef^2]
 *   grad_coef  = (sum_i w_i l'_i x_i) / W  [+ a1 * sign(coef)]  [+ a2 * coef]
 *   hess_coef  = (sum_i w_i l''_i x_i^2) / W  [+ a2]
 * and the intercept's without penalty (bracketed terms only when a1, a2 are nonzero).
 * Checks every row, target and weight first; returns FGDM_OK after writing the outputs, or
 * an error code (err_pos the batch position) having written nothing. */
FGD_HIDDEN int FGDM_S(fgdm_loss_grad)(fgdm_args *a)
{
    const ptrdiff_t n = a->n, d = a->d, k = a->k, m = d * k;
    const int want_grad = a->grad_coef != NULL, want_hess = a->hess_coef != NULL;
    const FGDM_T *coef = (const FGDM_T *)a->coef, *intercept = (const FGDM_T *)a->intercept;
    int status = FGDM_S(fgdm_check)(a);
    if (status != FGDM_OK) return status;

    const ptrdiff_t nchunks = fgdm_n_chunks(n, m), P = 2 + 2 * k + 2 * m;
    const ptrdiff_t per = (n + nchunks - 1) / nchunks;
    const size_t work_bytes = FGDM_S(fgdm_work_bytes)(a);
    /* Softmax's row-major path reads coef transposed and keeps its partials transposed. */
    const int transposed = a->kind == FGDM_SOFTMAX && a->row_major;
    double *w = (double *)malloc((size_t)(m + k + (transposed ? m : 0)) * sizeof(double));
    double *part = (double *)calloc((size_t)((nchunks + 1) * P), sizeof(double));
    if (!w || !part) {
        free(w);
        free(part);
        return FGDM_NO_MEMORY;
    }
    for (ptrdiff_t j = 0; j < m; ++j) w[j] = (double)coef[j];
    for (ptrdiff_t c = 0; c < k; ++c) w[m + c] = intercept ? (double)intercept[c] : 0.0;
    double *wt = transposed ? w + m + k : NULL;
    if (transposed)
        for (ptrdiff_t j = 0; j < d; ++j)
            for (ptrdiff_t c = 0; c < k; ++c) wt[c * d + j] = w[j * k + c];

    int failed = 0;
    int nt = 1;
#ifdef _OPENMP
    if (nchunks > 1 && n * m >= FGDM_PARALLEL_MIN && a->nthreads > 1)
        nt = a->nthreads < nchunks ? a->nthreads : (int)nchunks;
#endif
    if (nt > 1) {
FGDM_OMP(omp parallel num_threads(nt))
        {
            char *work = work_bytes ? (char *)malloc(work_bytes) : NULL;
FGDM_OMP(omp for schedule(static))
            for (ptrdiff_t c = 0; c < nchunks; ++c) {
                const ptrdiff_t lo = c * per, hi = lo + per < n ? lo + per : n;
                if (work_bytes && !work) {
FGDM_OMP(omp atomic write)
                    failed = 1;
                    continue;
                }
                if (lo < hi)
                    FGDM_S(fgdm_chunk)(a, w, wt, lo, hi, part + c * P, work, want_grad,
                                       want_hess);
            }
            free(work);
        }
    } else {  /* one thread: the same chunks in the same order, without an OpenMP region */
        char *work = work_bytes ? (char *)malloc(work_bytes) : NULL;
        if (work_bytes && !work) {
            failed = 1;
        } else {
            for (ptrdiff_t c = 0; c < nchunks; ++c) {
                const ptrdiff_t lo = c * per, hi = lo + per < n ? lo + per : n;
                if (lo < hi)
                    FGDM_S(fgdm_chunk)(a, w, wt, lo, hi, part + c * P, work, want_grad,
                                       want_hess);
            }
        }
        free(work);
    }
    if (failed) {
        free(w);
        free(part);
        return FGDM_NO_MEMORY;
    }

    /* The chunks' partial sums, added in chunk order into the last slot. */
    double *tot = part + nchunks * P;
    for (ptrdiff_t c = 0; c < nchunks; ++c) {
        const double *pc = part + c * P;
        for (ptrdiff_t t = 0; t < P; ++t) tot[t] += pc[t];
    }
    const double W = tot[1];
    if (W == 0.0) {
        free(w);
        free(part);
        return FGDM_ZERO_WEIGHT;
    }
    const double a1 = a->a1, a2 = a->a2;
    double loss = tot[0] / W;
    if (a1 != 0.0 || a2 != 0.0) {
        double s1, s2;
        FGDM_S(fgdm_penalty_sums)(m, w, &s1, &s2);
        if (a1 != 0.0) loss = loss + a1 * s1;
        if (a2 != 0.0) loss = loss + 0.5 * a2 * s2;
    }
    a->loss = loss;
    if (want_grad) {
        FGDM_T *gc = (FGDM_T *)a->grad_coef, *gi = (FGDM_T *)a->grad_intercept;
        const double *G = tot + 2 + 2 * k;
        for (ptrdiff_t j = 0; j < m; ++j) {
            double v = G[transposed ? (j % k) * d + j / k : j] / W;
            const double wj = w[j];
            if (a1 != 0.0) v = v + a1 * (wj > 0.0 ? 1.0 : (wj < 0.0 ? -1.0 : wj));
            if (a2 != 0.0) v = v + a2 * wj;
            gc[j] = (FGDM_T)v;
        }
        if (gi)
            for (ptrdiff_t c = 0; c < k; ++c) gi[c] = (FGDM_T)(tot[2 + c] / W);
    }
    if (want_hess) {
        FGDM_T *hc = (FGDM_T *)a->hess_coef, *hi = (FGDM_T *)a->hess_intercept;
        const double *H = tot + 2 + 2 * k + m;
        for (ptrdiff_t j = 0; j < m; ++j) {
            double v = H[transposed ? (j % k) * d + j / k : j] / W;
            if (a2 != 0.0) v = v + a2;
            hc[j] = (FGDM_T)v;
        }
        if (hi)
            for (ptrdiff_t c = 0; c < k; ++c) hi[c] = (FGDM_T)(tot[2 + k + c] / W);
    }
    free(w);
    free(part);
    return FGDM_OK;
}

#include "clip.h"
#include "csr.h"
