/*
 * Adam and AdamW (torch.optim), and Adam in optax's form (eps_root). Included by
 * kernel_dtype.h once per element type and instruction set (FGD_T, FGD_SUFFIX, FGD_SQRT,
 * FGD_INLINE, FGD_KERNEL, FGD_CALL are defined there).
 */

/* --------------------------------------------------------------- Adam --- */

FGD_INLINE void FGD_SUFFIX(fgd_adam_range)(
    ptrdiff_t lo, ptrdiff_t hi,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT m,
    FGD_T *FGD_RESTRICT v, FGD_T *FGD_RESTRICT vmax,
    FGD_T w1, FGD_T one_minus_w1, FGD_T b2, FGD_T one_minus_b2, FGD_T bc2_sqrt, FGD_T eps,
    FGD_T neg_step_size, FGD_T wd, FGD_T decay,
    int l2_wd, int decoupled_wd, int maximize, const int amsgrad)
{
    /* sqrt(v) / bc2_sqrt is never subnormal (FGD_DIVC): sqrt(v) is 0 or at least 2^-74.5,
     * and bc2_sqrt = sqrt(1 - beta2^t) is far below 2^48 */
    const double r_bc2 = FGD_RECIP(bc2_sqrt);
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
        FGD_T second = vi;
        if (amsgrad) {
            second = FGD_SUFFIX(fgd_max)(vmax[i], vi);
            vmax[i] = second;
        }
        const FGD_T denom = FGD_DIVC(FGD_SQRT(second), bc2_sqrt, r_bc2) + eps;
        p[i] = pi + neg_step_size * mi / denom;
    })
}

/* torch.optim.Adam / AdamW for one tensor; vmax may be NULL unless amsgrad. */
FGD_KERNEL FGD_SUFFIX(fgd_adam)(
    ptrdiff_t n, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT m,
    FGD_T *FGD_RESTRICT v, FGD_T *FGD_RESTRICT vmax,
    double lr, double beta1, double beta2, double eps, double weight_decay,
    double bias_correction1, double bias_correction2_sqrt,
    int amsgrad, int decoupled_weight_decay, int maximize)
{
    const FGD_T w1 = (FGD_T)(1.0 - beta1);
    const FGD_T one_minus_w1 = (FGD_T)1 - w1;
    const FGD_T b2 = (FGD_T)beta2, one_minus_b2 = (FGD_T)(1.0 - beta2);
    const FGD_T bc2_sqrt = (FGD_T)bias_correction2_sqrt, e = (FGD_T)eps;
    const FGD_T neg_step_size = (FGD_T)(-(lr / bias_correction1));
    const FGD_T wd = (FGD_T)weight_decay, decay = (FGD_T)(1.0 - lr * weight_decay);
    const int l2_wd = weight_decay != 0.0 && !decoupled_weight_decay;
    const int decoupled_wd = weight_decay != 0.0 && decoupled_weight_decay;
#define FGD_ADAM_CALL(AMS) FGD_SUFFIX(fgd_adam_range)(lo, hi, p, g, m, v, vmax, w1, \
        one_minus_w1, b2, one_minus_b2, bc2_sqrt, e, neg_step_size, wd, decay, l2_wd, \
        decoupled_wd, maximize, AMS)
    if (amsgrad)
        FGD_CHUNKED(n, FGD_ADAM_CALL(1));
    else
        FGD_CHUNKED(n, FGD_ADAM_CALL(0));
#undef FGD_ADAM_CALL
}

FGD_CALL_ARGS(fgd_adam, (param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq),
              (lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2_sqrt),
              (amsgrad, decoupled_weight_decay, maximize))
FGD_CALL(fgd_adam)
{
    (void)dims;
    FGD_SUFFIX(fgd_adam)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2], (FGD_T *)b[3],
                         (FGD_T *)b[4], s[0], s[1], s[2], s[3], s[4], s[5], s[6], f[0], f[1],
                         f[2]);
}

/* ------------------------------------------------- Adam, optax's form --- */
#if !FGD_FMA /* optax's rule: no fused twin */

FGD_INLINE void FGD_SUFFIX(fgd_adam_eps_root_range)(
    ptrdiff_t lo, ptrdiff_t hi,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT m,
    FGD_T *FGD_RESTRICT v, FGD_T *FGD_RESTRICT vmax,
    FGD_T b1, FGD_T one_minus_b1, FGD_T b2, FGD_T one_minus_b2, FGD_T bc1, FGD_T bc2,
    FGD_T eps, FGD_T eps_root, FGD_T neg_lr, FGD_T wd,
    int l2_wd, int decoupled_wd, int maximize, const int amsgrad)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        FGD_T d = maximize ? -g[i] : g[i];
        const FGD_T pi = p[i];
        if (l2_wd) d = d + wd * pi;
        const FGD_T mi = one_minus_b1 * d + b1 * m[i];
        const FGD_T vi = one_minus_b2 * (d * d) + b2 * v[i];
        m[i] = mi;
        v[i] = vi;
        FGD_T v_hat = vi / bc2;
        if (amsgrad) {
            v_hat = FGD_SUFFIX(fgd_max)(vmax[i], v_hat);
            vmax[i] = v_hat;
        }
        FGD_T u = mi / bc1 / (FGD_SQRT(v_hat + eps_root) + eps);
        if (decoupled_wd) u = u + wd * pi;
        p[i] = pi + neg_lr * u;
    }
}

/* optax.adam / optax.adamw / optax.amsgrad for one tensor (fastgd.Adam with eps_root);
 * bias_correction1 = 1 - beta1**t, bias_correction2 = 1 - beta2**t. */
FGD_KERNEL FGD_SUFFIX(fgd_adam_eps_root)(
    ptrdiff_t n, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT m,
    FGD_T *FGD_RESTRICT v, FGD_T *FGD_RESTRICT vmax,
    double lr, double beta1, double beta2, double eps, double eps_root, double weight_decay,
    double bias_correction1, double bias_correction2,
    int amsgrad, int decoupled_weight_decay, int maximize)
{
    const FGD_T b1 = (FGD_T)beta1, one_minus_b1 = (FGD_T)(1.0 - beta1);
    const FGD_T b2 = (FGD_T)beta2, one_minus_b2 = (FGD_T)(1.0 - beta2);
    const FGD_T bc1 = (FGD_T)bias_correction1, bc2 = (FGD_T)bias_correction2;
    const FGD_T e = (FGD_T)eps, er = (FGD_T)eps_root, neg_lr = (FGD_T)(-lr);
    const FGD_T wd = (FGD_T)weight_decay;
    const int l2_wd = weight_decay != 0.0 && !decoupled_weight_decay;
    const int decoupled_wd = weight_decay != 0.0 && decoupled_weight_decay;
#define FGD_ADAM_EPS_ROOT_CALL(AMS) FGD_SUFFIX(fgd_adam_eps_root_range)(lo, hi, p, g, m, v, \
        vmax, b1, one_minus_b1, b2, one_minus_b2, bc1, bc2, e, er, neg_lr, wd, l2_wd, \
        decoupled_wd, maximize, AMS)
    if (amsgrad)
        FGD_CHUNKED(n, FGD_ADAM_EPS_ROOT_CALL(1));
    else
        FGD_CHUNKED(n, FGD_ADAM_EPS_ROOT_CALL(0));
#undef FGD_ADAM_EPS_ROOT_CALL
}

FGD_CALL_ARGS(fgd_adam_eps_root, (param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq),
              (lr, beta1, beta2, eps, eps_root, weight_decay, bias_correction1,
               bias_correction2), (amsgrad, decoupled_weight_decay, maximize))
FGD_CALL(fgd_adam_eps_root)
{
    (void)dims;
    FGD_SUFFIX(fgd_adam_eps_root)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2],
                                  (FGD_T *)b[3], (FGD_T *)b[4], s[0], s[1], s[2], s[3], s[4],
                                  s[5], s[6], s[7], f[0], f[1], f[2]);
}
#endif /* !FGD_FMA */
