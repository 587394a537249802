/*
 * Lion (optax.lion). Included by kernel_dtype.h once per element type and instruction set
 * (FGD_T, FGD_SUFFIX, FGD_SQRT, FGD_INLINE, FGD_KERNEL, FGD_CALL are defined there).
 *
 * The order of operations is optax's (fastgd/reference/ spells each one out). Weight decay
 * is applied as AdamW does, p * (1 - lr * wd) first.
 */

/* --------------------------------------------------------------- Lion --- */

FGD_INLINE void FGD_SUFFIX(fgd_lion_range)(
    ptrdiff_t lo, ptrdiff_t hi,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT m,
    FGD_T neg_lr, FGD_T b1, FGD_T one_minus_b1, FGD_T b2, FGD_T one_minus_b2, FGD_T decay,
    int use_wd, int maximize)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        const FGD_T d = maximize ? -g[i] : g[i];
        FGD_T pi = p[i];
        const FGD_T mi = m[i];
        if (use_wd) pi = pi * decay;
        const FGD_T c = b1 * mi + one_minus_b1 * d;
        p[i] = pi + neg_lr * FGD_SUFFIX(fgd_sign)(c);
        m[i] = mi * b2 + one_minus_b2 * d;
    }
}

/* Lion for one tensor: decoupled decay, a signed step, then the momentum update. */
FGD_KERNEL FGD_SUFFIX(fgd_lion)(
    ptrdiff_t n, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT m,
    double lr, double beta1, double beta2, double weight_decay, int maximize)
{
    const FGD_T neg_lr = (FGD_T)(-lr);
    const FGD_T b1 = (FGD_T)beta1, one_minus_b1 = (FGD_T)(1.0 - beta1);
    const FGD_T b2 = (FGD_T)beta2, one_minus_b2 = (FGD_T)(1.0 - beta2);
    const FGD_T decay = (FGD_T)(1.0 - lr * weight_decay);
    const int use_wd = weight_decay != 0.0;
    FGD_CHUNKED(n, FGD_SUFFIX(fgd_lion_range)(lo, hi, p, g, m, neg_lr, b1, one_minus_b1, b2,
                                              one_minus_b2, decay, use_wd, maximize));
}

FGD_CALL_ARGS(fgd_lion, (param, grad, exp_avg), (lr, beta1, beta2, weight_decay), (maximize))
FGD_CALL(fgd_lion)
{
    (void)dims;
    FGD_SUFFIX(fgd_lion)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2], s[0], s[1], s[2],
                         s[3], f[0]);
}
