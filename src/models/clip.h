/*
 * Gradient clipping: the total norm's parts and the scaling and clamping passes; part of
 * models_impl.h, included with it once per element type (FGDM_T, FGDM_S as there).
 */

/* ------------------------------------------------------------ clipping --- */

/* One buffer's part of a total norm (FGDM_NORM_*): sums in eight lanes as fgdm_dot8,
 * extrema and counts in index order. */
FGD_HIDDEN double FGDM_S(fgdm_norm_part)(ptrdiff_t n, const void *xv, int mode, double p)
{
    const FGDM_T *FGDM_RESTRICT x = (const FGDM_T *)xv;
    double l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    ptrdiff_t i = 0;
    int q;
    switch (mode) {
    case FGDM_NORM_SUMSQ:
        for (; i + 8 <= n; i += 8)
            for (q = 0; q < 8; ++q) {
                const double v = (double)x[i + q];
                l[q] += v * v;
            }
        for (q = 0; i + q < n; ++q) {
            const double v = (double)x[i + q];
            l[q] += v * v;
        }
        return FGDM_COMBINE8(l, 1);
    case FGDM_NORM_SUMABS:
        for (; i + 8 <= n; i += 8)
            for (q = 0; q < 8; ++q) l[q] += fabs((double)x[i + q]);
        for (q = 0; i + q < n; ++q) l[q] += fabs((double)x[i + q]);
        return FGDM_COMBINE8(l, 1);
    case FGDM_NORM_SUMPOW:
        for (; i + 8 <= n; i += 8)
            for (q = 0; q < 8; ++q) l[q] += pow(fabs((double)x[i + q]), p);
        for (q = 0; i + q < n; ++q) l[q] += pow(fabs((double)x[i + q]), p);
        return FGDM_COMBINE8(l, 1);
    case FGDM_NORM_MAXABS: {
        double mx = 0.0;
        for (; i < n; ++i) {
            const double v = fabs((double)x[i]);
            if (v > mx || v != v) mx = v;
            if (mx != mx) break;
        }
        return mx;
    }
    case FGDM_NORM_MINABS: {
        double mn = INFINITY;
        for (; i < n; ++i) {
            const double v = fabs((double)x[i]);
            if (v < mn || v != v) mn = v;
            if (mn != mn) break;
        }
        return mn;
    }
    default: { /* FGDM_NORM_COUNT */
        double count = 0.0;
        for (; i < n; ++i) count += x[i] != 0 ? 1.0 : 0.0;
        return count;
    }
    }
}

/* x *= c (c rounded once to the element type); threads above FGDM_ELEMENTWISE_MIN. */
FGD_HIDDEN void FGDM_S(fgdm_scale)(ptrdiff_t n, void *xv, double cd, int nthreads)
{
    FGDM_T *FGDM_RESTRICT x = (FGDM_T *)xv;
    const FGDM_T c = (FGDM_T)cd;
    const int nt = n >= FGDM_ELEMENTWISE_MIN && nthreads > 1 ? nthreads : 1;
    (void)nt;
FGDM_OMP(omp parallel for num_threads(nt) if (nt > 1) schedule(static))
    for (ptrdiff_t i = 0; i < n; ++i) x[i] = x[i] * c;
}

/* x = min(max(x, lo), hi), NaN kept (torch.clamp); lo, hi rounded to the element type. */
FGD_HIDDEN void FGDM_S(fgdm_clamp)(ptrdiff_t n, void *xv, double lod, double hid, int nthreads)
{
    FGDM_T *FGDM_RESTRICT x = (FGDM_T *)xv;
    const FGDM_T lo = (FGDM_T)lod, hi = (FGDM_T)hid;
    const int nt = n >= FGDM_ELEMENTWISE_MIN && nthreads > 1 ? nthreads : 1;
    (void)nt;
FGDM_OMP(omp parallel for num_threads(nt) if (nt > 1) schedule(static))
    for (ptrdiff_t i = 0; i < n; ++i) {
        FGDM_T v = x[i];
        v = v < lo ? lo : v;
        x[i] = v > hi ? hi : v;
    }
}
