/*
 * Adadelta (torch.optim.Adadelta). Included by kernel_dtype.h once per element type and
 * instruction set (FGD_T, FGD_SUFFIX, FGD_SQRT, FGD_INLINE, FGD_KERNEL, FGD_CALL are
 * defined there).
 */

/* ----------------------------------------------------------- Adadelta --- */

FGD_INLINE void FGD_SUFFIX(fgd_adadelta_range)(
    ptrdiff_t lo, ptrdiff_t hi,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT sq,
    FGD_T *FGD_RESTRICT acc,
    FGD_T neg_lr, FGD_T rho, FGD_T one_minus_rho, FGD_T eps, FGD_T wd, int use_wd,
    int maximize)
{
    FGD_UNSWITCH(use_wd,
    for (ptrdiff_t i = lo; i < hi; ++i) {
        FGD_T d = maximize ? -g[i] : g[i];
        const FGD_T pi = p[i];
        d = FGD_SUFFIX(fgd_madd_if)(use_wd, wd, pi, d);  /* grad.add(param, alpha=wd) */
        /* square_avg.mul_(rho).addcmul_(grad, grad, value=1 - rho) */
        const FGD_T si = FGD_MADD(one_minus_rho * d, d, sq[i] * rho);
        sq[i] = si;
        const FGD_T std = FGD_SQRT(si + eps);
        const FGD_T delta = FGD_SQRT(acc[i] + eps) / std * d;
        acc[i] = FGD_MADD(one_minus_rho * delta, delta, acc[i] * rho);
        p[i] = FGD_MADD(neg_lr, delta, pi);                  /* param.add_(delta, alpha=-lr) */
    })
}

/* torch.optim.Adadelta for one tensor. */
FGD_KERNEL FGD_SUFFIX(fgd_adadelta)(
    ptrdiff_t n, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT sq,
    FGD_T *FGD_RESTRICT acc, double lr, double rho, double eps, double weight_decay,
    int maximize)
{
    const FGD_T neg_lr = (FGD_T)(-lr), r = (FGD_T)rho, one_minus_rho = (FGD_T)(1.0 - rho);
    const FGD_T e = (FGD_T)eps, wd = (FGD_T)weight_decay;
    const int use_wd = weight_decay != 0.0;
    FGD_CHUNKED(n, FGD_SUFFIX(fgd_adadelta_range)(lo, hi, p, g, sq, acc, neg_lr, r,
                                                  one_minus_rho, e, wd, use_wd, maximize));
}

FGD_CALL_ARGS(fgd_adadelta, (param, grad, square_avg, acc_delta), (lr, rho, eps, weight_decay),
              (maximize))
FGD_CALL(fgd_adadelta)
{
    (void)dims;
    FGD_SUFFIX(fgd_adadelta)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2],
                             (FGD_T *)b[3], s[0], s[1], s[2], s[3], f[0]);
}
