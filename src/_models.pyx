# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
# distutils: define_macros=NPY_NO_DEPRECATED_API=NPY_1_7_API_VERSION
"""fastgd's compiled model kernels (fastgd_models.h): losses, gradients and Hessian
diagonals of linear models on a batch, and the pieces of gradient clipping.

Private: :mod:`fastgd.models` and :mod:`fastgd.clip` validate every argument and call
these with arrays they have checked. The kernels release the GIL, run the instruction set
the compiled core runs (``fastgd._core.isa()``) and use the thread count it uses
(``fastgd.set_num_threads``).
"""

from libc.math cimport isfinite, pow
from libc.stdint cimport int64_t, uintptr_t
from libc.string cimport memcpy

cimport numpy as cnp

from fastgd import _core

cnp.import_array()

cdef extern from "fastgd_models.h" nogil:
    ctypedef struct fgdm_args:
        int kind
        Py_ssize_t n_samples, n, d, k
        const void *X
        Py_ssize_t xs0, xs1
        int row_major
        const void *y
        Py_ssize_t ys
        const void *sw
        Py_ssize_t ss
        const int64_t *rows
        Py_ssize_t rs
        const void *coef
        const void *intercept
        double a1, a2, eps
        void *grad_coef
        void *grad_intercept
        void *hess_coef
        void *hess_intercept
        int nthreads
        double loss
        Py_ssize_t err_pos

    ctypedef int (*fgdm_loss_fn)(fgdm_args *a) noexcept nogil
    ctypedef double (*fgdm_norm_fn)(Py_ssize_t n, const void *x, int mode,
                                    double p) noexcept nogil
    ctypedef void (*fgdm_scale_fn)(Py_ssize_t n, void *x, double c,
                                   int nthreads) noexcept nogil
    ctypedef void (*fgdm_clamp_fn)(Py_ssize_t n, void *x, double lo, double hi,
                                   int nthreads) noexcept nogil
    ctypedef struct fgdm_table:
        const char *name
        fgdm_loss_fn loss_grad[2]
        fgdm_norm_fn norm_part[2]
        fgdm_scale_fn scale[2]
        fgdm_clamp_fn clamp[2]

    const fgdm_table fgdm_tables[]
    int FGDM_N_TABLES
    int fgdm_table_supported(int i)
    int fgdm_openmp_enabled()
    Py_ssize_t fgdm_n_chunks(Py_ssize_t n, Py_ssize_t m)
    Py_ssize_t FGDM_CHUNK_ROWS
    Py_ssize_t FGDM_MAX_CHUNKS
    Py_ssize_t FGDM_PARALLEL_MIN

NAME = "cython"
OPENMP = bool(fgdm_openmp_enabled())
#: Rows per chunk (at least), chunks per call (at most), and the work (batch rows x coef
#: size) from which a call is split across threads.
CHUNK_ROWS = FGDM_CHUNK_ROWS
MAX_CHUNKS = FGDM_MAX_CHUNKS
PARALLEL_MIN = FGDM_PARALLEL_MIN

cdef dict _TABLE_INDEX = {fgdm_tables[i].name.decode(): i for i in range(FGDM_N_TABLES)}


def isas():
    """The instruction sets this build has model kernels for, and whether this CPU runs
    each (the same as the compiled core's)."""
    return {fgdm_tables[i].name.decode(): bool(fgdm_table_supported(i))
            for i in range(FGDM_N_TABLES)}


def n_chunks(Py_ssize_t n, Py_ssize_t m):
    """How many chunks a batch of n rows is summed in, for a coef of m values."""
    return fgdm_n_chunks(n, m)


cdef const fgdm_table* _table() except NULL:
    """The kernels of the instruction set the compiled core runs now."""
    index = _TABLE_INDEX.get(_core.isa())
    if index is None or not fgdm_table_supported(index):
        index = 0
    return &fgdm_tables[<int>index]


cdef inline void* _data(object a):
    return NULL if a is None else cnp.PyArray_DATA(<cnp.ndarray>a)


def loss_grad(int kind, cnp.ndarray X, cnp.ndarray y, cnp.ndarray coef, object intercept,
              object sample_weight, object rows, double a1, double a2, double eps,
              object grad_coef, object grad_intercept, object hess_coef,
              object hess_intercept):
    """Run the loss kernel on checked arrays; return (status, batch position, loss)."""
    cdef fgdm_args a
    cdef int status
    cdef Py_ssize_t itemsize = cnp.PyArray_ITEMSIZE(X)
    cdef const fgdm_table* table = _table()
    cdef fgdm_loss_fn fn = table.loss_grad[0 if cnp.PyArray_TYPE(X) == cnp.NPY_FLOAT32 else 1]
    a.kind = kind
    a.n_samples = cnp.PyArray_DIM(X, 0)
    a.d = cnp.PyArray_DIM(X, 1)
    a.k = cnp.PyArray_DIM(coef, 1) if cnp.PyArray_NDIM(coef) == 2 else 1
    a.X = cnp.PyArray_DATA(X)
    a.xs0 = cnp.PyArray_STRIDE(X, 0) // itemsize
    a.xs1 = cnp.PyArray_STRIDE(X, 1) // itemsize
    a.row_major = a.d <= 1 or a.xs1 == 1
    a.y = cnp.PyArray_DATA(y)
    a.ys = cnp.PyArray_STRIDE(y, 0) // cnp.PyArray_ITEMSIZE(y)
    a.sw = _data(sample_weight)
    a.ss = 0 if sample_weight is None else \
        cnp.PyArray_STRIDE(<cnp.ndarray>sample_weight, 0) // itemsize
    a.rows = <const int64_t*>_data(rows)
    if rows is None:
        a.n = a.n_samples
        a.rs = 0
    else:
        a.n = cnp.PyArray_DIM(<cnp.ndarray>rows, 0)
        a.rs = cnp.PyArray_STRIDE(<cnp.ndarray>rows, 0) // 8
    a.coef = cnp.PyArray_DATA(coef)
    a.intercept = _data(intercept)
    a.a1 = a1
    a.a2 = a2
    a.eps = eps
    a.grad_coef = <void*>_data(grad_coef)
    a.grad_intercept = <void*>_data(grad_intercept)
    a.hess_coef = <void*>_data(hess_coef)
    a.hess_intercept = <void*>_data(hess_intercept)
    a.nthreads = _core.get_num_threads()
    a.loss = 0.0
    a.err_pos = -1
    with nogil:
        status = fn(&a)
    return status, a.err_pos, a.loss


def norm_part(cnp.ndarray x, int mode, double p):
    """One contiguous buffer's part of a total norm (see fastgd_models.h, FGDM_NORM_*)."""
    cdef const fgdm_table* table = _table()
    cdef fgdm_norm_fn fn = table.norm_part[0 if cnp.PyArray_TYPE(x) == cnp.NPY_FLOAT32 else 1]
    cdef Py_ssize_t n = cnp.PyArray_SIZE(x)
    cdef const void* data = cnp.PyArray_DATA(x)
    cdef double result
    with nogil:
        result = fn(n, data, mode, p)
    return result


def scale(cnp.ndarray x, double c):
    """x *= c in place, c rounded to x's dtype (x contiguous and writable)."""
    cdef const fgdm_table* table = _table()
    cdef fgdm_scale_fn fn = table.scale[0 if cnp.PyArray_TYPE(x) == cnp.NPY_FLOAT32 else 1]
    cdef Py_ssize_t n = cnp.PyArray_SIZE(x)
    cdef void* data = cnp.PyArray_DATA(x)
    cdef int nt = _core.get_num_threads()
    with nogil:
        fn(n, data, c, nt)


def clamp(cnp.ndarray x, double lo, double hi):
    """x = min(max(x, lo), hi) in place, NaN kept (x contiguous and writable)."""
    cdef const fgdm_table* table = _table()
    cdef fgdm_clamp_fn fn = table.clamp[0 if cnp.PyArray_TYPE(x) == cnp.NPY_FLOAT32 else 1]
    cdef Py_ssize_t n = cnp.PyArray_SIZE(x)
    cdef void* data = cnp.PyArray_DATA(x)
    cdef int nt = _core.get_num_threads()
    with nogil:
        fn(n, data, lo, hi, nt)


ctypedef void (*fgd_kernel_fn)(Py_ssize_t n, const Py_ssize_t* dims, char* const* b,
                               const double* s, const int* f) noexcept nogil

cdef extern from *:
    """
    /* Ask for the cache lines of rows (of `bytes` bytes, `stride` bytes apart) ahead of
     * use: a shuffled batch reads rows scattered over X, and each read would otherwise
     * wait for memory in turn. A hint only: results do not change. */
    static inline void fgd_prefetch_rows(const char *x, const int64_t *rows, Py_ssize_t n,
                                         Py_ssize_t stride, Py_ssize_t bytes)
    {
        for (Py_ssize_t i = 0; i < n; ++i) {
            const char *row = x + rows[i] * stride;
            for (Py_ssize_t b = 0; b < bytes; b += 64) __builtin_prefetch(row + b);
        }
    }
    """
    void fgd_prefetch_rows(const char *x, const int64_t *rows, Py_ssize_t n,
                           Py_ssize_t stride, Py_ssize_t bytes) noexcept nogil

cdef enum:
    FUSED_SGD = 0
    FUSED_ADAM = 1


def fused_batches(int kind, cnp.ndarray X, cnp.ndarray y, cnp.ndarray coef, object intercept,
                  object sample_weight, cnp.ndarray order, Py_ssize_t first,
                  Py_ssize_t n_batches, Py_ssize_t bs, double a1, double a2, double eps,
                  cnp.ndarray grad_coef, object grad_intercept, list backups,
                  int opt_kind, uintptr_t opt_fn, list coef_state, list intercept_state,
                  double[::1] scalars, int[::1] flags, Py_ssize_t step0,
                  double total0, double weights0):
    """Batches ``first .. first + n_batches - 1`` of an epoch (rows ``order[j*bs:(j+1)*bs]``)
    in one native call: per batch the loss kernel, then the optimizer kernel on coef and
    intercept, exactly as fastgd.fit's Python loop does with fastgd.models.loss_grad and
    opt.step. Every array was checked by fit. ``scalars``/``flags``: the optimizer kernel's,
    in its declaration order; for Adam the bias corrections (``scalars[5]``, ``[6]``) are
    recomputed per step as ``1 - beta1**t`` and ``(1 - beta2**t) ** 0.5`` (Python's float
    power is C's pow). ``backups`` receive each parameter before each step.

    Returns (batches done, total0 + the sum of loss * batch weight, weights0 + the sum of
    batch weights (both added batch by batch, as fit adds them), status of a failed loss
    call or 0, 1 if the last batch's loss was not finite). On a non-finite loss
    the parameters are restored from the backups (those before the previous step) and the
    call stops, as fit does.
    """
    cdef fgdm_args a
    cdef int status = 0, nonfinite = 0
    cdef Py_ssize_t itemsize = cnp.PyArray_ITEMSIZE(X)
    cdef const fgdm_table* table = _table()
    cdef bint f32 = cnp.PyArray_TYPE(X) == cnp.NPY_FLOAT32
    cdef fgdm_loss_fn fn = table.loss_grad[0 if f32 else 1]
    cdef fgd_kernel_fn step = <fgd_kernel_fn>opt_fn
    cdef Py_ssize_t n_order = cnp.PyArray_DIM(order, 0), j = first, r, t
    cdef const int64_t* rows0 = <const int64_t*>cnp.PyArray_DATA(order)
    cdef double total = total0, weights = weights0, bw, beta1 = 0.0, beta2 = 0.0
    cdef double s[16]
    cdef char* cb[8]
    cdef char* ib[8]
    cdef Py_ssize_t cdims[3]
    cdef Py_ssize_t idims[3]
    cdef Py_ssize_t n_coef = cnp.PyArray_SIZE(coef), n_int = 0
    cdef Py_ssize_t n_params = len(backups), n_s = scalars.shape[0]
    cdef char* pdata[2]
    cdef char* bdata[2]
    cdef Py_ssize_t nbytes[2]
    cdef const char* w = <const char*>_data(sample_weight)
    cdef Py_ssize_t ws = 0
    if n_s > 16 or len(coef_state) > 6 or len(intercept_state) > 6:
        raise ValueError("fused_batches: too many optimizer arguments")
    for r in range(n_s):
        s[r] = scalars[r]
    if opt_kind == FUSED_ADAM:
        beta1, beta2 = s[1], s[2]
    # the optimizer's buffers: param, grad, then the state (None: absent)
    cb[0] = <char*>cnp.PyArray_DATA(coef)
    cb[1] = <char*>cnp.PyArray_DATA(grad_coef)
    for r in range(len(coef_state)):
        cb[2 + r] = <char*>_data(coef_state[r])
    cdims[0] = 1
    cdims[1] = 1
    cdims[2] = n_coef
    if intercept is not None:
        n_int = cnp.PyArray_SIZE(<cnp.ndarray>intercept)
        ib[0] = <char*>cnp.PyArray_DATA(<cnp.ndarray>intercept)
        ib[1] = <char*>cnp.PyArray_DATA(<cnp.ndarray>grad_intercept)
        for r in range(len(intercept_state)):
            ib[2 + r] = <char*>_data(intercept_state[r])
        idims[0] = 1
        idims[1] = 1
        idims[2] = n_int
    for r in range(n_params):
        pdata[r] = cb[0] if r == 0 else ib[0]
        bdata[r] = <char*>cnp.PyArray_DATA(<cnp.ndarray>backups[r])
        nbytes[r] = (n_coef if r == 0 else n_int) * itemsize
    if sample_weight is not None:
        ws = cnp.PyArray_STRIDE(<cnp.ndarray>sample_weight, 0) // itemsize

    a.kind = kind
    a.n_samples = cnp.PyArray_DIM(X, 0)
    a.d = cnp.PyArray_DIM(X, 1)
    a.k = cnp.PyArray_DIM(coef, 1) if cnp.PyArray_NDIM(coef) == 2 else 1
    a.X = cnp.PyArray_DATA(X)
    a.xs0 = cnp.PyArray_STRIDE(X, 0) // itemsize
    a.xs1 = cnp.PyArray_STRIDE(X, 1) // itemsize
    a.row_major = a.d <= 1 or a.xs1 == 1
    a.y = cnp.PyArray_DATA(y)
    a.ys = cnp.PyArray_STRIDE(y, 0) // cnp.PyArray_ITEMSIZE(y)
    a.sw = w
    a.ss = ws
    a.rs = 1
    a.coef = cb[0]
    a.intercept = NULL if intercept is None else ib[0]
    a.a1 = a1
    a.a2 = a2
    a.eps = eps
    a.grad_coef = cb[1]
    a.grad_intercept = NULL if intercept is None else ib[1]
    a.hess_coef = NULL
    a.hess_intercept = NULL
    a.nthreads = _core.get_num_threads()

    cdef bint prefetch = a.row_major and a.xs0 > 0
    cdef Py_ssize_t row_bytes = a.d * itemsize, row_stride = a.xs0 * itemsize
    with nogil:
        for j in range(first, first + n_batches):
            a.rows = rows0 + j * bs
            a.n = bs if (j + 1) * bs <= n_order else n_order - j * bs
            if prefetch and j + 2 < first + n_batches:  # the rows of the batch after next
                fgd_prefetch_rows(<const char*>a.X, a.rows + 2 * bs,
                                  bs if (j + 3) * bs <= n_order else n_order - (j + 2) * bs,
                                  row_stride, row_bytes)
            a.loss = 0.0
            a.err_pos = -1
            status = fn(&a)
            if status != 0:
                break
            if not isfinite(a.loss):
                for r in range(n_params):
                    memcpy(pdata[r], bdata[r], nbytes[r])
                nonfinite = 1
                break
            if w == NULL:
                bw = <double>a.n
            else:  # the batch's weights, added in row order
                bw = 0.0
                for t in range(a.n):
                    bw += (<const float*>w)[a.rows[t] * ws] if f32 else \
                        (<const double*>w)[a.rows[t] * ws]
            total += a.loss * bw
            weights += bw
            for r in range(n_params):
                memcpy(bdata[r], pdata[r], nbytes[r])
            if opt_kind == FUSED_ADAM:
                t = step0 + (j - first) + 1
                s[5] = 1 - pow(beta1, <double>t)
                s[6] = pow(1 - pow(beta2, <double>t), 0.5)
            step(n_coef, cdims, cb, s, &flags[0])
            if intercept is not None:
                step(n_int, idims, ib, s, &flags[0])
    return j - first + (0 if (status != 0 or nonfinite) else 1) if n_batches else 0, \
        total, weights, status, nonfinite
