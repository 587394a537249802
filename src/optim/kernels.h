/*
 * fastgd native kernels: element-wise optimizer updates over contiguous buffers.
 *
 * Every kernel exists for float and double and for each instruction set. The body is
 * written once, in the rule's header (<rule>.h), which kernel_dtype.h includes once per
 * element type with FGD_T set to it; each instruction set is a compilation unit of its own
 * (kernels_baseline.c, kernels_avx2.c, kernels_avx512.c; see src/common/fgd_isa.h), and
 * kernels.c holds the tables of entry points that fastgd.backends._core picks from.
 *
 * Numerical contract (see DESIGN.md, "Numerics"):
 *  - hyperparameters arrive as double; each is rounded once to FGD_T before the loop,
 *    exactly as torch and NumPy round a Python scalar against an array of that type;
 *  - the order of operations follows torch.optim's single-tensor code (optax's for the
 *    rules torch lacks), and fastgd/reference/ spells out the same order in NumPy;
 *  - the build uses -ffp-contract=off, so no fused multiply-add changes the rounding
 *    whichever instruction set the compiler targets.
 */
#ifndef FASTGD_KERNELS_H
#define FASTGD_KERNELS_H

#include "fgd_isa.h"
#include "fgd_parallel.h"
#include "fgd_elementwise.h"
#include "quant.h"

/* Every kernel, in one list: X(name) for each, matching a declaration in
 * fastgd/reference/ (fastgd.backends._core refuses to load if the two disagree).
 * FGD_KERNEL_LIST2(T, O) is the same list with T for the kernels of torch.optim's rules
 * (those with a fused multiply-add twin, FGD_FMA) and O for the others.
 *
 * Adding a kernel: write its *_range loop, its public entry (FGD_KERNEL), its table entry
 * (FGD_CALL) and, just above the entry, the names it reads (FGD_CALL_ARGS) in the rule's
 * <rule>.h, include that file in kernel_dtype.h (once), and add it here. */
#define FGD_KERNEL_LIST2(T, O)                                      \
    T(sgd) T(adam) T(adagrad) T(rmsprop) O(stream)                  \
    T(adadelta) T(adamax) T(nadam) T(radam)                         \
    O(adam_eps_root)                                                \
    T(rprop) T(asgd) T(adafactor)                                   \
    O(lion) O(adabelief) O(lamb) O(lars) O(yogi)                    \
    O(sophia) O(sophia_hessian) O(sgd_schedule_free) O(adamw_schedule_free)
#define FGD_KERNEL_LIST(X) FGD_KERNEL_LIST2(X, X)
#define FGD_NOTHING_(k)

typedef void (*fgd_kernel_fn)(ptrdiff_t n, const ptrdiff_t *dims, char *const *b,
                              const double *s, const int *f);

#define FGD_ENUM_(k) FGD_K_##k,
enum { FGD_KERNEL_LIST(FGD_ENUM_) FGD_N_KERNELS };
#undef FGD_ENUM_

extern FGD_HIDDEN const char *const fgd_kernel_names[FGD_N_KERNELS];

/* The names a kernel's table entry reads, as its FGD_CALL_ARGS states them beside it
 * (kernel_dtype.h): its buffers (b[0], b[1], ...), scalars (s[...]) and flags (f[...]),
 * each a parenthesised, comma-separated list in the order the entry unpacks them, e.g.
 * "(lr, momentum)" or "()". fastgd.backends._core refuses to load unless each is the list
 * fastgd/reference/ declares. */
typedef struct {
    const char *roles;
    const char *scalars;
    const char *flags;
} fgd_kernel_args;

/* fgd_<name>_args, defined once (in the baseline unit) by each FGD_CALL_ARGS, and the
 * table of them indexed by FGD_K_<name> (kernels.c). */
#define FGD_ARGS_DECL_(k) extern FGD_HIDDEN const fgd_kernel_args fgd_##k##_args;
FGD_KERNEL_LIST(FGD_ARGS_DECL_)
#undef FGD_ARGS_DECL_
extern FGD_HIDDEN const fgd_kernel_args *const fgd_kernel_arguments[FGD_N_KERNELS];

/* One table of entry points per instruction set, indexed by FGD_K_<name>. */
typedef struct {
    const char *name;
    fgd_kernel_fn f32[FGD_N_KERNELS];
    fgd_kernel_fn f64[FGD_N_KERNELS];
} fgd_kernel_table;

#define FGD_N_TABLES FGD_N_ISAS
extern FGD_HIDDEN const fgd_kernel_table fgd_tables[FGD_N_TABLES];
/* Their fused multiply-add twins, one per instruction set in the same order (named
 * "<isa>_fma"): torch.optim's rules fuse a*b + c where torch's CPU kernels do (FGD_MADD),
 * every other entry is the plain table's. fgd_fma_supported(i) says whether twin i runs. */
extern FGD_HIDDEN const fgd_kernel_table fgd_fma_tables[FGD_N_TABLES];

/* The table entries (fgd_kernel_fn) each per-instruction-set unit defines with FGD_CALL
 * (kernel_dtype.h): fgd_<name>_call_<f32|f64>_<isa>. */
#define FGD_CALL_DECL_(k, DT, TAG)                                                        \
    FGD_HIDDEN void fgd_##k##_call_##DT##_##TAG(ptrdiff_t n, const ptrdiff_t *dims,       \
                                               char *const *b, const double *s,           \
                                               const int *f);
#define FGD_CALL_DECLS_baseline_(k) FGD_CALL_DECL_(k, f32, baseline)                    \
                                    FGD_CALL_DECL_(k, f64, baseline)
#define FGD_CALL_DECLS_avx2_(k) FGD_CALL_DECL_(k, f32, avx2) FGD_CALL_DECL_(k, f64, avx2)
#define FGD_CALL_DECLS_avx512_(k) FGD_CALL_DECL_(k, f32, avx512) FGD_CALL_DECL_(k, f64, avx512)
#define FGD_CALL_DECLS_baseline_fma_(k) FGD_CALL_DECL_(k, f32, baseline_fma)            \
                                        FGD_CALL_DECL_(k, f64, baseline_fma)
#define FGD_CALL_DECLS_avx2_fma_(k) FGD_CALL_DECL_(k, f32, avx2_fma)                    \
                                    FGD_CALL_DECL_(k, f64, avx2_fma)
#define FGD_CALL_DECLS_avx512_fma_(k) FGD_CALL_DECL_(k, f32, avx512_fma)                \
                                      FGD_CALL_DECL_(k, f64, avx512_fma)
FGD_KERNEL_LIST(FGD_CALL_DECLS_baseline_)
FGD_KERNEL_LIST2(FGD_CALL_DECLS_baseline_fma_, FGD_NOTHING_)
#if FGD_HAVE_X86_VARIANTS
FGD_KERNEL_LIST(FGD_CALL_DECLS_avx2_)
FGD_KERNEL_LIST(FGD_CALL_DECLS_avx512_)
FGD_KERNEL_LIST2(FGD_CALL_DECLS_avx2_fma_, FGD_NOTHING_)
FGD_KERNEL_LIST2(FGD_CALL_DECLS_avx512_fma_, FGD_NOTHING_)
#endif
#undef FGD_CALL_DECL_
#undef FGD_CALL_DECLS_baseline_
#undef FGD_CALL_DECLS_avx2_
#undef FGD_CALL_DECLS_avx512_
#undef FGD_CALL_DECLS_baseline_fma_
#undef FGD_CALL_DECLS_avx2_fma_
#undef FGD_CALL_DECLS_avx512_fma_

#endif /* FASTGD_KERNELS_H */
