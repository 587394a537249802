/*
 * Adafactor (torch.optim.Adafactor). Included by kernel_dtype.h once per element type and
 * instruction set (FGD_T, FGD_SUFFIX, FGD_SQRT, FGD_INLINE, FGD_KERNEL, FGD_CALL are
 * defined there).
 */

/* ---------------------------------------------------------- Adafactor --- */

/* Elements per stack block in the single-threaded passes. */
#ifndef FGD_ADAFACTOR_BLOCK
#define FGD_ADAFACTOR_BLOCK 256
#endif

/* Adds the squares of x[0..m) in double to the eight lanes of fgd_sumsq, x[j] being
 * element start + j of the whole tensor (lane (start + j) mod 8): the lanes end as
 * fgd_sumsq would leave them over the whole tensor. */
FGD_INLINE void FGD_SUFFIX(fgd_adafactor_lanes)(double *FGD_RESTRICT l, ptrdiff_t start,
                                                ptrdiff_t m, const FGD_T *FGD_RESTRICT x)
{
    ptrdiff_t j = 0;
    for (; j < m && ((start + j) & 7) != 0; ++j) {
        const double v = (double)x[j];
        l[(start + j) & 7] += v * v;
    }
    for (; j + 8 <= m; j += 8)
        for (int q = 0; q < 8; ++q) {
            const double v = (double)x[j + q];
            l[q] += v * v;
        }
    for (; j < m; ++j) {
        const double v = (double)x[j];
        l[(start + j) & 7] += v * v;
    }
}

FGD_INLINE double FGD_SUFFIX(fgd_adafactor_lanes_sum)(const double *l)
{
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

/* Not factored: variance <- lerp(variance, g*g, w). */
FGD_INLINE void FGD_SUFFIX(fgd_adafactor_var_range)(
    ptrdiff_t lo, ptrdiff_t hi, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT var,
    FGD_T w, FGD_T one_minus_w)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        const FGD_T gi = g[i];
        var[i] = FGD_SUFFIX(fgd_lerp)(var[i], gi * gi, w, one_minus_w);
    }
}

/* Not factored: out[i - lo] = g / sqrt(max(variance, eps1^2)) (the update U). */
FGD_INLINE void FGD_SUFFIX(fgd_adafactor_uvar_range)(
    ptrdiff_t lo, ptrdiff_t hi, FGD_T *FGD_RESTRICT out, const FGD_T *FGD_RESTRICT g,
    const FGD_T *FGD_RESTRICT var, FGD_T e1sq, int maximize)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        const FGD_T d = maximize ? -g[i] : g[i];
        const FGD_T v = FGD_SUFFIX(fgd_max)(var[i], e1sq);
        out[i - lo] = ((FGD_T)1 / FGD_SQRT(v)) * d;
    }
}

/* Factored, one row (row factor rv, clamped row mean rm): out[i - lo] = U. */
FGD_INLINE void FGD_SUFFIX(fgd_adafactor_urow_range)(
    ptrdiff_t lo, ptrdiff_t hi, FGD_T *FGD_RESTRICT out, const FGD_T *FGD_RESTRICT g,
    const FGD_T *FGD_RESTRICT cv, FGD_T rv, FGD_T rm, FGD_T e1sq, int maximize)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        const FGD_T d = maximize ? -g[i] : g[i];
        const FGD_T v = FGD_SUFFIX(fgd_max)((rv * cv[i]) / rm, e1sq);
        out[i - lo] = ((FGD_T)1 / FGD_SQRT(v)) * d;
    }
}

/* Not factored: p <- p * decay + neg_a * U. */
FGD_INLINE void FGD_SUFFIX(fgd_adafactor_pvar_range)(
    ptrdiff_t lo, ptrdiff_t hi, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g,
    const FGD_T *FGD_RESTRICT var, FGD_T e1sq, FGD_T decay, FGD_T neg_a, int use_wd,
    int maximize)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        const FGD_T d = maximize ? -g[i] : g[i];
        const FGD_T v = FGD_SUFFIX(fgd_max)(var[i], e1sq);
        const FGD_T u = ((FGD_T)1 / FGD_SQRT(v)) * d;
        FGD_T pi = p[i];
        if (use_wd) pi = pi * decay;
        p[i] = pi + neg_a * u;
    }
}

/* Factored, one row: p <- p * decay + neg_a * U. */
FGD_INLINE void FGD_SUFFIX(fgd_adafactor_prow_range)(
    ptrdiff_t lo, ptrdiff_t hi, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g,
    const FGD_T *FGD_RESTRICT cv, FGD_T rv, FGD_T rm, FGD_T e1sq, FGD_T decay, FGD_T neg_a,
    int use_wd, int maximize)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        const FGD_T d = maximize ? -g[i] : g[i];
        const FGD_T v = FGD_SUFFIX(fgd_max)((rv * cv[i]) / rm, e1sq);
        const FGD_T u = ((FGD_T)1 / FGD_SQRT(v)) * d;
        FGD_T pi = p[i];
        if (use_wd) pi = pi * decay;
        p[i] = pi + neg_a * u;
    }
}

/* torch: row_var.mean(dim=-2).clamp_(min=eps1) for one batch: the sum in double, adding
 * rows in index order, rounded to FGD_T, divided by the row count; NaN propagates. */
FGD_INLINE FGD_T FGD_SUFFIX(fgd_adafactor_row_mean)(const FGD_T *FGD_RESTRICT rv,
                                                    ptrdiff_t rows, FGD_T eps1)
{
    double sum = 0.0;
    for (ptrdiff_t r = 0; r < rows; ++r)
        sum += (double)rv[r];
    return FGD_SUFFIX(fgd_max)((FGD_T)sum / (FGD_T)rows, eps1);
}

/* Factored, the elements [lo, hi) of the tensor (whole or partial rows): the update. */
FGD_INLINE void FGD_SUFFIX(fgd_adafactor_apply_factored)(
    ptrdiff_t lo, ptrdiff_t hi, ptrdiff_t rows, ptrdiff_t cols,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, const FGD_T *FGD_RESTRICT rv,
    const FGD_T *FGD_RESTRICT cv, FGD_T eps1, FGD_T e1sq, FGD_T decay, FGD_T neg_a,
    int use_wd, int maximize)
{
    ptrdiff_t batch = -1;
    FGD_T rm = 0;
    for (ptrdiff_t i = lo; i < hi;) {
        const ptrdiff_t k = i / cols, c0 = i - k * cols;
        const ptrdiff_t c1 = hi - i < cols - c0 ? c0 + (hi - i) : cols;
        if (k / rows != batch) {
            batch = k / rows;
            rm = FGD_SUFFIX(fgd_adafactor_row_mean)(rv + batch * rows, rows, eps1);
        }
        FGD_SUFFIX(fgd_adafactor_prow_range)(c0, c1, p + k * cols, g + k * cols,
                                             cv + batch * cols, rv[k], rm, e1sq, decay,
                                             neg_a, use_wd, maximize);
        i += c1 - c0;
    }
}

/* torch.optim.Adafactor for one tensor of (batch, rows, cols) = dims. factored: row_var
 * (batch*rows) and col_var (batch*cols) are used, else variance (n). The reductions run
 * on the calling thread in the order fastgd.reference.adafactor spells out; the
 * element-wise passes are split across threads. */
FGD_KERNEL FGD_SUFFIX(fgd_adafactor)(
    ptrdiff_t n, const ptrdiff_t *dims, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g,
    FGD_T *FGD_RESTRICT rv, FGD_T *FGD_RESTRICT cv, FGD_T *FGD_RESTRICT var,
    double lr, double rho, double one_minus_beta2, double eps1, double eps2, double d,
    double weight_decay, int factored, int maximize)
{
    const FGD_T w = (FGD_T)one_minus_beta2, one_minus_w = (FGD_T)1 - w;
    const FGD_T e1 = (FGD_T)eps1, e1sq = (FGD_T)(eps1 * eps1);
    const FGD_T decay = (FGD_T)(1.0 - lr * weight_decay);
    const int use_wd = weight_decay != 0.0;
    const double sqrt_n = sqrt((double)n);
    /* alpha from the parameter before weight decay; Python's max: a NaN RMS gives eps2 */
    const double rms = (double)(FGD_T)sqrt(FGD_SUFFIX(fgd_sumsq)(n, p)) / sqrt_n;
    const double alpha = (rms > eps2 ? rms : eps2) * rho;
    double l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    FGD_T block[FGD_ADAFACTOR_BLOCK];
    if (factored) {
        const ptrdiff_t batches = dims[0], rows = dims[1], cols = dims[2];
        for (ptrdiff_t bt = 0; bt < batches; ++bt) {
            const FGD_T *FGD_RESTRICT gb = g + bt * rows * cols;
            FGD_T *FGD_RESTRICT rvb = rv + bt * rows;
            FGD_T *FGD_RESTRICT cvb = cv + bt * cols;
            for (ptrdiff_t r = 0; r < rows; ++r) {
                const FGD_T norm = (FGD_T)sqrt(FGD_SUFFIX(fgd_sumsq)(cols, gb + r * cols));
                rvb[r] = FGD_SUFFIX(fgd_lerp)(rvb[r], norm * norm / (FGD_T)cols, w, one_minus_w);
            }
            for (ptrdiff_t c0 = 0; c0 < cols; c0 += FGD_ADAFACTOR_BLOCK) {
                const ptrdiff_t m = cols - c0 < FGD_ADAFACTOR_BLOCK ? cols - c0
                                                                    : FGD_ADAFACTOR_BLOCK;
                double acc[FGD_ADAFACTOR_BLOCK];
                for (ptrdiff_t j = 0; j < m; ++j)
                    acc[j] = 0.0;
                for (ptrdiff_t r = 0; r < rows; ++r) {
                    const FGD_T *FGD_RESTRICT gr = gb + r * cols + c0;
                    for (ptrdiff_t j = 0; j < m; ++j) {
                        const double v = (double)gr[j];
                        acc[j] += v * v;
                    }
                }
                for (ptrdiff_t j = 0; j < m; ++j) {
                    const FGD_T norm = (FGD_T)sqrt(acc[j]);
                    cvb[c0 + j] = FGD_SUFFIX(fgd_lerp)(cvb[c0 + j], norm * norm / (FGD_T)rows,
                                                       w, one_minus_w);
                }
            }
        }
        for (ptrdiff_t bt = 0; bt < batches; ++bt) {
            const FGD_T rm = FGD_SUFFIX(fgd_adafactor_row_mean)(rv + bt * rows, rows, e1);
            for (ptrdiff_t r = 0; r < rows; ++r) {
                const ptrdiff_t k = bt * rows + r;
                for (ptrdiff_t c0 = 0; c0 < cols; c0 += FGD_ADAFACTOR_BLOCK) {
                    const ptrdiff_t m = cols - c0 < FGD_ADAFACTOR_BLOCK ? cols - c0
                                                                        : FGD_ADAFACTOR_BLOCK;
                    FGD_SUFFIX(fgd_adafactor_urow_range)(0, m, block, g + k * cols + c0,
                                                         cv + bt * cols + c0, rv[k], rm, e1sq,
                                                         maximize);
                    FGD_SUFFIX(fgd_adafactor_lanes)(l, k * cols + c0, m, block);
                }
            }
        }
    } else {
        FGD_CHUNKED(n, FGD_SUFFIX(fgd_adafactor_var_range)(lo, hi, g, var, w, one_minus_w));
        for (ptrdiff_t i0 = 0; i0 < n; i0 += FGD_ADAFACTOR_BLOCK) {
            const ptrdiff_t m = n - i0 < FGD_ADAFACTOR_BLOCK ? n - i0 : FGD_ADAFACTOR_BLOCK;
            FGD_SUFFIX(fgd_adafactor_uvar_range)(0, m, block, g + i0, var + i0, e1sq, maximize);
            FGD_SUFFIX(fgd_adafactor_lanes)(l, i0, m, block);
        }
    }
    /* Python's max(1.0, x): a NaN RMS gives 1 */
    const double u_rms = (double)(FGD_T)sqrt(FGD_SUFFIX(fgd_adafactor_lanes_sum)(l))
                         / (sqrt_n * d);
    const double denom = u_rms > 1.0 ? u_rms : 1.0;
    const FGD_T neg_a = (FGD_T)(-alpha / denom);
    if (factored) {
        const ptrdiff_t rows = dims[1], cols = dims[2];
        if (n > 0)
            FGD_CHUNKED(n, FGD_SUFFIX(fgd_adafactor_apply_factored)(
                lo, hi, rows, cols, p, g, rv, cv, e1, e1sq, decay, neg_a, use_wd, maximize));
    } else {
        FGD_CHUNKED(n, FGD_SUFFIX(fgd_adafactor_pvar_range)(lo, hi, p, g, var, e1sq, decay,
                                                            neg_a, use_wd, maximize));
    }
}

FGD_CALL_ARGS(fgd_adafactor, (param, grad, row_var, col_var, variance),
              (lr, rho, one_minus_beta2, eps1, eps2, d, weight_decay), (factored, maximize))
FGD_CALL(fgd_adafactor)
{
    FGD_SUFFIX(fgd_adafactor)(n, dims, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2],
                              (FGD_T *)b[3], (FGD_T *)b[4], s[0], s[1], s[2], s[3], s[4], s[5],
                              s[6], f[0], f[1]);
}
