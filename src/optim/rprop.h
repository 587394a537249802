/*
 * Rprop (torch.optim.Rprop). Included by kernel_dtype.h once per element type and
 * instruction set (FGD_T, FGD_SUFFIX, FGD_SQRT, FGD_INLINE, FGD_KERNEL, FGD_CALL are
 * defined there).
 */

/* torch.clamp(x, lo, hi) for a NaN-free hi: NaN in x propagates; hi wins when lo > hi.
 * (Written so that the loops using it vectorise; fastgd.reference.rprop spells out the
 * same selections.) */
FGD_INLINE FGD_T FGD_SUFFIX(fgd_torch_clamp)(FGD_T x, FGD_T lo, FGD_T hi)
{
    const FGD_T y = FGD_SUFFIX(fgd_max)(x, lo);
    return y >= hi ? hi : y;
}

/* -------------------------------------------------------------- Rprop --- */

FGD_INLINE void FGD_SUFFIX(fgd_rprop_range)(
    ptrdiff_t lo, ptrdiff_t hi,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT prev,
    FGD_T *FGD_RESTRICT step_size, FGD_T em, FGD_T ep, FGD_T smin, FGD_T smax, int maximize)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        const FGD_T d = maximize ? -g[i] : g[i];
        /* torch's three masked assignments, in its order */
        FGD_T f = FGD_SUFFIX(fgd_torch_sign)(d * prev[i]);
        f = f > 0 ? ep : f;
        f = f < 0 ? em : f;
        f = f == 0 ? (FGD_T)1 : f;
        const FGD_T s = FGD_SUFFIX(fgd_torch_clamp)(step_size[i] * f, smin, smax);
        step_size[i] = s;
        const FGD_T d2 = f == em ? (FGD_T)0 : d;
        p[i] = p[i] + ((FGD_T)-1 * FGD_SUFFIX(fgd_torch_sign)(d2)) * s;
        prev[i] = d2;
    }
}

/* torch.optim.Rprop for one tensor. */
FGD_KERNEL FGD_SUFFIX(fgd_rprop)(
    ptrdiff_t n, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT prev,
    FGD_T *FGD_RESTRICT step_size, double etaminus, double etaplus, double step_size_min,
    double step_size_max, int maximize)
{
    const FGD_T em = (FGD_T)etaminus, ep = (FGD_T)etaplus;
    const FGD_T smin = (FGD_T)step_size_min, smax = (FGD_T)step_size_max;
    FGD_CHUNKED(n, FGD_SUFFIX(fgd_rprop_range)(lo, hi, p, g, prev, step_size, em, ep, smin,
                                               smax, maximize));
}

FGD_CALL_ARGS(fgd_rprop, (param, grad, prev, step_size),
              (etaminus, etaplus, step_size_min, step_size_max), (maximize))
FGD_CALL(fgd_rprop)
{
    (void)dims;
    FGD_SUFFIX(fgd_rprop)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2], (FGD_T *)b[3],
                          s[0], s[1], s[2], s[3], f[0]);
}
