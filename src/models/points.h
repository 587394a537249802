/*
 * Per-sample losses and their derivatives, and the eight-lane dot products of the model
 * kernels; part of models_impl.h, included with it once per element type (FGDM_T,
 * FGDM_S as there).
 */

/* ------------------------------------------------------ per-sample losses --- */

/* The loss of one sample with decision value z and target y, its derivative dl/dz and its
 * second derivative (0 where the loss is piecewise linear; the branch taken at a kink is
 * the one fastgd.models documents). NaN in z or y gives NaN in all three. */
FGDM_INLINE double FGDM_S(fgdm_point)(int kind, double z, double y, double eps, double *dl,
                                      double *h)
{
    double r, ar, e, den, p, q, t, tz;
    switch (kind) {
    case FGDM_SQUARED_ERROR:
        r = z - y;
        *dl = 2.0 * r;
        *h = 2.0;
        return r * r;
    case FGDM_HALF_SQUARED_ERROR:
        r = z - y;
        *dl = r;
        *h = 1.0;
        return 0.5 * (r * r);
    case FGDM_HUBER:
        r = z - y;
        ar = fabs(r);
        if (ar <= eps) {
            *dl = r;
            *h = 1.0;
            return 0.5 * (r * r);
        }
        if (r != r) {
            *dl = r;
            *h = r;
            return r;
        }
        *dl = r > 0.0 ? eps : -eps;
        *h = 0.0;
        return eps * (ar - 0.5 * eps);
    case FGDM_EPSILON_INSENSITIVE:
        r = z - y;
        ar = fabs(r) - eps;
        if (ar > 0.0) {
            *dl = r > 0.0 ? 1.0 : -1.0;
            *h = 0.0;
            return ar;
        }
        if (ar != ar) {
            *dl = ar;
            *h = ar;
            return ar;
        }
        *dl = 0.0;
        *h = 0.0;
        return 0.0;
    case FGDM_LOG_LOSS:
        /* p = sigmoid(z), q = 1 - p = sigmoid(-z), both without cancellation. */
        e = exp(-fabs(z));
        den = 1.0 + e;
        if (z >= 0.0) {
            p = 1.0 / den;
            q = e / den;
        } else {
            p = e / den;
            q = 1.0 / den;
        }
        *dl = (1.0 - y) * p - y * q;
        *h = p * q;
        return ((z > 0.0 ? z : 0.0) - y * z) + log1p(e);
    default: /* FGDM_HINGE; y in {-1, 0, 1}, 1 the positive class */
        t = y > 0.0 ? 1.0 : -1.0;
        tz = t * z;
        if (tz <= 1.0) {
            *dl = -t;
            *h = 0.0;
            return 1.0 - tz;
        }
        if (tz != tz) {
            *dl = tz;
            *h = tz;
            return tz;
        }
        *dl = 0.0;
        *h = 0.0;
        return 0.0;
    }
}

/* Softmax cross-entropy of one sample: z[0..k) the decision values, label its class.
 * Writes g[c] = w * dl/dz_c and hh[c] = w * d2l/dz_c^2 (the diagonal), e[] is scratch.
 * With m = max z (first index cm), e_c = exp(z_c - m), s' = sum of e_c over c != cm in
 * order of c, s = 1 + s': loss = log1p(s') - (z_label - m), p_c = e_c / s,
 * 1 - p_c = s' / s for cm and (s - e_c) / s otherwise (no cancellation). */
FGDM_INLINE double FGDM_S(fgdm_softmax_point)(ptrdiff_t k, const double *z, int64_t label,
                                              double w, double *e, double *g, double *hh)
{
    double m = z[0], sp = 0.0, s;
    ptrdiff_t cm = 0, c;
    for (c = 1; c < k; ++c)
        if (z[c] > m) {
            m = z[c];
            cm = c;
        }
    for (c = 0; c < k; ++c) {
        if (c == cm) continue;
        e[c] = exp(z[c] - m);
        sp += e[c];
    }
    e[cm] = 1.0;
    s = 1.0 + sp;
    for (c = 0; c < k; ++c) {
        const double omp = c == cm ? sp / s : (s - e[c]) / s;
        const double p = e[c] / s;
        g[c] = w * (c == label ? -omp : p);
        hh[c] = w * (p * omp);
    }
    return log1p(sp) - (z[label] - m);
}

/* Eight doubles, and eight elements of FGDM_T; loads through memcpy (any alignment). */
typedef FGDM_T FGDM_S(fgdm_v8t) __attribute__((vector_size(8 * sizeof(FGDM_T))));

FGDM_INLINE void FGDM_S(fgdm_load8)(fgdm_v8d *out, const FGDM_T *p)
{
    FGDM_S(fgdm_v8t) t;
    memcpy(&t, p, sizeof t);
    *out = __builtin_convertvector(t, fgdm_v8d);
}

/* Lane q += x[q] * w[q] for the q < count (< 8) left after the full groups of eight. */
#define FGDM_TAIL8(L, X, W, COUNT)                                                        \
    switch (COUNT) {                                                                      \
    case 7: (L)[6] += (double)(X)[6] * (W)[6]; /* fall through */                         \
    case 6: (L)[5] += (double)(X)[5] * (W)[5]; /* fall through */                         \
    case 5: (L)[4] += (double)(X)[4] * (W)[4]; /* fall through */                         \
    case 4: (L)[3] += (double)(X)[3] * (W)[3]; /* fall through */                         \
    case 3: (L)[2] += (double)(X)[2] * (W)[2]; /* fall through */                         \
    case 2: (L)[1] += (double)(X)[1] * (W)[1]; /* fall through */                         \
    case 1: (L)[0] += (double)(X)[0] * (W)[0]; /* fall through */                         \
    default: break;                                                                       \
    }

#define FGDM_HSUM8(v) ((((v)[0] + (v)[1]) + ((v)[2] + (v)[3])) + (((v)[4] + (v)[5]) + ((v)[6] + (v)[7])))

/* x . w in eight lanes: lane q adds x[j] * w[j] for j = q (mod 8) in order of j; the
 * zero-padded tail adds +0 to the lanes it does not reach, which leaves them unchanged
 * (a lane that starts at +0 never holds -0). */
FGDM_INLINE double FGDM_S(fgdm_dot8)(ptrdiff_t d, const FGDM_T *FGDM_RESTRICT x,
                                     const double *FGDM_RESTRICT w)
{
    fgdm_v8d l = {0, 0, 0, 0, 0, 0, 0, 0}, xv, wv;
    ptrdiff_t j = 0;
    for (; j + 8 <= d; j += 8) {
        FGDM_S(fgdm_load8)(&xv, x + j);
        memcpy(&wv, w + j, sizeof wv);
        l += xv * wv;
    }
    FGDM_TAIL8(l, x + j, w + j, d - j);
    return FGDM_HSUM8(l);
}

/* fgdm_dot8 of four rows at once (independent chains for the CPU; the same bits). */
FGDM_INLINE void FGDM_S(fgdm_dot8x4)(ptrdiff_t d, const FGDM_T *FGDM_RESTRICT x0,
                                     const FGDM_T *FGDM_RESTRICT x1,
                                     const FGDM_T *FGDM_RESTRICT x2,
                                     const FGDM_T *FGDM_RESTRICT x3,
                                     const double *FGDM_RESTRICT w, double *z)
{
    fgdm_v8d l0 = {0, 0, 0, 0, 0, 0, 0, 0}, l1 = l0, l2 = l0, l3 = l0, wv, xv;
    ptrdiff_t j = 0;
    for (; j + 8 <= d; j += 8) {
        memcpy(&wv, w + j, sizeof wv);
        FGDM_S(fgdm_load8)(&xv, x0 + j);
        l0 += xv * wv;
        FGDM_S(fgdm_load8)(&xv, x1 + j);
        l1 += xv * wv;
        FGDM_S(fgdm_load8)(&xv, x2 + j);
        l2 += xv * wv;
        FGDM_S(fgdm_load8)(&xv, x3 + j);
        l3 += xv * wv;
    }
    FGDM_TAIL8(l0, x0 + j, w + j, d - j);
    FGDM_TAIL8(l1, x1 + j, w + j, d - j);
    FGDM_TAIL8(l2, x2 + j, w + j, d - j);
    FGDM_TAIL8(l3, x3 + j, w + j, d - j);
    z[0] = FGDM_HSUM8(l0);
    z[1] = FGDM_HSUM8(l1);
    z[2] = FGDM_HSUM8(l2);
    z[3] = FGDM_HSUM8(l3);
}

#define FGDM_COMBINE8(L, S) ((((L)[0 * (S)] + (L)[1 * (S)]) + ((L)[2 * (S)] + (L)[3 * (S)])) \
                           + (((L)[4 * (S)] + (L)[5 * (S)]) + ((L)[6 * (S)] + (L)[7 * (S)])))
