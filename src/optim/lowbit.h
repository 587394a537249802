/*
 * The fused low-bit step (quant.h): per block, dequantize the states into a per-thread
 * scratch (two blocks' worth: a block is requantized after the next block's update, see
 * fgd_lowbit), run the 32-bit rule's own range loop on it (fgd_adam_range,
 * fgd_lion_range: the same float32 arithmetic as fastgd.AdamW / Lion, which also updates
 * the parameter from these unquantized states), take each state's max |s| as the new
 * absmax and requantize. OpenMP over blocks: a block is computed the same way whatever
 * the thread count, so the bits do not depend on it. Included by kernel_dtype.h in the
 * float32 pass of each instruction set (not in the fused multiply-add twins).
 */

#if FGD_ISA == 2 && FGD_HAVE_X86_VARIANTS
#include "quant_avx512.h"
#define FGD_QSEARCH 1
#elif FGD_ISA == 1 && FGD_HAVE_X86_VARIANTS
#include "quant_avx2.h"
#define FGD_QSEARCH 1
#else
#define FGD_QSEARCH 0
typedef struct { int unused; } fgd_qsearch_none;
#endif

FGD_INLINE void FGD_SUFFIX(fgd_lowbit_load)(int bits, const uint8_t *FGD_RESTRICT codes,
                                            ptrdiff_t lo, ptrdiff_t len,
                                            const float *FGD_RESTRICT table, float scale,
                                            float *FGD_RESTRICT s, const void *simd)
{
#if FGD_QSEARCH
    {   /* whole vectors in-register, the rest below (same bits) */
        const ptrdiff_t n16 = len & ~(ptrdiff_t)15;
        fgd_qsearch_load(bits, bits == 8 ? codes + lo : codes + lo / 2, n16,
                         (const fgd_qsearch *)simd, scale, s);
        codes += bits == 8 ? n16 : n16 / 2;
        s += n16;
        len -= n16;
    }
#else
    (void)simd;
#endif
    if (bits == 8) {
        const uint8_t *FGD_RESTRICT c = codes + lo;
        for (ptrdiff_t i = 0; i < len; ++i)
            s[i] = table[c[i]] * scale;
    } else {
        const uint8_t *FGD_RESTRICT c = codes + lo / 2;
        const ptrdiff_t pairs = len / 2;
        for (ptrdiff_t j = 0; j < pairs; ++j) {
            s[2 * j] = table[c[j] >> 4] * scale;
            s[2 * j + 1] = table[c[j] & 15] * scale;
        }
        if (len & 1)
            s[len - 1] = table[c[pairs] >> 4] * scale;
    }
}

/* max |s[i]| (NaN if any is NaN, as numpy.max). The maximum is taken over the bit
 * patterns of |s[i]|, which order as the values (and put NaN above infinity): an integer
 * reduction that vectorises, where a float one with NaN semantics does not. */
FGD_INLINE float FGD_SUFFIX(fgd_lowbit_absmax)(const float *FGD_RESTRICT s, ptrdiff_t len)
{
    uint32_t m = 0;
    for (ptrdiff_t i = 0; i < len; ++i) {
        uint32_t u;
        memcpy(&u, s + i, sizeof u);
        u &= UINT32_C(0x7fffffff);
        m = u > m ? u : m;
    }
    if (m > UINT32_C(0x7f800000))
        return (float)NAN;
    float r;
    memcpy(&r, &m, sizeof r);
    return r;
}

/* Requantize s[0..len) into codes at element lo: x = s / scale (FGD_DIVC: the IEEE
 * quotient's bits wherever it is normal; where it is not, |x| is below every map's least
 * threshold, and the value computed has the same sign and is below it too, so the code is
 * the same), each code by the byte table of the top 16 bits of x and one compare
 * (fgd_quant_code). s is overwritten with x past the whole vectors. */
FGD_INLINE void FGD_SUFFIX(fgd_lowbit_store)(int bits, uint8_t *FGD_RESTRICT codes,
                                             ptrdiff_t lo, ptrdiff_t len,
                                             const uint8_t *FGD_RESTRICT lut,
                                             const float *FGD_RESTRICT threshold,
                                             const uint32_t *split, int zero,
                                             float scale, float *FGD_RESTRICT s,
                                             const void *simd)
{
    if (scale == 0.0f) {
        if (bits == 8) {
            memset(codes + lo, zero, (size_t)len);
        } else {
            memset(codes + lo / 2, zero * 17, (size_t)(len / 2));
            if (len & 1)
                codes[lo / 2 + len / 2] = (uint8_t)(zero << 4);
        }
        return;
    }
#if FGD_QSEARCH
    {   /* whole vectors in-register (8 bits: the split_table), the rest below (same codes) */
        const ptrdiff_t n16 = bits == 8 && !split ? 0 : len & ~(ptrdiff_t)15;
        if (bits == 8)
            fgd_qsearch_store8(codes + lo, n16, s, FGD_RECIP(scale), split);
        else  /* the reciprocal only where it is needed (a division on the divider) */
            fgd_qsearch_store4(codes + lo / 2, n16, (const fgd_qsearch *)simd, s, scale);
        codes += bits == 8 ? n16 : n16 / 2;
        s += n16;
        len -= n16;
    }
#else
    (void)simd;
    (void)split;
#endif
    if (len == 0)
        return;
    const double r = FGD_RECIP(scale);
    for (ptrdiff_t i = 0; i < len; ++i)
        s[i] = FGD_DIVC(s[i], scale, r);
    if (bits == 8) {
        uint8_t *FGD_RESTRICT c = codes + lo;
        for (ptrdiff_t i = 0; i < len; ++i)
            c[i] = (uint8_t)fgd_quant_code(s[i], lut, threshold);
    } else {
        uint8_t *FGD_RESTRICT c = codes + lo / 2;
        const ptrdiff_t pairs = len / 2;
        for (ptrdiff_t j = 0; j < pairs; ++j) {
            const int hi = fgd_quant_code(s[2 * j], lut, threshold);
            const int lw = fgd_quant_code(s[2 * j + 1], lut, threshold);
            c[j] = (uint8_t)((hi << 4) | lw);
        }
        if (len & 1)
            c[pairs] = (uint8_t)(fgd_quant_code(s[len - 1], lut, threshold) << 4);
    }
}

FGD_HIDDEN int FGD_SUFFIX(fgd_lowbit)(const fgd_lowbit_call *a)
{
    const ptrdiff_t n = a->n, block = a->block, nblocks = (n + block - 1) / block;
    const int n_states = a->rule == 0 ? 2 : 1;
    /* fgd_adam's scalars (adam.h), rounded to float32 the same way. */
    const float w1 = (float)(1.0 - a->beta1), one_minus_w1 = 1.0f - w1;
    const float b2 = (float)a->beta2, one_minus_b2 = (float)(1.0 - a->beta2);
    const float bc2_sqrt = (float)a->bias_correction2_sqrt, e = (float)a->eps;
    const float neg_step_size = (float)(-(a->lr / a->bias_correction1));
    const float wd = (float)a->weight_decay, decay = (float)(1.0 - a->lr * a->weight_decay);
    const int l2_wd = a->weight_decay != 0.0 && !a->decoupled_weight_decay;
    const int decoupled_wd = a->weight_decay != 0.0 && a->decoupled_weight_decay;
    /* fgd_lion's (lion.h). */
    const float neg_lr = (float)(-a->lr);
    const float b1 = (float)a->beta1, one_minus_b1 = (float)(1.0 - a->beta1);
    const int use_wd = a->weight_decay != 0.0;
    const int maximize = a->maximize, bits = a->bits;
    int nt = n >= fgd_parallel_min ? fgd_max_threads() : 1;
    if (nt > nblocks) nt = (int)nblocks;
    if (nt < 1) nt = 1;
    /* Each thread's block buffers (two states, two blocks in flight where that keeps them
     * within 512 KiB: blocks up to 32768) start on their own cache lines (a line shared by
     * two threads' buffers would move between the cores at every block). */
    const int pipelined = block <= 32768;
    const ptrdiff_t stride = ((pipelined ? 4 : 2) * block + 15) & ~(ptrdiff_t)15;
    float *scratch_mem = (float *)malloc(sizeof(float) * ((size_t)stride * (size_t)nt + 16));
    if (!scratch_mem)
        return -1;
    float *scratch = (float *)(((uintptr_t)scratch_mem + 63) & ~(uintptr_t)63);
#if FGD_QSEARCH
    fgd_qsearch *simd = (fgd_qsearch *)malloc(sizeof(fgd_qsearch) * 2);
    if (!simd) {
        free(scratch_mem);
        return -1;
    }
    for (int k = 0; k < n_states; ++k)
        fgd_qsearch_init(&simd[k], a->table[k], a->threshold[k], bits == 8 ? 256 : 16,
                         a->vbmi);
#else
    fgd_qsearch_none simd[2] = {{0}, {0}};
#endif
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
#endif
    {
        /* This thread's run of blocks, [first, end): a contiguous share, as a static schedule
         * gives. The loop is software-pipelined: block b is dequantized, updated and its
         * absmax taken, then block b - 1 (whose absmax is long known) is requantized, so
         * that the chain absmax -> thresholds or reciprocal -> codes of a block overlaps
         * the next block's arithmetic. Each block is computed as before, so the bits are
         * the same. Measured on an AMD EPYC Zen 4, 2^24 elements, the two orders
         * alternated in one process: the 4-bit AdamW step 0.965-0.978 of the time on one
         * thread, 0.977-0.990 on two; the 8-bit step 0.99-1.05. */
#ifdef _OPENMP
        const ptrdiff_t tid = omp_get_thread_num(), nth = omp_get_num_threads();
#else
        const ptrdiff_t tid = 0, nth = 1;
#endif
        const ptrdiff_t per = (nblocks + nth - 1) / nth;
        const ptrdiff_t first = tid * per < nblocks ? tid * per : nblocks;
        const ptrdiff_t end = first + per < nblocks ? first + per : nblocks;
        float *const base = scratch + stride * tid;
        float *buf[2][2] = {{base, base + block}, {base, base + block}};
        if (pipelined) {
            buf[1][0] = base + 2 * block;
            buf[1][1] = base + 3 * block;
        }
        ptrdiff_t lo_prev = 0, len_prev = 0;
        float scale_prev[2] = {0.0f, 0.0f};
        for (ptrdiff_t b = first; b < end; ++b) {
            const ptrdiff_t lo = b * block;
            const ptrdiff_t len = n - lo < block ? n - lo : block;
            float **s = buf[(b - first) & 1];
            for (int k = 0; k < n_states; ++k)
                FGD_SUFFIX(fgd_lowbit_load)(bits, a->codes[k], lo, len, a->table[k],
                                            a->absmax[k][b], s[k], &simd[k]);
            if (a->rule == 0)
                FGD_SUFFIX(fgd_adam_range)(0, len, a->p + lo, a->g + lo, s[0], s[1], NULL, w1,
                                           one_minus_w1, b2, one_minus_b2, bc2_sqrt, e,
                                           neg_step_size, wd, decay, l2_wd, decoupled_wd,
                                           maximize, 0);
            else
                FGD_SUFFIX(fgd_lion_range)(0, len, a->p + lo, a->g + lo, s[0], neg_lr, b1,
                                           one_minus_b1, b2, one_minus_b2, decay, use_wd,
                                           maximize);
            float scale[2] = {0.0f, 0.0f};
            for (int k = 0; k < n_states; ++k) {
                scale[k] = FGD_SUFFIX(fgd_lowbit_absmax)(s[k], len);
                a->absmax[k][b] = scale[k];
            }
            if (!pipelined) {
                for (int k = 0; k < n_states; ++k)
                    FGD_SUFFIX(fgd_lowbit_store)(bits, a->codes[k], lo, len, a->lut[k],
                                                 a->threshold[k], a->split[k], a->zero[k],
                                                 scale[k], s[k], &simd[k]);
                continue;
            }
            if (b > first) {
                float **sp = buf[(b - 1 - first) & 1];
                for (int k = 0; k < n_states; ++k)
                    FGD_SUFFIX(fgd_lowbit_store)(bits, a->codes[k], lo_prev, len_prev,
                                                 a->lut[k], a->threshold[k], a->split[k],
                                                 a->zero[k], scale_prev[k], sp[k], &simd[k]);
            }
            lo_prev = lo;
            len_prev = len;
            scale_prev[0] = scale[0];
            scale_prev[1] = scale[1];
        }
        if (pipelined && end > first) {
            float **sp = buf[(end - 1 - first) & 1];
            for (int k = 0; k < n_states; ++k)
                FGD_SUFFIX(fgd_lowbit_store)(bits, a->codes[k], lo_prev, len_prev, a->lut[k],
                                             a->threshold[k], a->split[k], a->zero[k],
                                             scale_prev[k], sp[k], &simd[k]);
        }
    }
    free(scratch_mem);
#if FGD_QSEARCH
    free(simd);
#endif
    return 0;
}
#undef FGD_QSEARCH
