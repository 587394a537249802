/*
 * NAdam (torch.optim.NAdam). Included by kernel_dtype.h once per element type and
 * instruction set (FGD_T, FGD_SUFFIX, FGD_SQRT, FGD_INLINE, FGD_KERNEL, FGD_CALL are
 * defined there).
 */

/* -------------------------------------------------------------- NAdam --- */

FGD_INLINE void FGD_SUFFIX(fgd_nadam_range)(
    ptrdiff_t lo, ptrdiff_t hi,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT m,
    FGD_T *FGD_RESTRICT v,
    FGD_T w1, FGD_T one_minus_w1, FGD_T b2, FGD_T one_minus_b2, FGD_T bc2, FGD_T eps,
    FGD_T grad_coef, FGD_T avg_coef, FGD_T wd, FGD_T decay,
    int l2_wd, int decoupled_wd, int maximize)
{
    FGD_UNSWITCH(l2_wd,
    for (ptrdiff_t i = lo; i < hi; ++i) {
        FGD_T d = maximize ? -g[i] : g[i];
        FGD_T pi = p[i];
        if (decoupled_wd) pi = pi * decay;
        d = FGD_SUFFIX(fgd_madd_if)(l2_wd, wd, pi, d);  /* grad.add(param, alpha=wd) */
        const FGD_T mi = FGD_SUFFIX(fgd_lerp)(m[i], d, w1, one_minus_w1);
        /* exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2) */
        const FGD_T vi = FGD_MADD(one_minus_b2 * d, d, v[i] * b2);
        m[i] = mi;
        v[i] = vi;
        const FGD_T denom = FGD_SQRT(vi / bc2) + eps;
        pi = pi + grad_coef * d / denom;  /* torch rounds the two updates one by one */
        p[i] = pi + avg_coef * mi / denom;
    })
}

/* torch.optim.NAdam for one tensor; bias_correction2 = 1 - beta2**t, mu and mu_next the
 * momentum schedule at t and t + 1, mu_product the product of the mu up to t. */
FGD_KERNEL FGD_SUFFIX(fgd_nadam)(
    ptrdiff_t n, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT m,
    FGD_T *FGD_RESTRICT v, double lr, double beta1, double beta2, double eps,
    double weight_decay, double bias_correction2, double mu, double mu_next,
    double mu_product, int decoupled_weight_decay, int maximize)
{
    const FGD_T w1 = (FGD_T)(1.0 - beta1);
    const FGD_T one_minus_w1 = (FGD_T)1 - w1;
    const FGD_T b2 = (FGD_T)beta2, one_minus_b2 = (FGD_T)(1.0 - beta2);
    const FGD_T bc2 = (FGD_T)bias_correction2, e = (FGD_T)eps;
    /* in double, in torch's (Python's) order */
    const FGD_T grad_coef = (FGD_T)(-lr * (1.0 - mu) / (1.0 - mu_product));
    const FGD_T avg_coef = (FGD_T)(-lr * mu_next / (1.0 - mu_product * mu_next));
    const FGD_T wd = (FGD_T)weight_decay, decay = (FGD_T)(1.0 - lr * weight_decay);
    const int l2_wd = weight_decay != 0.0 && !decoupled_weight_decay;
    const int decoupled_wd = weight_decay != 0.0 && decoupled_weight_decay;
    FGD_CHUNKED(n, FGD_SUFFIX(fgd_nadam_range)(lo, hi, p, g, m, v, w1, one_minus_w1, b2,
                                               one_minus_b2, bc2, e, grad_coef, avg_coef, wd,
                                               decay, l2_wd, decoupled_wd, maximize));
}

FGD_CALL_ARGS(fgd_nadam, (param, grad, exp_avg, exp_avg_sq),
              (lr, beta1, beta2, eps, weight_decay, bias_correction2, mu, mu_next, mu_product),
              (decoupled_weight_decay, maximize))
FGD_CALL(fgd_nadam)
{
    (void)dims;
    FGD_SUFFIX(fgd_nadam)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2], (FGD_T *)b[3],
                          s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], f[0], f[1]);
}
