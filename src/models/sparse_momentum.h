/*
 * SGD with momentum (or Nesterov) over a CSR design matrix in O(nnz) a step
 * (fastgd.models.sparse_training, path "sgd_momentum"): every column keeps the step count
 * it is current at, and is brought to the current step over its skipped steps -- on which
 * its pair (weight, momentum buffer) moves by a constant 2x2 matrix A -- when it next
 * appears in a batch, and at the end of the epoch. A^k is applied as the tabled A^r of
 * k's low 10 bits times the tabled A^(1024 2^i) of its set higher bits (O(1 + log k)).
 * The arithmetic and its order are those of the NumPy specification,
 * fastgd/reference/sparse_momentum.py, which documents every step.
 * One thread.
 *
 * Included by sparse_sgd.c after sparse_sgd.h (fgdsp_args, fgdsp_point) once per (value
 * type, index type): FGDSP_T, FGDSP_I, FGDSP_S(name).
 *
 * Arguments (fgdsp_args): m1 the d column records (fgdsp_mom_rec: weight, momentum buffer,
 * gradient, step count); b the intercept or NULL, m2 its momentum buffer; touched room
 * for the batch's distinct columns; pw the (1089, 4) table; work 3 * batch doubles.
 */

#ifndef FGDSP_MOM_ONCE
#define FGDSP_MOM_ONCE
/* The table's rows (fastgd/reference/sparse_momentum.py, momentum_table): A^r for
 * r < FGDSP_MOM_LOW, then A^(FGDSP_MOM_LOW 2^i), then the first step's A0. */
#define FGDSP_MOM_LOW 1024
#define FGDSP_MOM_SHIFT 10
#define FGDSP_MOM_FIRST (FGDSP_MOM_LOW + 64)
/* (w, m) <- R (w, m), R a row-major 2x2 matrix. */
#define FGDSP_MOM_APPLY(R, w, m) do { \
        const double *r_ = (R); \
        const double nw_ = r_[0] * (w) + r_[1] * (m); \
        (m) = r_[2] * (w) + r_[3] * (m); \
        (w) = nw_; \
    } while (0)
#endif

/* A column's state: the record of momentum_state (numpy's aligned layout). */
typedef struct {
    FGDSP_T w, m;   /* the weight, the momentum buffer */
    double g;       /* the batch's gradient (zero between steps) */
    int64_t stamp;  /* the step count the column is current at */
} FGDSP_S(fgdsp_mom_rec);

/* Column j's pair brought from step stamp[j] to step t. */
static inline void FGDSP_S(fgdsp_mom_bring)(FGDSP_S(fgdsp_mom_rec) *c, int64_t t,
                                            const double *pw)
{
    double w = (double)c->w, m = (double)c->m;
    int64_t k = t - c->stamp;
    if (c->stamp == 0) {
        FGDSP_MOM_APPLY(pw + 4 * FGDSP_MOM_FIRST, w, m);
        k -= 1;
    }
    const int64_t low = k & (FGDSP_MOM_LOW - 1);
    if (low) FGDSP_MOM_APPLY(pw + 4 * low, w, m);
    k >>= FGDSP_MOM_SHIFT;
    for (int i = FGDSP_MOM_LOW; k; ++i, k >>= 1)
        if (k & 1) FGDSP_MOM_APPLY(pw + 4 * i, w, m);
    c->w = (FGDSP_T)w;
    c->m = (FGDSP_T)m;
    c->stamp = t;
}

int FGDSP_S(fgdsp_momentum_epoch)(const fgdsp_args *a)
{
    const FGDSP_T *data = (const FGDSP_T *)a->data, *y = (const FGDSP_T *)a->y;
    const FGDSP_T *sw = (const FGDSP_T *)a->sw;
    const FGDSP_I *ind = (const FGDSP_I *)a->indices, *ptr = (const FGDSP_I *)a->indptr;
    FGDSP_S(fgdsp_mom_rec) *rec = (FGDSP_S(fgdsp_mom_rec) *)a->m1;
    FGDSP_T *b = (FGDSP_T *)a->b, *bm = (FGDSP_T *)a->m2;
    int64_t *touched = a->touched;
    const double *pw = a->pw;
    double *st = a->st;
    const double *prm = a->prm;
    const int kind = (int)a->iprm[0], want = (int)a->iprm[4], nesterov = (int)a->iprm[7];
    const double eps = prm[6], lr = prm[2], alpha = prm[8];
    const double mu = prm[12], damp = prm[13], wd = prm[14];
    const int track = want && alpha != 0.0;
    const ptrdiff_t d = a->d, m = a->n_order, batch = a->batch;
    double *c = a->work, *wt = a->work + batch, *ls = a->work + 2 * batch;

    for (ptrdiff_t p0 = 0; p0 < m; p0 += batch) {
        const ptrdiff_t nb = (m - p0 < batch) ? m - p0 : batch;
        const int64_t t = (int64_t)st[6];
        const double bval = b ? (double)b[0] : 0.0;
        /* 1. the batch's columns brought to t; the rows */
        for (ptrdiff_t i = 0; i < nb; ++i) {
            const int64_t r = a->order[p0 + i];
            const ptrdiff_t k1 = (ptrdiff_t)ptr[r + 1];
            double acc = 0.0;
            for (ptrdiff_t k = (ptrdiff_t)ptr[r]; k < k1; ++k) {
                const ptrdiff_t j = (ptrdiff_t)ind[k];
                FGDSP_S(fgdsp_mom_rec) *cj = rec + j;
                if (cj->stamp != t) FGDSP_S(fgdsp_mom_bring)(cj, t, pw);
                acc += (double)cj->w * (double)data[k];
            }
            double l = 0.0;
            c[i] = fgdsp_point(kind, acc + bval, (double)y[r], eps, want, &l);
            wt[i] = sw ? (double)sw[r] : 1.0;
            ls[i] = l;
        }
        /* 2. */
        double S = 0.0, L = 0.0;
        for (ptrdiff_t i = 0; i < nb; ++i) {
            S += wt[i];
            L += wt[i] * ls[i];
        }
        if (S == 0.0) continue;
        if (want) {
            st[3] += L + (track ? 0.5 * alpha * st[5] : 0.0) * S;
            st[4] += S;
        }
        /* 3. the batch's gradient, its columns listed */
        double G = 0.0;
        ptrdiff_t nt = 0;
        for (ptrdiff_t i = 0; i < nb; ++i) {
            const double ci = (wt[i] * c[i]) / S;
            G += ci;
            const int64_t r = a->order[p0 + i];
            const ptrdiff_t k1 = (ptrdiff_t)ptr[r + 1];
            for (ptrdiff_t k = (ptrdiff_t)ptr[r]; k < k1; ++k) {
                const ptrdiff_t j = (ptrdiff_t)ind[k];
                FGDSP_S(fgdsp_mom_rec) *cj = rec + j;
                /* without a branch, as the lazy Adam loop lists its columns */
                const int fresh = cj->stamp == t;
                cj->stamp = t + 1;
                touched[nt] = j;
                nt += fresh;
                cj->g += ci * (double)data[k];
            }
        }
        /* 4. C <- M C M^T */
        const double *M = pw + 4 * (t == 0 ? FGDSP_MOM_FIRST : 1);
        if (track) {
            const double c00 = st[5], c01 = st[8], c11 = st[9];
            const double r0 = M[0] * c00 + M[1] * c01, r1 = M[0] * c01 + M[1] * c11;
            const double s0 = M[2] * c00 + M[3] * c01, s1 = M[2] * c01 + M[3] * c11;
            st[5] = r0 * M[0] + r1 * M[1];
            st[8] = r0 * M[2] + r1 * M[3];
            st[9] = s0 * M[2] + s1 * M[3];
        }
        /* 5. the momentum step of the listed columns */
        for (ptrdiff_t q = 0; q < nt; ++q) {
            FGDSP_S(fgdsp_mom_rec) *cj = rec + touched[q];
            const double w0 = (double)cj->w, m0 = (double)cj->m;
            const double gj = (cj->g + alpha * w0) + wd * w0;
            cj->g = 0.0;
            const double m1 = t == 0 ? gj : mu * m0 + (1.0 - damp) * gj;
            const double w1 = w0 - lr * (nesterov ? gj + mu * m1 : m1);
            /* the stored values, rounded to FGDSP_T, feed C through a volatile: without
             * it the float32 loop's C took other bits than the specification's under
             * gcc 12 -O3 (cause not found; tests/models/test_sparse_momentum.py's bits
             * test fails without it) */
            volatile FGDSP_T wr = (FGDSP_T)w1, mr = (FGDSP_T)m1;
            cj->w = wr;
            cj->m = mr;
            if (track) {
                const double y0 = M[0] * w0 + M[1] * m0, y1 = M[2] * w0 + M[3] * m0;
                const double ws = (double)wr, ms = (double)mr;
                st[5] += ws * ws - y0 * y0;
                st[8] += ws * ms - y0 * y1;
                st[9] += ms * ms - y1 * y1;
            }
        }
        /* 6. the intercept */
        if (b) {
            const double b0 = (double)b[0];
            const double gb = G + wd * b0;
            const double m1 = t == 0 ? gb : mu * (double)bm[0] + (1.0 - damp) * gb;
            b[0] = (FGDSP_T)(b0 - lr * (nesterov ? gb + mu * m1 : m1));
            bm[0] = (FGDSP_T)m1;
        }
        /* 7. */
        st[1] += 1.0;
        st[6] += 1.0;
    }
    /* every column brought to t; C summed afresh */
    const int64_t t = (int64_t)st[6];
    double c00 = 0.0, c01 = 0.0, c11 = 0.0;
    for (ptrdiff_t j = 0; j < d; ++j) {
        FGDSP_S(fgdsp_mom_rec) *cj = rec + j;
        if (cj->stamp != t) FGDSP_S(fgdsp_mom_bring)(cj, t, pw);
        if (track) {
            const double w0 = (double)cj->w, m0 = (double)cj->m;
            c00 += w0 * w0;
            c01 += w0 * m0;
            c11 += m0 * m0;
        }
    }
    if (track) {
        st[5] = c00;
        st[8] = c01;
        st[9] = c11;
    }
    return 0;
}
