/* Low-precision parameters: bfloat16 <-> float32, to nearest even or stochastically.
 *
 * The specification is fastgd/reference/lowp.py (widen, narrow, hash32); these loops give
 * its bits. Integer operations only (the bits of a float read with memcpy), element-wise,
 * split between threads in contiguous chunks (FGD_CHUNKED): the result does not depend on
 * the thread count. The stochastic rounding's random number of element i depends only on
 * i and the key, so threads and chunk bounds do not change it either.
 * Included by fastgd.backends._core only (float16 goes through NumPy's conversions).
 * __attribute__((aligned)) below: GCC and Clang, the compilers setup.py supports.
 */
#ifndef FGD_LOWP_H
#define FGD_LOWP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fgd_parallel.h"
#include "kernels.h"

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

/* One step of an element-wise kernel on a bfloat16 parameter, chunk by chunk: each chunk of
 * FGD_LOWP_CHUNK elements of the parameter (and of a bfloat16 gradient) is widened into the
 * thread's float32 scratch, the float32 kernel runs on it with the state buffers at the
 * chunk's offset, and the chunk is rounded back (key < 0: to nearest even; otherwise
 * stochastically, element i's random number keyed on its index in the whole parameter).
 * The result is that of the whole float32 copy stepped at once and rounded: the kernel is
 * element-wise. Chunks are split statically between threads; the scratch is 2 x 16 KiB
 * of each thread's stack.
 *
 * b[0], b[1]: ignored (the float32 stand-ins' pointers); b[r >= 2]: float32 state buffers
 * of n elements, or NULL. g32 (float32) or g16 (bfloat16) is the gradient. */
#define FGD_LOWP_CHUNK 4096
#define FGD_LOWP_MAX_ROLES 32

static inline void fgd_lowp_chunk(fgd_kernel_fn fn, ptrdiff_t lo, ptrdiff_t hi, int n_roles,
                                  char *const *b, const double *s, const int *f,
                                  uint16_t *p16, const float *g32, const uint16_t *g16,
                                  int64_t key, float *pbuf, float *gbuf)
{
    char *local[FGD_LOWP_MAX_ROLES];
    const ptrdiff_t len = hi - lo;
    const ptrdiff_t dims[3] = {1, 1, len};
    fgd_bf16_widen_range(0, len, p16 + lo, pbuf);
    local[0] = (char *)pbuf;
    if (g16) {
        fgd_bf16_widen_range(0, len, g16 + lo, gbuf);
        local[1] = (char *)gbuf;
    } else {
        local[1] = (char *)(g32 + lo);
    }
    for (int r = 2; r < n_roles; ++r)
        local[r] = b[r] ? b[r] + lo * (ptrdiff_t)sizeof(float) : NULL;
    fn(len, dims, local, s, f);
    if (key < 0) {
        fgd_bf16_nearest_range(0, len, pbuf, p16 + lo);
    } else {
        /* A chunk starts at a multiple of FGD_LOWP_CHUNK, which divides 2^32: the high
         * half of the index is the same over the chunk, and the loop is 32-bit only. */
        const uint32_t kx = (uint32_t)key
                            ^ ((uint32_t)((uint64_t)lo >> 32) * UINT32_C(0x9e3779b9));
        const uint32_t base = (uint32_t)lo;
        uint16_t *FGD_RESTRICT out = p16 + lo;
        for (ptrdiff_t i = 0; i < len; ++i) {
            uint32_t bits;
            memcpy(&bits, pbuf + i, sizeof bits);
            const uint32_t r = fgd_hash32((base + (uint32_t)i) ^ kx) >> 16;
            out[i] = fgd_bf16_fix_nan(bits, (bits >> 16)
                                            + (r < (bits & UINT32_C(0xffff)) ? 1u : 0u));
        }
    }
}

static inline void fgd_lowp_run(fgd_kernel_fn fn, ptrdiff_t n, int n_roles, char *const *b,
                                const double *s, const int *f, uint16_t *p16,
                                const float *g32, const uint16_t *g16, int64_t key)
{
    const ptrdiff_t n_chunks = (n + FGD_LOWP_CHUNK - 1) / FGD_LOWP_CHUNK;
#ifdef _OPENMP
    const int nt = n >= fgd_parallel_min && n_chunks > 1 ? fgd_max_threads() : 1;
    if (nt > 1) {
#pragma omp parallel num_threads(nt)
        {
            float pbuf[FGD_LOWP_CHUNK] __attribute__((aligned(64)));
            float gbuf[FGD_LOWP_CHUNK] __attribute__((aligned(64)));
#pragma omp for schedule(static)
            for (ptrdiff_t c = 0; c < n_chunks; ++c) {
                const ptrdiff_t lo = c * FGD_LOWP_CHUNK;
                const ptrdiff_t hi = lo + FGD_LOWP_CHUNK < n ? lo + FGD_LOWP_CHUNK : n;
                fgd_lowp_chunk(fn, lo, hi, n_roles, b, s, f, p16, g32, g16, key, pbuf, gbuf);
            }
        }
        return;
    }
#endif
    {
        float pbuf[FGD_LOWP_CHUNK] __attribute__((aligned(64)));
        float gbuf[FGD_LOWP_CHUNK] __attribute__((aligned(64)));
        for (ptrdiff_t c = 0; c < n_chunks; ++c) {
            const ptrdiff_t lo = c * FGD_LOWP_CHUNK;
            const ptrdiff_t hi = lo + FGD_LOWP_CHUNK < n ? lo + FGD_LOWP_CHUNK : n;
            fgd_lowp_chunk(fn, lo, hi, n_roles, b, s, f, p16, g32, g16, key, pbuf, gbuf);
        }
    }
}

#endif /* FGD_LOWP_H */
