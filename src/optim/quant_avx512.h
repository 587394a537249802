/*
 * The low-bit step's dequantizer (both maps) and 4-bit quantizer on 16 floats at a time,
 * AVX-512F, without gathers: tables are read with in-register permutes (vpermps /
 * vpermt2ps, 16 or 32 entries each, blended on the index's higher bits). Included by
 * lowbit.h in the AVX-512 unit only. Measured in cache on one thread: the 4-bit AdamW step
 * 2.5 -> 1.5 ns per element; the 8-bit one unchanged (the scalar byte table is as fast).
 *
 * The code of x is the number of thresholds <= x (threshold[k], the least float32 of code
 * k or more: fastgd.reference.lowbit.lookup_tables), found by a branch-free binary search:
 * level l compares x with threshold[idx + b] (b = ncodes >> (l + 1)), whose candidates are
 * the 2^l entries level[l][i] = threshold[i * 2b + b], i = idx / 2b. A NaN compares false
 * everywhere and gets code 0, as fgd_quant_code gives it; every other x gets exactly
 * fgd_quant_code's code (tested on every backend and instruction set).
 */
#ifndef FGD_QUANT_AVX512_H
#define FGD_QUANT_AVX512_H

#include <immintrin.h>
#include <string.h>

typedef struct {
    float table[256];       /* the map, zero-padded */
    float level[8][128];    /* the binary search's thresholds, zero-padded */
} fgd_qsearch;

static void fgd_qsearch_init(fgd_qsearch *q, const float *table, const float *threshold,
                             int ncodes)
{
    const int levels = ncodes == 256 ? 8 : 4;
    memset(q, 0, sizeof *q);
    memcpy(q->table, table, sizeof(float) * (size_t)ncodes);
    for (int l = 0; l < levels; ++l) {
        const int b = ncodes >> (l + 1);
        for (int i = 0; i < (1 << l); ++i)
            q->level[l][i] = threshold[i * 2 * b + b];
    }
}

/* t[j] for each lane, t a table of `size` floats (a power of 2 up to 256; at least 16
 * readable), j < size. */
static inline __attribute__((always_inline)) __m512
fgd_permute_lookup(const float *t, int size, __m512i j)
{
    if (size <= 16)
        return _mm512_permutexvar_ps(j, _mm512_loadu_ps(t));
#define FGD_P2V_(o) _mm512_permutex2var_ps(_mm512_loadu_ps(t + (o)), j, _mm512_loadu_ps(t + (o) + 16))
#define FGD_BIT_(v) _mm512_test_epi32_mask(j, _mm512_set1_epi32(v))
    const __m512 r0 = FGD_P2V_(0);
    if (size == 32)
        return r0;
    const __m512 r01 = _mm512_mask_blend_ps(FGD_BIT_(32), r0, FGD_P2V_(32));
    if (size == 64)
        return r01;
    const __m512 r23 = _mm512_mask_blend_ps(FGD_BIT_(32), FGD_P2V_(64), FGD_P2V_(96));
    const __m512 r03 = _mm512_mask_blend_ps(FGD_BIT_(64), r01, r23);
    if (size == 128)
        return r03;
    const __m512 r45 = _mm512_mask_blend_ps(FGD_BIT_(32), FGD_P2V_(128), FGD_P2V_(160));
    const __m512 r67 = _mm512_mask_blend_ps(FGD_BIT_(32), FGD_P2V_(192), FGD_P2V_(224));
    const __m512 r47 = _mm512_mask_blend_ps(FGD_BIT_(64), r45, r67);
    return _mm512_mask_blend_ps(FGD_BIT_(128), r03, r47);
#undef FGD_P2V_
#undef FGD_BIT_
}

/* The codes (int32 lanes) of 16 normalised values. */
static inline __attribute__((always_inline)) __m512i
fgd_qsearch_codes(const fgd_qsearch *q, __m512 x, const int ncodes)
{
    const int levels = ncodes == 256 ? 8 : 4;
    __m512i idx = _mm512_setzero_si512();
    for (int l = 0; l < levels; ++l) {
        const int b = ncodes >> (l + 1);
        const __m512i j = _mm512_srlv_epi32(idx, _mm512_set1_epi32(levels - l));
        const __m512 t = fgd_permute_lookup(q->level[l], 1 << l, j);
        const __mmask16 ge = _mm512_cmp_ps_mask(x, t, _CMP_GE_OQ);
        idx = _mm512_mask_add_epi32(idx, ge, idx, _mm512_set1_epi32(b));
    }
    return idx;
}

/* s[i] = table[code i] * scale for i < n16 (a multiple of 16), codes from element 0 of
 * `codes` (8 bits) or of the packed bytes (4 bits: `codes` at the block's first byte). */
static inline __attribute__((always_inline)) void
fgd_qsearch_load(int bits, const uint8_t *codes, ptrdiff_t n16, const fgd_qsearch *q,
                 float scale, float *s)
{
    const __m512 sc = _mm512_set1_ps(scale);
    if (bits == 8) {
        for (ptrdiff_t i = 0; i < n16; i += 16) {
            const __m512i c = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(codes + i)));
            _mm512_storeu_ps(s + i, _mm512_mul_ps(fgd_permute_lookup(q->table, 256, c), sc));
        }
    } else {
        const __m512 t = _mm512_loadu_ps(q->table);
        const __m128i low4 = _mm_set1_epi8(0x0F);
        for (ptrdiff_t i = 0; i < n16; i += 16) {
            const __m128i b = _mm_loadl_epi64((const __m128i *)(codes + i / 2));
            const __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), low4);
            const __m128i lo = _mm_and_si128(b, low4);
            const __m512i c = _mm512_cvtepu8_epi32(_mm_unpacklo_epi8(hi, lo));
            _mm512_storeu_ps(s + i, _mm512_mul_ps(_mm512_permutexvar_ps(c, t), sc));
        }
    }
}

/* The 4-bit codes of x[0..n16) (normalised values), packed from the first byte of `codes`.
 * (For the 256-code maps the scalar byte table and compare, fgd_quant_code, ran as fast as
 * an 8-level search by permutes: measured, so they keep it.) */
static inline __attribute__((always_inline)) void
fgd_qsearch_store(int bits, uint8_t *codes, ptrdiff_t n16, const fgd_qsearch *q,
                  const float *x)
{
    if (bits == 4) {
        const __m128i low4 = _mm_set1_epi16(0x0F);
        for (ptrdiff_t i = 0; i < n16; i += 16) {
            const __m512i c = fgd_qsearch_codes(q, _mm512_loadu_ps(x + i), 16);
            const __m128i w = _mm512_cvtepi32_epi8(c);  /* byte 2j: even code, 2j+1: odd */
            const __m128i pair = _mm_or_si128(_mm_slli_epi16(_mm_and_si128(w, low4), 4),
                                              _mm_srli_epi16(w, 8));
            _mm_storel_epi64((__m128i *)(codes + i / 2),
                             _mm_packus_epi16(pair, _mm_setzero_si128()));
        }
    }
}

#endif /* FGD_QUANT_AVX512_H */
