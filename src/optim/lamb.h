/*
 * LAMB (optax.lamb). Included by kernel_dtype.h once per element type and instruction set
 * (FGD_T, FGD_SUFFIX, FGD_SQRT, FGD_INLINE, FGD_KERNEL, FGD_CALL are defined there).
 *
 * The order of operations is optax's (fastgd/reference/ spells each one out).
 *
 * LAMB scales each tensor by a trust ratio made of two whole-tensor norms. Its entry makes
 * two passes: the first, on the calling thread, sums the squares in the eight-lane order
 * of fgd_sumsq (so the sums do not depend on the thread count and equal
 * fastgd.reference.sum_of_squares); the second, element-wise, is split across threads.
 */

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

FGD_CALL_ARGS(fgd_lamb, (param, grad, exp_avg, exp_avg_sq),
              (lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2),
              (maximize))
FGD_CALL(fgd_lamb)
{
    (void)dims;
    FGD_SUFFIX(fgd_lamb)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2], (FGD_T *)b[3],
                         s[0], s[1], s[2], s[3], s[4], s[5], s[6], f[0]);
}
