/*
 * LARS (optax.lars). Included by kernel_dtype.h once per element type and instruction set
 * (FGD_T, FGD_SUFFIX, FGD_SQRT, FGD_INLINE, FGD_KERNEL, FGD_CALL are defined there).
 *
 * The order of operations is optax's (fastgd/reference/ spells each one out).
 *
 * LARS scales each tensor by a trust ratio made of two whole-tensor norms. Its entry makes
 * two passes: the first, on the calling thread, sums the squares in the eight-lane order
 * of fgd_sumsq (so the sums do not depend on the thread count and equal
 * fastgd.reference.sum_of_squares); the second, element-wise, is split across threads.
 */

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

FGD_CALL_ARGS(fgd_lars, (param, grad, momentum_buffer),
              (lr, momentum, weight_decay, trust_coefficient, eps), (nesterov, maximize))
FGD_CALL(fgd_lars)
{
    (void)dims;
    FGD_SUFFIX(fgd_lars)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2], s[0], s[1], s[2],
                         s[3], s[4], f[0], f[1]);
}
