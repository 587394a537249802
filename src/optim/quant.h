/*
 * Block-wise 8-bit and 4-bit optimizer states: the call of the fused low-bit step and the
 * quantizer's building blocks (fastgd/reference/lowbit.py is the specification).
 *
 * A state of n float32 values is stored as codes (one byte per element, or two 4-bit codes
 * per byte, the even element in the high nibble) and one float32 absmax per block of
 * `block` elements; code c of block b stands for table[c] * absmax[b]. The quantizer is
 * exact: with x = s / absmax (IEEE division), c = lut[bits(x) >> 16] and one compare
 * against threshold[c + 1] gives torchao's nearest code, ties up (the tables come from
 * fastgd.reference.lowbit.lookup_tables).
 */
#ifndef FGD_QUANT_H
#define FGD_QUANT_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fgd_isa.h"

/* One fused low-bit step of one tensor (fgd_lowbit_<isa>, lowbit.h). */
typedef struct {
    int rule;                      /* 0: Adam/AdamW (adam.h), 1: Lion (lion.h) */
    int bits;                      /* 8 or 4 */
    ptrdiff_t n, block;            /* elements, block size (a multiple of 16) */
    float *p;
    const float *g;
    uint8_t *codes[2];             /* m, v (Lion: m only) */
    float *absmax[2];
    const float *table[2];         /* 256 or 16 float32 codes */
    const uint8_t *lut[2];         /* 65536 candidate codes by the top 16 bits of x */
    const float *threshold[2];     /* least x of code k, k = 0..len(table); top: +inf */
    const uint32_t *split[2];      /* both in one read (8 bits: split_table), or NULL */
    int zero[2];                   /* the code of an all-zero block */
    double lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2_sqrt;
    int decoupled_weight_decay, maximize;
    int vbmi;                      /* AVX-512: the 8-bit dequantizer's byte permutes */
} fgd_lowbit_call;

/* The code of x by the tables (exact, see above). */
static inline __attribute__((always_inline)) int
fgd_quant_code(float x, const uint8_t *lut, const float *threshold)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    const int c = lut[u >> 16];
    return c + (x >= threshold[c + 1]);
}

/* The rounding boundary below the threshold t: (pred(t) + t) / 2, exact in double, pred(t)
 * the float32 before t, so that a quotient rounds to t or above exactly where it is at
 * least that (a quotient of two float32 values is never a float32 midpoint). Returns 0
 * (and leaves *b) where t is not a float of magnitude 2^-100 to 2^100, which the 4-bit
 * quantizers' thresholds of s need (quant_avx2.h, quant_avx512.h). */
static inline int fgd_quant_boundary(float t, double *b)
{
    if (!(fabsf(t) >= 0x1p-100f && fabsf(t) <= 0x1p100f))
        return 0;
    uint32_t u;  /* t is normal and nonzero */
    memcpy(&u, &t, sizeof u);
    u = t > 0.0f ? u - 1 : u + 1;
    float pred;
    memcpy(&pred, &u, sizeof pred);
    *b = ((double)pred + (double)t) / 2.0;
    return 1;
}

/* Entries per instruction set (lowbit.h) and the dispatch on the table in use (kernels.c). */
FGD_HIDDEN int fgd_lowbit_f32_baseline(const fgd_lowbit_call *a);
#if FGD_HAVE_X86_VARIANTS
FGD_HIDDEN int fgd_lowbit_f32_avx2(const fgd_lowbit_call *a);
FGD_HIDDEN int fgd_lowbit_f32_avx512(const fgd_lowbit_call *a);
#endif
FGD_HIDDEN int fgd_lowbit_f32(int isa, const fgd_lowbit_call *a);

#endif /* FGD_QUANT_H */
