/*
 * Adamax (torch.optim.Adamax). Included by kernel_dtype.h once per element type and
 * instruction set (FGD_T, FGD_SUFFIX, FGD_SQRT, FGD_INLINE, FGD_KERNEL, FGD_CALL are
 * defined there).
 */

/* ------------------------------------------------------------- Adamax --- */

FGD_INLINE void FGD_SUFFIX(fgd_adamax_range)(
    ptrdiff_t lo, ptrdiff_t hi,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT m,
    FGD_T *FGD_RESTRICT u,
    FGD_T w1, FGD_T one_minus_w1, FGD_T b2, FGD_T eps, FGD_T neg_clr, FGD_T wd, int use_wd,
    int maximize)
{
    FGD_UNSWITCH(use_wd,
    for (ptrdiff_t i = lo; i < hi; ++i) {
        FGD_T d = maximize ? -g[i] : g[i];
        const FGD_T pi = p[i];
        d = FGD_SUFFIX(fgd_madd_if)(use_wd, wd, pi, d);  /* grad.add(param, alpha=wd) */
        const FGD_T mi = FGD_SUFFIX(fgd_lerp)(m[i], d, w1, one_minus_w1);
        m[i] = mi;
        /* |d| + eps; the sign of a zero is lost in the sum, a NaN stays NaN */
        const FGD_T abs_d = d < (FGD_T)0 ? -d : d;
        const FGD_T ui = FGD_SUFFIX(fgd_max)(u[i] * b2, abs_d + eps);
        u[i] = ui;
        p[i] = pi + neg_clr * mi / ui;
    })
}

/* torch.optim.Adamax for one tensor; bias_correction1 = 1 - beta1**t. */
FGD_KERNEL FGD_SUFFIX(fgd_adamax)(
    ptrdiff_t n, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT m,
    FGD_T *FGD_RESTRICT u, double lr, double beta1, double beta2, double eps,
    double weight_decay, double bias_correction1, int maximize)
{
    const FGD_T w1 = (FGD_T)(1.0 - beta1);
    const FGD_T one_minus_w1 = (FGD_T)1 - w1;
    const FGD_T b2 = (FGD_T)beta2, e = (FGD_T)eps, wd = (FGD_T)weight_decay;
    const FGD_T neg_clr = (FGD_T)(-(lr / bias_correction1));
    const int use_wd = weight_decay != 0.0;
    FGD_CHUNKED(n, FGD_SUFFIX(fgd_adamax_range)(lo, hi, p, g, m, u, w1, one_minus_w1, b2, e,
                                                neg_clr, wd, use_wd, maximize));
}

FGD_CALL_ARGS(fgd_adamax, (param, grad, exp_avg, exp_inf),
              (lr, beta1, beta2, eps, weight_decay, bias_correction1), (maximize))
FGD_CALL(fgd_adamax)
{
    (void)dims;
    FGD_SUFFIX(fgd_adamax)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2],
                           (FGD_T *)b[3], s[0], s[1], s[2], s[3], s[4], s[5], f[0]);
}
