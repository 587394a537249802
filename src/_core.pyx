# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
# distutils: define_macros=NPY_NO_DEPRECATED_API=NPY_1_7_API_VERSION
"""fastgd's compiled backend: Cython entry points over the C kernels of fastgd_kernels.h.

Each ``*_many`` function takes lists of arrays (one entry per tensor) plus scalars, checks
every buffer of every tensor first, then releases the GIL and runs the C kernel over each
tensor in turn: one Python-level call for a whole parameter group. Nothing is written when
any check fails; with ``check_only=True`` the call stops after the checks (the optimizers
check all their calls of a step before making any).
"""

import os

from libc.stdint cimport uintptr_t
from libc.stdlib cimport free, malloc

cimport numpy as cnp

from fastgd._checks import ROLES

cnp.import_array()

cdef extern from "fastgd_kernels.h" nogil:
    ctypedef struct fgd_kernel_table:
        const char* name
        void (*sgd_f32)(Py_ssize_t n, float* p, const float* g, float* buf, double lr,
                        double momentum, double dampening, double weight_decay, int nesterov,
                        int maximize, int first_step) noexcept nogil
        void (*sgd_f64)(Py_ssize_t n, double* p, const double* g, double* buf, double lr,
                        double momentum, double dampening, double weight_decay, int nesterov,
                        int maximize, int first_step) noexcept nogil
        void (*adam_f32)(Py_ssize_t n, float* p, const float* g, float* m, float* v,
                         float* vmax, double lr, double beta1, double beta2, double eps,
                         double weight_decay, double bias_correction1,
                         double bias_correction2_sqrt, int amsgrad,
                         int decoupled_weight_decay, int maximize) noexcept nogil
        void (*adam_f64)(Py_ssize_t n, double* p, const double* g, double* m, double* v,
                         double* vmax, double lr, double beta1, double beta2, double eps,
                         double weight_decay, double bias_correction1,
                         double bias_correction2_sqrt, int amsgrad,
                         int decoupled_weight_decay, int maximize) noexcept nogil
        void (*adagrad_f32)(Py_ssize_t n, float* p, const float* g, float* s, double clr,
                            double eps, double weight_decay, int maximize) noexcept nogil
        void (*adagrad_f64)(Py_ssize_t n, double* p, const double* g, double* s, double clr,
                            double eps, double weight_decay, int maximize) noexcept nogil
        void (*rmsprop_f32)(Py_ssize_t n, float* p, const float* g, float* sq, float* gavg,
                            float* buf, double lr, double alpha, double eps,
                            double weight_decay, double momentum, int centered,
                            int maximize) noexcept nogil
        void (*rmsprop_f64)(Py_ssize_t n, double* p, const double* g, double* sq,
                            double* gavg, double* buf, double lr, double alpha, double eps,
                            double weight_decay, double momentum, int centered,
                            int maximize) noexcept nogil
        void (*stream_f32)(Py_ssize_t n, float* p, const float* g, float* m,
                           float* v) noexcept nogil
        void (*stream_f64)(Py_ssize_t n, double* p, const double* g, double* m,
                           double* v) noexcept nogil

    const fgd_kernel_table fgd_tables[]
    int FGD_N_TABLES
    int FGD_PARALLEL_MIN
    int fgd_table_supported(int i)
    int fgd_openmp_enabled()
    int fgd_thread_override
    int fgd_max_threads()

NAME = "cython"
OPENMP = bool(fgd_openmp_enabled())
#: Buffers of at least this many elements are shared between threads.
PARALLEL_MIN = FGD_PARALLEL_MIN

cdef const fgd_kernel_table* _kernels = &fgd_tables[0]


def isas():
    """The instruction sets this build has kernels for, and whether this CPU runs each."""
    return {fgd_tables[i].name.decode(): bool(fgd_table_supported(i))
            for i in range(FGD_N_TABLES)}


def isa():
    """The instruction set whose kernels run now."""
    return _kernels.name.decode()


def set_isa(name):
    """Run the kernels compiled for ``name`` (``'baseline'``, ``'avx2'``, ``'avx512'``)."""
    global _kernels
    cdef int i
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {name!r}")
    name = str(name)
    for i in range(FGD_N_TABLES):
        if fgd_tables[i].name.decode() == name:
            if not fgd_table_supported(i):
                raise ValueError(f"this CPU cannot run the {name!r} kernels; it can run "
                                 f"{[k for k, ok in isas().items() if ok]}")
            _kernels = &fgd_tables[i]
            return
    raise ValueError(f"unknown instruction set {name!r}; this build has {list(isas())}")


def best_isa():
    """The widest instruction set this CPU runs."""
    best = None
    for name, ok in isas().items():  # tables are listed narrowest first
        if ok:
            best = name
    return best


def set_num_threads(int n):
    """Use ``n`` threads for large buffers; 0 returns the choice to OpenMP's settings."""
    global fgd_thread_override
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    fgd_thread_override = n


def get_num_threads():
    """The number of threads a large buffer is split across now."""
    return fgd_max_threads()


def thread_override():
    return fgd_thread_override


cdef class _Table:
    """Data pointers of ``n_roles`` buffer lists over ``n`` tensors, checked and ready."""
    cdef Py_ssize_t n
    cdef int n_roles
    cdef bint is_f32
    cdef char** ptr          # ptr[role * n + t]; NULL for an absent optional buffer
    cdef Py_ssize_t* size    # size[t], elements of tensor t

    def __dealloc__(self):
        free(self.ptr)
        free(self.size)

    cdef inline char* at(self, int role, Py_ssize_t t) noexcept nogil:
        return self.ptr[role * self.n + t]


cdef str _where(str kernel, str role, Py_ssize_t t):
    return f"{kernel}: {role} (tensor {t})"


cdef _Table _collect(str kernel, tuple roles, tuple lists, tuple writable, tuple needed):
    """Check every buffer and gather its pointer; raise before anything is written.

    roles[r] names the buffers in lists[r]; writable[r] says the kernel writes them;
    needed[r] says they must be present (otherwise the whole list may be None).
    """
    cdef _Table table = _Table.__new__(_Table)
    cdef int n_roles = len(roles)
    cdef int r, q, typenum = -1
    cdef Py_ssize_t t, n, itemsize
    cdef object arr, lst
    cdef cnp.ndarray a
    cdef uintptr_t lo_r, hi_r, lo_q, hi_q

    params = lists[0]
    if not isinstance(params, (list, tuple)):
        raise TypeError(f"{kernel}: {roles[0]} must be a list or tuple of arrays, "
                        f"got {type(params).__name__}")
    n = len(params)
    for r in range(1, n_roles):
        lst = lists[r]
        if lst is None and not needed[r]:
            continue
        if not isinstance(lst, (list, tuple)):
            raise TypeError(f"{kernel}: {roles[r]} must be a list or tuple of arrays, "
                            f"got {type(lst).__name__}")
        if len(lst) != n:
            raise ValueError(f"{kernel}: got {n} {roles[0]} buffers but {len(lst)} "
                             f"{roles[r]} buffers")

    table.n = n
    table.n_roles = n_roles
    table.ptr = <char**>malloc(max(1, n * n_roles) * sizeof(char*))
    table.size = <Py_ssize_t*>malloc(max(1, n) * sizeof(Py_ssize_t))
    if table.ptr == NULL or table.size == NULL:
        raise MemoryError()

    for t in range(n):
        for r in range(n_roles):
            lst = lists[r]
            arr = None if lst is None else lst[t]
            if arr is None:
                if needed[r]:
                    raise ValueError(f"{_where(kernel, roles[r], t)} is required with "
                                     f"these options but is None")
                table.ptr[r * n + t] = NULL
                continue
            if not cnp.PyArray_Check(arr):
                raise TypeError(f"{_where(kernel, roles[r], t)} must be a numpy.ndarray, "
                                f"got {type(arr).__name__}")
            a = <cnp.ndarray>arr
            if typenum == -1:
                typenum = cnp.PyArray_TYPE(a)
                if ((typenum != cnp.NPY_FLOAT32 and typenum != cnp.NPY_FLOAT64)
                        or not cnp.PyArray_ISNOTSWAPPED(a)):
                    raise TypeError(f"{_where(kernel, roles[r], t)} has dtype {a.dtype}; "
                                    f"fastgd kernels take float32 or float64")
            elif cnp.PyArray_TYPE(a) != typenum or not cnp.PyArray_ISNOTSWAPPED(a):
                raise TypeError(f"{_where(kernel, roles[r], t)} has dtype {a.dtype}, "
                                f"expected {cnp.PyArray_DescrFromType(typenum)} like the "
                                f"first {roles[0]}")
            if not cnp.PyArray_IS_C_CONTIGUOUS(a):
                raise ValueError(f"{_where(kernel, roles[r], t)} must be C-contiguous")
            if not cnp.PyArray_ISALIGNED(a):
                raise ValueError(f"{_where(kernel, roles[r], t)} must be aligned")
            if writable[r] and not cnp.PyArray_ISWRITEABLE(a):
                raise ValueError(f"{_where(kernel, roles[r], t)} is read-only but the "
                                 f"kernel writes it")
            if r == 0:
                table.size[t] = cnp.PyArray_SIZE(a)
            elif cnp.PyArray_SIZE(a) != table.size[t]:
                raise ValueError(f"{_where(kernel, roles[r], t)} has {cnp.PyArray_SIZE(a)} "
                                 f"elements, expected {table.size[t]} like its "
                                 f"{roles[0]}")
            table.ptr[r * n + t] = <char*>cnp.PyArray_DATA(a)
        # The kernels read and write through restrict pointers: the buffers of one tensor
        # must not overlap, or the result would depend on the compiler's schedule.
        itemsize = 4 if typenum == cnp.NPY_FLOAT32 else 8
        for r in range(n_roles):
            lo_r = <uintptr_t>table.ptr[r * n + t]
            if lo_r == 0:
                continue
            hi_r = lo_r + table.size[t] * itemsize
            for q in range(r + 1, n_roles):
                lo_q = <uintptr_t>table.ptr[q * n + t]
                if lo_q == 0:
                    continue
                hi_q = lo_q + table.size[t] * itemsize
                if lo_r < hi_q and lo_q < hi_r:
                    raise ValueError(f"{_where(kernel, roles[r], t)} shares memory with "
                                     f"{roles[q]}; pass separate arrays")
    table.is_f32 = typenum == cnp.NPY_FLOAT32
    return table


_SGD_ROLES = ROLES["sgd"]
_ADAM_ROLES = ROLES["adam"]
_ADAGRAD_ROLES = ROLES["adagrad"]
_RMSPROP_ROLES = ROLES["rmsprop"]


def sgd_many(params, grads, momentum_buffers, *, double lr, double momentum=0.0,
             double dampening=0.0, double weight_decay=0.0, bint nesterov=False,
             bint maximize=False, bint first_step=False, bint check_only=False):
    cdef _Table tb = _collect("sgd", _SGD_ROLES, (params, grads, momentum_buffers),
                              (True, False, True), (True, True, momentum != 0.0))
    cdef Py_ssize_t t
    cdef const fgd_kernel_table* k = _kernels
    if check_only:
        return
    with nogil:
        for t in range(tb.n):
            if tb.is_f32:
                k.sgd_f32(tb.size[t], <float*>tb.at(0, t), <float*>tb.at(1, t),
                            <float*>tb.at(2, t), lr, momentum, dampening, weight_decay,
                            nesterov, maximize, first_step)
            else:
                k.sgd_f64(tb.size[t], <double*>tb.at(0, t), <double*>tb.at(1, t),
                            <double*>tb.at(2, t), lr, momentum, dampening, weight_decay,
                            nesterov, maximize, first_step)


def adam_many(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, *, double lr,
              double beta1, double beta2, double eps, double weight_decay=0.0,
              double bias_correction1, double bias_correction2_sqrt, bint amsgrad=False,
              bint decoupled_weight_decay=False, bint maximize=False,
              bint check_only=False):
    cdef _Table tb = _collect("adam", _ADAM_ROLES,
                              (params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs),
                              (True, False, True, True, True), (True, True, True, True, amsgrad))
    cdef Py_ssize_t t
    cdef const fgd_kernel_table* k = _kernels
    if check_only:
        return
    with nogil:
        for t in range(tb.n):
            if tb.is_f32:
                k.adam_f32(tb.size[t], <float*>tb.at(0, t), <float*>tb.at(1, t),
                             <float*>tb.at(2, t), <float*>tb.at(3, t), <float*>tb.at(4, t),
                             lr, beta1, beta2, eps, weight_decay, bias_correction1,
                             bias_correction2_sqrt, amsgrad, decoupled_weight_decay, maximize)
            else:
                k.adam_f64(tb.size[t], <double*>tb.at(0, t), <double*>tb.at(1, t),
                             <double*>tb.at(2, t), <double*>tb.at(3, t), <double*>tb.at(4, t),
                             lr, beta1, beta2, eps, weight_decay, bias_correction1,
                             bias_correction2_sqrt, amsgrad, decoupled_weight_decay, maximize)


def adagrad_many(params, grads, state_sums, *, double clr, double eps,
                 double weight_decay=0.0, bint maximize=False, bint check_only=False):
    cdef _Table tb = _collect("adagrad", _ADAGRAD_ROLES, (params, grads, state_sums),
                              (True, False, True), (True, True, True))
    cdef Py_ssize_t t
    cdef const fgd_kernel_table* k = _kernels
    if check_only:
        return
    with nogil:
        for t in range(tb.n):
            if tb.is_f32:
                k.adagrad_f32(tb.size[t], <float*>tb.at(0, t), <float*>tb.at(1, t),
                                <float*>tb.at(2, t), clr, eps, weight_decay, maximize)
            else:
                k.adagrad_f64(tb.size[t], <double*>tb.at(0, t), <double*>tb.at(1, t),
                                <double*>tb.at(2, t), clr, eps, weight_decay, maximize)


def rmsprop_many(params, grads, square_avgs, grad_avgs, momentum_buffers, *, double lr,
                 double alpha, double eps, double weight_decay=0.0, double momentum=0.0,
                 bint centered=False, bint maximize=False, bint check_only=False):
    cdef _Table tb = _collect("rmsprop", _RMSPROP_ROLES,
                              (params, grads, square_avgs, grad_avgs, momentum_buffers),
                              (True, False, True, True, True),
                              (True, True, True, centered, momentum > 0.0))
    cdef Py_ssize_t t
    cdef const fgd_kernel_table* k = _kernels
    if check_only:
        return
    with nogil:
        for t in range(tb.n):
            if tb.is_f32:
                k.rmsprop_f32(tb.size[t], <float*>tb.at(0, t), <float*>tb.at(1, t),
                                <float*>tb.at(2, t), <float*>tb.at(3, t), <float*>tb.at(4, t),
                                lr, alpha, eps, weight_decay, momentum, centered, maximize)
            else:
                k.rmsprop_f64(tb.size[t], <double*>tb.at(0, t), <double*>tb.at(1, t),
                                <double*>tb.at(2, t), <double*>tb.at(3, t),
                                <double*>tb.at(4, t), lr, alpha, eps, weight_decay, momentum,
                                centered, maximize)


def stream_many(params, grads, ms, vs, *, bint check_only=False):
    """The streaming limit (benchmarks only): p += g, m += g, v += g over each tensor,
    Adam's memory traffic with trivial arithmetic."""
    cdef _Table tb = _collect("stream", ("param", "grad", "m", "v"), (params, grads, ms, vs),
                              (True, False, True, True), (True, True, True, True))
    cdef Py_ssize_t t
    cdef const fgd_kernel_table* k = _kernels
    if check_only:
        return
    with nogil:
        for t in range(tb.n):
            if tb.is_f32:
                k.stream_f32(tb.size[t], <float*>tb.at(0, t), <float*>tb.at(1, t),
                             <float*>tb.at(2, t), <float*>tb.at(3, t))
            else:
                k.stream_f64(tb.size[t], <double*>tb.at(0, t), <double*>tb.at(1, t),
                             <double*>tb.at(2, t), <double*>tb.at(3, t))


def _configure_from_environment():
    """FASTGD_ISA picks the kernels (default: the widest this CPU runs); FASTGD_NUM_THREADS
    the thread count for large buffers (default: OpenMP's)."""
    requested = os.environ.get("FASTGD_ISA", "").strip().lower()
    set_isa(requested or best_isa())
    threads = os.environ.get("FASTGD_NUM_THREADS", "").strip()
    if threads:
        try:
            n = int(threads)
        except ValueError:
            raise ValueError(f"FASTGD_NUM_THREADS must be a whole number, got {threads!r}")
        if n < 1:
            raise ValueError(f"FASTGD_NUM_THREADS must be >= 1, got {n}")
        set_num_threads(n)


_configure_from_environment()
