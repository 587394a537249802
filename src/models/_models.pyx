# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
# distutils: define_macros=NPY_NO_DEPRECATED_API=NPY_1_7_API_VERSION
"""fastgd's compiled model kernels (src/models/models.h): losses, gradients and Hessian
diagonals of linear models on a batch, and the pieces of gradient clipping.

Private: :mod:`fastgd.models` and :mod:`fastgd.models.clip` validate every argument and call
these with arrays they have checked. The kernels release the GIL, run the instruction set
the compiled core runs (``fastgd.backends._core.isa()``) and use the thread count it uses
(``fastgd.set_num_threads``).
"""

from libc.math cimport isfinite, sqrt
from libc.stdint cimport int64_t, uintptr_t
from libc.string cimport memcpy

cimport numpy as cnp

from fgd_kernel cimport fgd_isa_supported, fgd_kernel_fn, fgd_step_formula

from fastgd.backends import _core

cnp.import_array()

cdef extern from "models.h" nogil:
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
        const void *indices
        const void *indptr
        Py_ssize_t nnz_cap
        double loss
        Py_ssize_t err_pos

    ctypedef int (*fgdm_loss_fn)(fgdm_args *a) noexcept nogil
    ctypedef int (*fgdm_csr_decision_fn)(fgdm_args *a, void *out) noexcept nogil
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
        fgdm_loss_fn csr_loss_grad[2][2]
        fgdm_csr_decision_fn csr_decision[2][2]

    const fgdm_table fgdm_tables[]
    int FGDM_N_TABLES
    int fgdm_openmp_enabled()
    Py_ssize_t fgdm_n_chunks(Py_ssize_t n, Py_ssize_t m)
    Py_ssize_t FGDM_CHUNK_ROWS
    Py_ssize_t FGDM_MAX_CHUNKS
    Py_ssize_t FGDM_PARALLEL_MIN
    enum: FGDM_NORM_SUMSQ

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
    return {fgdm_tables[i].name.decode(): bool(fgd_isa_supported(i))
            for i in range(FGDM_N_TABLES)}


def n_chunks(Py_ssize_t n, Py_ssize_t m):
    """How many chunks a batch of n rows is summed in, for a coef of m values."""
    return fgdm_n_chunks(n, m)


cdef int _isa_index() except -1:
    """The index (fgd_isa.h's order) of the instruction set the compiled core runs now,
    the baseline where this CPU lacks it: the row of the model kernels' and the sparse
    loops' tables."""
    index = _TABLE_INDEX.get(_core.isa())
    if index is None or not fgd_isa_supported(index):
        return 0
    return index


cdef const fgdm_table* _table() except NULL:
    """The kernels of the instruction set the compiled core runs now."""
    return &fgdm_tables[_isa_index()]


cdef inline void* _data(object a):
    return NULL if a is None else cnp.PyArray_DATA(<cnp.ndarray>a)


cdef void _model_args(fgdm_args* a, int kind, cnp.ndarray X, cnp.ndarray y, cnp.ndarray coef,
                      object intercept, object sample_weight, double a1, double a2,
                      double eps):
    """The fields of ``a`` every loss call shares: the data, the model and its penalty;
    the caller sets the rows, the outputs and the thread count."""
    cdef Py_ssize_t itemsize = cnp.PyArray_ITEMSIZE(X)
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
    a.coef = cnp.PyArray_DATA(coef)
    a.intercept = _data(intercept)
    a.a1 = a1
    a.a2 = a2
    a.eps = eps


def loss_grad(int kind, cnp.ndarray X, cnp.ndarray y, cnp.ndarray coef, object intercept,
              object sample_weight, object rows, double a1, double a2, double eps,
              object grad_coef, object grad_intercept, object hess_coef,
              object hess_intercept):
    """Run the loss kernel on checked arrays; return (status, batch position, loss)."""
    cdef fgdm_args a
    cdef int status
    cdef const fgdm_table* table = _table()
    cdef fgdm_loss_fn fn = table.loss_grad[0 if cnp.PyArray_TYPE(X) == cnp.NPY_FLOAT32 else 1]
    _model_args(&a, kind, X, y, coef, intercept, sample_weight, a1, a2, eps)
    a.rows = <const int64_t*>_data(rows)
    if rows is None:
        a.n = a.n_samples
        a.rs = 0
    else:
        a.n = cnp.PyArray_DIM(<cnp.ndarray>rows, 0)
        a.rs = cnp.PyArray_STRIDE(<cnp.ndarray>rows, 0) // 8
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


cdef void _csr_args(fgdm_args* a, int kind, cnp.ndarray data, cnp.ndarray indices,
                    cnp.ndarray indptr, Py_ssize_t n_cols, cnp.ndarray coef, object intercept,
                    object rows):
    """The fields of ``a`` a CSR call shares: X's arrays, the model and the batch."""
    a.kind = kind
    a.n_samples = cnp.PyArray_DIM(indptr, 0) - 1
    a.d = n_cols
    a.k = cnp.PyArray_DIM(coef, 1) if cnp.PyArray_NDIM(coef) == 2 else 1
    a.X = cnp.PyArray_DATA(data)
    a.xs0 = 0
    a.xs1 = 0
    a.row_major = 1
    a.indices = cnp.PyArray_DATA(indices)
    a.indptr = cnp.PyArray_DATA(indptr)
    a.nnz_cap = min(cnp.PyArray_DIM(data, 0), cnp.PyArray_DIM(indices, 0))
    a.coef = cnp.PyArray_DATA(coef)
    a.intercept = _data(intercept)
    a.y = NULL
    a.ys = 0
    a.sw = NULL
    a.ss = 0
    a.a1 = 0.0
    a.a2 = 0.0
    a.eps = 0.0
    a.grad_coef = NULL
    a.grad_intercept = NULL
    a.hess_coef = NULL
    a.hess_intercept = NULL
    a.rows = <const int64_t*>_data(rows)
    if rows is None:
        a.n = a.n_samples
        a.rs = 0
    else:
        a.n = cnp.PyArray_DIM(<cnp.ndarray>rows, 0)
        a.rs = cnp.PyArray_STRIDE(<cnp.ndarray>rows, 0) // 8
    a.nthreads = _core.get_num_threads()
    a.loss = 0.0
    a.err_pos = -1


def csr_loss_grad(int kind, cnp.ndarray data, cnp.ndarray indices, cnp.ndarray indptr,
                  Py_ssize_t n_cols, cnp.ndarray y, cnp.ndarray coef, object intercept,
                  object sample_weight, object rows, double a1, double a2, double eps,
                  object grad_coef, object grad_intercept, object hess_coef,
                  object hess_intercept):
    """loss_grad for a CSR X (values ``data``, column ``indices``, row pointers ``indptr``,
    int32 or int64 both, ``n_cols`` columns) on checked arrays; return (status, batch
    position, loss)."""
    cdef fgdm_args a
    cdef int status
    cdef const fgdm_table* table = _table()
    cdef int ti = 0 if cnp.PyArray_TYPE(data) == cnp.NPY_FLOAT32 else 1
    cdef int ii = 0 if cnp.PyArray_ITEMSIZE(indices) == 4 else 1
    cdef fgdm_loss_fn fn = table.csr_loss_grad[ti][ii]
    cdef Py_ssize_t itemsize = cnp.PyArray_ITEMSIZE(data)
    _csr_args(&a, kind, data, indices, indptr, n_cols, coef, intercept, rows)
    a.y = cnp.PyArray_DATA(y)
    a.ys = cnp.PyArray_STRIDE(y, 0) // cnp.PyArray_ITEMSIZE(y)
    a.sw = _data(sample_weight)
    a.ss = 0 if sample_weight is None else \
        cnp.PyArray_STRIDE(<cnp.ndarray>sample_weight, 0) // itemsize
    a.a1 = a1
    a.a2 = a2
    a.eps = eps
    a.grad_coef = <void*>_data(grad_coef)
    a.grad_intercept = <void*>_data(grad_intercept)
    a.hess_coef = <void*>_data(hess_coef)
    a.hess_intercept = <void*>_data(hess_intercept)
    with nogil:
        status = fn(&a)
    return status, a.err_pos, a.loss


def csr_decision(cnp.ndarray data, cnp.ndarray indices, cnp.ndarray indptr,
                 Py_ssize_t n_cols, cnp.ndarray coef, object intercept, object rows,
                 cnp.ndarray out):
    """Decision values of a CSR X's rows into ``out`` (C-contiguous, n x k of data's
    dtype); return (status, batch position)."""
    cdef fgdm_args a
    cdef int status
    cdef const fgdm_table* table = _table()
    cdef int ti = 0 if cnp.PyArray_TYPE(data) == cnp.NPY_FLOAT32 else 1
    cdef int ii = 0 if cnp.PyArray_ITEMSIZE(indices) == 4 else 1
    cdef fgdm_csr_decision_fn fn = table.csr_decision[ti][ii]
    cdef void* dst = cnp.PyArray_DATA(out)
    _csr_args(&a, 0, data, indices, indptr, n_cols, coef, intercept, rows)
    with nogil:
        status = fn(&a, dst)
    return status, a.err_pos


def norm_part(cnp.ndarray x, int mode, double p):
    """One contiguous buffer's part of a total norm (see models.h, FGDM_NORM_*)."""
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
    MAX_INVOCATIONS = 8  # kernel calls per optimizer step (one per parameter and bucket)
    MAX_ROLES = 8        # buffers per kernel call
    MAX_ARGS = 16        # scalars or flags per kernel call
    PREFETCH_BYTES = 131072  # how far ahead the rows of later batches are prefetched
    PREFETCH_MOST = 8        # batches, at most

#: The widths of fused_batches' tables: scalars or flags per kernel call (the rows of the
#: scalar, flag, formula-code and beta-position tables), and kernel calls per step.
TABLE_WIDTH = MAX_ARGS
MAX_CALLS = MAX_INVOCATIONS


def fused_batches(int kind, cnp.ndarray X, cnp.ndarray y, cnp.ndarray coef, object intercept,
                  object sample_weight, cnp.ndarray order, Py_ssize_t first,
                  Py_ssize_t n_batches, Py_ssize_t bs, double a1, double a2, double eps,
                  cnp.ndarray grad_coef, object grad_intercept, list backups,
                  list invocations, double[:, :, ::1] scalars, int[:, :, ::1] flags,
                  double clip_norm, double clip_value, object last_grads,
                  Py_ssize_t last_batch, object hessian, const unsigned char[::1] hess_rows,
                  object formulas, double total0, double weights0):
    """Batches ``first .. first + n_batches - 1`` of an epoch (rows ``order[j*bs:(j+1)*bs]``)
    in one native call, each as fastgd.fit's Python loop runs it: the loss kernel (with
    the Hessian diagonal where ``hess_rows`` says so, then Sophia's Hessian average
    update), clipping (``clip_norm`` as fastgd.clip_grad_norm_ with the 2-norm, then
    ``clip_value`` as fastgd.clip_grad_value_; negative: none), a copy of the parameters
    into ``backups``, and the optimizer's native calls. Every array was checked by fit and
    by the optimizer's own step before.

    ``invocations``: the optimizer's kernel calls of one step, each ``(kernel address,
    which parameter (0 coef, 1 intercept), call number c, buffers)`` with ``buffers`` the
    kernel's role buffers (param, grad, state...; None absent). Step ``r`` of this call
    (``r = j - first``) gives call ``c`` the scalars ``scalars[r, c]`` and flags
    ``flags[r, c]``, and ``hess_rows[r]``, ``hessian``'s ``beta2[r]`` (row 0 for every
    step when the tables have one row). ``last_grads``:
    None, or two arrays receiving the gradient of batch ``last_batch`` before clipping.
    ``hessian``: None, or (address of the ``sophia_hessian`` kernel, [the Hessian state of
    coef, of intercept], [an estimate buffer for coef, for intercept], beta2 per step as a
    float64 array). ``formulas``: None, or (codes, beta positions, t0): the scalar tables
    have one row, and step ``r`` replaces scalar ``k`` of call ``c`` by
    ``1 - b**(t0 + r)`` (code 1) or ``(1 - b**(t0 + r)) ** 0.5`` (code 2), ``b`` the call's
    scalar at position ``betas[c, k]`` (C's pow, as Python's float power).

    Returns (batches done, total0 + the sum of loss * batch weight, weights0 + the sum of
    batch weights (both added batch by batch, as fit adds them), status of a failed loss
    call or 0, 1 if the last batch's loss was not finite, the last batch's loss). On a
    non-finite loss the
    parameters are restored from the backups (those before the previous step) and the
    call stops, as fit does; a failed loss call (a batch of zero weight, ...) stops before
    that batch changes anything.
    """
    cdef fgdm_args a
    cdef int status = 0, nonfinite = 0
    cdef Py_ssize_t itemsize = cnp.PyArray_ITEMSIZE(X)
    cdef const fgdm_table* table = _table()
    cdef bint f32 = cnp.PyArray_TYPE(X) == cnp.NPY_FLOAT32
    cdef int ti = 0 if f32 else 1
    cdef fgdm_loss_fn fn = table.loss_grad[ti]
    cdef fgdm_norm_fn norm_part = table.norm_part[ti]
    cdef fgdm_scale_fn scale = table.scale[ti]
    cdef fgdm_clamp_fn clamp = table.clamp[ti]
    cdef Py_ssize_t n_order = cnp.PyArray_DIM(order, 0), j = first, r, t, v, row
    cdef const int64_t* rows0 = <const int64_t*>cnp.PyArray_DATA(order)
    cdef double total = total0, weights = weights0, bw, sq, norm, clip_coef
    cdef float clip_coef32
    cdef Py_ssize_t n_params = len(backups)
    cdef Py_ssize_t n_inv = len(invocations)
    cdef Py_ssize_t n_rows = scalars.shape[0], n_calls = scalars.shape[1]
    cdef fgd_kernel_fn inv_fn[MAX_INVOCATIONS]
    cdef Py_ssize_t inv_call[MAX_INVOCATIONS]
    cdef Py_ssize_t inv_n[MAX_INVOCATIONS]
    cdef Py_ssize_t inv_dims[MAX_INVOCATIONS][3]
    cdef char* inv_buf[MAX_INVOCATIONS][MAX_ROLES]
    cdef char* pdata[2]
    cdef char* gdata[2]
    cdef char* bdata[2]
    cdef char* ldata[2]
    cdef Py_ssize_t psize[2]
    cdef Py_ssize_t pdims[2][3]
    cdef Py_ssize_t nbytes[2]
    cdef fgd_kernel_fn hess_fn = NULL
    cdef char* hess_buf[2][2]
    cdef const double* hess_beta2 = NULL
    cdef double[::1] beta2_view
    cdef int no_flags[MAX_ARGS]
    cdef const char* w = <const char*>_data(sample_weight)
    cdef Py_ssize_t ws = 0
    cdef bint use_hess
    cdef double local[MAX_INVOCATIONS][MAX_ARGS]
    cdef int codes[MAX_INVOCATIONS][MAX_ARGS]
    cdef int beta_at[MAX_INVOCATIONS][MAX_ARGS]
    cdef bint by_formula = formulas is not None
    cdef Py_ssize_t t0 = 0, c, k
    cdef int[:, ::1] codes_view
    cdef int[:, ::1] betas_view
    cdef cnp.ndarray arr
    if n_inv > MAX_INVOCATIONS or n_params > 2 or scalars.shape[2] > MAX_ARGS \
            or flags.shape[0] != n_rows or flags.shape[1] != n_calls \
            or flags.shape[2] > MAX_ARGS:
        raise ValueError("fused_batches: too many optimizer calls or arguments")
    if n_rows != 1 and n_rows < n_batches:
        raise ValueError("fused_batches: fewer rows of scalars than batches")
    if hess_rows.shape[0] < n_rows:
        raise ValueError("fused_batches: fewer Hessian rows than scalar rows")
    for r in range(MAX_ARGS):
        no_flags[r] = 0
    # the parameters and their gradients (0: coef, 1: intercept)
    for r in range(n_params):
        arr = coef if r == 0 else <cnp.ndarray>intercept
        pdata[r] = <char*>cnp.PyArray_DATA(arr)
        gdata[r] = <char*>cnp.PyArray_DATA(<cnp.ndarray>(grad_coef if r == 0 else grad_intercept))
        bdata[r] = <char*>cnp.PyArray_DATA(<cnp.ndarray>backups[r])
        psize[r] = cnp.PyArray_SIZE(arr)
        nbytes[r] = psize[r] * itemsize
        pdims[r][0] = 1
        pdims[r][1] = cnp.PyArray_DIM(arr, 0) if cnp.PyArray_NDIM(arr) == 2 else 1
        pdims[r][2] = cnp.PyArray_DIM(arr, 1) if cnp.PyArray_NDIM(arr) == 2 else psize[r]
        ldata[r] = NULL if last_grads is None else \
            <char*>cnp.PyArray_DATA(<cnp.ndarray>last_grads[r])
    for v in range(n_inv):
        address, which, call, buffers = invocations[v]
        if not (0 <= which < n_params and 0 <= call < n_calls) or len(buffers) > MAX_ROLES:
            raise ValueError("fused_batches: a bad optimizer call")
        inv_fn[v] = <fgd_kernel_fn><uintptr_t>address
        inv_call[v] = call
        inv_n[v] = psize[which]
        inv_dims[v][0] = pdims[which][0]
        inv_dims[v][1] = pdims[which][1]
        inv_dims[v][2] = pdims[which][2]
        for r in range(MAX_ROLES):
            inv_buf[v][r] = NULL if r >= len(buffers) else <char*>_data(buffers[r])
    if hessian is not None:
        address, states, estimates, beta2s = hessian
        hess_fn = <fgd_kernel_fn><uintptr_t>address
        for r in range(n_params):
            hess_buf[r][0] = <char*>_data(states[r])
            hess_buf[r][1] = <char*>_data(estimates[r])
        beta2_view = beta2s
        if beta2_view.shape[0] < n_rows:
            raise ValueError("fused_batches: fewer Hessian rows than scalar rows")
        hess_beta2 = &beta2_view[0]
    if sample_weight is not None:
        ws = cnp.PyArray_STRIDE(<cnp.ndarray>sample_weight, 0) // itemsize
    if by_formula:
        codes_view, betas_view, t0 = formulas
        if n_rows != 1 or codes_view.shape[0] != n_calls or betas_view.shape[0] != n_calls \
                or codes_view.shape[1] != MAX_ARGS or betas_view.shape[1] != MAX_ARGS \
                or scalars.shape[2] != MAX_ARGS or n_calls > MAX_INVOCATIONS:
            raise ValueError("fused_batches: bad step formulas")
        for c in range(n_calls):
            for k in range(MAX_ARGS):
                local[c][k] = scalars[0, c, k]
                codes[c][k] = codes_view[c, k]
                beta_at[c][k] = betas_view[c, k]
                if not (0 <= beta_at[c][k] < MAX_ARGS):
                    raise ValueError("fused_batches: bad step formulas")

    _model_args(&a, kind, X, y, coef, intercept, sample_weight, a1, a2, eps)
    a.rs = 1
    a.grad_coef = gdata[0]
    a.grad_intercept = gdata[1] if n_params > 1 else NULL
    a.nthreads = _core.get_num_threads()

    cdef bint prefetch = a.row_major and a.xs0 > 0
    cdef Py_ssize_t row_bytes = a.d * itemsize, row_stride = a.xs0 * itemsize
    # shuffled batches read rows scattered over X: ask for those of the batch `ahead`
    # batches later (about PREFETCH_BYTES ahead, 1 to PREFETCH_MOST batches)
    cdef Py_ssize_t ahead = PREFETCH_BYTES // max(bs * row_bytes, 1)
    ahead = 1 if ahead < 1 else (PREFETCH_MOST if ahead > PREFETCH_MOST else ahead)
    with nogil:
        for j in range(first, first + n_batches):
            row = 0 if n_rows == 1 else j - first
            a.rows = rows0 + j * bs
            a.n = bs if (j + 1) * bs <= n_order else n_order - j * bs
            if prefetch and j + ahead < first + n_batches:  # a later batch's rows
                fgd_prefetch_rows(<const char*>a.X, a.rows + ahead * bs,
                                  bs if (j + ahead + 1) * bs <= n_order
                                  else n_order - (j + ahead) * bs,
                                  row_stride, row_bytes)
            use_hess = hess_rows[row] != 0
            a.hess_coef = hess_buf[0][1] if use_hess else NULL
            a.hess_intercept = hess_buf[1][1] if use_hess and n_params > 1 else NULL
            a.loss = 0.0
            a.err_pos = -1
            status = fn(&a)
            if status != 0:
                break
            if use_hess:  # Sophia's update_hessian, before the loss is looked at (as fit)
                for r in range(n_params):
                    hess_fn(psize[r], pdims[r], hess_buf[r], &hess_beta2[row],
                            no_flags)
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
            if j == last_batch and ldata[0] != NULL:
                for r in range(n_params):
                    memcpy(ldata[r], gdata[r], nbytes[r])
            if clip_norm >= 0:  # fastgd.clip_grad_norm_(grads, clip_norm), 2-norm
                sq = 0.0
                for r in range(n_params):
                    if psize[r]:
                        sq += norm_part(psize[r], gdata[r], FGDM_NORM_SUMSQ, 2.0)
                norm = sqrt(sq)
                if f32:
                    clip_coef32 = (<float>1 / (<float>norm + <float>1e-6)) * <float>clip_norm
                    clip_coef = 1.0 if clip_coef32 > 1 else clip_coef32
                else:
                    clip_coef = (1.0 / (norm + 1e-6)) * clip_norm
                    if clip_coef > 1:
                        clip_coef = 1.0
                for r in range(n_params):
                    if psize[r]:
                        scale(psize[r], gdata[r], clip_coef, a.nthreads)
            if clip_value >= 0:  # fastgd.clip_grad_value_(grads, clip_value)
                for r in range(n_params):
                    if psize[r]:
                        clamp(psize[r], gdata[r], -clip_value, clip_value, a.nthreads)
            for r in range(n_params):
                memcpy(bdata[r], pdata[r], nbytes[r])
            if by_formula:
                for c in range(n_calls):
                    for k in range(MAX_ARGS):
                        if codes[c][k]:
                            local[c][k] = fgd_step_formula(local[c][beta_at[c][k]],
                                                           <double>(t0 + j - first),
                                                           codes[c][k])
                for v in range(n_inv):
                    inv_fn[v](inv_n[v], inv_dims[v], inv_buf[v], local[inv_call[v]],
                              &flags[0, inv_call[v], 0])
            else:
                for v in range(n_inv):
                    inv_fn[v](inv_n[v], inv_dims[v], inv_buf[v],
                              &scalars[row, inv_call[v], 0], &flags[row, inv_call[v], 0])
    return j - first + (0 if (status != 0 or nonfinite) else 1) if n_batches else 0, \
        total, weights, status, nonfinite, a.loss
include "sparse_sgd.pxi"
