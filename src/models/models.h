/*
 * fastgd model kernels: losses, gradients and Hessian diagonals of linear models on a
 * batch of rows, and the norms and in-place updates behind gradient clipping.
 *
 * The bodies are written once, in models_impl.h, and included once per element type
 * (float, double; models_dtype.h) and per instruction set (baseline, AVX2, AVX-512F), like
 * the optimizer kernels (src/optim/kernels.h): each instruction set is a compilation unit
 * of its own (models_<isa>.c, through src/common/fgd_isa.h), and models.c holds the
 * tables of entry points.
 *
 * Numerical contract (fastgd/reference/models.py is the specification, and
 * fastgd/backends/numba_models.py runs the same order of operations as this file):
 *  - everything is computed in double whatever the element type; the outputs are rounded
 *    once to the element type at the end;
 *  - a decision value z_i = x_i . w is summed in eight lanes (lane q adds the products of
 *    the features j = q mod 8 in order of j), combined as ((l0 + l1) + (l2 + l3)) +
 *    ((l4 + l5) + (l6 + l7)), then the intercept is added: the same bits whether X is
 *    row-major or column-major;
 *  - every sum over rows (loss, weights, gradients, Hessian diagonal) runs in row order
 *    within fixed chunks of the batch, and the chunks' partial sums are added in chunk
 *    order. The chunks depend only on the batch size and the size of coef, never on the
 *    thread count, so the result is the same bits for any number of threads;
 *  - -ffp-contract=off keeps fused multiply-adds out, so every instruction set rounds
 *    alike; exp, log1p and pow are the C library's (the same functions Numba calls).
 */
#ifndef FASTGD_MODELS_H
#define FASTGD_MODELS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fgd_isa.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FGDM_RESTRICT __restrict__
#define FGDM_INLINE static inline __attribute__((always_inline))
#else
#define FGDM_RESTRICT
#define FGDM_INLINE static inline
#endif

/* Loss kinds, in the order of fastgd.models.LOSSES. */
enum {
    FGDM_SQUARED_ERROR = 0,
    FGDM_HALF_SQUARED_ERROR = 1,
    FGDM_HUBER = 2,
    FGDM_EPSILON_INSENSITIVE = 3,
    FGDM_LOG_LOSS = 4,
    FGDM_HINGE = 5,
    FGDM_SOFTMAX = 6
};

/* What a loss call returns; on anything but FGDM_OK nothing has been written. */
enum {
    FGDM_OK = 0,
    FGDM_BAD_ROW = 1,       /* rows[err_pos] is outside [0, n_samples) */
    FGDM_BAD_LABEL = 2,     /* y of batch position err_pos is not a valid target */
    FGDM_BAD_WEIGHT = 3,    /* sample_weight of batch position err_pos is < 0, NaN or inf */
    FGDM_ZERO_WEIGHT = 4,   /* the weights of the batch sum to 0 */
    FGDM_NO_MEMORY = 5,
    FGDM_BAD_INDEX = 6      /* CSR: row rows[err_pos] has a bad index pointer or column */
};

/* Norms for clipping (fastgd.clip): what fgdm_norm_part returns for one buffer. */
enum {
    FGDM_NORM_SUMSQ = 0,    /* sum of x^2 */
    FGDM_NORM_SUMABS = 1,   /* sum of |x| */
    FGDM_NORM_MAXABS = 2,   /* max |x| (NaN if any x is NaN) */
    FGDM_NORM_MINABS = 3,   /* min |x| (NaN if any x is NaN) */
    FGDM_NORM_COUNT = 4,    /* number of x != 0 (NaN counts) */
    FGDM_NORM_SUMPOW = 5    /* sum of |x|^p */
};

/* Chunks of the batch: at least FGDM_CHUNK_ROWS rows each, at most FGDM_MAX_CHUNKS of
 * them, and at most FGDM_MAX_PARTIAL doubles of partial gradient in all. */
#define FGDM_CHUNK_ROWS ((ptrdiff_t)1024)
#define FGDM_MAX_CHUNKS ((ptrdiff_t)64)
#define FGDM_MAX_PARTIAL ((ptrdiff_t)1 << 22)
/* Below this many multiply-adds (batch rows x coef size) a call runs on one thread. */
#define FGDM_PARALLEL_MIN ((ptrdiff_t)1 << 15)
/* Rows per block in the column-major path (at most; fewer for many classes). */
#define FGDM_BLOCK ((ptrdiff_t)64)
/* Elements per block of the threaded element-wise clipping loops. */
#define FGDM_ELEMENTWISE_MIN ((ptrdiff_t)1 << 15)

/* One call of a loss kernel. Strides are in elements; X has xs1 == 1 (row-major path) or
 * xs0 == 1 (column-major path). y holds FGD_T values, or int64 labels for FGDM_SOFTMAX.
 * coef is d*k values in C order, intercept k values or NULL. The outputs are C-ordered
 * buffers of coef's and intercept's sizes, NULL when not wanted. */
typedef struct {
    int kind;
    ptrdiff_t n_samples, n, d, k;
    const void *X;
    ptrdiff_t xs0, xs1;
    int row_major;
    const void *y;
    ptrdiff_t ys;
    const void *sw;
    ptrdiff_t ss;
    const int64_t *rows;
    ptrdiff_t rs;
    const void *coef, *intercept;
    double a1, a2, eps;
    void *grad_coef, *grad_intercept, *hess_coef, *hess_intercept;
    int nthreads;
    /* CSR X (src/models/csr.h): X is the values, indices and indptr the column indices
     * and row pointers (int32 or int64, as the entry point's name says), nnz_cap the
     * number of values and indices there are; xs0, xs1 and row_major are unused. */
    const void *indices, *indptr;
    ptrdiff_t nnz_cap;
    /* results */
    double loss;
    ptrdiff_t err_pos;
} fgdm_args;

static inline ptrdiff_t fgdm_n_chunks(ptrdiff_t n, ptrdiff_t m)
{
    ptrdiff_t c = (n + FGDM_CHUNK_ROWS - 1) / FGDM_CHUNK_ROWS;
    ptrdiff_t cap = FGDM_MAX_PARTIAL / (m > 1 ? m : 1);
    if (c > FGDM_MAX_CHUNKS) c = FGDM_MAX_CHUNKS;
    if (c > cap) c = cap;
    return c < 1 ? 1 : c;
}

/* Rows per block of the column-major path: at most FGDM_BLOCK, fewer for many classes
 * (its lanes hold 8 * k * block doubles). Does not change any result. */
static inline ptrdiff_t fgdm_block_rows(ptrdiff_t k)
{
    ptrdiff_t b = 4096 / (k > 1 ? k : 1);
    if (b > FGDM_BLOCK) b = FGDM_BLOCK;
    return b < 1 ? 1 : b;
}

/* An OpenMP pragma, or nothing in a build without OpenMP (no unknown-pragma warnings). */
#ifdef _OPENMP
#define FGDM_OMP(x) _Pragma(#x)
#else
#define FGDM_OMP(x)
#endif

static inline int fgdm_openmp_enabled(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* Eight doubles: the eight lanes of a dot product (GNU C vector extension; each lane's
 * arithmetic is IEEE double, as a scalar's). */
typedef double fgdm_v8d __attribute__((vector_size(64)));

typedef int (*fgdm_loss_fn)(fgdm_args *a);
typedef int (*fgdm_csr_decision_fn)(fgdm_args *a, void *out);
typedef double (*fgdm_norm_fn)(ptrdiff_t n, const void *x, int mode, double p);
typedef void (*fgdm_scale_fn)(ptrdiff_t n, void *x, double c, int nthreads);
typedef void (*fgdm_clamp_fn)(ptrdiff_t n, void *x, double lo, double hi, int nthreads);

/* One instruction set's entry points; index 0 float, 1 double. */
typedef struct {
    const char *name;
    fgdm_loss_fn loss_grad[2];
    fgdm_norm_fn norm_part[2];
    fgdm_scale_fn scale[2];
    fgdm_clamp_fn clamp[2];
    /* CSR X: [element type][index type: 0 int32, 1 int64] */
    fgdm_loss_fn csr_loss_grad[2][2];
    fgdm_csr_decision_fn csr_decision[2][2];
} fgdm_table;

/* The entry points each per-instruction-set unit defines (models_impl.h):
 * fgdm_<entry>_<f32|f64>_<isa>. */
#define FGDM_DECLS(TAG)                                                                   \
    FGD_HIDDEN int fgdm_loss_grad_f32_##TAG(fgdm_args *a);                               \
    FGD_HIDDEN int fgdm_loss_grad_f64_##TAG(fgdm_args *a);                               \
    FGD_HIDDEN double fgdm_norm_part_f32_##TAG(ptrdiff_t n, const void *x, int mode,     \
                                               double p);                                \
    FGD_HIDDEN double fgdm_norm_part_f64_##TAG(ptrdiff_t n, const void *x, int mode,     \
                                               double p);                                \
    FGD_HIDDEN void fgdm_scale_f32_##TAG(ptrdiff_t n, void *x, double c, int nthreads);  \
    FGD_HIDDEN void fgdm_scale_f64_##TAG(ptrdiff_t n, void *x, double c, int nthreads);  \
    FGD_HIDDEN void fgdm_clamp_f32_##TAG(ptrdiff_t n, void *x, double lo, double hi,     \
                                         int nthreads);                                  \
    FGD_HIDDEN void fgdm_clamp_f64_##TAG(ptrdiff_t n, void *x, double lo, double hi,     \
                                         int nthreads);                                  \
    FGD_HIDDEN int fgdm_csr_loss_grad_f32_i32_##TAG(fgdm_args *a);                       \
    FGD_HIDDEN int fgdm_csr_loss_grad_f32_i64_##TAG(fgdm_args *a);                       \
    FGD_HIDDEN int fgdm_csr_loss_grad_f64_i32_##TAG(fgdm_args *a);                       \
    FGD_HIDDEN int fgdm_csr_loss_grad_f64_i64_##TAG(fgdm_args *a);                       \
    FGD_HIDDEN int fgdm_csr_decision_f32_i32_##TAG(fgdm_args *a, void *out);             \
    FGD_HIDDEN int fgdm_csr_decision_f32_i64_##TAG(fgdm_args *a, void *out);             \
    FGD_HIDDEN int fgdm_csr_decision_f64_i32_##TAG(fgdm_args *a, void *out);             \
    FGD_HIDDEN int fgdm_csr_decision_f64_i64_##TAG(fgdm_args *a, void *out);
FGDM_DECLS(baseline)
#if FGD_HAVE_X86_VARIANTS
FGDM_DECLS(avx2)
FGDM_DECLS(avx512)
#endif
#undef FGDM_DECLS

/* One table per instruction set, narrowest first (models.c). */
#define FGDM_N_TABLES FGD_N_ISAS
extern FGD_HIDDEN const fgdm_table fgdm_tables[FGDM_N_TABLES];

#endif /* FASTGD_MODELS_H */
