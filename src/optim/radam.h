/*
 * RAdam (torch.optim.RAdam). Included by kernel_dtype.h once per element type and
 * instruction set (FGD_T, FGD_SUFFIX, FGD_SQRT, FGD_INLINE, FGD_KERNEL, FGD_CALL are
 * defined there).
 */

/* -------------------------------------------------------------- RAdam --- */

FGD_INLINE void FGD_SUFFIX(fgd_radam_range)(
    ptrdiff_t lo, ptrdiff_t hi,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT m,
    FGD_T *FGD_RESTRICT v,
    FGD_T w1, FGD_T one_minus_w1, FGD_T b2, FGD_T one_minus_b2, FGD_T bc1, FGD_T bc2_sqrt,
    FGD_T eps, FGD_T lr, FGD_T rect, FGD_T wd, FGD_T decay,
    int l2_wd, int decoupled_wd, int maximize, const int rectified)
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
        FGD_T step = mi / bc1 * lr;
        if (rectified) {
            /* torch: bc2_sqrt / (sqrt(v) + eps) is reciprocal(sqrt(v) + eps) * bc2_sqrt */
            const FGD_T adaptive = (FGD_T)1 / (FGD_SQRT(vi) + eps) * bc2_sqrt;
            step = step * adaptive * rect;
        }
        p[i] = pi - step;
    })
}

/* torch.optim.RAdam for one tensor; bias_correction1 = 1 - beta1**t,
 * bias_correction2_sqrt = (1 - beta2**t)**0.5; rectified (rho_t > 5) and the
 * rectification term are decided per step by the optimizer. */
FGD_KERNEL FGD_SUFFIX(fgd_radam)(
    ptrdiff_t n, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT m,
    FGD_T *FGD_RESTRICT v, double lr, double beta1, double beta2, double eps,
    double weight_decay, double bias_correction1, double bias_correction2_sqrt,
    double rectification, int rectified, int decoupled_weight_decay, int maximize)
{
    const FGD_T w1 = (FGD_T)(1.0 - beta1);
    const FGD_T one_minus_w1 = (FGD_T)1 - w1;
    const FGD_T b2 = (FGD_T)beta2, one_minus_b2 = (FGD_T)(1.0 - beta2);
    const FGD_T bc1 = (FGD_T)bias_correction1, bc2_sqrt = (FGD_T)bias_correction2_sqrt;
    const FGD_T e = (FGD_T)eps, l = (FGD_T)lr, rect = (FGD_T)rectification;
    const FGD_T wd = (FGD_T)weight_decay, decay = (FGD_T)(1.0 - lr * weight_decay);
    const int l2_wd = weight_decay != 0.0 && !decoupled_weight_decay;
    const int decoupled_wd = weight_decay != 0.0 && decoupled_weight_decay;
#define FGD_RADAM_CALL(R) FGD_SUFFIX(fgd_radam_range)(lo, hi, p, g, m, v, w1, one_minus_w1, \
        b2, one_minus_b2, bc1, bc2_sqrt, e, l, rect, wd, decay, l2_wd, decoupled_wd, \
        maximize, R)
    if (rectified)
        FGD_CHUNKED(n, FGD_RADAM_CALL(1));
    else
        FGD_CHUNKED(n, FGD_RADAM_CALL(0));
#undef FGD_RADAM_CALL
}

FGD_CALL_ARGS(fgd_radam, (param, grad, exp_avg, exp_avg_sq),
              (lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2_sqrt,
               rectification), (rectified, decoupled_weight_decay, maximize))
FGD_CALL(fgd_radam)
{
    (void)dims;
    FGD_SUFFIX(fgd_radam)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2], (FGD_T *)b[3],
                          s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], f[0], f[1], f[2]);
}
