/*
 * Kernel bodies, included by fastgd_kernels.h once per element type with
 *   FGD_T          the element type (float or double),
 *   FGD_SUFFIX(x)  the name of x for that type (x_f32, x_f64),
 *   FGD_SQRT       the square root of that type.
 *
 * Each kernel has a *_range function, the loop over [lo, hi), and a public entry that
 * splits the buffer into ranges (FGD_CHUNKED). Flags that decide whether a state buffer
 * is written are passed to the range loop as literal constants, so that the compiler
 * emits one branch-free, vectorised loop per combination.
 */

#define FGD_INLINE static inline __attribute__((always_inline))
/* The public entries are kept out of line: inlined into the Cython wrappers, gcc loses
 * the restrict qualifiers of their parameters and the loops ran 2x slower (measured). */
#define FGD_KERNEL static __attribute__((noinline)) void
/* The table entry of a kernel (fgd_kernel_fn): n elements of the first buffer, its
 * (batch, rows, cols), the buffers in the order of their roles (NULL: absent), the real
 * scalars and the flags, each in the order fastgd/_checks.py declares them. It unpacks the
 * arguments and calls the kernel's public entry. */
#define FGD_CALL(name) static void FGD_SUFFIX(name##_call)(                                \
    ptrdiff_t n, const ptrdiff_t *dims, char *const *b, const double *s, const int *f)

/* torch.lerp: start + w*(end - start) for w < 0.5, else end - (end - start)*(1 - w). */
FGD_INLINE FGD_T FGD_SUFFIX(fgd_lerp)(FGD_T start, FGD_T end, FGD_T w, FGD_T one_minus_w)
{
    return w < (FGD_T)0.5 ? start + w * (end - start) : end - (end - start) * one_minus_w;
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

/* ---------------------------------------------------------------- SGD --- */

FGD_INLINE void FGD_SUFFIX(fgd_sgd_range)(
    ptrdiff_t lo, ptrdiff_t hi,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT buf,
    FGD_T neg_lr, FGD_T mom, FGD_T one_minus_damp, FGD_T wd,
    int use_wd, int maximize, int nesterov, const int use_momentum, const int first_step)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        FGD_T d = maximize ? -g[i] : g[i];
        FGD_T pi = p[i];
        if (use_wd) d = d + wd * pi;
        if (use_momentum) {
            FGD_T b = first_step ? d : buf[i] * mom + one_minus_damp * d;
            buf[i] = b;
            d = nesterov ? d + mom * b : b;
        }
        p[i] = pi + neg_lr * d;
    }
}

/* torch.optim.SGD for one tensor; buf may be NULL when momentum == 0. */
FGD_KERNEL FGD_SUFFIX(fgd_sgd)(
    ptrdiff_t n, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT buf,
    double lr, double momentum, double dampening, double weight_decay,
    int nesterov, int maximize, int first_step)
{
    const FGD_T neg_lr = (FGD_T)(-lr), mom = (FGD_T)momentum;
    const FGD_T one_minus_damp = (FGD_T)(1.0 - dampening), wd = (FGD_T)weight_decay;
    const int use_wd = weight_decay != 0.0;
#define FGD_SGD_CALL(UM, FS) FGD_SUFFIX(fgd_sgd_range)(lo, hi, p, g, buf, neg_lr, mom, \
        one_minus_damp, wd, use_wd, maximize, nesterov, UM, FS)
    if (momentum == 0.0)
        FGD_CHUNKED(n, FGD_SGD_CALL(0, 0));
    else if (first_step)
        FGD_CHUNKED(n, FGD_SGD_CALL(1, 1));
    else
        FGD_CHUNKED(n, FGD_SGD_CALL(1, 0));
#undef FGD_SGD_CALL
}

FGD_CALL(fgd_sgd)
{
    (void)dims;
    FGD_SUFFIX(fgd_sgd)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2], s[0], s[1], s[2],
                        s[3], f[0], f[1], f[2]);
}

/* --------------------------------------------------------------- Adam --- */

FGD_INLINE void FGD_SUFFIX(fgd_adam_range)(
    ptrdiff_t lo, ptrdiff_t hi,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT m,
    FGD_T *FGD_RESTRICT v, FGD_T *FGD_RESTRICT vmax,
    FGD_T w1, FGD_T one_minus_w1, FGD_T b2, FGD_T one_minus_b2, FGD_T bc2_sqrt, FGD_T eps,
    FGD_T neg_step_size, FGD_T wd, FGD_T decay,
    int l2_wd, int decoupled_wd, int maximize, const int amsgrad)
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
        FGD_T second = vi;
        if (amsgrad) {
            second = FGD_SUFFIX(fgd_max)(vmax[i], vi);
            vmax[i] = second;
        }
        const FGD_T denom = FGD_SQRT(second) / bc2_sqrt + eps;
        p[i] = pi + neg_step_size * mi / denom;
    }
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

FGD_CALL(fgd_adam)
{
    (void)dims;
    FGD_SUFFIX(fgd_adam)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2], (FGD_T *)b[3],
                         (FGD_T *)b[4], s[0], s[1], s[2], s[3], s[4], s[5], s[6], f[0], f[1],
                         f[2]);
}

/* ------------------------------------------------------------ Adagrad --- */

FGD_INLINE void FGD_SUFFIX(fgd_adagrad_range)(
    ptrdiff_t lo, ptrdiff_t hi,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT sum,
    FGD_T neg_clr, FGD_T eps, FGD_T wd, int use_wd, int maximize)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        FGD_T d = maximize ? -g[i] : g[i];
        const FGD_T pi = p[i];
        if (use_wd) d = d + wd * pi;
        const FGD_T si = sum[i] + d * d;
        sum[i] = si;
        p[i] = pi + neg_clr * d / (FGD_SQRT(si) + eps);
    }
}

/* torch.optim.Adagrad for one tensor; clr = lr / (1 + (step - 1) * lr_decay). */
FGD_KERNEL FGD_SUFFIX(fgd_adagrad)(
    ptrdiff_t n, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT sum,
    double clr, double eps, double weight_decay, int maximize)
{
    const FGD_T neg_clr = (FGD_T)(-clr), e = (FGD_T)eps, wd = (FGD_T)weight_decay;
    const int use_wd = weight_decay != 0.0;
    FGD_CHUNKED(n, FGD_SUFFIX(fgd_adagrad_range)(lo, hi, p, g, sum, neg_clr, e, wd, use_wd,
                                                 maximize));
}

FGD_CALL(fgd_adagrad)
{
    (void)dims;
    FGD_SUFFIX(fgd_adagrad)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2], s[0], s[1],
                            s[2], f[0]);
}

/* ------------------------------------------------------------ RMSprop --- */

FGD_INLINE void FGD_SUFFIX(fgd_rmsprop_range)(
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
            avg = FGD_SQRT(si + -ga * ga);
        } else {
            avg = FGD_SQRT(si);
        }
        avg = avg + eps;
        if (use_momentum) {
            const FGD_T b = buf[i] * mom + d / avg;
            buf[i] = b;
            p[i] = pi + neg_lr * b;
        } else {
            p[i] = pi + neg_lr * d / avg;
        }
    }
}

/* torch.optim.RMSprop for one tensor; gavg may be NULL unless centered, buf NULL unless
 * momentum > 0. */
FGD_KERNEL FGD_SUFFIX(fgd_rmsprop)(
    ptrdiff_t n, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT sq,
    FGD_T *FGD_RESTRICT gavg, FGD_T *FGD_RESTRICT buf,
    double lr, double alpha, double eps, double weight_decay, double momentum,
    int centered, int maximize)
{
    const FGD_T neg_lr = (FGD_T)(-lr), a = (FGD_T)alpha, one_minus_a = (FGD_T)(1.0 - alpha);
    const FGD_T one_minus_w = (FGD_T)1 - one_minus_a;
    const FGD_T e = (FGD_T)eps, mom = (FGD_T)momentum, wd = (FGD_T)weight_decay;
    const int use_wd = weight_decay != 0.0;
#define FGD_RMSPROP_CALL(C, M) FGD_SUFFIX(fgd_rmsprop_range)(lo, hi, p, g, sq, gavg, buf, \
        neg_lr, a, one_minus_a, one_minus_w, e, mom, wd, use_wd, maximize, C, M)
    if (centered) {
        if (momentum > 0.0) FGD_CHUNKED(n, FGD_RMSPROP_CALL(1, 1));
        else FGD_CHUNKED(n, FGD_RMSPROP_CALL(1, 0));
    } else {
        if (momentum > 0.0) FGD_CHUNKED(n, FGD_RMSPROP_CALL(0, 1));
        else FGD_CHUNKED(n, FGD_RMSPROP_CALL(0, 0));
    }
#undef FGD_RMSPROP_CALL
}

FGD_CALL(fgd_rmsprop)
{
    (void)dims;
    FGD_SUFFIX(fgd_rmsprop)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2], (FGD_T *)b[3],
                            (FGD_T *)b[4], s[0], s[1], s[2], s[3], s[4], f[0], f[1]);
}

/* ---------------------------------------------------- streaming limit --- */

FGD_INLINE void FGD_SUFFIX(fgd_stream_range)(
    ptrdiff_t lo, ptrdiff_t hi,
    FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT m,
    FGD_T *FGD_RESTRICT v)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        const FGD_T gi = g[i];
        p[i] = p[i] + gi;
        m[i] = m[i] + gi;
        v[i] = v[i] + gi;
    }
}

/* Not an optimizer: Adam's memory traffic (read p, g, m, v; write p, m, v) with trivial
 * arithmetic, split across threads like the kernels. The benchmarks time it as the
 * physical limit an element-wise Adam step can reach. */
FGD_KERNEL FGD_SUFFIX(fgd_stream)(
    ptrdiff_t n, FGD_T *FGD_RESTRICT p, const FGD_T *FGD_RESTRICT g, FGD_T *FGD_RESTRICT m,
    FGD_T *FGD_RESTRICT v)
{
    FGD_CHUNKED(n, FGD_SUFFIX(fgd_stream_range)(lo, hi, p, g, m, v));
}

FGD_CALL(fgd_stream)
{
    (void)dims; (void)s; (void)f;
    FGD_SUFFIX(fgd_stream)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2], (FGD_T *)b[3]);
}

/* Optimizer families, one file each (see "Adding a kernel" in fastgd_kernels.h). */
#include "kernels_adam_family.h"
#include "kernels_torch_other.h"
#include "kernels_optax.h"
#include "kernels_sophia_schedulefree.h"

#undef FGD_INLINE
#undef FGD_KERNEL
#undef FGD_CALL
