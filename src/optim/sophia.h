/*
 * Sophia (official SophiaG): its step and its Hessian average. Included by kernel_dtype.h
 * once per element type and instruction set (FGD_T, FGD_SUFFIX, FGD_SQRT, FGD_INLINE,
 * FGD_KERNEL, FGD_CALL are defined there).
 */

/* numpy.abs / torch.abs: |-0| = +0, NaN stays NaN. */
FGD_INLINE FGD_T FGD_SUFFIX(fgd_abs)(FGD_T x)
{
    return x == (FGD_T)0 ? (FGD_T)0 : x < (FGD_T)0 ? -x : x;
}

/* ------------------------------------------------------------- Sophia --- */

FGD_INLINE void FGD_SUFFIX(fgd_sophia_range)(
    ptrdiff_t lo, ptrdiff_t hi,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT m,
    const FGD_T *FGD_RESTRICT h,
    FGD_T neg_lr, FGD_T b1, FGD_T one_minus_b1, FGD_T rho, FGD_T eps, FGD_T decay,
    const int use_wd, const int maximize)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        const FGD_T d = maximize ? -g[i] : g[i];
        FGD_T pi = p[i];
        if (use_wd) pi = pi * decay;
        const FGD_T mi = m[i] * b1 + one_minus_b1 * d;
        m[i] = mi;
        const FGD_T curvature = FGD_SUFFIX(fgd_max)(h[i], (FGD_T)0);
        const FGD_T r = FGD_SUFFIX(fgd_abs)(mi) / (rho * curvature + eps);
        const FGD_T ratio = r > (FGD_T)1 ? (FGD_T)1 : r;
        p[i] = pi + (neg_lr * FGD_SUFFIX(fgd_sign)(mi)) * ratio;
    }
}

/* Sophia (official SophiaG) for one tensor: decoupled weight decay, momentum, and the
 * clipped step sign(m) * min(|m| / (rho * max(h, 0) + eps), 1); h is read only. */
FGD_KERNEL FGD_SUFFIX(fgd_sophia)(
    ptrdiff_t n, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT m,
    const FGD_T *FGD_RESTRICT h,
    double lr, double beta1, double rho, double eps, double weight_decay, int maximize)
{
    const FGD_T neg_lr = (FGD_T)(-lr), b1 = (FGD_T)beta1, one_minus_b1 = (FGD_T)(1.0 - beta1);
    const FGD_T r = (FGD_T)rho, e = (FGD_T)eps, decay = (FGD_T)(1.0 - lr * weight_decay);
#define FGD_SOPHIA_CALL(WD, MAX) FGD_SUFFIX(fgd_sophia_range)(lo, hi, p, g, m, h, neg_lr, b1, \
        one_minus_b1, r, e, decay, WD, MAX)
    if (weight_decay != 0.0) {
        if (maximize) FGD_CHUNKED(n, FGD_SOPHIA_CALL(1, 1));
        else FGD_CHUNKED(n, FGD_SOPHIA_CALL(1, 0));
    } else {
        if (maximize) FGD_CHUNKED(n, FGD_SOPHIA_CALL(0, 1));
        else FGD_CHUNKED(n, FGD_SOPHIA_CALL(0, 0));
    }
#undef FGD_SOPHIA_CALL
}

FGD_CALL_ARGS(fgd_sophia, (param, grad, exp_avg, hessian), (lr, beta1, rho, eps, weight_decay),
              (maximize))
FGD_CALL(fgd_sophia)
{
    (void)dims;
    FGD_SUFFIX(fgd_sophia)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2],
                           (const FGD_T *)b[3], s[0], s[1], s[2], s[3], s[4], f[0]);
}

/* ---------------------------------------------- Sophia's Hessian average --- */

FGD_INLINE void FGD_SUFFIX(fgd_sophia_hessian_range)(
    ptrdiff_t lo, ptrdiff_t hi, FGD_T *FGD_RESTRICT h, const FGD_T *FGD_RESTRICT est,
    FGD_T b2, FGD_T one_minus_b2)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        h[i] = h[i] * b2 + one_minus_b2 * est[i];
    }
}

/* h <- beta2 * h + (1 - beta2) * estimate. */
FGD_KERNEL FGD_SUFFIX(fgd_sophia_hessian)(
    ptrdiff_t n, FGD_T *FGD_RESTRICT h, const FGD_T *FGD_RESTRICT est, double beta2)
{
    const FGD_T b2 = (FGD_T)beta2, one_minus_b2 = (FGD_T)(1.0 - beta2);
    FGD_CHUNKED(n, FGD_SUFFIX(fgd_sophia_hessian_range)(lo, hi, h, est, b2, one_minus_b2));
}

FGD_CALL_ARGS(fgd_sophia_hessian, (hessian, estimate), (beta2), ())
FGD_CALL(fgd_sophia_hessian)
{
    (void)dims; (void)f;
    FGD_SUFFIX(fgd_sophia_hessian)(n, (FGD_T *)b[0], (const FGD_T *)b[1], s[0]);
}
