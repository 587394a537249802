/*
 * Yogi (optax.yogi). Included by kernel_dtype.h once per element type and instruction set
 * (FGD_T, FGD_SUFFIX, FGD_SQRT, FGD_INLINE, FGD_KERNEL, FGD_CALL are defined there).
 *
 * The order of operations is optax's (fastgd/reference/ spells each one out).
 */

/* --------------------------------------------------------------- Yogi --- */

FGD_INLINE void FGD_SUFFIX(fgd_yogi_range)(
    ptrdiff_t lo, ptrdiff_t hi,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT m,
    FGD_T *FGD_RESTRICT v,
    FGD_T neg_lr, FGD_T b1, FGD_T one_minus_b1, FGD_T one_minus_b2, FGD_T eps, FGD_T bc1,
    FGD_T bc2, int maximize)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        const FGD_T d = maximize ? -g[i] : g[i];
        const FGD_T mi = m[i] * b1 + one_minus_b1 * d;
        const FGD_T sq = d * d;
        const FGD_T v0 = v[i];
        const FGD_T vi = v0 - (one_minus_b2 * FGD_SUFFIX(fgd_sign)(v0 - sq)) * sq;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] + neg_lr * ((mi / bc1) / (FGD_SQRT(vi / bc2) + eps));
    }
}

/* optax.yogi for one tensor. */
FGD_KERNEL FGD_SUFFIX(fgd_yogi)(
    ptrdiff_t n, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT m,
    FGD_T *FGD_RESTRICT v,
    double lr, double beta1, double beta2, double eps, double bias_correction1,
    double bias_correction2, int maximize)
{
    const FGD_T neg_lr = (FGD_T)(-lr);
    const FGD_T b1 = (FGD_T)beta1, one_minus_b1 = (FGD_T)(1.0 - beta1);
    const FGD_T one_minus_b2 = (FGD_T)(1.0 - beta2), e = (FGD_T)eps;
    const FGD_T bc1 = (FGD_T)bias_correction1, bc2 = (FGD_T)bias_correction2;
    FGD_CHUNKED(n, FGD_SUFFIX(fgd_yogi_range)(lo, hi, p, g, m, v, neg_lr, b1, one_minus_b1,
                                              one_minus_b2, e, bc1, bc2, maximize));
}

FGD_CALL_ARGS(fgd_yogi, (param, grad, exp_avg, exp_avg_sq),
              (lr, beta1, beta2, eps, bias_correction1, bias_correction2), (maximize))
FGD_CALL(fgd_yogi)
{
    (void)dims;
    FGD_SUFFIX(fgd_yogi)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2], (FGD_T *)b[3],
                         s[0], s[1], s[2], s[3], s[4], s[5], f[0]);
}
