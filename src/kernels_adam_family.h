/*
 * Kernels of Adadelta, Adamax, NAdam, RAdam, and the optax forms of Adam (eps_root) and
 * RMSprop (eps_in_sqrt). Included by fastgd_kernels_impl.h once per element type and
 * instruction set (FGD_T, FGD_SUFFIX, FGD_SQRT, FGD_INLINE, FGD_KERNEL, FGD_CALL are
 * defined there). fastgd/reference.py spells out each update in the same order.
 */

/* ----------------------------------------------------------- Adadelta --- */

FGD_INLINE void FGD_SUFFIX(fgd_adadelta_range)(
    ptrdiff_t lo, ptrdiff_t hi,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT sq,
    FGD_T *FGD_RESTRICT acc,
    FGD_T neg_lr, FGD_T rho, FGD_T one_minus_rho, FGD_T eps, FGD_T wd, int use_wd,
    int maximize)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        FGD_T d = maximize ? -g[i] : g[i];
        const FGD_T pi = p[i];
        if (use_wd) d = d + wd * pi;
        const FGD_T si = sq[i] * rho + one_minus_rho * d * d;
        sq[i] = si;
        const FGD_T std = FGD_SQRT(si + eps);
        const FGD_T delta = FGD_SQRT(acc[i] + eps) / std * d;
        acc[i] = acc[i] * rho + one_minus_rho * delta * delta;
        p[i] = pi + neg_lr * delta;
    }
}

/* torch.optim.Adadelta for one tensor. */
FGD_KERNEL FGD_SUFFIX(fgd_adadelta)(
    ptrdiff_t n, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT sq,
    FGD_T *FGD_RESTRICT acc, double lr, double rho, double eps, double weight_decay,
    int maximize)
{
    const FGD_T neg_lr = (FGD_T)(-lr), r = (FGD_T)rho, one_minus_rho = (FGD_T)(1.0 - rho);
    const FGD_T e = (FGD_T)eps, wd = (FGD_T)weight_decay;
    const int use_wd = weight_decay != 0.0;
    FGD_CHUNKED(n, FGD_SUFFIX(fgd_adadelta_range)(lo, hi, p, g, sq, acc, neg_lr, r,
                                                  one_minus_rho, e, wd, use_wd, maximize));
}

FGD_CALL(fgd_adadelta)
{
    (void)dims;
    FGD_SUFFIX(fgd_adadelta)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2],
                             (FGD_T *)b[3], s[0], s[1], s[2], s[3], f[0]);
}

/* ------------------------------------------------------------- Adamax --- */

FGD_INLINE void FGD_SUFFIX(fgd_adamax_range)(
    ptrdiff_t lo, ptrdiff_t hi,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT m,
    FGD_T *FGD_RESTRICT u,
    FGD_T w1, FGD_T one_minus_w1, FGD_T b2, FGD_T eps, FGD_T neg_clr, FGD_T wd, int use_wd,
    int maximize)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        FGD_T d = maximize ? -g[i] : g[i];
        const FGD_T pi = p[i];
        if (use_wd) d = d + wd * pi;
        const FGD_T mi = FGD_SUFFIX(fgd_lerp)(m[i], d, w1, one_minus_w1);
        m[i] = mi;
        /* |d| + eps; the sign of a zero is lost in the sum, a NaN stays NaN */
        const FGD_T abs_d = d < (FGD_T)0 ? -d : d;
        const FGD_T ui = FGD_SUFFIX(fgd_max)(u[i] * b2, abs_d + eps);
        u[i] = ui;
        p[i] = pi + neg_clr * mi / ui;
    }
}

/* torch.optim.Adamax for one tensor; bias_correction1 = 1 - beta1**t. */
FGD_KERNEL FGD_SUFFIX(fgd_adamax)(
    ptrdiff_t n, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT m,
    FGD_T *FGD_RESTRICT u, double lr, double beta1, double beta2, double eps,
    double weight_decay, double bias_correction1, int maximize)
{
    const FGD_T w1 = (FGD_T)(1.0 - beta1);
    const FGD_T one_minus_w1 = (FGD_T)1 - w1;
    const FGD_T b2 = (FGD_T)beta2, e = (FGD_T)eps, wd = (FGD_T)weight_decay;
    const FGD_T neg_clr = (FGD_T)(-(lr / bias_correction1));
    const int use_wd = weight_decay != 0.0;
    FGD_CHUNKED(n, FGD_SUFFIX(fgd_adamax_range)(lo, hi, p, g, m, u, w1, one_minus_w1, b2, e,
                                                neg_clr, wd, use_wd, maximize));
}

FGD_CALL(fgd_adamax)
{
    (void)dims;
    FGD_SUFFIX(fgd_adamax)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2],
                           (FGD_T *)b[3], s[0], s[1], s[2], s[3], s[4], s[5], f[0]);
}

/* -------------------------------------------------------------- NAdam --- */

FGD_INLINE void FGD_SUFFIX(fgd_nadam_range)(
    ptrdiff_t lo, ptrdiff_t hi,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT m,
    FGD_T *FGD_RESTRICT v,
    FGD_T w1, FGD_T one_minus_w1, FGD_T b2, FGD_T one_minus_b2, FGD_T bc2, FGD_T eps,
    FGD_T grad_coef, FGD_T avg_coef, FGD_T wd, FGD_T decay,
    int l2_wd, int decoupled_wd, int maximize)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        FGD_T d = maximize ? -g[i] : g[i];
        FGD_T pi = p[i];
        if (decoupled_wd) pi = pi * decay;
        if (l2_wd) d = d + wd * pi;
        const FGD_T mi = FGD_SUFFIX(fgd_lerp)(m[i], d, w1, one_minus_w1);
        const FGD_T vi = v[i] * b2 + one_minus_b2 * d * d;
        m[i] = mi;
        v[i] = vi;
        const FGD_T denom = FGD_SQRT(vi / bc2) + eps;
        pi = pi + grad_coef * d / denom;  /* torch rounds the two updates one by one */
        p[i] = pi + avg_coef * mi / denom;
    }
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

FGD_CALL(fgd_nadam)
{
    (void)dims;
    FGD_SUFFIX(fgd_nadam)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2], (FGD_T *)b[3],
                          s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], f[0], f[1]);
}

/* -------------------------------------------------------------- RAdam --- */

FGD_INLINE void FGD_SUFFIX(fgd_radam_range)(
    ptrdiff_t lo, ptrdiff_t hi,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT m,
    FGD_T *FGD_RESTRICT v,
    FGD_T w1, FGD_T one_minus_w1, FGD_T b2, FGD_T one_minus_b2, FGD_T bc1, FGD_T bc2_sqrt,
    FGD_T eps, FGD_T lr, FGD_T rect, FGD_T wd, FGD_T decay,
    int l2_wd, int decoupled_wd, int maximize, const int rectified)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        FGD_T d = maximize ? -g[i] : g[i];
        FGD_T pi = p[i];
        if (decoupled_wd) pi = pi * decay;
        if (l2_wd) d = d + wd * pi;
        const FGD_T mi = FGD_SUFFIX(fgd_lerp)(m[i], d, w1, one_minus_w1);
        const FGD_T vi = v[i] * b2 + one_minus_b2 * d * d;
        m[i] = mi;
        v[i] = vi;
        FGD_T step = mi / bc1 * lr;
        if (rectified) {
            /* torch: bc2_sqrt / (sqrt(v) + eps) is reciprocal(sqrt(v) + eps) * bc2_sqrt */
            const FGD_T adaptive = (FGD_T)1 / (FGD_SQRT(vi) + eps) * bc2_sqrt;
            step = step * adaptive * rect;
        }
        p[i] = pi - step;
    }
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

FGD_CALL(fgd_radam)
{
    (void)dims;
    FGD_SUFFIX(fgd_radam)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2], (FGD_T *)b[3],
                          s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], f[0], f[1], f[2]);
}

/* ------------------------------------------------- Adam, optax's form --- */

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

FGD_CALL(fgd_adam_eps_root)
{
    (void)dims;
    FGD_SUFFIX(fgd_adam_eps_root)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2],
                                  (FGD_T *)b[3], (FGD_T *)b[4], s[0], s[1], s[2], s[3], s[4],
                                  s[5], s[6], s[7], f[0], f[1], f[2]);
}

/* ---------------------------------------- RMSprop, eps inside the root --- */

FGD_INLINE void FGD_SUFFIX(fgd_rmsprop_eps_in_sqrt_range)(
    ptrdiff_t lo, ptrdiff_t hi,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT sq,
    FGD_T *FGD_RESTRICT gavg, FGD_T *FGD_RESTRICT buf,
    FGD_T neg_lr, FGD_T a, FGD_T one_minus_a, FGD_T one_minus_w, FGD_T eps, FGD_T mom, FGD_T wd,
    int use_wd, int maximize, const int centered, const int use_momentum)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        FGD_T d = maximize ? -g[i] : g[i];
        const FGD_T pi = p[i];
        if (use_wd) d = d + wd * pi;
        const FGD_T si = sq[i] * a + one_minus_a * d * d;
        sq[i] = si;
        FGD_T avg;
        if (centered) {
            const FGD_T ga = FGD_SUFFIX(fgd_lerp)(gavg[i], d, one_minus_a, one_minus_w);
            gavg[i] = ga;
            avg = FGD_SQRT(si + -ga * ga + eps);
        } else {
            avg = FGD_SQRT(si + eps);
        }
        if (use_momentum) {
            const FGD_T b = buf[i] * mom + d / avg;
            buf[i] = b;
            p[i] = pi + neg_lr * b;
        } else {
            p[i] = pi + neg_lr * d / avg;
        }
    }
}

/* RMSprop with eps inside the square root (optax.rmsprop's form) for one tensor; gavg
 * may be NULL unless centered, buf NULL unless momentum > 0. */
FGD_KERNEL FGD_SUFFIX(fgd_rmsprop_eps_in_sqrt)(
    ptrdiff_t n, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT sq,
    FGD_T *FGD_RESTRICT gavg, FGD_T *FGD_RESTRICT buf,
    double lr, double alpha, double eps, double weight_decay, double momentum,
    int centered, int maximize)
{
    const FGD_T neg_lr = (FGD_T)(-lr), a = (FGD_T)alpha, one_minus_a = (FGD_T)(1.0 - alpha);
    const FGD_T one_minus_w = (FGD_T)1 - one_minus_a;
    const FGD_T e = (FGD_T)eps, mom = (FGD_T)momentum, wd = (FGD_T)weight_decay;
    const int use_wd = weight_decay != 0.0;
#define FGD_RMSPROP_EIS_CALL(C, M) FGD_SUFFIX(fgd_rmsprop_eps_in_sqrt_range)(lo, hi, p, g, \
        sq, gavg, buf, neg_lr, a, one_minus_a, one_minus_w, e, mom, wd, use_wd, maximize, C, M)
    if (centered) {
        if (momentum > 0.0) FGD_CHUNKED(n, FGD_RMSPROP_EIS_CALL(1, 1));
        else FGD_CHUNKED(n, FGD_RMSPROP_EIS_CALL(1, 0));
    } else {
        if (momentum > 0.0) FGD_CHUNKED(n, FGD_RMSPROP_EIS_CALL(0, 1));
        else FGD_CHUNKED(n, FGD_RMSPROP_EIS_CALL(0, 0));
    }
#undef FGD_RMSPROP_EIS_CALL
}

FGD_CALL(fgd_rmsprop_eps_in_sqrt)
{
    (void)dims;
    FGD_SUFFIX(fgd_rmsprop_eps_in_sqrt)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2],
                                        (FGD_T *)b[3], (FGD_T *)b[4], s[0], s[1], s[2], s[3],
                                        s[4], f[0], f[1]);
}
