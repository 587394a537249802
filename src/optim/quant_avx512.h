/*
 * The low-bit step's dequantizer and quantizer on 16 floats at a time, AVX-512F. The
 * 4-bit maps' tables are read with in-register permutes (vpermps), the 8-bit maps' by
 * byte permutes where the CPU has AVX-512 VBMI (the map) or by gathers (the map without
 * VBMI, and the split_table). Included by lowbit.h in the AVX-512 unit only. Measured in
 * cache on one thread: the 4-bit AdamW step 2.5 -> 1.5 ns per element with the permutes.
 *
 * The 4-bit code of x is the number of thresholds <= x (threshold[k], the least float32
 * of code k or more: fastgd.reference.lowbit.lookup_tables), found by a branch-free binary
 * search over the 15 thresholds in heap order in one register: node n (1 at the root)
 * holds threshold[(2 (n - 2^l) + 1) 2^(3 - l)] at level l, and n <- 2 n + (x >= node n)
 * four times ends at 16 + the code. A NaN compares false everywhere and gets code 0, as
 * fgd_quant_code gives it; every other x gets exactly fgd_quant_code's code (tested on
 * every backend and instruction set). As in quant_avx2.h, the search compares s itself
 * with the thresholds scaled to the block (fgd_qsearch_heap_of_s), sparing the division.
 */
#ifndef FGD_QUANT_AVX512_H
#define FGD_QUANT_AVX512_H

#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    float table[256];       /* the map, zero-padded */
    float heap[16];         /* 4-bit: the thresholds in heap order (entry 0 unused) */
    /* 4-bit: the rounding boundary below each of them, (pred(t) + t) / 2 exactly, in the
     * same order; used (scaled = 1) when every threshold is a float of magnitude 2^-100 to
     * 2^100 (the two 4-bit maps' are) */
    double boundary[16];
    int scaled;
    /* 8-bit, with AVX-512 VBMI (vbmi = 1): byte k of each code's float at plane[k][code],
     * for the byte permutes of fgd_qsearch_load8_vbmi_avx512 */
    uint8_t plane[4][256];
    int vbmi;
} fgd_qsearch;

static void fgd_qsearch_init(fgd_qsearch *q, const float *table, const float *threshold,
                             int ncodes, int vbmi)
{
    memset(q, 0, sizeof *q);
    memcpy(q->table, table, sizeof(float) * (size_t)ncodes);
    q->vbmi = vbmi && ncodes == 256;
    for (int c = 0; q->vbmi && c < 256; ++c) {
        uint32_t u;
        memcpy(&u, q->table + c, sizeof u);
        for (int k = 0; k < 4; ++k)
            q->plane[k][c] = (uint8_t)(u >> (8 * k));
    }
    if (ncodes != 16)
        return;  /* the 8-bit maps: fgd_qsearch_store8 */
    q->scaled = 1;
    for (int n = 1; n < 16; ++n) {
        int l = 0;
        while ((2 << l) <= n)
            ++l;
        const float t = threshold[(2 * (n - (1 << l)) + 1) << (3 - l)];
        q->heap[n] = t;
        if (!fgd_quant_boundary(t, &q->boundary[n]))
            q->scaled = 0;
    }
}

/* The thresholds of s itself for a block of absmax `scale` (positive and finite), in heap
 * order: T_n, the least float32 s with s / scale >= heap[n] after rounding, so that s >= T_n
 * exactly where the code of s / scale counts that threshold (as quant_avx2.h's
 * fgd_qsearch_scale, which gives the argument): the rounded quotient reaches t exactly
 * where the exact one reaches t's rounding boundary b, that is where s >= b * scale, a
 * product exact in double, and T_n is it rounded toward +inf to a float32 (one conversion
 * with that rounding). */
static inline __attribute__((always_inline)) __m512
fgd_qsearch_heap_of_s(const fgd_qsearch *q, float scale)
{
    const __m512d sc = _mm512_set1_pd((double)scale);
    const __m256 lo = _mm512_cvt_roundpd_ps(_mm512_mul_pd(_mm512_loadu_pd(q->boundary), sc),
                                            _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC);
    const __m256 hi = _mm512_cvt_roundpd_ps(_mm512_mul_pd(_mm512_loadu_pd(q->boundary + 8), sc),
                                            _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC);
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(lo)),
                                               _mm256_castps_pd(hi), 1));
}

/* The 4-bit codes of 16 values x against thresholds h in heap order: int32 lanes 16 + the
 * code (the low 4 bits are the code; vpermps reads only the low 4 bits of n as well). The
 * root's compare is with a broadcast: n = 2 or 3 after it. */
static inline __attribute__((always_inline)) __m512i
fgd_qsearch_codes(__m512 h, __m512 root, __m512 x)
{
    const __m512i one = _mm512_set1_epi32(1);
    __m512i n = _mm512_mask_blend_epi32(_mm512_cmp_ps_mask(x, root, _CMP_GE_OQ),
                                        _mm512_set1_epi32(2), _mm512_set1_epi32(3));
    for (int l = 1; l < 4; ++l) {
        const __mmask16 ge = _mm512_cmp_ps_mask(x, _mm512_permutexvar_ps(n, h), _CMP_GE_OQ);
        n = _mm512_add_epi32(n, n);
        n = _mm512_mask_add_epi32(n, ge, n, one);
    }
    return n;
}

/* The 8-bit dequantizer by byte permutes (AVX-512 VBMI): s[i] = table[codes[i]] * scale
 * for i < n16 (a multiple of 16), the same bits as the gathers of fgd_qsearch_load. 64
 * codes at a time: each byte plane of the map is a 256-entry byte table, read by two
 * vpermi2b (128 entries each) and a blend on the code's top bit; the four planes are
 * interleaved into floats by byte then word unpacks, which work within 128-bit lanes, so
 * the codes are first put in the order (vpermb) that makes the unpacks give the floats in
 * element order. Not inlined: its target has VBMI, which the rest of the AVX-512F unit
 * must not need (named _avx512, as tools/build_wheel.sh wants of every function with
 * vector instructions); called once a block where fgd_qsearch.vbmi says the CPU has it
 * (set by fastgd.backends._core: lowbit_vbmi). Measured on an AMD EPYC Zen 4, one thread,
 * values in L1: 0.14 ns a value against 0.36 for the gather; the 8-bit AdamW step on 2^24
 * elements, the two alternated in one process, 46.4 -> 40.6 ms on one thread and
 * 23.4 -> 20.0 ms on two. */
__attribute__((target("avx512f,avx512bw,avx512vbmi"), noinline)) static void
fgd_qsearch_load8_vbmi_avx512(const uint8_t *codes, ptrdiff_t n16,
                              const fgd_qsearch *q, float scale, float *s)
{
    /* byte 16L + 4w + r of the reordered codes is code 16w + 4L + r (lane L, output w) */
    static const uint8_t order[64] = {
        0, 1, 2, 3, 16, 17, 18, 19, 32, 33, 34, 35, 48, 49, 50, 51,
        4, 5, 6, 7, 20, 21, 22, 23, 36, 37, 38, 39, 52, 53, 54, 55,
        8, 9, 10, 11, 24, 25, 26, 27, 40, 41, 42, 43, 56, 57, 58, 59,
        12, 13, 14, 15, 28, 29, 30, 31, 44, 45, 46, 47, 60, 61, 62, 63};
    const __m512i perm = _mm512_loadu_si512((const void *)order);
    const __m512 sc = _mm512_set1_ps(scale);
    __m512i t[4][4];
    for (int k = 0; k < 4; ++k)
        for (int h = 0; h < 4; ++h)
            t[k][h] = _mm512_loadu_si512((const void *)(q->plane[k] + 64 * h));
    for (ptrdiff_t i = 0; i < n16; i += 64) {
        const ptrdiff_t left = n16 - i;
        const __mmask64 in = left >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << left) - 1);
        const __m512i c = _mm512_permutexvar_epi8(perm, _mm512_maskz_loadu_epi8(in, codes + i));
        const __mmask64 high = _mm512_movepi8_mask(c);
        __m512i b[4];
        for (int k = 0; k < 4; ++k)
            b[k] = _mm512_mask_blend_epi8(high, _mm512_permutex2var_epi8(t[k][0], c, t[k][1]),
                                          _mm512_permutex2var_epi8(t[k][2], c, t[k][3]));
        const __m512i lo01 = _mm512_unpacklo_epi8(b[0], b[1]);
        const __m512i hi01 = _mm512_unpackhi_epi8(b[0], b[1]);
        const __m512i lo23 = _mm512_unpacklo_epi8(b[2], b[3]);
        const __m512i hi23 = _mm512_unpackhi_epi8(b[2], b[3]);
        const __m512i f[4] = {_mm512_unpacklo_epi16(lo01, lo23),
                              _mm512_unpackhi_epi16(lo01, lo23),
                              _mm512_unpacklo_epi16(hi01, hi23),
                              _mm512_unpackhi_epi16(hi01, hi23)};
        const int whole = left >= 64 ? 4 : (int)(left / 16);
        for (int w = 0; w < whole; ++w)
            _mm512_storeu_ps(s + i + 16 * w, _mm512_mul_ps(_mm512_castsi512_ps(f[w]), sc));
    }
}

/* s[i] = table[code i] * scale for i < n16 (a multiple of 16), codes from element 0 of
 * `codes` (8 bits) or of the packed bytes (4 bits: `codes` at the block's first byte).
 * The 256-entry table is read by a gather (in L1): measured faster than the permutes
 * (the 8-bit AdamW step, 2^24 elements, one thread: 33.5 -> 29.8 ms). */
static inline __attribute__((always_inline)) void
fgd_qsearch_load(int bits, const uint8_t *codes, ptrdiff_t n16, const fgd_qsearch *q,
                 float scale, float *s)
{
    const __m512 sc = _mm512_set1_ps(scale);
    if (bits == 8 && q->vbmi) {
        fgd_qsearch_load8_vbmi_avx512(codes, n16, q, scale, s);
    } else if (bits == 8) {
        for (ptrdiff_t i = 0; i < n16; i += 16) {
            const __m512i c = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(codes + i)));
            _mm512_storeu_ps(s + i, _mm512_mul_ps(_mm512_i32gather_ps(c, q->table, 4), sc));
        }
    } else {
        /* the 16 values times scale once a block (the same products as per element) */
        const __m512 t = _mm512_mul_ps(_mm512_loadu_ps(q->table), sc);
        const __m128i low4 = _mm_set1_epi8(0x0F);
        for (ptrdiff_t i = 0; i < n16; i += 16) {
            const __m128i b = _mm_loadl_epi64((const __m128i *)(codes + i / 2));
            const __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), low4);
            const __m128i lo = _mm_and_si128(b, low4);
            const __m512i c = _mm512_cvtepu8_epi32(_mm_unpacklo_epi8(hi, lo));
            _mm512_storeu_ps(s + i, _mm512_permutexvar_ps(c, t));
        }
    }
}

/* s[0..16) times r, rounded once to float32 (FGD_DIVC on 16 values). */
static inline __attribute__((always_inline)) __m512
fgd_qsearch_normalise(const float *s, __m512d r)
{
    const __m512 y = _mm512_loadu_ps(s);
    const __m256 ylo = _mm512_castps512_ps256(y);
    const __m256 yhi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(y), 1));
    const __m256 xlo = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtps_pd(ylo), r));
    const __m256 xhi = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtps_pd(yhi), r));
    return _mm512_castpd_ps(_mm512_insertf64x4(
        _mm512_castps_pd(_mm512_castps256_ps512(xlo)), _mm256_castps_pd(xhi), 1));
}

/* The 8-bit codes of s[0..n16) / scale, from the first byte of `codes`: x = s / scale as
 * FGD_DIVC computes it (the double reciprocal r = 1 / scale, one rounding: x's bits where
 * x is normal, and where it is not, a value of the same sign below every threshold, so the
 * same code), then fgd_quant_code's code from one gathered word per value of the map's
 * split_table (fastgd.reference.lowbit): the candidate code in its low byte, and above it
 * the least key of the bucket's values with the next code, a value's key being its low
 * 16 bits, complemented for a negative value. A NaN keeps the candidate code, as
 * fgd_quant_code gives it. Measured on one thread, 2^24 elements: the 8-bit AdamW step
 * 29.8 -> 23.1 ms against gathering from the byte table, then the threshold of the code
 * found (two dependent gathers). */
static inline __attribute__((always_inline)) void
fgd_qsearch_store8(uint8_t *codes, ptrdiff_t n16, const float *s, double r,
                   const uint32_t *split)
{
    const __m512d rv = _mm512_set1_pd(r);
    const __m512i low8 = _mm512_set1_epi32(0xFF), low16 = _mm512_set1_epi32(0xFFFF);
    const __m512i one = _mm512_set1_epi32(1);
    for (ptrdiff_t i = 0; i < n16; i += 16) {
        const __m512 x = fgd_qsearch_normalise(s + i, rv);
        const __m512i u = _mm512_castps_si512(x);
        const __m512i e = _mm512_i32gather_epi32(_mm512_srli_epi32(u, 16),
                                                 (const void *)split, 4);
        const __m512i key = _mm512_xor_si512(_mm512_and_si512(u, low16),
                                             _mm512_srli_epi32(_mm512_srai_epi32(u, 31), 16));
        const __mmask16 up = _mm512_cmp_epu32_mask(key, _mm512_srli_epi32(e, 8),
                                                   _MM_CMPINT_NLT)
                             & _mm512_cmp_ps_mask(x, x, _CMP_ORD_Q);
        const __m512i c = _mm512_mask_add_epi32(_mm512_and_si512(e, low8), up,
                                                _mm512_and_si512(e, low8), one);
        _mm_storeu_si128((__m128i *)(codes + i), _mm512_cvtepi32_epi8(c));
    }
}

/* 16 4-bit codes (the low 4 bits of int32 lanes) packed into 8 bytes at `out`, the even
 * element in the high nibble: in each 64-bit lane (even, odd), (lane << 4) | (odd & 15),
 * whose low byte vpmovqb keeps. */
static inline __attribute__((always_inline)) void
fgd_qsearch_pack16(uint8_t *out, __m512i n)
{
    /* 0xF8: a | (b & c) */
    const __m512i pair = _mm512_ternarylogic_epi64(_mm512_slli_epi64(n, 4),
                                                   _mm512_srli_epi64(n, 32),
                                                   _mm512_set1_epi64(15), 0xF8);
    _mm_storel_epi64((__m128i *)out, _mm512_cvtepi64_epi8(pair));
}

/* The 4-bit codes of s[0..n16) / scale, packed from the first byte of `codes`: by the
 * thresholds of s (fgd_qsearch_heap_of_s) where the map allows and scale is finite, else
 * of x = s / scale normalised as fgd_qsearch_store8 does (by 1 / scale). Measured on an
 * AMD EPYC Zen 4, one thread, 2^24 elements, against the AVX2 kernels alternated in one
 * process: the 4-bit AdamW step 1.09 of their time when each value was normalised for a
 * level-by-level search (and dequantized with a multiply per value), 0.98 now. */
static inline __attribute__((always_inline)) void
fgd_qsearch_store4(uint8_t *codes, ptrdiff_t n16, const fgd_qsearch *q, const float *s,
                   float scale)
{
    if (q->scaled && scale <= FLT_MAX) {   /* scale > 0 here; NaN and inf fail */
        const __m512 h = fgd_qsearch_heap_of_s(q, scale);
        const __m512 root = _mm512_permutexvar_ps(_mm512_set1_epi32(1), h);
        for (ptrdiff_t i = 0; i < n16; i += 16)
            fgd_qsearch_pack16(codes + i / 2,
                               fgd_qsearch_codes(h, root, _mm512_loadu_ps(s + i)));
        return;
    }
    const __m512d rv = _mm512_set1_pd(FGD_RECIP(scale));
    const __m512 h = _mm512_loadu_ps(q->heap);
    const __m512 root = _mm512_set1_ps(q->heap[1]);
    for (ptrdiff_t i = 0; i < n16; i += 16)
        fgd_qsearch_pack16(codes + i / 2,
                           fgd_qsearch_codes(h, root, fgd_qsearch_normalise(s + i, rv)));
}

#endif /* FGD_QUANT_AVX512_H */
