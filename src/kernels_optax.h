/*
 * Kernels of Lion, AdaBelief, LAMB, LARS, Yogi. Included by fastgd_kernels_impl.h once per element
 * type and instruction set (FGD_T, FGD_SUFFIX, FGD_SQRT, FGD_INLINE, FGD_KERNEL, FGD_CALL
 * are defined there).
 *
 * The order of operations is optax's (fastgd/reference.py spells each one out); Lion and
 * AdaBelief apply weight decay as AdamW does, p * (1 - lr * wd) first.
 *
 * LAMB and LARS scale each tensor by a trust ratio made of two whole-tensor norms. Their
 * entries make two passes: the first, on the calling thread, sums the squares in the
 * eight-lane order of fgd_sumsq (so the sums do not depend on the thread count and equal
 * fastgd.reference.sum_of_squares); the second, element-wise, is split across threads.
 */

/* optax.scale_by_trust_ratio's factor from the sums of squares of the parameter and of the
 * update, in double: coef * ||p|| / (||u|| + eps), or 1 when either norm is zero. */
FGD_INLINE double FGD_SUFFIX(fgd_trust_ratio)(double param_sumsq, double update_sumsq,
                                              double coef, double eps)
{
    if (param_sumsq == 0.0 || update_sumsq == 0.0)
        return 1.0;
    return coef * sqrt(param_sumsq) / (sqrt(update_sumsq) + eps);
}

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

FGD_CALL(fgd_lion)
{
    (void)dims;
    FGD_SUFFIX(fgd_lion)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2], s[0], s[1], s[2],
                         s[3], f[0]);
}

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

FGD_CALL(fgd_adabelief)
{
    (void)dims;
    FGD_SUFFIX(fgd_adabelief)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2],
                              (FGD_T *)b[3], s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7],
                              f[0]);
}

/* --------------------------------------------------------------- LAMB --- */

/* LAMB's update direction at one element from the new moments: the Adam step plus wd * p. */
FGD_INLINE FGD_T FGD_SUFFIX(fgd_lamb_dir)(FGD_T mi, FGD_T vi, FGD_T pi, FGD_T bc1, FGD_T bc2,
                                          FGD_T eps, FGD_T wd, int use_wd)
{
    FGD_T u = (mi / bc1) / (FGD_SQRT(vi / bc2) + eps);
    if (use_wd) u = u + wd * pi;
    return u;
}

/* First pass at element k: update the moments, add p^2 and u^2 to lane j. */
#define FGD_LAMB_MOMENTS(k, j)                                                          \
    do {                                                                                \
        const FGD_T d_ = maximize ? -g[k] : g[k];                                       \
        const FGD_T pk_ = p[k];                                                         \
        const FGD_T mk_ = m[k] * b1 + one_minus_b1 * d_;                                \
        const FGD_T vk_ = v[k] * b2 + one_minus_b2 * (d_ * d_);                         \
        m[k] = mk_;                                                                     \
        v[k] = vk_;                                                                     \
        const double u_ = (double)FGD_SUFFIX(fgd_lamb_dir)(mk_, vk_, pk_, bc1, bc2, e, wd, \
                                                           use_wd);                     \
        lp[j] += (double)pk_ * (double)pk_;                                             \
        lu[j] += u_ * u_;                                                               \
    } while (0)

FGD_INLINE void FGD_SUFFIX(fgd_lamb_range)(
    ptrdiff_t lo, ptrdiff_t hi,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT m, const FGD_T *FGD_RESTRICT v,
    FGD_T neg_lr, FGD_T ratio, FGD_T bc1, FGD_T bc2, FGD_T eps, FGD_T wd, int use_wd)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        const FGD_T pi = p[i];
        const FGD_T u = FGD_SUFFIX(fgd_lamb_dir)(m[i], v[i], pi, bc1, bc2, eps, wd, use_wd);
        p[i] = pi + neg_lr * (u * ratio);
    }
}

/* optax.lamb for one tensor. Pass 1 (this thread): moments, and the sums of squares of p
 * and of the direction u in fgd_sumsq's order; pass 2 (threads): p -= lr * (u * ratio),
 * with u recomputed from the stored moments (the same bits). */
FGD_KERNEL FGD_SUFFIX(fgd_lamb)(
    ptrdiff_t n, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT m,
    FGD_T *FGD_RESTRICT v,
    double lr, double beta1, double beta2, double eps, double weight_decay,
    double bias_correction1, double bias_correction2, int maximize)
{
    const FGD_T b1 = (FGD_T)beta1, one_minus_b1 = (FGD_T)(1.0 - beta1);
    const FGD_T b2 = (FGD_T)beta2, one_minus_b2 = (FGD_T)(1.0 - beta2);
    const FGD_T e = (FGD_T)eps, wd = (FGD_T)weight_decay;
    const FGD_T bc1 = (FGD_T)bias_correction1, bc2 = (FGD_T)bias_correction2;
    const int use_wd = weight_decay != 0.0;
    double lp[8] = {0, 0, 0, 0, 0, 0, 0, 0}, lu[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    ptrdiff_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; ++j)
            FGD_LAMB_MOMENTS(k + j, j);
    for (int j = 0; k + j < n; ++j)
        FGD_LAMB_MOMENTS(k + j, j);
    const double sp = ((lp[0] + lp[1]) + (lp[2] + lp[3])) + ((lp[4] + lp[5]) + (lp[6] + lp[7]));
    const double su = ((lu[0] + lu[1]) + (lu[2] + lu[3])) + ((lu[4] + lu[5]) + (lu[6] + lu[7]));
    const FGD_T ratio = (FGD_T)FGD_SUFFIX(fgd_trust_ratio)(sp, su, 1.0, 0.0);
    const FGD_T neg_lr = (FGD_T)(-lr);
    FGD_CHUNKED(n, FGD_SUFFIX(fgd_lamb_range)(lo, hi, p, m, v, neg_lr, ratio, bc1, bc2, e, wd,
                                              use_wd));
}
#undef FGD_LAMB_MOMENTS

FGD_CALL(fgd_lamb)
{
    (void)dims;
    FGD_SUFFIX(fgd_lamb)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2], (FGD_T *)b[3],
                         s[0], s[1], s[2], s[3], s[4], s[5], s[6], f[0]);
}

/* --------------------------------------------------------------- LARS --- */

FGD_INLINE void FGD_SUFFIX(fgd_lars_range)(
    ptrdiff_t lo, ptrdiff_t hi,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT buf,
    FGD_T lr, FGD_T ratio, FGD_T mom, FGD_T wd, int use_wd, int maximize, int nesterov,
    const int use_momentum)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        const FGD_T pi = p[i];
        FGD_T u = maximize ? -g[i] : g[i];
        if (use_wd) u = u + wd * pi;
        const FGD_T step = lr * (u * ratio);
        if (use_momentum) {
            const FGD_T bi = buf[i] * mom + step;
            buf[i] = bi;
            p[i] = pi - (nesterov ? step + mom * bi : bi);
        } else {
            p[i] = pi - step;
        }
    }
}

/* optax.lars for one tensor; buf may be NULL when momentum == 0. Pass 1 (this thread):
 * the sums of squares of p and of u = g + wd * p; pass 2 (threads): the step. */
FGD_KERNEL FGD_SUFFIX(fgd_lars)(
    ptrdiff_t n, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT buf,
    double lr, double momentum, double weight_decay, double trust_coefficient, double eps,
    int nesterov, int maximize)
{
    const FGD_T wd = (FGD_T)weight_decay, mom = (FGD_T)momentum;
    const int use_wd = weight_decay != 0.0;
    double sp, su;
    if (use_wd) {
        double lp[8] = {0, 0, 0, 0, 0, 0, 0, 0}, lu[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        ptrdiff_t k = 0;
#define FGD_LARS_SUMS(K, J)                                                             \
        do {                                                                            \
            const FGD_T pk_ = p[K];                                                     \
            const FGD_T uk_ = (maximize ? -g[K] : g[K]) + wd * pk_;                     \
            lp[J] += (double)pk_ * (double)pk_;                                         \
            lu[J] += (double)uk_ * (double)uk_;                                         \
        } while (0)
        for (; k + 8 <= n; k += 8)
            for (int j = 0; j < 8; ++j)
                FGD_LARS_SUMS(k + j, j);
        for (int j = 0; k + j < n; ++j)
            FGD_LARS_SUMS(k + j, j);
#undef FGD_LARS_SUMS
        sp = ((lp[0] + lp[1]) + (lp[2] + lp[3])) + ((lp[4] + lp[5]) + (lp[6] + lp[7]));
        su = ((lu[0] + lu[1]) + (lu[2] + lu[3])) + ((lu[4] + lu[5]) + (lu[6] + lu[7]));
    } else {  /* u = +-g: its squares are g's */
        sp = FGD_SUFFIX(fgd_sumsq)(n, p);
        su = FGD_SUFFIX(fgd_sumsq)(n, g);
    }
    const FGD_T ratio = (FGD_T)FGD_SUFFIX(fgd_trust_ratio)(sp, su, trust_coefficient, eps);
    const FGD_T lr_t = (FGD_T)lr;
#define FGD_LARS_CALL(UM) FGD_SUFFIX(fgd_lars_range)(lo, hi, p, g, buf, lr_t, ratio, mom, wd, \
        use_wd, maximize, nesterov, UM)
    if (momentum != 0.0)
        FGD_CHUNKED(n, FGD_LARS_CALL(1));
    else
        FGD_CHUNKED(n, FGD_LARS_CALL(0));
#undef FGD_LARS_CALL
}

FGD_CALL(fgd_lars)
{
    (void)dims;
    FGD_SUFFIX(fgd_lars)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2], s[0], s[1], s[2],
                         s[3], s[4], f[0], f[1]);
}

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

FGD_CALL(fgd_yogi)
{
    (void)dims;
    FGD_SUFFIX(fgd_yogi)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2], (FGD_T *)b[3],
                         s[0], s[1], s[2], s[3], s[4], s[5], f[0]);
}
