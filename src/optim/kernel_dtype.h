/*
 * One instruction set's optimizer kernels, for both element types. Included by
 * src/common/fgd_isa.h in each kernels_<isa>.c, with FGD_ISA_TAG (_baseline, _avx2,
 * _avx512) defined and the matching `#pragma GCC target` in force. It includes itself once
 * per element type with
 *   FGD_T          the element type (float or double),
 *   FGD_SUFFIX(x)  the name of x for that type and instruction set (x_f32_avx2, ...),
 *   FGD_SQRT       the square root of that type,
 * and then the element-wise helpers and every rule's header.
 *
 * FGD_MADD(a, b, c) is a*b + c as torch's CPU kernels compute it where they fuse it: in
 * the fused multiply-add twins (FGD_FMA 1, units kernels_<isa>_fma.c) one fmaf/fma, a
 * single rounding; elsewhere a product and a sum, two roundings (-ffp-contract=off keeps
 * the compiler from fusing anything else). The twins compile only the rules torch.optim
 * has (FGD_TORCH_RULES), the rest of their tables are the plain entries (kernels.c).
 *
 * Each kernel has a *_range function, the loop over [lo, hi), and a public entry that
 * splits the buffer into ranges (FGD_CHUNKED). Flags that decide whether a state buffer
 * is written are passed to the range loop as literal constants, so that the compiler
 * emits one branch-free, vectorised loop per combination.
 */
#ifndef FGD_T

#define FGD_INLINE static inline __attribute__((always_inline))
/* The public entries are kept out of line: inlined into the Cython wrappers, gcc loses
 * the restrict qualifiers of their parameters and the loops ran 2x slower (measured). */
#define FGD_KERNEL static __attribute__((noinline)) void
/* The table entry of a kernel (fgd_kernel_fn): n elements of the first buffer, its
 * (batch, rows, cols), the buffers in the order of their roles (NULL: absent), the real
 * scalars and the flags, each in the order fastgd/reference/ declares them. It unpacks the
 * arguments and calls the kernel's public entry. kernels.h declares it, kernels.c lists it
 * in the table of its instruction set. */
#define FGD_CALL(name) FGD_HIDDEN void FGD_SUFFIX(name##_call)(                            \
    ptrdiff_t n, const ptrdiff_t *dims, char *const *b, const double *s, const int *f)

/* The names a table entry reads, stated once per kernel just above its FGD_CALL:
 *   FGD_CALL_ARGS(fgd_<name>, (buffer, ...), (scalar, ...), (flag, ...))
 * each list in the order the entry unpacks b[], s[] and f[] (an empty list: ()). The
 * strings are compiled once, as fgd_<name>_args (kernels.h), in the baseline unit's
 * double pass, and fastgd.backends._core checks them at import against the declarations
 * of fastgd/reference/; in every other pass the macro is empty. */
#define FGD_CALL_ARGS(name, roles, scalars, flags)

/* FGD_UNSWITCH(flag, loop): in the fused multiply-add twins, the loop twice, with flag a
 * constant 1 and a constant 0 (a block-scoped const of the same name), for a run-time flag
 * that chooses between FGD_MADD results: gcc 12 vectorises no loop that picks between
 * fmaf results on a run-time flag. The plain kernels keep the one loop. */
#if FGD_FMA
#define FGD_UNSWITCH(flag, ...)                                                          \
    if (flag) { const int flag = 1; __VA_ARGS__ } else { const int flag = 0; __VA_ARGS__ }
#else
#define FGD_UNSWITCH(flag, ...) __VA_ARGS__
#endif

#define FGD_T float
#define FGD_SUFFIX(name) FGD_CAT(FGD_CAT(name, _f32), FGD_ISA_TAG)
#if FGD_FMA && FGD_ISA == 2 && FGD_HAVE_X86_VARIANTS
/* torch's float32 sqrt on a CPU with AVX-512F (MKL's, not correctly rounded; see
 * torch_sqrt.c, which defines it and its vector versions for the simd attribute). */
__attribute__((simd("notinbranch"), const, nothrow)) FGD_HIDDEN float
fgd_torch_sqrt_f32_avx512(float x);
#define FGD_SQRT fgd_torch_sqrt_f32_avx512
#else
#define FGD_SQRT sqrtf
#endif
#if FGD_FMA
#define FGD_MADD(a, b, c) fmaf((a), (b), (c))
#else
#define FGD_MADD(a, b, c) ((a) * (b) + (c))
#endif
/* FGD_DIVC(x, c, rc): x / c for a divisor c fixed over a loop, rc = FGD_RECIP(c). In
 * float32 it is x times the double reciprocal of c, rounded once to float32: the same bits
 * as the IEEE division wherever the quotient is zero, infinite, NaN or a normal float
 * (1/c and the product each err by at most 2^-53 relatively, and a quotient of two
 * float32 values that is not a float32 lies at least 2^-49 relatively from every rounding
 * boundary of float32, so both round alike), at a multiply's cost instead of the divider's
 * (which bounds the in-cache Adam step). Used only where the quotient cannot be
 * subnormal. In float64 it is the division. */
#define FGD_RECIP(c) (1.0 / (double)(c))
#define FGD_DIVC(x, c, rc) ((float)((double)(x) * (rc)))
#define FGD_LOWBIT 1 /* the low-bit step (lowbit.h): float32 only */
#include "kernel_dtype.h"
#undef FGD_LOWBIT
#undef FGD_T
#undef FGD_SUFFIX
#undef FGD_SQRT
#undef FGD_MADD
#undef FGD_DIVC

#if FGD_ISA == 0 && !FGD_FMA
#undef FGD_CALL_ARGS
#define FGD_CALL_ARGS(name, roles, scalars, flags)                                       \
    FGD_HIDDEN const fgd_kernel_args name##_args = { #roles, #scalars, #flags };
#endif

#define FGD_T double
#define FGD_SUFFIX(name) FGD_CAT(FGD_CAT(name, _f64), FGD_ISA_TAG)
#define FGD_SQRT sqrt
#define FGD_DIVC(x, c, rc) ((void)(rc), (x) / (c))
#if FGD_FMA
#define FGD_MADD(a, b, c) fma((a), (b), (c))
#else
#define FGD_MADD(a, b, c) ((a) * (b) + (c))
#endif
#include "kernel_dtype.h"
#undef FGD_T
#undef FGD_SUFFIX
#undef FGD_SQRT
#undef FGD_MADD
#undef FGD_DIVC
#undef FGD_RECIP

#undef FGD_INLINE
#undef FGD_KERNEL
#undef FGD_CALL
#undef FGD_CALL_ARGS
#undef FGD_UNSWITCH

#else /* one element type: the bodies */

#include "fgd_elementwise.h"
/* One header per update rule (with its variants), in the order of FGD_KERNEL_LIST; the
 * fused multiply-add twins compile the rules of torch.optim only (FGD_TORCH_KERNEL in
 * kernels.h). */
#include "sgd.h"
#include "adam.h"
#include "adagrad.h"
#include "rmsprop.h"
#include "adadelta.h"
#include "adamax.h"
#include "nadam.h"
#include "radam.h"
#include "rprop.h"
#include "asgd.h"
#include "adafactor.h"
#if !FGD_FMA
#include "stream.h"
#include "lion.h"
#include "adabelief.h"
#include "lamb.h"
#include "lars.h"
#include "yogi.h"
#include "sophia.h"
#include "schedule_free.h"
#if defined(FGD_LOWBIT)
#include <stdlib.h>
#include "lowbit.h"
#endif
#endif

#endif
