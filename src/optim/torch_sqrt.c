/*
 * torch's float32 square root on a CPU with AVX-512F, for the AVX-512 fused multiply-add
 * twin (kernels_avx512_fma.c, FGD_SQRT there). torch.sqrt runs MKL's vsSqrt, whose AVX-512
 * code is not correctly rounded: for every positive normal x it is the AVX-512 14-bit
 * reciprocal square root estimate y refined once with fused multiply-add,
 *     s + (x - s*s) * (y/2)   where s = x*y,
 * and the correctly rounded square root elsewhere (zero, subnormals, infinity, NaN,
 * negatives). Checked against torch on 1.5 million inputs across the exponent range, at
 * every tail length and offset: the same bits. (MKL's AVX2 code is correctly rounded, so
 * the AVX2 and baseline twins keep sqrtf.)
 *
 * The twin declares fgd_torch_sqrt_f32_avx512 with gcc's simd attribute, so that its loops
 * vectorise and call the vector versions below by the x86-64 vector function ABI names
 * (_ZGV<isa>N<lanes>v_<name>); they are defined here, in a unit of their own, so that gcc
 * does not make clones of its own. Every version computes with the 16-lane AVX-512F code,
 * so they all give the same bits.
 */
#include "fgd_isa.h"

#if FGD_HAVE_X86_VARIANTS
#include <float.h>
#include <immintrin.h>

#pragma GCC push_options
#pragma GCC target("avx512f,fma")

static inline __m512 fgd_torch_sqrt16_avx512(__m512 x)
{
    const __m512 y = _mm512_rsqrt14_ps(x);
    const __m512 s = _mm512_mul_ps(x, y);
    const __m512 h = _mm512_mul_ps(_mm512_set1_ps(0.5f), y);
    const __m512 refined = _mm512_fmadd_ps(_mm512_fnmadd_ps(s, s, x), h, s);
    const __mmask16 normal =
        _mm512_cmp_ps_mask(x, _mm512_set1_ps(FLT_MIN), _CMP_GE_OQ)
        & _mm512_cmp_ps_mask(x, _mm512_set1_ps(FLT_MAX), _CMP_LE_OQ);
    return _mm512_mask_blend_ps(normal, _mm512_sqrt_ps(x), refined);
}

FGD_HIDDEN float fgd_torch_sqrt_f32_avx512(float x)
{
    return _mm512_cvtss_f32(fgd_torch_sqrt16_avx512(_mm512_set1_ps(x)));
}

/* The vector function ABI's versions: 'b' SSE (4 lanes, xmm), 'c' AVX and 'd' AVX2 (8
 * lanes, ymm), 'e' AVX-512 (16 lanes, zmm); not-in-branch, one vector argument. */
FGD_HIDDEN __m128 _ZGVbN4v_fgd_torch_sqrt_f32_avx512(__m128 x)
{
    return _mm512_castps512_ps128(fgd_torch_sqrt16_avx512(_mm512_castps128_ps512(x)));
}

FGD_HIDDEN __m256 _ZGVcN8v_fgd_torch_sqrt_f32_avx512(__m256 x)
{
    return _mm512_castps512_ps256(fgd_torch_sqrt16_avx512(_mm512_castps256_ps512(x)));
}

FGD_HIDDEN __m256 _ZGVdN8v_fgd_torch_sqrt_f32_avx512(__m256 x)
{
    return _mm512_castps512_ps256(fgd_torch_sqrt16_avx512(_mm512_castps256_ps512(x)));
}

FGD_HIDDEN __m512 _ZGVeN16v_fgd_torch_sqrt_f32_avx512(__m512 x)
{
    return fgd_torch_sqrt16_avx512(x);
}

#pragma GCC pop_options
#endif
