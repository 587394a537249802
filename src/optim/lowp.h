/* Low-precision parameters: bfloat16 <-> float32, to nearest even or stochastically.
 *
 * The specification is fastgd/reference/lowp.py (widen, narrow, hash32); these loops give
 * its bits. Integer operations only (the bits of a float read with memcpy), element-wise,
 * split between threads in contiguous chunks (FGD_CHUNKED): the result does not depend on
 * the thread count. The stochastic rounding's random number of element i depends only on
 * i and the key, so threads and chunk bounds do not change it either.
 * Included by fastgd.backends._core only (float16 goes through NumPy's conversions).
 */
#ifndef FGD_LOWP_H
#define FGD_LOWP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fgd_parallel.h"

static inline uint32_t fgd_hash32(uint32_t x)
{
    x ^= x >> 16;
    x *= UINT32_C(0x7feb352d);
    x ^= x >> 15;
    x *= UINT32_C(0x846ca68b);
    x ^= x >> 16;
    return x;
}

/* NaN becomes the quiet NaN of its sign; other patterns keep `rounded`. */
static inline uint16_t fgd_bf16_fix_nan(uint32_t bits, uint32_t rounded)
{
    if ((bits & UINT32_C(0x7fffffff)) > UINT32_C(0x7f800000))
        return (uint16_t)(((bits >> 16) & UINT32_C(0x8000)) | UINT32_C(0x7fc0));
    return (uint16_t)rounded;
}

static inline void fgd_bf16_widen_range(ptrdiff_t lo, ptrdiff_t hi,
                                        const uint16_t *FGD_RESTRICT src,
                                        float *FGD_RESTRICT dst)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        uint32_t u = (uint32_t)src[i] << 16;
        memcpy(dst + i, &u, sizeof u);
    }
}

static inline void fgd_bf16_nearest_range(ptrdiff_t lo, ptrdiff_t hi,
                                          const float *FGD_RESTRICT src,
                                          uint16_t *FGD_RESTRICT dst)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        uint32_t b;
        memcpy(&b, src + i, sizeof b);
        dst[i] = fgd_bf16_fix_nan(b, (b + UINT32_C(0x7fff) + ((b >> 16) & 1u)) >> 16);
    }
}

static inline void fgd_bf16_stochastic_range(ptrdiff_t lo, ptrdiff_t hi,
                                             const float *FGD_RESTRICT src,
                                             uint16_t *FGD_RESTRICT dst, uint32_t key)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        uint32_t b;
        memcpy(&b, src + i, sizeof b);
        const uint64_t ui = (uint64_t)i;
        const uint32_t x = (uint32_t)ui ^ key ^ ((uint32_t)(ui >> 32) * UINT32_C(0x9e3779b9));
        const uint32_t r = fgd_hash32(x) >> 16;
        dst[i] = fgd_bf16_fix_nan(b, (b >> 16) + (r < (b & UINT32_C(0xffff)) ? 1u : 0u));
    }
}

static inline void fgd_bf16_widen(ptrdiff_t n, const uint16_t *src, float *dst)
{
    FGD_CHUNKED(n, fgd_bf16_widen_range(lo, hi, src, dst));
}

/* key < 0: to nearest even; otherwise stochastically with the key's random numbers. */
static inline void fgd_bf16_narrow(ptrdiff_t n, const float *src, uint16_t *dst, int64_t key)
{
    if (key < 0)
        FGD_CHUNKED(n, fgd_bf16_nearest_range(lo, hi, src, dst));
    else
        FGD_CHUNKED(n, fgd_bf16_stochastic_range(lo, hi, src, dst, (uint32_t)key));
}

#endif /* FGD_LOWP_H */
