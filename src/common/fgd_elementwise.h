/*
 * Element-wise building blocks shared by the kernels, and the step formula.
 *
 * The step formula (once, whatever the element type): fgd_step_formula(beta, step, code)
 * is 1 - beta^step, or its square root for code 2; the compiled cores compute the per-step
 * scalars of fastgd.reference._declare.STEP_FORMULAS with it (fastgd.backends._core's
 * cached step, fastgd.backends._models' fused training loop), in double, with C's pow as
 * Python's float power.
 *
 * The rest is included by kernel_dtype.h once per element type and instruction set
 * (FGD_T, FGD_SUFFIX, FGD_INLINE defined): torch's lerp, maximum and sign, the
 * sum of squares in the reference's order, and optax's trust ratio.
 */
#ifndef FGD_ELEMENTWISE_H
#define FGD_ELEMENTWISE_H

#include <math.h>

static inline double fgd_step_formula(double beta, double step, int code)
{
    const double x = 1.0 - pow(beta, step);
    return code == 2 ? pow(x, 0.5) : x;
}

#endif /* FGD_ELEMENTWISE_H */

#ifdef FGD_T

/* torch.lerp: start + w*(end - start) for w < 0.5, else end - (end - start)*(1 - w), each
 * one multiply-add (FGD_MADD: fused in the FMA twins, as torch's vectorised lerp is); both
 * are computed and one is chosen, so that the loops vectorise where FGD_MADD is fmaf. */
FGD_INLINE FGD_T FGD_SUFFIX(fgd_lerp)(FGD_T start, FGD_T end, FGD_T w, FGD_T one_minus_w)
{
    const FGD_T diff = end - start;
    const FGD_T from_start = FGD_MADD(w, diff, start);
    const FGD_T from_end = FGD_MADD(-one_minus_w, diff, end);
    return w < (FGD_T)0.5 ? from_start : from_end;
}

/* a*b + c where cond holds, else c (FGD_MADD for torch's `x.add(y, alpha=a)` under a
 * run-time flag): the multiply-add is computed either way and then chosen, so that the
 * loop stays branch-free and vectorises also where FGD_MADD is a call (fmaf). */
FGD_INLINE FGD_T FGD_SUFFIX(fgd_madd_if)(int cond, FGD_T a, FGD_T b, FGD_T c)
{
    const FGD_T r = FGD_MADD(a, b, c);
    return cond ? r : c;
}

/* torch.maximum / numpy.maximum: NaN in either argument propagates. */
FGD_INLINE FGD_T FGD_SUFFIX(fgd_max)(FGD_T a, FGD_T b)
{
    return (a > b || a != a) ? a : b;
}

/* numpy.sign / torch.sign: -1, 0 or 1; sign(-0) = +0 and sign(NaN) = NaN. */
FGD_INLINE FGD_T FGD_SUFFIX(fgd_sign)(FGD_T x)
{
    return x > (FGD_T)0 ? (FGD_T)1 : x < (FGD_T)0 ? (FGD_T)-1 : x == x ? (FGD_T)0 : x;
}

/* Sum of squares of x[0..n) in double, in the order fastgd.reference.sum_of_squares
 * spells out: eight lanes, lane j adding x[i]^2 for i = j (mod 8) in index order, then
 * ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)). One thread, so the result is the same
 * for any thread count and on every backend. For per-tensor norms (LAMB, LARS, ...). */
FGD_INLINE double FGD_SUFFIX(fgd_sumsq)(ptrdiff_t n, const FGD_T *FGD_RESTRICT x)
{
    double l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; ++j) {
            const double v = (double)x[i + j];
            l[j] += v * v;
        }
    for (int j = 0; i + j < n; ++j) {
        const double v = (double)x[i + j];
        l[j] += v * v;
    }
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

/* torch.sign on the CPU: 1, -1 or 0, and 0 for NaN (numpy.sign would give NaN). */
FGD_INLINE FGD_T FGD_SUFFIX(fgd_torch_sign)(FGD_T x)
{
    return x > 0 ? (FGD_T)1 : (x < 0 ? (FGD_T)-1 : (FGD_T)0);
}

/* optax.scale_by_trust_ratio's factor from the sums of squares of the parameter and of the
 * update, in double: coef * ||p|| / (||u|| + eps), or 1 when either norm is zero. */
FGD_INLINE double FGD_SUFFIX(fgd_trust_ratio)(double param_sumsq, double update_sumsq,
                                              double coef, double eps)
{
    if (param_sumsq == 0.0 || update_sumsq == 0.0)
        return 1.0;
    return coef * sqrt(param_sumsq) / (sqrt(update_sumsq) + eps);
}

#endif /* FGD_T */
