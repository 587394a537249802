/*
 * RMSprop (torch.optim.RMSprop), and its optax form with eps inside the square root
 * (eps_in_sqrt). Included by kernel_dtype.h once per element type and instruction set
 * (FGD_T, FGD_SUFFIX, FGD_SQRT, FGD_INLINE, FGD_KERNEL, FGD_CALL are defined there).
 */

/* ------------------------------------------------------------ RMSprop --- */

FGD_INLINE void FGD_SUFFIX(fgd_rmsprop_range)(
    ptrdiff_t lo, ptrdiff_t hi,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT sq,
    FGD_T *FGD_RESTRICT gavg, FGD_T *FGD_RESTRICT buf,
    FGD_T neg_lr, FGD_T a, FGD_T one_minus_a, FGD_T one_minus_w, FGD_T eps, FGD_T mom, FGD_T wd,
    int use_wd, int maximize, const int centered, const int use_momentum,
    const int eps_in_sqrt)
{
    FGD_UNSWITCH(use_wd,
    for (ptrdiff_t i = lo; i < hi; ++i) {
        FGD_T d = maximize ? -g[i] : g[i];
        const FGD_T pi = p[i];
        d = FGD_SUFFIX(fgd_madd_if)(use_wd, wd, pi, d);  /* grad.add(param, alpha=wd) */
        /* square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha) */
        const FGD_T si = FGD_MADD(one_minus_a * d, d, sq[i] * a);
        sq[i] = si;
        FGD_T avg;
        if (centered) {
            const FGD_T ga = FGD_SUFFIX(fgd_lerp)(gavg[i], d, one_minus_a, one_minus_w);
            gavg[i] = ga;
            if (eps_in_sqrt) {
                avg = FGD_SQRT(FGD_MADD(-ga, ga, si) + eps);
            } else {
                /* square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_() */
                avg = FGD_SQRT(FGD_MADD(-ga, ga, si));
                avg = avg + eps;
            }
        } else {
            if (eps_in_sqrt) {
                avg = FGD_SQRT(si + eps);
            } else {
                avg = FGD_SQRT(si);
                avg = avg + eps;
            }
        }
        if (use_momentum) {
            const FGD_T b = buf[i] * mom + d / avg;
            buf[i] = b;
            p[i] = FGD_MADD(neg_lr, b, pi);                  /* param.add_(buf, alpha=-lr) */
        } else {
            p[i] = pi + neg_lr * d / avg;
        }
    })
}

/* torch.optim.RMSprop for one tensor (eps_in_sqrt: optax.rmsprop's form, eps inside the
 * square root); gavg may be NULL unless centered, buf NULL unless momentum > 0. */
FGD_KERNEL FGD_SUFFIX(fgd_rmsprop)(
    ptrdiff_t n, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT sq,
    FGD_T *FGD_RESTRICT gavg, FGD_T *FGD_RESTRICT buf,
    double lr, double alpha, double eps, double weight_decay, double momentum,
    int centered, int maximize, int eps_in_sqrt)
{
    const FGD_T neg_lr = (FGD_T)(-lr), a = (FGD_T)alpha, one_minus_a = (FGD_T)(1.0 - alpha);
    const FGD_T one_minus_w = (FGD_T)1 - one_minus_a;
    const FGD_T e = (FGD_T)eps, mom = (FGD_T)momentum, wd = (FGD_T)weight_decay;
    const int use_wd = weight_decay != 0.0;
#define FGD_RMSPROP_CALL(C, M, E) FGD_SUFFIX(fgd_rmsprop_range)(lo, hi, p, g, sq, gavg, buf, \
        neg_lr, a, one_minus_a, one_minus_w, e, mom, wd, use_wd, maximize, C, M, E)
    if (eps_in_sqrt) {
        if (centered) {
            if (momentum > 0.0) FGD_CHUNKED(n, FGD_RMSPROP_CALL(1, 1, 1));
            else FGD_CHUNKED(n, FGD_RMSPROP_CALL(1, 0, 1));
        } else {
            if (momentum > 0.0) FGD_CHUNKED(n, FGD_RMSPROP_CALL(0, 1, 1));
            else FGD_CHUNKED(n, FGD_RMSPROP_CALL(0, 0, 1));
        }
    } else {
        if (centered) {
            if (momentum > 0.0) FGD_CHUNKED(n, FGD_RMSPROP_CALL(1, 1, 0));
            else FGD_CHUNKED(n, FGD_RMSPROP_CALL(1, 0, 0));
        } else {
            if (momentum > 0.0) FGD_CHUNKED(n, FGD_RMSPROP_CALL(0, 1, 0));
            else FGD_CHUNKED(n, FGD_RMSPROP_CALL(0, 0, 0));
        }
    }
#undef FGD_RMSPROP_CALL
}

FGD_CALL_ARGS(fgd_rmsprop, (param, grad, square_avg, grad_avg, momentum_buffer),
              (lr, alpha, eps, weight_decay, momentum), (centered, maximize, eps_in_sqrt))
FGD_CALL(fgd_rmsprop)
{
    (void)dims;
    FGD_SUFFIX(fgd_rmsprop)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2], (FGD_T *)b[3],
                            (FGD_T *)b[4], s[0], s[1], s[2], s[3], s[4], f[0], f[1], f[2]);
}
