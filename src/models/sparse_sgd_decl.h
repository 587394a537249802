/* Declarations of the sparse training loops (sparse_sgd.c) for the Cython wrapper. */
#ifndef FGDSP_DECL_H
#define FGDSP_DECL_H
#include <stddef.h>
#include <stdint.h>
typedef struct {
    const void *data;
    const void *indices;
    const void *indptr;
    const void *y;
    const void *sw;
    const int64_t *order;
    ptrdiff_t n_order, d, batch;
    void *v;
    void *b;
    void *q;
    void *m1, *m2;
    double *st;
    const double *prm;
    const int64_t *iprm;
    double *work;
    double *g;
    unsigned char *mark;
    int64_t *touched;
    ptrdiff_t k;
    const double *pw;
} fgdsp_args;
typedef int (*fgdsp_fn)(const fgdsp_args *a);
int fgdsp_sgd_epoch_f32_i32(const fgdsp_args *a);
int fgdsp_sgd_epoch_f32_i64(const fgdsp_args *a);
int fgdsp_sgd_epoch_f64_i32(const fgdsp_args *a);
int fgdsp_sgd_epoch_f64_i64(const fgdsp_args *a);
int fgdsp_adam_epoch_f32_i32(const fgdsp_args *a);
int fgdsp_adam_epoch_f32_i64(const fgdsp_args *a);
int fgdsp_adam_epoch_f64_i32(const fgdsp_args *a);
int fgdsp_adam_epoch_f64_i64(const fgdsp_args *a);
int fgdsp_softmax_epoch_f32_i32(const fgdsp_args *a);
int fgdsp_softmax_epoch_f32_i64(const fgdsp_args *a);
int fgdsp_softmax_epoch_f64_i32(const fgdsp_args *a);
int fgdsp_softmax_epoch_f64_i64(const fgdsp_args *a);
int fgdsp_momentum_epoch_f32_i32(const fgdsp_args *a);
int fgdsp_momentum_epoch_f32_i64(const fgdsp_args *a);
int fgdsp_momentum_epoch_f64_i32(const fgdsp_args *a);
int fgdsp_momentum_epoch_f64_i64(const fgdsp_args *a);
#endif
