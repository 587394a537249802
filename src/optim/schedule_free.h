/*
 * SGDScheduleFree and AdamWScheduleFree (schedulefree 1.4.1). Included by kernel_dtype.h
 * once per element type and instruction set (FGD_T, FGD_SUFFIX, FGD_SQRT, FGD_INLINE,
 * FGD_KERNEL, FGD_CALL are defined there).
 */

/* ---------------------------------------------------- Schedule-Free SGD --- */

FGD_INLINE void FGD_SUFFIX(fgd_sgd_schedule_free_range)(
    ptrdiff_t lo, ptrdiff_t hi,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT z,
    FGD_T c, FGD_T one_minus_c, FGD_T y_coef, FGD_T lr, FGD_T wd,
    const int use_wd, const int maximize)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        FGD_T d = maximize ? -g[i] : g[i];
        const FGD_T yi = p[i], zi = z[i];
        if (use_wd) d = d + wd * yi;
        const FGD_T y = FGD_SUFFIX(fgd_lerp)(yi, zi, c, one_minus_c);
        p[i] = y + y_coef * d;
        z[i] = zi - lr * d;
    }
}

/* SGDScheduleFree (schedulefree 1.4.1) for one tensor; p holds y. lr is the scheduled
 * learning rate, ckp1 the averaging weight. */
FGD_KERNEL FGD_SUFFIX(fgd_sgd_schedule_free)(
    ptrdiff_t n, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT z,
    double lr, double momentum, double weight_decay, double ckp1, int maximize)
{
    const FGD_T c = (FGD_T)ckp1, one_minus_c = (FGD_T)1 - c;
    const FGD_T y_coef = (FGD_T)(lr * (momentum * (1.0 - ckp1) - 1.0));
    const FGD_T l = (FGD_T)lr, wd = (FGD_T)weight_decay;
#define FGD_SF_SGD_CALL(WD, MAX) FGD_SUFFIX(fgd_sgd_schedule_free_range)(lo, hi, p, g, z, c, \
        one_minus_c, y_coef, l, wd, WD, MAX)
    if (weight_decay != 0.0) {
        if (maximize) FGD_CHUNKED(n, FGD_SF_SGD_CALL(1, 1));
        else FGD_CHUNKED(n, FGD_SF_SGD_CALL(1, 0));
    } else {
        if (maximize) FGD_CHUNKED(n, FGD_SF_SGD_CALL(0, 1));
        else FGD_CHUNKED(n, FGD_SF_SGD_CALL(0, 0));
    }
#undef FGD_SF_SGD_CALL
}

FGD_CALL_ARGS(fgd_sgd_schedule_free, (param, grad, z), (lr, momentum, weight_decay, ckp1),
              (maximize))
FGD_CALL(fgd_sgd_schedule_free)
{
    (void)dims;
    FGD_SUFFIX(fgd_sgd_schedule_free)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2],
                                      s[0], s[1], s[2], s[3], f[0]);
}

/* -------------------------------------------------- Schedule-Free AdamW --- */

FGD_INLINE void FGD_SUFFIX(fgd_adamw_schedule_free_range)(
    ptrdiff_t lo, ptrdiff_t hi,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT z,
    FGD_T *FGD_RESTRICT v,
    FGD_T b2, FGD_T one_minus_b2, FGD_T bc2, FGD_T eps, FGD_T c, FGD_T one_minus_c,
    FGD_T y_coef, FGD_T lr, FGD_T wd, const int use_wd, const int maximize)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        const FGD_T d = maximize ? -g[i] : g[i];
        const FGD_T yi = p[i], zi = z[i];
        const FGD_T vi = v[i] * b2 + one_minus_b2 * d * d;
        v[i] = vi;
        FGD_T u = d / (FGD_SQRT(vi / bc2) + eps);
        if (use_wd) u = u + wd * yi;
        const FGD_T y = FGD_SUFFIX(fgd_lerp)(yi, zi, c, one_minus_c);
        p[i] = y + y_coef * u;
        z[i] = zi - lr * u;
    }
}

/* AdamWScheduleFree (schedulefree 1.4.1) for one tensor; p holds y. lr is the scheduled
 * learning rate, ckp1 the averaging weight, bias_correction2 = 1 - beta2^(k+1). */
FGD_KERNEL FGD_SUFFIX(fgd_adamw_schedule_free)(
    ptrdiff_t n, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT z,
    FGD_T *FGD_RESTRICT v,
    double lr, double beta1, double beta2, double eps, double weight_decay, double ckp1,
    double bias_correction2, int maximize)
{
    const FGD_T b2 = (FGD_T)beta2, one_minus_b2 = (FGD_T)(1.0 - beta2);
    const FGD_T bc2 = (FGD_T)bias_correction2, e = (FGD_T)eps;
    const FGD_T c = (FGD_T)ckp1, one_minus_c = (FGD_T)1 - c;
    const FGD_T y_coef = (FGD_T)(lr * (beta1 * (1.0 - ckp1) - 1.0));
    const FGD_T l = (FGD_T)lr, wd = (FGD_T)weight_decay;
#define FGD_SF_ADAMW_CALL(WD, MAX) FGD_SUFFIX(fgd_adamw_schedule_free_range)(lo, hi, p, g, z, \
        v, b2, one_minus_b2, bc2, e, c, one_minus_c, y_coef, l, wd, WD, MAX)
    if (weight_decay != 0.0) {
        if (maximize) FGD_CHUNKED(n, FGD_SF_ADAMW_CALL(1, 1));
        else FGD_CHUNKED(n, FGD_SF_ADAMW_CALL(1, 0));
    } else {
        if (maximize) FGD_CHUNKED(n, FGD_SF_ADAMW_CALL(0, 1));
        else FGD_CHUNKED(n, FGD_SF_ADAMW_CALL(0, 0));
    }
#undef FGD_SF_ADAMW_CALL
}

FGD_CALL_ARGS(fgd_adamw_schedule_free, (param, grad, z, exp_avg_sq),
              (lr, beta1, beta2, eps, weight_decay, ckp1, bias_correction2), (maximize))
FGD_CALL(fgd_adamw_schedule_free)
{
    (void)dims;
    FGD_SUFFIX(fgd_adamw_schedule_free)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2],
                                        (FGD_T *)b[3], s[0], s[1], s[2], s[3], s[4], s[5],
                                        s[6], f[0]);
}
