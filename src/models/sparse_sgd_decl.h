/* Declarations of the sparse training loops (sparse_sgd_<isa>.c) for the Cython wrapper. */
#ifndef FGDSP_DECL_H
#define FGDSP_DECL_H
#include <stddef.h>
#include <stdint.h>

#include "fgd_isa.h"
/* The arguments of every loop (see sparse_sgd.h). */
typedef struct {
    const void *data;      /* nnz values (FGDSP_T) */
    const void *indices;   /* nnz column indices (FGDSP_I) */
    const void *indptr;    /* n_rows + 1 (FGDSP_I) */
    const void *y;         /* n_rows targets (FGDSP_T) */
    const void *sw;        /* n_rows sample weights or NULL */
    const int64_t *order;  /* the rows of the epoch, in order */
    ptrdiff_t n_order, d, batch;
    void *v;               /* d stored weights (FGDSP_T) */
    void *b;               /* the intercept (1 value) or NULL */
    void *q;               /* d cumulative L1 penalties applied (FGDSP_T) or NULL */
    void *m1, *m2;         /* Adam: m1 the d + 1 states {m1, m2 (FGDSP_T), g (double)};
                            * m2 unused */
    double *st;            /* state, see fastgd/reference/sparse_sgd.py */
    const double *prm;
    const int64_t *iprm;
    double *work;          /* 3 * batch + FGDSP_BUCKETS * 2 doubles */
    double *g;             /* unused */
    unsigned char *mark;   /* unused */
    int64_t *touched;      /* Adam: batch * max row length (or nnz) slots */
    ptrdiff_t k;           /* softmax: the number of classes (v is d x k, row-major) */
    const double *pw;      /* momentum: the (1089, 4) table of the skipped steps' matrices */
    ptrdiff_t vs;          /* the binary loops' v: elements from one weight to the next (1,
                            * or a record's size where the weights sit in lazy Adam's
                            * records) */
} fgdsp_args;
typedef int (*fgdsp_fn)(const fgdsp_args *a);

/* The loops of one instruction set's unit (sparse_sgd_<isa>.c), suffixed
 * _<values>_<indices><tag>. */
#define FGDSP_FNS(loop, tag) \
    loop##_f32_i32##tag, loop##_f32_i64##tag, loop##_f64_i32##tag, loop##_f64_i64##tag
#define FGDSP_DECLARE_LOOP(loop, tag) \
    int loop##_f32_i32##tag(const fgdsp_args *a); \
    int loop##_f32_i64##tag(const fgdsp_args *a); \
    int loop##_f64_i32##tag(const fgdsp_args *a); \
    int loop##_f64_i64##tag(const fgdsp_args *a);
#define FGDSP_DECLARE(tag) \
    FGDSP_DECLARE_LOOP(fgdsp_sgd_epoch, tag) \
    FGDSP_DECLARE_LOOP(fgdsp_adam_epoch, tag) \
    FGDSP_DECLARE_LOOP(fgdsp_softmax_epoch, tag) \
    FGDSP_DECLARE_LOOP(fgdsp_momentum_epoch, tag)
FGDSP_DECLARE(_baseline)
#if FGD_HAVE_X86_VARIANTS
FGDSP_DECLARE(_avx2)
FGDSP_DECLARE(_avx512)
#endif

/* fgdsp_table[isa][loop][2 * (values are float64) + (indices are int64)], the isa in
 * fgd_isa.h's order (0 baseline, 1 AVX2, 2 AVX-512F), the loop in this order: */
enum { FGDSP_SGD = 0, FGDSP_ADAM = 1, FGDSP_SOFTMAX = 2, FGDSP_MOMENTUM = 3,
       FGDSP_N_LOOPS = 4 };
extern const fgdsp_fn fgdsp_table[FGD_N_ISAS][FGDSP_N_LOOPS][4];
#endif
