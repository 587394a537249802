/*
 * SGD (torch.optim.SGD: momentum, dampening, Nesterov). Included by kernel_dtype.h once
 * per element type and instruction set (FGD_T, FGD_SUFFIX, FGD_SQRT, FGD_INLINE,
 * FGD_KERNEL, FGD_CALL are defined there).
 */

/* ---------------------------------------------------------------- SGD --- */

FGD_INLINE void FGD_SUFFIX(fgd_sgd_range)(
    ptrdiff_t lo, ptrdiff_t hi,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT buf,
    FGD_T neg_lr, FGD_T mom, FGD_T one_minus_damp, FGD_T wd,
    int use_wd, int maximize, int nesterov, const int use_momentum, const int first_step)
{
    FGD_UNSWITCH(use_wd, FGD_UNSWITCH(nesterov,
    for (ptrdiff_t i = lo; i < hi; ++i) {
        FGD_T d = maximize ? -g[i] : g[i];
        FGD_T pi = p[i];
        d = FGD_SUFFIX(fgd_madd_if)(use_wd, wd, pi, d);  /* grad.add(param, alpha=wd) */
        if (use_momentum) {
            /* buf.mul_(momentum).add_(grad, alpha=1 - dampening) */
            FGD_T b = first_step ? d : FGD_MADD(one_minus_damp, d, buf[i] * mom);
            buf[i] = b;
            const FGD_T nesterov_d = FGD_MADD(mom, b, d);  /* grad.add(buf, alpha=momentum) */
            d = nesterov ? nesterov_d : b;
        }
        p[i] = FGD_MADD(neg_lr, d, pi);                      /* param.add_(grad, alpha=-lr) */
    }))
}

/* torch.optim.SGD for one tensor; buf may be NULL when momentum == 0. */
FGD_KERNEL FGD_SUFFIX(fgd_sgd)(
    ptrdiff_t n, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT buf,
    double lr, double momentum, double dampening, double weight_decay,
    int nesterov, int maximize, int first_step)
{
    const FGD_T neg_lr = (FGD_T)(-lr), mom = (FGD_T)momentum;
    const FGD_T one_minus_damp = (FGD_T)(1.0 - dampening), wd = (FGD_T)weight_decay;
    const int use_wd = weight_decay != 0.0;
#define FGD_SGD_CALL(UM, FS) FGD_SUFFIX(fgd_sgd_range)(lo, hi, p, g, buf, neg_lr, mom, \
        one_minus_damp, wd, use_wd, maximize, nesterov, UM, FS)
    if (momentum == 0.0)
        FGD_CHUNKED(n, FGD_SGD_CALL(0, 0));
    else if (first_step)
        FGD_CHUNKED(n, FGD_SGD_CALL(1, 1));
    else
        FGD_CHUNKED(n, FGD_SGD_CALL(1, 0));
#undef FGD_SGD_CALL
}

FGD_CALL_ARGS(fgd_sgd, (param, grad, momentum_buffer), (lr, momentum, dampening, weight_decay),
              (nesterov, maximize, first_step))
FGD_CALL(fgd_sgd)
{
    (void)dims;
    FGD_SUFFIX(fgd_sgd)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2], s[0], s[1], s[2],
                        s[3], f[0], f[1], f[2]);
}
