/*
 * ASGD (torch.optim.ASGD). Included by kernel_dtype.h once per element type and
 * instruction set (FGD_T, FGD_SUFFIX, FGD_SQRT, FGD_INLINE, FGD_KERNEL, FGD_CALL are
 * defined there).
 */

/* --------------------------------------------------------------- ASGD --- */

FGD_INLINE void FGD_SUFFIX(fgd_asgd_range)(
    ptrdiff_t lo, ptrdiff_t hi,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT ax,
    FGD_T neg_eta, FGD_T decay, FGD_T wd, FGD_T mu, int use_wd, int maximize,
    const int average)
{
    FGD_UNSWITCH(use_wd,
    for (ptrdiff_t i = lo; i < hi; ++i) {
        FGD_T d = maximize ? -g[i] : g[i];
        FGD_T pi = p[i];
        d = FGD_SUFFIX(fgd_madd_if)(use_wd, wd, pi, d);  /* grad.add(param, alpha=wd) */
        pi = pi * decay;
        pi = FGD_MADD(neg_eta, d, pi);                       /* param.add_(grad, alpha=-eta) */
        p[i] = pi;
        ax[i] = average ? ax[i] + (pi - ax[i]) * mu : pi;
    })
}

/* torch.optim.ASGD for one tensor: eta and mu are the parameter's state before the step;
 * the average is copied from the parameter while mu == 1. */
FGD_KERNEL FGD_SUFFIX(fgd_asgd)(
    ptrdiff_t n, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT ax,
    double eta, double lambd, double mu, double weight_decay, int maximize)
{
    const FGD_T neg_eta = (FGD_T)(-eta), decay = (FGD_T)(1.0 - lambd * eta);
    const FGD_T wd = (FGD_T)weight_decay, m = (FGD_T)mu;
    const int use_wd = weight_decay != 0.0;
#define FGD_ASGD_CALL(AVG) FGD_SUFFIX(fgd_asgd_range)(lo, hi, p, g, ax, neg_eta, decay, wd, m, \
        use_wd, maximize, AVG)
    if (mu != 1.0)
        FGD_CHUNKED(n, FGD_ASGD_CALL(1));
    else
        FGD_CHUNKED(n, FGD_ASGD_CALL(0));
#undef FGD_ASGD_CALL
}

FGD_CALL_ARGS(fgd_asgd, (param, grad, ax), (eta, lambd, mu, weight_decay), (maximize))
FGD_CALL(fgd_asgd)
{
    (void)dims;
    FGD_SUFFIX(fgd_asgd)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2], s[0], s[1], s[2],
                         s[3], f[0]);
}
