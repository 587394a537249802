# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
# distutils: define_macros=NPY_NO_DEPRECATED_API=NPY_1_7_API_VERSION
"""fastgd's compiled model kernels (fastgd_models.h): losses, gradients and Hessian
diagonals of linear models on a batch, and the pieces of gradient clipping.

Private: :mod:`fastgd.models` and :mod:`fastgd.clip` validate every argument and call
these with arrays they have checked. The kernels release the GIL, run the instruction set
the compiled core runs (``fastgd._core.isa()``) and use the thread count it uses
(``fastgd.set_num_threads``).
"""

from libc.stdint cimport int64_t

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
