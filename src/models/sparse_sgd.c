/* The sparse training loops (sparse_sgd.h, sparse_momentum.h) for float32/float64 values and int32/int64
 * column indices. One compilation unit, compiled for the baseline instruction set: the
 * loops are bound by the random access into the weights, not by arithmetic width. */
#include <stdint.h>

#define FGDSP_CAT_(a, b) a##b
#define FGDSP_CAT(a, b) FGDSP_CAT_(a, b)

#define FGDSP_T float
#define FGDSP_I int32_t
#define FGDSP_S(name) FGDSP_CAT(name, _f32_i32)
#include "sparse_sgd.h"
#include "sparse_momentum.h"
#undef FGDSP_T
#undef FGDSP_I
#undef FGDSP_S

#define FGDSP_T float
#define FGDSP_I int64_t
#define FGDSP_S(name) FGDSP_CAT(name, _f32_i64)
#include "sparse_sgd.h"
#include "sparse_momentum.h"
#undef FGDSP_T
#undef FGDSP_I
#undef FGDSP_S

#define FGDSP_T double
#define FGDSP_I int32_t
#define FGDSP_S(name) FGDSP_CAT(name, _f64_i32)
#include "sparse_sgd.h"
#include "sparse_momentum.h"
#undef FGDSP_T
#undef FGDSP_I
#undef FGDSP_S

#define FGDSP_T double
#define FGDSP_I int64_t
#define FGDSP_S(name) FGDSP_CAT(name, _f64_i64)
#include "sparse_sgd.h"
#include "sparse_momentum.h"
#undef FGDSP_T
#undef FGDSP_I
#undef FGDSP_S
