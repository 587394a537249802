/*
 * AdaBelief (optax.adabelief). Included by kernel_dtype.h once per element type and
 * instruction set (FGD_T, FGD_SUFFIX, FGD_SQRT, FGD_INLINE, FGD_KERNEL, FGD_CALL are
 * defined there).
 *
 * The order of operations is optax's (fastgd/reference/ spells each one out). Weight decay
 * is applied as AdamW does, p * (1 - lr * wd) first.
 */

/* ---------------------------------------------------------- AdaBelief --- */

FGD_INLINE void FGD_SUFFIX(fgd_adabelief_range)(
    ptrdiff_t lo, ptrdiff_t hi,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT m,
    FGD_T *FGD_RESTRICT s,
    FGD_T neg_lr, FGD_T b1, FGD_T one_minus_b1, FGD_T b2, FGD_T one_minus_b2, FGD_T eps,
    FGD_T eps_root, FGD_T bc1, FGD_T bc2, FGD_T decay, int use_wd, int maximize)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        const FGD_T d = maximize ? -g[i] : g[i];
        FGD_T pi = p[i];
        if (use_wd) pi = pi * decay;
        const FGD_T mi = m[i] * b1 + one_minus_b1 * d;
        const FGD_T e = d - mi;
        const FGD_T si = (s[i] * b2 + one_minus_b2 * (e * e)) + eps_root;
        m[i] = mi;
        s[i] = si;
        p[i] = pi + neg_lr * ((mi / bc1) / (FGD_SQRT(si / bc2) + eps));
    }
}

/* AdaBelief (optax.adabelief, no rectification) for one tensor, decoupled weight decay. */
FGD_KERNEL FGD_SUFFIX(fgd_adabelief)(
    ptrdiff_t n, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT m,
    FGD_T *FGD_RESTRICT s,
    double lr, double beta1, double beta2, double eps, double eps_root, double weight_decay,
    double bias_correction1, double bias_correction2, int maximize)
{
    const FGD_T neg_lr = (FGD_T)(-lr);
    const FGD_T b1 = (FGD_T)beta1, one_minus_b1 = (FGD_T)(1.0 - beta1);
    const FGD_T b2 = (FGD_T)beta2, one_minus_b2 = (FGD_T)(1.0 - beta2);
    const FGD_T e = (FGD_T)eps, er = (FGD_T)eps_root;
    const FGD_T bc1 = (FGD_T)bias_correction1, bc2 = (FGD_T)bias_correction2;
    const FGD_T decay = (FGD_T)(1.0 - lr * weight_decay);
    const int use_wd = weight_decay != 0.0;
    FGD_CHUNKED(n, FGD_SUFFIX(fgd_adabelief_range)(lo, hi, p, g, m, s, neg_lr, b1, one_minus_b1,
                                                   b2, one_minus_b2, e, er, bc1, bc2, decay,
                                                   use_wd, maximize));
}

FGD_CALL_ARGS(fgd_adabelief, (param, grad, exp_avg, exp_avg_var),
              (lr, beta1, beta2, eps, eps_root, weight_decay, bias_correction1,
               bias_correction2), (maximize))
FGD_CALL(fgd_adabelief)
{
    (void)dims;
    FGD_SUFFIX(fgd_adabelief)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2],
                              (FGD_T *)b[3], s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7],
                              f[0]);
}
