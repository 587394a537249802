/*
 * The low-bit step's dequantizer and quantizer on 8 floats at a time, AVX2: the same
 * codes and values as quant_avx512.h and fgd_quant_code (tested on every backend and
 * instruction set), for the machines without AVX-512 (AMD's Zen 2 and 3, Intel's client
 * cores). The 4-bit maps' tables are read with in-register permutes (vpermps); the 8-bit
 * maps' (the map, and its split_table) by scalar loads, which on Zen 3 take less time than
 * AVX2's gathers. Included by lowbit.h in the AVX2 unit only.
 *
 * The 4-bit quantizer compares s itself with thresholds scaled to the block
 * (fgd_qsearch_scale), which spares the division by absmax: the 4-bit step 9 % faster
 * (paired, in cache and 2^22 elements) than normalising each value first.
 *
 * Measured on an AMD EPYC (Zen 3), one thread, 2^24 elements, the fused step alone
 * (fastgd.backends' lowbit_step): 8-bit 58.6 -> 52.7 ms, 4-bit 51.5 -> 42.4 ms against
 * lowbit.h's scalar loops (38 ms with the scaled thresholds), the float32 AdamW step
 * taking 18-25 ms.
 */
#ifndef FGD_QUANT_AVX2_H
#define FGD_QUANT_AVX2_H

#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    float table[256];       /* the map, zero-padded */
    float quarter[3][8];    /* 4-bit: threshold[4q + 1 + j] at quarter[j][q], q < 4 */
    float edge[3];          /* 4-bit: threshold[4], [8], [12] */
    /* 4-bit: the rounding boundary below each threshold, (pred(t) + t) / 2 exactly, in
     * the order [1 5 9 13 | 2 6 10 14 | 3 7 11 15 | 4 8 12 -]; used (scaled = 1) when
     * every threshold is a float of magnitude 2^-100 or more (the four maps' are) */
    double boundary[16];
    int scaled;
} fgd_qsearch;

/* The 4-bit search's thresholds as vectors: quarter[j] lanes 0-3, edge[j] broadcast. */
typedef struct {
    __m256 quarter[3], edge[3];
} fgd_qsearch_vectors;

static void fgd_qsearch_init(fgd_qsearch *q, const float *table, const float *threshold,
                             int ncodes, int vbmi)
{
    (void)vbmi;  /* an AVX-512 dequantizer's (quant_avx512.h) */
    memset(q, 0, sizeof *q);
    memcpy(q->table, table, sizeof(float) * (size_t)ncodes);
    if (ncodes != 16)
        return;  /* the 8-bit maps search by the split_table */
    for (int j = 0; j < 3; ++j) {
        q->edge[j] = threshold[4 * (j + 1)];
        for (int k = 0; k < 4; ++k)
            q->quarter[j][k] = threshold[4 * k + 1 + j];
    }
    q->scaled = 1;
    for (int k = 1; k < 16; ++k) {
        const int slot = k % 4 ? 4 * (k % 4 - 1) + k / 4 : 12 + k / 4 - 1;
        if (!fgd_quant_boundary(threshold[k], &q->boundary[slot])) {
            q->scaled = 0;
            break;
        }
    }
}

/* The unscaled thresholds (those of x = s / scale) as vectors. */
static inline __attribute__((always_inline)) void
fgd_qsearch_unscaled(const fgd_qsearch *q, fgd_qsearch_vectors *v)
{
    for (int j = 0; j < 3; ++j) {
        v->quarter[j] = _mm256_loadu_ps(q->quarter[j]);
        v->edge[j] = _mm256_set1_ps(q->edge[j]);
    }
}

/* The thresholds of s itself for a block of absmax `scale` (positive and finite): T_k, the
 * least float32 s with s / scale >= threshold[k] after rounding, so that s >= T_k exactly
 * where the code of s / scale counts threshold k (quantizing s needs no division then).
 * The rounded quotient reaches t = threshold[k] exactly where the exact quotient reaches
 * t's rounding boundary b = (pred(t) + t) / 2 (a quotient of two float32 values is never
 * a float32 midpoint, so ties do not arise), that is where s >= b * scale; that product is
 * exact in double (25 and 24 significant bits), and T_k is it rounded up to a float32. A
 * quotient too small to be a normal float compares with every threshold as 0 of its sign,
 * since no threshold is below 2^-100 in magnitude: so does s with T_k. */
static inline __attribute__((always_inline)) void
fgd_qsearch_scale(const fgd_qsearch *q, float scale, fgd_qsearch_vectors *v)
{
    const __m256d sc = _mm256_set1_pd((double)scale);
    __m128 t[4];
    for (int g = 0; g < 4; ++g) {
        const __m256d p = _mm256_mul_pd(_mm256_loadu_pd(q->boundary + 4 * g), sc);
        const __m128 c = _mm256_cvtpd_ps(p);                      /* nearest */
        const __m256 below = _mm256_castpd_ps(_mm256_cmp_pd(_mm256_cvtps_pd(c), p,
                                                            _CMP_LT_OQ));
        /* the 64-bit masks' low halves: the lanes rounded down, which go one float up
         * (+1 on the bits of a positive value or +0, -1 on a negative one; -0 is never
         * below p, which is not 0) */
        const __m128i up = _mm_castps_si128(_mm_shuffle_ps(
            _mm256_castps256_ps128(below), _mm256_extractf128_ps(below, 1),
            _MM_SHUFFLE(2, 0, 2, 0)));
        const __m128i bits = _mm_castps_si128(c);
        const __m128i step = _mm_or_si128(_mm_srai_epi32(bits, 31), _mm_set1_epi32(1));
        t[g] = _mm_castsi128_ps(_mm_add_epi32(bits, _mm_and_si128(up, step)));
    }
    for (int j = 0; j < 3; ++j)
        v->quarter[j] = _mm256_castps128_ps256(t[j]);  /* lanes 4-7 are never read */
    v->edge[0] = _mm256_broadcastss_ps(t[3]);
    v->edge[1] = _mm256_broadcastss_ps(_mm_shuffle_ps(t[3], t[3], _MM_SHUFFLE(1, 1, 1, 1)));
    v->edge[2] = _mm256_broadcastss_ps(_mm_shuffle_ps(t[3], t[3], _MM_SHUFFLE(2, 2, 2, 2)));
}

/* The 4-bit codes (int32 lanes) of 8 values against thresholds v: the quarter q of the
 * code by three compares with threshold[4], [8] and [12], then the code within it by three
 * compares with threshold[4q + 1..3] (read by permutes). Thresholds ascend, so each is the
 * number of thresholds <= x, as the binary search of quant_avx512.h counts; a NaN compares
 * false everywhere and gets code 0. Six independent compares instead of a chain of four. */
static inline __attribute__((always_inline)) __m256i
fgd_qsearch_codes(const fgd_qsearch_vectors *v, __m256 x)
{
    /* compare masks are -1: their sums are minus the counts */
    __m256i neg_q = _mm256_add_epi32(
        _mm256_castps_si256(_mm256_cmp_ps(x, v->edge[0], _CMP_GE_OQ)),
        _mm256_castps_si256(_mm256_cmp_ps(x, v->edge[1], _CMP_GE_OQ)));
    neg_q = _mm256_add_epi32(neg_q, _mm256_castps_si256(
        _mm256_cmp_ps(x, v->edge[2], _CMP_GE_OQ)));
    const __m256i quarter = _mm256_sub_epi32(_mm256_setzero_si256(), neg_q);
    __m256i neg_r = _mm256_setzero_si256();
    for (int j = 0; j < 3; ++j) {
        const __m256 t = _mm256_permutevar8x32_ps(v->quarter[j], quarter);
        neg_r = _mm256_add_epi32(neg_r, _mm256_castps_si256(_mm256_cmp_ps(x, t, _CMP_GE_OQ)));
    }
    return _mm256_sub_epi32(_mm256_slli_epi32(quarter, 2), neg_r);
}

/* The 8 codes of 8 int32 lanes (each < 256), as 8 bytes in lane order. */
static inline __attribute__((always_inline)) __m128i
fgd_qsearch_bytes(__m256i c)
{
    const __m256i pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                          -1, -1, -1, 0, 4, 8, 12, -1, -1, -1, -1, -1, -1,
                                          -1, -1, -1, -1, -1, -1);
    const __m256i b = _mm256_shuffle_epi8(c, pick);
    return _mm_unpacklo_epi32(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1));
}

/* s[i] = table[code i] * scale for i < n16 (a multiple of 16), codes from element 0 of
 * `codes` (8 bits) or of the packed bytes (4 bits: `codes` at the block's first byte). */
static inline __attribute__((always_inline)) void
fgd_qsearch_load(int bits, const uint8_t *codes, ptrdiff_t n16, const fgd_qsearch *q,
                 float scale, float *s)
{
    const __m256 sc = _mm256_set1_ps(scale);
    if (bits == 8) {
        /* eight scalar loads of the table: on Zen 3 a vector gather of 8 takes longer
         * (measured, 2^24 codes: 4.6 ms against 8.6) */
        for (ptrdiff_t i = 0; i < n16; i += 8) {
            uint64_t w;
            memcpy(&w, codes + i, sizeof w);
            const float *t = q->table;
            const __m128 lo = _mm_setr_ps(t[w & 255], t[(w >> 8) & 255], t[(w >> 16) & 255],
                                          t[(w >> 24) & 255]);
            const __m128 hi = _mm_setr_ps(t[(w >> 32) & 255], t[(w >> 40) & 255],
                                          t[(w >> 48) & 255], t[w >> 56]);
            _mm256_storeu_ps(s + i, _mm256_mul_ps(_mm256_set_m128(hi, lo), sc));
        }
    } else {
        /* the 16 values times scale once per block (the same products as per element),
         * then 16 codes a time from 8 bytes */
        const __m256 t0 = _mm256_mul_ps(_mm256_loadu_ps(q->table), sc);
        const __m256 t1 = _mm256_mul_ps(_mm256_loadu_ps(q->table + 8), sc);
        const __m128i low4 = _mm_set1_epi8(0x0F);
        for (ptrdiff_t i = 0; i < n16; i += 16) {
            const __m128i b = _mm_loadl_epi64((const __m128i *)(codes + i / 2));
            const __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), low4);
            const __m128i lo = _mm_and_si128(b, low4);
            const __m128i c16 = _mm_unpacklo_epi8(hi, lo);   /* the 16 codes in order */
            for (int h = 0; h < 2; ++h) {
                const __m256i c = _mm256_cvtepu8_epi32(h ? _mm_srli_si128(c16, 8) : c16);
                /* code c: t0[c] below 8, t1[c - 8] from 8 (vpermps reads the low 3 bits) */
                const __m256 upper = _mm256_castsi256_ps(_mm256_slli_epi32(c, 28));
                _mm256_storeu_ps(s + i + 8 * h,
                                 _mm256_blendv_ps(_mm256_permutevar8x32_ps(t0, c),
                                                  _mm256_permutevar8x32_ps(t1, c), upper));
            }
        }
    }
}

/* s[0..8) times r, rounded once to float32 (FGD_DIVC on 8 values). */
static inline __attribute__((always_inline)) __m256
fgd_qsearch_normalise(const float *s, __m256d r)
{
    const __m128 xlo = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(s)), r));
    const __m128 xhi = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(s + 4)), r));
    return _mm256_set_m128(xhi, xlo);
}

/* The 8-bit codes of s[0..n16) / scale (quant_avx512.h's fgd_qsearch_store8: x as
 * FGD_DIVC computes it, then one word of the split_table per value: the candidate code in
 * its low byte, the least key of the next code above it; a NaN keeps the candidate), from
 * the first byte of `codes`. In runs of up to 64 values: x's bits into a buffer, the words
 * read by scalar loads (on Zen 3, measured on 2^24 values: 10.6 ms against 13.0 by vector
 * gathers), then the codes 8 at a time. */
static inline __attribute__((always_inline)) void
fgd_qsearch_store8(uint8_t *codes, ptrdiff_t n16, const float *s, double r,
                   const uint32_t *split)
{
    const __m256d rv = _mm256_set1_pd(r);
    const __m256i low8 = _mm256_set1_epi32(0xFF), low16 = _mm256_set1_epi32(0xFFFF);
    uint32_t u[64], e[64];
    for (ptrdiff_t lo = 0; lo < n16; lo += 64) {
        const int run = n16 - lo < 64 ? (int)(n16 - lo) : 64;
        for (int i = 0; i < run; i += 8)
            _mm256_storeu_si256((__m256i *)(u + i),
                                _mm256_castps_si256(fgd_qsearch_normalise(s + lo + i, rv)));
        for (int i = 0; i < run; ++i)
            e[i] = split[u[i] >> 16];
        for (int i = 0; i < run; i += 8) {
            const __m256i ui = _mm256_loadu_si256((const __m256i *)(u + i));
            const __m256i ei = _mm256_loadu_si256((const __m256i *)(e + i));
            const __m256i key = _mm256_xor_si256(_mm256_and_si256(ui, low16),
                                                 _mm256_srli_epi32(_mm256_srai_epi32(ui, 31), 16));
            /* key and e >> 8 are below 2^24: the signed compare orders them */
            const __m256i below = _mm256_cmpgt_epi32(_mm256_srli_epi32(ei, 8), key);
            const __m256 x = _mm256_castsi256_ps(ui);
            const __m256i ordered = _mm256_castps_si256(_mm256_cmp_ps(x, x, _CMP_ORD_Q));
            const __m256i up = _mm256_andnot_si256(below, ordered);   /* all ones: code + 1 */
            const __m256i c = _mm256_sub_epi32(_mm256_and_si256(ei, low8), up);
            _mm_storel_epi64((__m128i *)(codes + lo + i), fgd_qsearch_bytes(c));
        }
    }
}

/* 16 4-bit codes e0..e15 (two vectors) packed into 8 bytes at `out`, the even element
 * in the high nibble: paired by one multiply-add (16 * even + odd), then packed. */
static inline __attribute__((always_inline)) void
fgd_qsearch_pack16(uint8_t *out, __m256i c0, __m256i c1)
{
    const __m256i even_odd = _mm256_set1_epi32(0x00010010);   /* int16 pairs (16, 1) */
    /* int16, per 128-bit half: e0-e3 e8-e11 | e4-e7 e12-e15 */
    const __m256i w = _mm256_packus_epi32(c0, c1);
    /* int32: the bytes b01 b23 b89 b10,11 | b45 b67 b12,13 b14,15 (bjk = 16 ej + ek) */
    const __m256i pairs = _mm256_madd_epi16(w, even_odd);
    /* dword 0 of each half: its four bytes */
    const __m256i b = _mm256_packus_epi16(_mm256_packus_epi32(pairs, pairs),
                                          _mm256_setzero_si256());
    /* their 16-bit halves interleaved: b01 b23 b45 b67 b89 b10,11 b12,13 b14,15 */
    _mm_storel_epi64((__m128i *)out, _mm_unpacklo_epi16(_mm256_castsi256_si128(b),
                                                        _mm256_extracti128_si256(b, 1)));
}

/* The 4-bit codes of s[0..n16) / scale, packed from the first byte of `codes`: by the
 * thresholds of s (fgd_qsearch_scale) where the map allows and scale is finite, else of
 * x = s / scale normalised as fgd_qsearch_store8 does (by 1 / scale). */
static inline __attribute__((always_inline)) void
fgd_qsearch_store4(uint8_t *codes, ptrdiff_t n16, const fgd_qsearch *q, const float *s,
                   float scale)
{
    fgd_qsearch_vectors v;
    if (q->scaled && scale <= FLT_MAX) {   /* scale > 0 here; NaN and inf fail */
        fgd_qsearch_scale(q, scale, &v);
        for (ptrdiff_t i = 0; i < n16; i += 16)
            fgd_qsearch_pack16(codes + i / 2, fgd_qsearch_codes(&v, _mm256_loadu_ps(s + i)),
                               fgd_qsearch_codes(&v, _mm256_loadu_ps(s + i + 8)));
        return;
    }
    const __m256d rv = _mm256_set1_pd(FGD_RECIP(scale));
    fgd_qsearch_unscaled(q, &v);
    for (ptrdiff_t i = 0; i < n16; i += 16)
        fgd_qsearch_pack16(codes + i / 2, fgd_qsearch_codes(&v, fgd_qsearch_normalise(s + i, rv)),
                           fgd_qsearch_codes(&v, fgd_qsearch_normalise(s + i + 8, rv)));
}

#endif /* FGD_QUANT_AVX2_H */
