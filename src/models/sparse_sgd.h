/*
 * O(nnz)-per-step training loops over a CSR design matrix (fastgd.models.sparse_training).
 *
 * One epoch's steps of stochastic (mini-batch) gradient descent for the binary and
 * regression losses, the weights kept as w = s * v (a scalar s and the stored vector v):
 * a coupled L2 penalty scales s in O(1), a step adds to the batch's columns of v only.
 * Also the same loop with SparseAdam's update (the moments and weights of the batch's
 * columns only). The arithmetic and its order are those of the NumPy specification,
 * fastgd/reference/sparse_sgd.py, which documents every step.
 *
 * Included by sparse_sgd_types.h once per (value type, index type): FGDSP_T (float or double),
 * FGDSP_I (int32_t or int64_t) and FGDSP_S(name) (the suffixed name).
 *
 * Threads (mini-batches, nthreads > 1): the batch's decision values are computed row by
 * row in parallel; the writes to v (and the optimizer states) are split by column bucket
 * ((column >> 3) & 63): each thread owns the buckets b with b % nthreads == its number,
 * and applies, in the batch's row order, the updates of its columns. Every column sees the
 * same operations in the same order for any thread count, so the bits do not depend on it.
 */

#ifndef FGDSP_COMMON_ONCE
#define FGDSP_COMMON_ONCE
#include <math.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define FGDSP_BUCKETS 64
#define FGDSP_KLOCAL 64
#if defined(__GNUC__)
#define FGDSP_RESTRICT __restrict__
static inline void fgdsp_prefetch_line(const char *p) { __builtin_prefetch(p, 1, 3); }
#else
#define FGDSP_RESTRICT
static inline void fgdsp_prefetch_line(const char *p) { (void)p; }
#endif
#define FGDSP_BUCKET(j) ((int)(((j) >> 3) & (FGDSP_BUCKETS - 1)))
#define FGDSP_MAX_DLOSS 1e12
/* How many rows ahead the software prefetch reaches: stored values and indices, weights. */
#ifndef FGDSP_PF_ROW
#define FGDSP_PF_ROW 2
#endif
#ifndef FGDSP_PF_W
#define FGDSP_PF_W 1
#endif

/* Loss codes: those of models.h (fgdm kinds 0..5). */
enum { FGDSP_SQUARED_ERROR = 0, FGDSP_HALF_SQUARED_ERROR = 1, FGDSP_HUBER = 2, FGDSP_EPSILON_INSENSITIVE = 3,
       FGDSP_LOG_LOSS = 4, FGDSP_HINGE = 5 };
/* Penalty modes. */
enum { FGDSP_PEN_NONE = 0, FGDSP_PEN_L2 = 1, FGDSP_PEN_CUMULATIVE = 2 };
/* Schedules. */
enum { FGDSP_CONSTANT = 0, FGDSP_OPTIMAL = 1, FGDSP_INVSCALING = 2 };

#include "sparse_sgd_decl.h"  /* fgdsp_args */

/* dl/dz (and the loss when want_loss) of one sample; one exp for the log loss. */
static inline double fgdsp_point(int kind, double z, double y, double eps, int want_loss,
                                 double *loss)
{
    double r, ar, e, p, q, t;
    switch (kind) {
    case FGDSP_SQUARED_ERROR:
        r = z - y;
        if (want_loss) *loss = r * r;
        return 2.0 * r;
    case FGDSP_HALF_SQUARED_ERROR:
        r = z - y;
        if (want_loss) *loss = 0.5 * (r * r);
        return r;
    case FGDSP_HUBER:
        r = z - y;
        ar = fabs(r);
        if (ar <= eps) {
            if (want_loss) *loss = 0.5 * (r * r);
            return r;
        }
        if (want_loss) *loss = eps * (ar - 0.5 * eps);
        return r > 0.0 ? eps : (r < 0.0 ? -eps : r);
    case FGDSP_EPSILON_INSENSITIVE:
        r = z - y;
        ar = fabs(r) - eps;
        if (want_loss) *loss = ar > 0.0 ? ar : (ar != ar ? ar : 0.0);
        if (ar > 0.0) return r > 0.0 ? 1.0 : -1.0;
        return ar != ar ? ar : 0.0;
    case FGDSP_LOG_LOSS:
        e = exp(-fabs(z));
        if (z >= 0.0) {
            p = 1.0 / (1.0 + e);
            q = e * p;
        } else {
            q = 1.0 / (1.0 + e);
            p = e * q;
        }
        if (want_loss) *loss = ((z > 0.0 ? z : 0.0) - y * z) + log1p(e);
        return (1.0 - y) * p - y * q;
    default: /* hinge, y in {0, 1} (or -1/1) */
        t = y > 0.0 ? 1.0 : -1.0;
        if (t * z <= 1.0) {
            if (want_loss) *loss = 1.0 - t * z;
            return -t;
        }
        if (want_loss) *loss = (t * z != t * z) ? t * z : 0.0;
        return (t * z != t * z) ? t * z : 0.0;
    }
}

static inline double fgdsp_eta(const double *prm, int sched, double t)
{
    if (sched == FGDSP_OPTIMAL) return 1.0 / (prm[0] * (prm[4] + t - 1.0));
    if (sched == FGDSP_INVSCALING) return prm[2] / pow(t, prm[3]);
    return prm[2];
}

/* The end of a step: the squared norm's change (the buckets' sums, in bucket order, then
 * cleared) added to st[5] when the loss is tracked, and the step counters advanced. */
static inline void fgdsp_end_step(double *st, double *acc, int want)
{
    if (want) {
        double dsq = 0.0;
        for (int k = 0; k < FGDSP_BUCKETS; ++k) {
            dsq += acc[k];
            acc[k] = 0.0;
        }
        st[5] += dsq;
    }
    st[1] += 1.0;
    st[6] += 1.0;
}

static inline int fgdsp_nthreads(const fgdsp_args *a)
{
    int nt = (int)a->iprm[6];
#ifdef _OPENMP
    if (nt < 1) nt = 1;
    if (a->batch < 2) nt = 1;
    return nt;
#else
    (void)a;
    return 1;
#endif
}
#endif /* FGDSP_COMMON_ONCE */

/* ---------------------------------------------------------------- one type pair --- */

/* Row r's dot product with v (weight j at v[j vs]), in the row's stored order. */
static inline double FGDSP_S(fgdsp_dot)(const FGDSP_T *data, const FGDSP_I *ind,
                                        ptrdiff_t lo, ptrdiff_t hi, const FGDSP_T *v,
                                        ptrdiff_t vs)
{
    double acc = 0.0;
    for (ptrdiff_t k = lo; k < hi; ++k) acc += (double)v[ind[k] * vs] * (double)data[k];
    return acc;
}

/* Software prefetch for the rows ahead (the order is random, which the hardware cannot
 * guess): the stored values and indices of the row at position p + 2, and the weights of
 * the row at position p + 1 (whose indices the previous call brought in). */
static inline void FGDSP_S(fgdsp_prefetch)(const fgdsp_args *a, ptrdiff_t p)
{
#if defined(__GNUC__)
    const FGDSP_I *ind = (const FGDSP_I *)a->indices, *ptr = (const FGDSP_I *)a->indptr;
    const FGDSP_T *v = (const FGDSP_T *)a->v;
    if (p + FGDSP_PF_ROW < a->n_order) {
        const int64_t r = a->order[p + FGDSP_PF_ROW];
        const char *d0 = (const char *)((const FGDSP_T *)a->data + ptr[r]);
        const char *d1 = (const char *)((const FGDSP_T *)a->data + ptr[r + 1]);
        for (const char *c = d0; c < d1 + 64; c += 64) __builtin_prefetch(c, 0, 3);
        const char *i0 = (const char *)(ind + ptr[r]), *i1 = (const char *)(ind + ptr[r + 1]);
        for (const char *c = i0; c < i1 + 64; c += 64) __builtin_prefetch(c, 0, 3);
    }
    if (p + FGDSP_PF_W < a->n_order) {
        const int64_t r = a->order[p + FGDSP_PF_W];
        const ptrdiff_t k1 = (ptrdiff_t)ptr[r + 1];
        for (ptrdiff_t k = (ptrdiff_t)ptr[r]; k < k1; ++k)
            __builtin_prefetch(v + ind[k] * a->vs, 1, 3);
    }
#else
    (void)a; (void)p;
#endif
}

/* v <- s * v, s <- 1 (and the tracked squared norm recomputed). */
static void FGDSP_S(fgdsp_rescale)(FGDSP_T *v, ptrdiff_t d, double *st, int want_loss)
{
    const double s = st[0];
    double sq = 0.0;
    for (ptrdiff_t j = 0; j < d; ++j) {
        v[j] = (FGDSP_T)((double)v[j] * s);
        if (want_loss) sq += (double)v[j] * (double)v[j];
    }
    st[0] = 1.0;
    st[5] = sq;
}

/* The penalty's value at w = s v (O(d) for the L1 part). */
static double FGDSP_S(fgdsp_penalty)(const FGDSP_T *v, ptrdiff_t d, const double *st,
                                     const double *prm, int mode)
{
    const double s = st[0], alpha = prm[0], rho = prm[1];
    if (mode == FGDSP_PEN_L2) return 0.5 * alpha * (s * s * st[5]);
    if (mode == FGDSP_PEN_CUMULATIVE) {
        double l1 = 0.0;
        if (rho > 0.0)
            for (ptrdiff_t j = 0; j < d; ++j) l1 += fabs((double)v[j]);
        return alpha * ((1.0 - rho) * 0.5 * (s * s * st[5]) + rho * (fabs(s) * l1));
    }
    return 0.0;
}

/* Phase 1 of a batch: decision value, dl/dz and loss of each row of positions [lo, hi). */
static inline void FGDSP_S(fgdsp_rows)(const fgdsp_args *a, ptrdiff_t p0, ptrdiff_t lo,
                                       ptrdiff_t hi, double s, double b, double *c,
                                       double *wt, double *ls)
{
    const FGDSP_T *data = (const FGDSP_T *)a->data, *y = (const FGDSP_T *)a->y;
    const FGDSP_T *sw = (const FGDSP_T *)a->sw, *v = (const FGDSP_T *)a->v;
    const FGDSP_I *ind = (const FGDSP_I *)a->indices, *ptr = (const FGDSP_I *)a->indptr;
    const int kind = (int)a->iprm[0], compat = (int)a->iprm[3], want = (int)a->iprm[4];
    const double eps = a->prm[6];
    for (ptrdiff_t i = lo; i < hi; ++i) {
        const int64_t r = a->order[p0 + i];
        const ptrdiff_t k0 = (ptrdiff_t)ptr[r], k1 = (ptrdiff_t)ptr[r + 1];
        if (a->iprm[5]) FGDSP_S(fgdsp_prefetch)(a, p0 + i);
        const double z = FGDSP_S(fgdsp_dot)(data, ind, k0, k1, v, a->vs) * s + b;
        double l = 0.0;
        double dl = fgdsp_point(kind, z, (double)y[r], eps, want, &l);
        if (compat) {
            if (dl < -FGDSP_MAX_DLOSS) dl = -FGDSP_MAX_DLOSS;
            else if (dl > FGDSP_MAX_DLOSS) dl = FGDSP_MAX_DLOSS;
        }
        const double wi = sw ? (double)sw[r] : 1.0;
        c[i] = dl;
        wt[i] = wi;
        ls[i] = l;
    }
}

/* Phase 2: v[j] += x * cw[i] for the batch's entries whose column bucket is owned
 * (owned == NULL: all), in row order; the squared norm's change per bucket in acc. */
static inline void FGDSP_S(fgdsp_scatter)(const fgdsp_args *a, ptrdiff_t p0, ptrdiff_t nb,
                                          const double *cw, int tid, int nt, double *acc,
                                          int want_loss)
{
    const FGDSP_T *data = (const FGDSP_T *)a->data;
    const FGDSP_I *ind = (const FGDSP_I *)a->indices, *ptr = (const FGDSP_I *)a->indptr;
    FGDSP_T *v = (FGDSP_T *)a->v;
    for (ptrdiff_t i = 0; i < nb; ++i) {
        const double c = cw[i];
        if (c == 0.0) continue;
        const int64_t r = a->order[p0 + i];
        const ptrdiff_t k1 = (ptrdiff_t)ptr[r + 1];
        for (ptrdiff_t k = (ptrdiff_t)ptr[r]; k < k1; ++k) {
            const ptrdiff_t j = (ptrdiff_t)ind[k];
            const int bk = FGDSP_BUCKET(j);
            if (nt > 1 && bk % nt != tid) continue;
            const double old = (double)v[j];
            const FGDSP_T nw = (FGDSP_T)(old + (double)data[k] * c);
            v[j] = nw;
            if (want_loss) acc[bk] += (double)nw * (double)nw - old * old;
        }
    }
}

/* The cumulative L1 penalty (Tsuruoka et al.) on the batch's entries of owned buckets. */
static inline void FGDSP_S(fgdsp_l1)(const fgdsp_args *a, ptrdiff_t p0, ptrdiff_t nb,
                                     double s, double u, int tid, int nt, double *acc,
                                     int want_loss)
{
    const FGDSP_I *ind = (const FGDSP_I *)a->indices, *ptr = (const FGDSP_I *)a->indptr;
    FGDSP_T *v = (FGDSP_T *)a->v, *q = (FGDSP_T *)a->q;
    for (ptrdiff_t i = 0; i < nb; ++i) {
        const int64_t r = a->order[p0 + i];
        const ptrdiff_t k1 = (ptrdiff_t)ptr[r + 1];
        for (ptrdiff_t k = (ptrdiff_t)ptr[r]; k < k1; ++k) {
            const ptrdiff_t j = (ptrdiff_t)ind[k];
            const int bk = FGDSP_BUCKET(j);
            if (nt > 1 && bk % nt != tid) continue;
            const double z = (double)v[j];
            double nw = z;
            if (s * z > 0.0) {
                nw = z - ((u + (double)q[j]) / s);
                if (nw < 0.0) nw = 0.0;
            } else if (s * z < 0.0) {
                nw = z + ((u - (double)q[j]) / s);
                if (nw > 0.0) nw = 0.0;
            }
            v[j] = (FGDSP_T)nw;
            q[j] = (FGDSP_T)((double)q[j] + s * ((double)v[j] - z));
            if (want_loss) acc[bk] += (double)v[j] * (double)v[j] - z * z;
        }
    }
}

/* The scalar part of a step (one thread): sums in row order, the learning rate, the
 * penalty's scaling of s, each row's coefficient cw[i] on v, the intercept. Returns 0 for
 * a batch to skip (no weight), 1 otherwise. */
static int FGDSP_S(fgdsp_scalar)(const fgdsp_args *a, ptrdiff_t nb, double *c, double *wt,
                                 double *ls, double *eta_out)
{
    double *st = a->st;
    const double *prm = a->prm;
    const int compat = (int)a->iprm[3], want = (int)a->iprm[4], mode = (int)a->iprm[1];
    const int sched = (int)a->iprm[2];
    FGDSP_T *v = (FGDSP_T *)a->v;
    double S = 0.0, L = 0.0, G = 0.0;
    for (ptrdiff_t i = 0; i < nb; ++i) {
        S += wt[i];
        L += compat ? ls[i] : wt[i] * ls[i];
    }
    if (!compat && S == 0.0) return 0;
    const double t = st[1];
    const double eta = fgdsp_eta(prm, sched, t);
    *eta_out = eta;
    if (want) {
        const double pen = FGDSP_S(fgdsp_penalty)(v, a->d, st, prm, mode);
        if (compat) {
            st[3] += L + (double)nb * pen;
            st[4] += (double)nb;
        } else {
            st[3] += L + pen * S;
            st[4] += S;
        }
    }
    /* the coefficient of each row's gradient: compat -eta dl w (scikit-learn's update),
     * else -eta w dl / S (the step on the batch's weighted mean) */
    for (ptrdiff_t i = 0; i < nb; ++i) {
        double u = compat ? (-eta * c[i]) * wt[i] : -eta * ((wt[i] * c[i]) / S);
        c[i] = u;
        G += u;
    }
    if (mode != FGDSP_PEN_NONE) {
        const double f = mode == FGDSP_PEN_L2 ? 1.0 - eta * prm[8]
                                              : 1.0 - (1.0 - prm[1]) * eta * prm[0];
        const double fc = (mode == FGDSP_PEN_CUMULATIVE && f < 0.0) ? 0.0 : f;
        if (fc != 1.0) {
            st[0] *= fc;
            if (fabs(st[0]) < prm[7]) FGDSP_S(fgdsp_rescale)(v, a->d, st, want);
        }
    }
    const double s = st[0];
    for (ptrdiff_t i = 0; i < nb; ++i) c[i] = c[i] / s;
    if (a->b != NULL && G != 0.0) {
        FGDSP_T *b = (FGDSP_T *)a->b;
        b[0] = (FGDSP_T)((double)b[0] + G * prm[5]);
    }
    if (mode == FGDSP_PEN_CUMULATIVE && prm[1] > 0.0) st[2] += prm[1] * eta * prm[0];
    return 1;
}

/* One epoch of SGD steps (see fastgd/reference/sparse_sgd.py: sgd_epoch). Returns 0. */
int FGDSP_S(fgdsp_sgd_epoch)(const fgdsp_args *a)
{
    double *st = a->st;
    const ptrdiff_t B = a->batch, m = a->n_order;
    const int mode = (int)a->iprm[1], want = (int)a->iprm[4];
    const int l1 = mode == FGDSP_PEN_CUMULATIVE && a->prm[1] > 0.0;
    double *c = a->work, *wt = c + B, *ls = wt + B, *acc = ls + B;
    const int nt = fgdsp_nthreads(a);
    memset(acc, 0, FGDSP_BUCKETS * sizeof(double));
    if (nt == 1) {
        for (ptrdiff_t p0 = 0; p0 < m; p0 += B) {
            const ptrdiff_t nb = m - p0 < B ? m - p0 : B;
            const double b = a->b ? (double)((const FGDSP_T *)a->b)[0] : 0.0;
            double eta;
            FGDSP_S(fgdsp_rows)(a, p0, 0, nb, st[0], b, c, wt, ls);
            if (!FGDSP_S(fgdsp_scalar)(a, nb, c, wt, ls, &eta)) continue;
            FGDSP_S(fgdsp_scatter)(a, p0, nb, c, 0, 1, acc, want);
            if (l1) FGDSP_S(fgdsp_l1)(a, p0, nb, st[0], st[2], 0, 1, acc, want);
            fgdsp_end_step(st, acc, want);
        }
        return 0;
    }
#ifdef _OPENMP
    int go = 0;
    double eta = 0.0;
    #pragma omp parallel num_threads(nt)
    {
        const int tid = omp_get_thread_num();
        for (ptrdiff_t p0 = 0; p0 < m; p0 += B) {
            const ptrdiff_t nb = m - p0 < B ? m - p0 : B;
            const double s = st[0];
            const double b = a->b ? (double)((const FGDSP_T *)a->b)[0] : 0.0;
            #pragma omp for schedule(static)
            for (ptrdiff_t i = 0; i < nb; ++i)
                FGDSP_S(fgdsp_rows)(a, p0, i, i + 1, s, b, c, wt, ls);
            #pragma omp single
            {
                go = FGDSP_S(fgdsp_scalar)(a, nb, c, wt, ls, &eta);
            }
            if (go) {
                FGDSP_S(fgdsp_scatter)(a, p0, nb, c, tid, nt, acc, want);
                if (l1) FGDSP_S(fgdsp_l1)(a, p0, nb, st[0], st[2], tid, nt, acc, want);
                #pragma omp barrier
                #pragma omp single
                {
                    fgdsp_end_step(st, acc, want);
                }
            }
        }
    }
#endif
    return 0;
}

/* A column's lazy Adam record, one cache line at most: its weight, the moments, and the
 * batch's gradient (NaN when the column is not in the batch): the rows phase brings the
 * line in, and the gradient's sum and the update find it there. */
typedef struct {
    FGDSP_T w, m1, m2;
    double g;
} FGDSP_S(fgdsp_mom);

/* One epoch of lazy Adam steps (SparseAdam's update on the batch's columns; see
 * fastgd/reference/sparse_sgd.py: adam_epoch). Returns 0. */
int FGDSP_S(fgdsp_adam_epoch)(const fgdsp_args *a)
{
    double *st = a->st;
    const double *prm = a->prm;
    const ptrdiff_t B = a->batch, m = a->n_order;
    const FGDSP_T *data = (const FGDSP_T *)a->data;
    const FGDSP_I *ind = (const FGDSP_I *)a->indices, *ptr = (const FGDSP_I *)a->indptr;
    FGDSP_S(fgdsp_mom) *mom = (FGDSP_S(fgdsp_mom) *)a->m1;
    FGDSP_T *bp = (FGDSP_T *)a->b;
    const int want = (int)a->iprm[4], mode = (int)a->iprm[1];
    double *c = a->work, *wt = c + B, *ls = wt + B;
    const double beta1 = prm[9], beta2 = prm[10], aeps = prm[11], lr = prm[2];
    const double l2 = mode == FGDSP_PEN_L2 ? prm[8] : 0.0;
    const FGDSP_T omb1 = (FGDSP_T)(1.0 - beta1), omb2 = (FGDSP_T)(1.0 - beta2);
    const FGDSP_T ep = (FGDSP_T)aeps;
    for (ptrdiff_t p0 = 0; p0 < m; p0 += B) {
        const ptrdiff_t nb = m - p0 < B ? m - p0 : B;
        const double b = bp ? (double)bp[0] : 0.0;
        FGDSP_S(fgdsp_rows)(a, p0, 0, nb, 1.0, b, c, wt, ls);
        double S = 0.0, L = 0.0, G = 0.0;
        for (ptrdiff_t i = 0; i < nb; ++i) {
            S += wt[i];
            L += wt[i] * ls[i];
        }
        if (S == 0.0) continue;
        /* the batch's columns (first appearance order) and their gradient */
        ptrdiff_t nt = 0;
        for (ptrdiff_t i = 0; i < nb; ++i) {
            const double ci = (wt[i] * c[i]) / S;
            G += ci;
            const int64_t r = a->order[p0 + i];
            const ptrdiff_t k1 = (ptrdiff_t)ptr[r + 1];
            for (ptrdiff_t k = (ptrdiff_t)ptr[r]; k < k1; ++k) {
                const ptrdiff_t j = (ptrdiff_t)ind[k];
                const double gk = ci * (double)data[k];
                /* without a branch (a column's first appearance in the batch is not
                 * predictable): the slot past the list is written either way */
                const double gj = mom[j].g;
                const int fresh = gj != gj;
                a->touched[nt] = j;
                nt += fresh;
                mom[j].g = fresh ? gk : gj + gk;
            }
        }
        if (want) {
            double pen = 0.0;
            if (l2 != 0.0) {
                double sq = 0.0;
                for (ptrdiff_t j = 0; j < a->d; ++j) sq += (double)mom[j].w * (double)mom[j].w;
                pen = 0.5 * l2 * sq;
            }
            st[3] += L + pen * S;
            st[4] += S;
        }
        st[7] += 1.0;
        const double step = st[7];
        const double bc1 = 1.0 - pow(beta1, step), bc2 = 1.0 - pow(beta2, step);
        const FGDSP_T nss = (FGDSP_T)(-(lr * sqrt(bc2) / bc1));
        for (ptrdiff_t k = 0; k < nt; ++k) {
            const ptrdiff_t j = (ptrdiff_t)a->touched[k];
            FGDSP_S(fgdsp_mom) *st_j = mom + j;
            const FGDSP_T gj = (FGDSP_T)(st_j->g + l2 * (double)st_j->w);
            const FGDSP_T mo = st_j->m1, vo = st_j->m2;
            const FGDSP_T mn = (FGDSP_T)((gj - mo) * omb1) + mo;
            const FGDSP_T vn = (FGDSP_T)((gj * gj - vo) * omb2) + vo;
            st_j->m1 = mn;
            st_j->m2 = vn;
            st_j->g = NAN;
            st_j->w = st_j->w + nss * (mn / ((FGDSP_T)sqrt((double)vn) + ep));
        }
        if (bp) {  /* the intercept: the same update, always present */
            FGDSP_S(fgdsp_mom) *sb = mom + a->d;
            const FGDSP_T gj = (FGDSP_T)G;
            const FGDSP_T mn = (FGDSP_T)((gj - sb->m1) * omb1) + sb->m1;
            const FGDSP_T vn = (FGDSP_T)((gj * gj - sb->m2) * omb2) + sb->m2;
            sb->m1 = mn;
            sb->m2 = vn;
            bp[0] = bp[0] + nss * (mn / ((FGDSP_T)sqrt((double)vn) + ep));
        }
        st[1] += 1.0;
        st[6] += 1.0;
    }
    return 0;
}

/* Softmax rows [lo, hi) of the batch: c[i k + c] <- dl/dz_c, ls[i] the loss (the labels
 * are y's values as integers). */
static inline void FGDSP_S(fgdsp_softmax_rows)(const fgdsp_args *a, ptrdiff_t p0,
                                               ptrdiff_t lo, ptrdiff_t hi, double s,
                                               double *c, double *wt, double *ls)
{
    const FGDSP_T *data = (const FGDSP_T *)a->data, *y = (const FGDSP_T *)a->y;
    const FGDSP_T *sw = (const FGDSP_T *)a->sw, *v = (const FGDSP_T *)a->v;
    const FGDSP_T *bp = (const FGDSP_T *)a->b;
    const FGDSP_I *ind = (const FGDSP_I *)a->indices, *ptr = (const FGDSP_I *)a->indptr;
    const ptrdiff_t K = a->k;
    for (ptrdiff_t i = lo; i < hi; ++i) {
        const int64_t r = a->order[p0 + i];
        double *FGDSP_RESTRICT z = c + i * K;
        double zl_[FGDSP_KLOCAL];
        double *FGDSP_RESTRICT zz = K <= FGDSP_KLOCAL ? zl_ : z;
        for (ptrdiff_t q = 0; q < K; ++q) zz[q] = 0.0;
        if (a->iprm[5] && p0 + i + 1 < a->n_order) {  /* the next row's weight rows */
            const int64_t rn = a->order[p0 + i + 1];
            const ptrdiff_t n1 = (ptrdiff_t)ptr[rn + 1];
            for (ptrdiff_t k = (ptrdiff_t)ptr[rn]; k < n1; ++k) {
                const char *w0 = (const char *)(v + (ptrdiff_t)ind[k] * K);
                const char *w1 = (const char *)(v + (ptrdiff_t)ind[k] * K + K);
                for (const char *cc = w0; cc < w1; cc += 64) fgdsp_prefetch_line(cc);
            }
        }
        const ptrdiff_t k1 = (ptrdiff_t)ptr[r + 1];
        for (ptrdiff_t k = (ptrdiff_t)ptr[r]; k < k1; ++k) {
            const FGDSP_T *FGDSP_RESTRICT vr = v + (ptrdiff_t)ind[k] * K;
            const double x = (double)data[k];
            for (ptrdiff_t q = 0; q < K; ++q) zz[q] += (double)vr[q] * x;
        }
        if (zz != z)
            for (ptrdiff_t q = 0; q < K; ++q) z[q] = zz[q];
        double m = -INFINITY;
        for (ptrdiff_t q = 0; q < K; ++q) {
            z[q] = z[q] * s + (bp ? (double)bp[q] : 0.0);
            if (z[q] > m) m = z[q];
        }
        const ptrdiff_t label = (ptrdiff_t)y[r];
        const double zl = z[label];
        double tot = 0.0;
        for (ptrdiff_t q = 0; q < K; ++q) {
            z[q] = exp(z[q] - m);
            tot += z[q];
        }
        const double inv = 1.0 / tot;
        for (ptrdiff_t q = 0; q < K; ++q) z[q] = z[q] * inv - (q == label ? 1.0 : 0.0);
        ls[i] = log(tot) - (zl - m);
        wt[i] = sw ? (double)sw[r] : 1.0;
    }
}

/* Phase 2 for softmax: V[j, :] += x * cw[i, :] for the owned buckets. */
static inline void FGDSP_S(fgdsp_softmax_scatter)(const fgdsp_args *a, ptrdiff_t p0,
                                                  ptrdiff_t nb, const double *cw, int tid,
                                                  int nt, double *acc, int want_loss)
{
    const FGDSP_T *data = (const FGDSP_T *)a->data;
    const FGDSP_I *ind = (const FGDSP_I *)a->indices, *ptr = (const FGDSP_I *)a->indptr;
    FGDSP_T *v = (FGDSP_T *)a->v;
    const ptrdiff_t K = a->k;
    for (ptrdiff_t i = 0; i < nb; ++i) {
        const double *FGDSP_RESTRICT ci = cw + i * K;
        const int64_t r = a->order[p0 + i];
        const ptrdiff_t k1 = (ptrdiff_t)ptr[r + 1];
        for (ptrdiff_t k = (ptrdiff_t)ptr[r]; k < k1; ++k) {
            const ptrdiff_t j = (ptrdiff_t)ind[k];
            const int bk = FGDSP_BUCKET(j);
            if (nt > 1 && bk % nt != tid) continue;
            FGDSP_T *FGDSP_RESTRICT vr = v + j * K;
            const double x = (double)data[k];
            if (want_loss) {
                double d2 = 0.0;
                for (ptrdiff_t q = 0; q < K; ++q) {
                    const double old = (double)vr[q];
                    vr[q] = (FGDSP_T)(old + x * ci[q]);
                    d2 += (double)vr[q] * (double)vr[q] - old * old;
                }
                acc[bk] += d2;
            } else {
                for (ptrdiff_t q = 0; q < K; ++q) vr[q] = (FGDSP_T)((double)vr[q] + x * ci[q]);
            }
        }
    }
}

/* The scalar part of a softmax step (see fgdsp_scalar). */
static int FGDSP_S(fgdsp_softmax_scalar)(const fgdsp_args *a, ptrdiff_t nb, double *c,
                                         double *wt, double *ls, double *G)
{
    double *st = a->st;
    const double *prm = a->prm;
    const int want = (int)a->iprm[4], mode = (int)a->iprm[1], sched = (int)a->iprm[2];
    const ptrdiff_t K = a->k;
    FGDSP_T *v = (FGDSP_T *)a->v;
    double S = 0.0, L = 0.0;
    for (ptrdiff_t i = 0; i < nb; ++i) {
        S += wt[i];
        L += wt[i] * ls[i];
    }
    if (S == 0.0) return 0;
    const double eta = fgdsp_eta(prm, sched, st[1]);
    if (want) {
        st[3] += L + (mode == FGDSP_PEN_L2 ? 0.5 * prm[8] * (st[0] * st[0] * st[5]) : 0.0) * S;
        st[4] += S;
    }
    for (ptrdiff_t q = 0; q < K; ++q) G[q] = 0.0;
    for (ptrdiff_t i = 0; i < nb; ++i)
        for (ptrdiff_t q = 0; q < K; ++q) {
            const double u = -eta * ((wt[i] * c[i * K + q]) / S);
            c[i * K + q] = u;
            G[q] += u;
        }
    if (mode == FGDSP_PEN_L2) {
        const double f = 1.0 - eta * prm[8];
        if (f != 1.0) {
            st[0] *= f;
            if (fabs(st[0]) < prm[7]) {
                const double sc = st[0];
                double sq = 0.0;
                for (ptrdiff_t j = 0; j < a->d * K; ++j) {
                    v[j] = (FGDSP_T)((double)v[j] * sc);
                    if (want) sq += (double)v[j] * (double)v[j];
                }
                st[0] = 1.0;
                st[5] = sq;
            }
        }
    }
    const double inv_s = st[0];
    for (ptrdiff_t i = 0; i < nb * K; ++i) c[i] = c[i] / inv_s;
    if (a->b != NULL) {
        FGDSP_T *b = (FGDSP_T *)a->b;
        for (ptrdiff_t q = 0; q < K; ++q)
            if (G[q] != 0.0) b[q] = (FGDSP_T)((double)b[q] + G[q]);
    }
    return 1;
}

/* One epoch of multinomial (softmax) SGD steps, coef d x k (see
 * fastgd/reference/sparse_sgd.py: softmax_epoch). work: B k + 2 B + 64 + k doubles. */
int FGDSP_S(fgdsp_softmax_epoch)(const fgdsp_args *a)
{
    double *st = a->st;
    const ptrdiff_t B = a->batch, m = a->n_order, K = a->k;
    const int want = (int)a->iprm[4];
    double *c = a->work, *wt = c + B * K, *ls = wt + B, *acc = ls + B, *G = acc + FGDSP_BUCKETS;
    const int nt = fgdsp_nthreads(a);
    memset(acc, 0, FGDSP_BUCKETS * sizeof(double));
    int go = 0;
    (void)go;
#ifdef _OPENMP
    #pragma omp parallel num_threads(nt) if (nt > 1)
#endif
    {
#ifdef _OPENMP
        const int tid = omp_get_thread_num();
#else
        const int tid = 0;
#endif
        for (ptrdiff_t p0 = 0; p0 < m; p0 += B) {
            const ptrdiff_t nb = m - p0 < B ? m - p0 : B;
            const double s = st[0];
#ifdef _OPENMP
            #pragma omp for schedule(static)
#endif
            for (ptrdiff_t i = 0; i < nb; ++i)
                FGDSP_S(fgdsp_softmax_rows)(a, p0, i, i + 1, s, c, wt, ls);
#ifdef _OPENMP
            #pragma omp single
#endif
            {
                go = FGDSP_S(fgdsp_softmax_scalar)(a, nb, c, wt, ls, G);
            }
            if (go) {
                FGDSP_S(fgdsp_softmax_scatter)(a, p0, nb, c, tid, nt, acc, want);
#ifdef _OPENMP
                #pragma omp barrier
                #pragma omp single
#endif
                {
                    fgdsp_end_step(st, acc, want);
                }
            }
        }
    }
    return 0;
}
