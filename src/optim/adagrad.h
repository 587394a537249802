/*
 * Adagrad (torch.optim.Adagrad). Included by kernel_dtype.h once per element type and
 * instruction set (FGD_T, FGD_SUFFIX, FGD_SQRT, FGD_INLINE, FGD_KERNEL, FGD_CALL are
 * defined there).
 */

/* ------------------------------------------------------------ Adagrad --- */

FGD_INLINE void FGD_SUFFIX(fgd_adagrad_range)(
    ptrdiff_t lo, ptrdiff_t hi,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT sum,
    FGD_T neg_clr, FGD_T eps, FGD_T wd, int use_wd, int maximize)
{
    FGD_UNSWITCH(use_wd,
    for (ptrdiff_t i = lo; i < hi; ++i) {
        FGD_T d = maximize ? -g[i] : g[i];
        const FGD_T pi = p[i];
        d = FGD_SUFFIX(fgd_madd_if)(use_wd, wd, pi, d);  /* grad.add(param, alpha=wd) */
        const FGD_T si = FGD_MADD(d, d, sum[i]);      /* state_sum.addcmul_(grad, grad, value=1) */
        sum[i] = si;
        p[i] = pi + neg_clr * d / (FGD_SQRT(si) + eps);
    })
}

/* torch.optim.Adagrad for one tensor; clr = lr / (1 + (step - 1) * lr_decay). */
FGD_KERNEL FGD_SUFFIX(fgd_adagrad)(
    ptrdiff_t n, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT sum,
    double clr, double eps, double weight_decay, int maximize)
{
    const FGD_T neg_clr = (FGD_T)(-clr), e = (FGD_T)eps, wd = (FGD_T)weight_decay;
    const int use_wd = weight_decay != 0.0;
    FGD_CHUNKED(n, FGD_SUFFIX(fgd_adagrad_range)(lo, hi, p, g, sum, neg_clr, e, wd, use_wd,
                                                 maximize));
}

FGD_CALL_ARGS(fgd_adagrad, (param, grad, state_sum), (clr, eps, weight_decay), (maximize))
FGD_CALL(fgd_adagrad)
{
    (void)dims;
    FGD_SUFFIX(fgd_adagrad)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2], s[0], s[1],
                            s[2], f[0]);
}
