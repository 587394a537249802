/* The sparse training loops (sparse_sgd.h, sparse_momentum.h) for float32/float64 values
 * and int32/int64 column indices, for one instruction set: included by fgd_isa.h in each
 * sparse_sgd_<isa>.c, with FGD_ISA_TAG its suffix and its `#pragma GCC target` in force.
 * The binary loops are bound by the random access into the weights; the multinomial
 * loop's K contiguous weights per stored value vectorise (AVX-512 against the baseline,
 * 5 epochs of the 20-class text benchmark: 1.15 against 1.28 s, paired medians of 7).
 * Every loop is element-wise across classes or a reduction in a fixed order, so the bits
 * do not depend on the instruction set. */
#include <stdint.h>

#ifndef FGDSP_CAT
#define FGDSP_CAT_(a, b) a##b
#define FGDSP_CAT(a, b) FGDSP_CAT_(a, b)
#endif

#define FGDSP_T float
#define FGDSP_I int32_t
#define FGDSP_S(name) FGDSP_CAT(FGDSP_CAT(name, _f32_i32), FGD_ISA_TAG)
#include "sparse_sgd.h"
#include "sparse_momentum.h"
#undef FGDSP_T
#undef FGDSP_I
#undef FGDSP_S

#define FGDSP_T float
#define FGDSP_I int64_t
#define FGDSP_S(name) FGDSP_CAT(FGDSP_CAT(name, _f32_i64), FGD_ISA_TAG)
#include "sparse_sgd.h"
#include "sparse_momentum.h"
#undef FGDSP_T
#undef FGDSP_I
#undef FGDSP_S

#define FGDSP_T double
#define FGDSP_I int32_t
#define FGDSP_S(name) FGDSP_CAT(FGDSP_CAT(name, _f64_i32), FGD_ISA_TAG)
#include "sparse_sgd.h"
#include "sparse_momentum.h"
#undef FGDSP_T
#undef FGDSP_I
#undef FGDSP_S

#define FGDSP_T double
#define FGDSP_I int64_t
#define FGDSP_S(name) FGDSP_CAT(FGDSP_CAT(name, _f64_i64), FGD_ISA_TAG)
#include "sparse_sgd.h"
#include "sparse_momentum.h"
#undef FGDSP_T
#undef FGDSP_I
#undef FGDSP_S
