/*
 * The streaming limit the benchmarks time (not an optimizer). Included by kernel_dtype.h
 * once per element type and instruction set (FGD_T, FGD_SUFFIX, FGD_SQRT, FGD_INLINE,
 * FGD_KERNEL, FGD_CALL are defined there).
 */

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

FGD_CALL_ARGS(fgd_stream, (param, grad, m, v), (), ())
FGD_CALL(fgd_stream)
{
    (void)dims; (void)s; (void)f;
    FGD_SUFFIX(fgd_stream)(n, (FGD_T *)b[0], (const FGD_T *)b[1], (FGD_T *)b[2], (FGD_T *)b[3]);
}
