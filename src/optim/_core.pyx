# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
# distutils: define_macros=NPY_NO_DEPRECATED_API=NPY_1_7_API_VERSION
"""fastgd's compiled backend: Cython entry points over the C kernels of src/optim/kernels.h.

Each ``*_many`` function takes lists of arrays (one entry per tensor) plus scalars, checks
every buffer of every tensor first, then releases the GIL and runs the C kernel over each
tensor in turn: one Python-level call for a whole parameter group. Nothing is written when
any check fails; with ``check_only=True`` the call stops after the checks (the optimizers
check all their calls of a step before making any).
"""

import os

import numpy as np

from libc.stdint cimport uintptr_t
from libc.stdlib cimport free, malloc

cimport numpy as cnp

from fgd_kernel cimport (
    FGD_N_KERNELS,
    FGD_N_TABLES,
    fgd_fma_supported,
    fgd_fma_tables,
    fgd_isa_supported,
    fgd_kernel_fn,
    fgd_kernel_names,
    fgd_kernel_table,
    fgd_step_formula,
    fgd_tables,
    fgd_vbmi_supported,
)

from fastgd.reference._checks import real as _real
from fastgd.reference._checks import scanned_arrays as _scanned_arrays
from fastgd.reference._declare import KERNELS, STEP_FORMULAS
from fastgd.reference import lowp as _lowp

cnp.import_array()

cdef extern from "fgd_parallel.h" nogil:
    int FGD_PARALLEL_MIN
    int FGD_PARALLEL_MIN_PASSIVE
    Py_ssize_t fgd_parallel_min
    int fgd_openmp_enabled()
    int fgd_thread_override
    int fgd_max_threads()
    int fgd_any_nonfinite_f32(Py_ssize_t n, const float* x)
    int fgd_any_nonfinite_f64(Py_ssize_t n, const double* x)
    Py_ssize_t FGD_SCAN_BLOCK

cdef extern from "kernels.h" nogil:
    ctypedef struct fgd_kernel_args:
        const char* roles
        const char* scalars
        const char* flags
    const fgd_kernel_args* fgd_kernel_arguments[]

cdef extern from "lowp.h" nogil:
    void fgd_bf16_widen(Py_ssize_t n, const unsigned short* src, float* dst)
    void fgd_bf16_narrow(Py_ssize_t n, const float* src, unsigned short* dst, long long key)
    void fgd_lowp_run(fgd_kernel_fn fn, Py_ssize_t n, int n_roles, char* const* b,
                      const double* s, const int* f, unsigned short* p16, const float* g32,
                      const unsigned short* g16, long long key)
    int FGD_LOWP_CHUNK

cdef enum:
    MAX_SCALARS = 32
    MAX_DIMS = 8     # parameters of more dimensions take the general path

NAME = "cython"
#: The element-wise kernels run on bfloat16 parameters chunk by chunk (``lowp=``).
LOWP_CHUNKED = True
#: Elements per chunk of those steps (each thread's float32 scratch holds one).
LOWP_CHUNK = FGD_LOWP_CHUNK
OPENMP = bool(fgd_openmp_enabled())
#: The most scalars, flags or buffers one kernel takes.
MAX_KERNEL_ARGS = MAX_SCALARS
#: Buffers of at least this many elements are shared between threads (the default with
#: OpenMP's default waiting, and with OMP_WAIT_POLICY=PASSIVE); see set_parallel_min.
PARALLEL_MIN = FGD_PARALLEL_MIN
PARALLEL_MIN_PASSIVE = FGD_PARALLEL_MIN_PASSIVE

# The table in use: fgd_tables[_isa_index], or its fused multiply-add twin when _fma.
cdef const fgd_kernel_table* _kernels = &fgd_tables[0]
cdef int _isa_index = 0
cdef bint _fma = False


def isas():
    """The instruction sets this build has kernels for, and whether this CPU runs each."""
    return {fgd_tables[i].name.decode(): bool(fgd_isa_supported(i))
            for i in range(FGD_N_TABLES)}


def isa():
    """The instruction set whose kernels run now."""
    return fgd_tables[_isa_index].name.decode()


def table_name():
    """The name of the table of kernels in use: the instruction set, with ``_fma`` when
    the fused multiply-add twins run (see set_fma)."""
    return _kernels.name.decode()


def fma_isas():
    """The instruction sets this build has fused multiply-add twins for, and whether this
    CPU runs each (the baseline twin everywhere: C's fmaf/fma, in software without an FMA
    unit; the AVX2 and AVX-512F twins on a CPU with FMA)."""
    return {fgd_tables[i].name.decode(): bool(fgd_fma_supported(i))
            for i in range(FGD_N_TABLES)}


cdef void _choose_table(int index, bint fma):
    global _kernels, _isa_index, _fma
    _isa_index = index
    _fma = fma
    _kernels = &fgd_fma_tables[index] if fma else &fgd_tables[index]


def set_isa(name):
    """Run the kernels compiled for ``name`` (``'baseline'``, ``'avx2'``, ``'avx512'``),
    as their fused multiply-add twins while set_fma(True) is in force."""
    cdef int i
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {name!r}")
    name = str(name)
    for i in range(FGD_N_TABLES):
        if fgd_tables[i].name.decode() == name:
            if not fgd_isa_supported(i):
                raise ValueError(f"this CPU cannot run the {name!r} kernels; it can run "
                                 f"{[k for k, ok in isas().items() if ok]}")
            if _fma and not fgd_fma_supported(i):
                raise ValueError(f"this CPU has no fused multiply-add unit for the {name!r} "
                                 f"kernels in FMA mode; call set_fma(False) first or choose "
                                 f"one of {[k for k, ok in fma_isas().items() if ok]}")
            _choose_table(i, _fma)
            return
    raise ValueError(f"unknown instruction set {name!r}; this build has {list(isas())}")


def set_fma(flag):
    """Run torch.optim's rules with fused multiply-add where torch's CPU kernels fuse
    (``True``), or the plain kernels (``False``, the default); the instruction set stays."""
    if not isinstance(flag, bool):
        raise TypeError(f"flag must be True or False, got {flag!r}")
    if flag and not fgd_fma_supported(_isa_index):
        raise ValueError(f"this CPU has no fused multiply-add unit for the {isa()!r} "
                         f"kernels; FMA mode can run on "
                         f"{[k for k, ok in fma_isas().items() if ok]} (set_isa)")
    _choose_table(_isa_index, flag)


def get_fma():
    """Whether the fused multiply-add twins run (see set_fma)."""
    return bool(_fma)


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


def set_parallel_min(n):
    """Share buffers of at least ``n`` elements between threads (smaller ones run on the
    calling thread)."""
    global fgd_parallel_min
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, got {n!r}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    fgd_parallel_min = n


def get_parallel_min():
    """The smallest buffer, in elements, that is shared between threads."""
    return fgd_parallel_min


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
    cdef char** ptr          # ptr[t * n_roles + role]; NULL for an absent optional buffer
    cdef Py_ssize_t* size    # size[t], elements of the first buffer of tensor t
    cdef Py_ssize_t* dims    # dims[3 * t + k]: its (batch, rows, cols)
    # The arrays the pointers come from, held until the call returns: a list (or a list
    # subclass, or another thread) may drop its own references while the kernel runs.
    cdef list keep

    def __dealloc__(self):
        free(self.ptr)
        free(self.size)
        free(self.dims)


cdef str _where(str kernel, str role, Py_ssize_t t):
    return f"{kernel}: {role} (tensor {t})"


cdef _Table _collect(str kernel, tuple roles, tuple lists, tuple writable, tuple needed,
                     tuple size_codes):
    """Check every buffer and gather its pointer; raise before anything is written.

    roles[r] names the buffers in lists[r]; writable[r] says the kernel writes them;
    needed[r] says they must be present (otherwise the whole list may be None);
    size_codes[r] says how long they are: 0 like the first buffer, 1 its rows, 2 its cols.
    """
    cdef _Table table = _Table.__new__(_Table)
    cdef int n_roles = len(roles)
    cdef int r, q, k, nd, code, typenum = -1
    cdef Py_ssize_t t, n, itemsize, expected
    cdef Py_ssize_t lengths[MAX_SCALARS]
    cdef cnp.npy_intp* shape
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
    table.keep = []
    table.ptr = <char**>malloc(max(1, n * n_roles) * sizeof(char*))
    table.size = <Py_ssize_t*>malloc(max(1, n) * sizeof(Py_ssize_t))
    table.dims = <Py_ssize_t*>malloc(max(1, 3 * n) * sizeof(Py_ssize_t))
    if table.ptr == NULL or table.size == NULL or table.dims == NULL:
        raise MemoryError()

    for t in range(n):
        for r in range(n_roles):
            lst = lists[r]
            arr = None if lst is None else lst[t]
            if arr is None:
                if needed[r]:
                    raise ValueError(f"{_where(kernel, roles[r], t)} is required with "
                                     f"these options but is None")
                table.ptr[t * n_roles + r] = NULL
                lengths[r] = 0
                continue
            if not cnp.PyArray_Check(arr):
                raise TypeError(f"{_where(kernel, roles[r], t)} must be a numpy.ndarray, "
                                f"got {type(arr).__name__}")
            a = <cnp.ndarray>arr
            table.keep.append(a)
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
            lengths[r] = cnp.PyArray_SIZE(a)
            if r == 0:
                table.size[t] = lengths[0]
                nd = cnp.PyArray_NDIM(a)
                shape = cnp.PyArray_DIMS(a)
                table.dims[3 * t] = 1
                table.dims[3 * t + 1] = 1
                table.dims[3 * t + 2] = 1
                if nd >= 1:
                    table.dims[3 * t + 2] = shape[nd - 1]
                if nd >= 2:
                    table.dims[3 * t + 1] = shape[nd - 2]
                    for k in range(nd - 2):
                        table.dims[3 * t] *= shape[k]
            else:
                code = size_codes[r]
                expected = (table.size[t] if code == 0 else
                            table.dims[3 * t] * table.dims[3 * t + code])
                if lengths[r] != expected:
                    raise ValueError(f"{_where(kernel, roles[r], t)} has {lengths[r]} "
                                     f"elements, expected {expected} like its {roles[0]}")
            table.ptr[t * n_roles + r] = <char*>cnp.PyArray_DATA(a)
        # The kernels read and write through restrict pointers: the buffers of one tensor
        # must not overlap, or the result would depend on the compiler's schedule.
        itemsize = 4 if typenum == cnp.NPY_FLOAT32 else 8
        for r in range(n_roles):
            lo_r = <uintptr_t>table.ptr[t * n_roles + r]
            if lo_r == 0:
                continue
            hi_r = lo_r + lengths[r] * itemsize
            for q in range(r + 1, n_roles):
                lo_q = <uintptr_t>table.ptr[t * n_roles + q]
                if lo_q == 0:
                    continue
                hi_q = lo_q + lengths[q] * itemsize
                if lo_r < hi_q and lo_q < hi_r:
                    raise ValueError(f"{_where(kernel, roles[r], t)} shares memory with "
                                     f"{roles[q]}; pass separate arrays")
    table.is_f32 = typenum == cnp.NPY_FLOAT32
    return table


cdef class _Kernel:
    """``<name>_many(*lists, check_only=False, **scalars)``: one native call over lists of
    buffers (one entry per tensor), as declared in fastgd/reference/. Scalars are taken as
    float64 and flags by truth value; every buffer of every tensor is checked before the
    GIL is released and the first is written."""
    cdef readonly str name
    cdef int kid
    cdef object decl
    cdef tuple roles, writable, size_codes, scalar_names, scalar_defaults, flag_names
    cdef frozenset known
    cdef readonly bint elementwise  # no reduction over the tensor: runs chunk by chunk
    # STEP_FORMULAS: scalar fk[q] = 1 - scalar fb[q] ** step (its square root if fcode 2)
    cdef bint has_formulas
    cdef int n_formulas
    cdef int fk[MAX_SCALARS]
    cdef int fb[MAX_SCALARS]
    cdef int fcode[MAX_SCALARS]

    def __init__(self, str name, int kid, decl):
        self.name = name
        self.kid = kid
        self.decl = decl
        self.roles = tuple(decl.roles)
        self.writable = tuple(decl.writable)
        self.size_codes = tuple(decl.size_codes)
        self.scalar_names = tuple(decl.scalars)
        self.scalar_defaults = tuple(decl.scalars.values())
        self.flag_names = tuple(decl.flags)
        self.known = frozenset(self.scalar_names + self.flag_names)
        self.elementwise = (all(code == 0 for code in self.size_codes)
                            and name not in _lowp.NOT_ELEMENTWISE)
        if len(self.scalar_names) > MAX_SCALARS or len(self.flag_names) > MAX_SCALARS \
                or len(self.roles) > MAX_SCALARS:
            raise ValueError(f"kernel {name!r} has too many arguments for the core")
        formulas = STEP_FORMULAS.get(name)
        self.has_formulas = formulas is not None
        self.n_formulas = 0
        for scalar, (beta, code) in (formulas or {}).items():
            self.fk[self.n_formulas] = self.scalar_names.index(scalar)
            self.fb[self.n_formulas] = self.scalar_names.index(beta)
            self.fcode[self.n_formulas] = code
            self.n_formulas += 1

    cdef inline double _formula(self, int q, const double* s, double step) noexcept:
        return fgd_step_formula(s[self.fb[q]], step, self.fcode[q])

    cdef void _formula_scalars(self, double* s, double step) noexcept:
        cdef int q
        for q in range(self.n_formulas):
            s[self.fk[q]] = self._formula(q, s, step)

    cdef bint _formulas_give(self, const double* s, double step) noexcept:
        """Whether the formulas at ``step`` give the scalars ``s`` a plan made."""
        cdef int q
        for q in range(self.n_formulas):
            if self._formula(q, s, step) != s[self.fk[q]]:
                return False
        return True

    cdef tuple _parse(self, dict scalars, double* s, int* f):
        """Fill ``s`` (scalars as float64, defaults applied) and ``f`` (flags by truth value)
        from the keyword arguments; return which roles these values need."""
        cdef int i
        cdef str key
        for key in scalars:
            if key not in self.known:
                raise TypeError(f"{self.name}_many() got an unexpected keyword argument "
                                f"{key!r}")
        # The values C receives decide which buffers are needed too (a float subclass
        # could compare unlike its value): scalars as floats, flags as bools.
        values = {}
        for i in range(len(self.scalar_names)):
            key = self.scalar_names[i]
            value = scalars.get(key, self.scalar_defaults[i])
            if value is None:
                raise TypeError(f"{self.name}_many() missing required keyword argument "
                                f"{key!r}")
            if type(value) is not float:
                value = _real(f"{self.name}: {key}", value)
            s[i] = value
            values[key] = value
        for i in range(len(self.flag_names)):
            key = self.flag_names[i]
            flag = bool(scalars.get(key, False))
            f[i] = flag
            values[key] = flag
        if self.decl.needed is None:
            return (True,) * len(self.roles)
        return tuple(self.decl.needed(values))

    def __call__(self, *lists, bint check_only=False, lowp=None, **scalars):
        cdef double s[MAX_SCALARS]
        cdef int f[MAX_SCALARS]
        cdef Py_ssize_t t
        cdef fgd_kernel_fn fn
        cdef _Table tb
        cdef _Lowp lw
        cdef Py_ssize_t n_roles = len(self.roles)
        if len(lists) > n_roles:
            raise TypeError(f"{self.name}_many() takes at most {n_roles} buffer lists, "
                            f"got {len(lists)}")
        if len(lists) < n_roles:
            lists = lists + (None,) * (n_roles - len(lists))
        needed = self._parse(scalars, s, f)
        tb = _collect(self.name, self.roles, lists, self.writable, needed, self.size_codes)
        if lowp is not None:
            lw = _collect_lowp(self, tb, lowp)
        if check_only:
            return
        fn = _kernels.f32[self.kid] if tb.is_f32 else _kernels.f64[self.kid]
        if lowp is None:
            with nogil:
                for t in range(tb.n):
                    fn(tb.size[t], &tb.dims[3 * t], &tb.ptr[t * n_roles], s, f)
            return
        with nogil:
            for t in range(tb.n):
                if lw.p16[t] != NULL:
                    fgd_lowp_run(fn, tb.size[t], <int>n_roles, &tb.ptr[t * n_roles], s, f,
                                 lw.p16[t], lw.g32[t], lw.g16[t], lw.key[t])
                else:
                    fn(tb.size[t], &tb.dims[3 * t], &tb.ptr[t * n_roles], s, f)


cdef class _Lowp:
    """Per tensor of a call: its bfloat16 parameter and its gradient (float32 or bfloat16)
    in place of the float32 stand-ins of the table, and the rounding key (NULL: a float32
    tensor, run as usual)."""
    cdef unsigned short** p16
    cdef const float** g32
    cdef const unsigned short** g16
    cdef long long* key
    cdef list keep

    def __dealloc__(self):
        free(self.p16)
        free(self.g32)
        free(self.g16)
        free(self.key)


cdef bint _overlap(cnp.ndarray a, char* ptr, Py_ssize_t nbytes):
    cdef uintptr_t lo = <uintptr_t>cnp.PyArray_DATA(a)
    cdef uintptr_t hi = lo + <uintptr_t>cnp.PyArray_NBYTES(a)
    cdef uintptr_t lo2 = <uintptr_t>ptr
    return ptr != NULL and nbytes > 0 and lo < lo2 + <uintptr_t>nbytes and lo2 < hi


cdef _Lowp _collect_lowp(_Kernel k, _Table tb, lowp):
    """Check ``lowp`` (per tensor None, or ``(param, grad, key)``: a bfloat16 parameter,
    its float32 or bfloat16 gradient, -1 or a 32-bit rounding key) against the table, whose
    float32 parameter and gradient of those tensors are stand-ins of the same shape."""
    cdef _Lowp lw = _Lowp.__new__(_Lowp)
    cdef Py_ssize_t t, n = tb.n
    cdef int r
    cdef cnp.ndarray p, g
    cdef str where
    if not k.elementwise:
        raise ValueError(f"{k.name}: its update is not element-wise; a bfloat16 parameter "
                         f"takes a float32 copy")
    if not isinstance(lowp, (list, tuple)) or len(lowp) != n:
        raise ValueError(f"{k.name}: lowp must be a list of {n} entries (None or "
                         f"(param, grad, key))")
    if n and not tb.is_f32:
        raise TypeError(f"{k.name}: bfloat16 parameters take float32 state")
    lw.keep = []
    lw.p16 = <unsigned short**>malloc(max(1, n) * sizeof(void*))
    lw.g32 = <const float**>malloc(max(1, n) * sizeof(void*))
    lw.g16 = <const unsigned short**>malloc(max(1, n) * sizeof(void*))
    lw.key = <long long*>malloc(max(1, n) * sizeof(long long))
    if lw.p16 == NULL or lw.g32 == NULL or lw.g16 == NULL or lw.key == NULL:
        raise MemoryError()
    for t in range(n):
        lw.p16[t] = NULL
        lw.g32[t] = NULL
        lw.g16[t] = NULL
        lw.key[t] = -1
    for t in range(n):
        entry = lowp[t]
        if entry is None:
            continue
        where = f"{k.name}: tensor {t}"
        if not isinstance(entry, tuple) or len(entry) != 3:
            raise TypeError(f"{where}: a lowp entry must be None or (param, grad, key)")
        param, grad, key = entry
        if not (cnp.PyArray_Check(param) and cnp.PyArray_Check(grad)):
            raise TypeError(f"{where}: param and grad must be numpy arrays")
        p = <cnp.ndarray>param
        g = <cnp.ndarray>grad
        if not (_lowp.is_low_precision(p.dtype) and p.dtype != np.float16):
            raise TypeError(f"{where}: param has dtype {p.dtype}, expected bfloat16")
        if g.dtype != np.float32 and not (_lowp.is_low_precision(g.dtype)
                                          and g.dtype != np.float16):
            raise TypeError(f"{where}: grad has dtype {g.dtype}, expected float32 or "
                            f"bfloat16")
        for name, a in (("param", p), ("grad", g)):
            if not (cnp.PyArray_IS_C_CONTIGUOUS(a) and cnp.PyArray_ISALIGNED(a)):
                raise ValueError(f"{where}: {name} must be C-contiguous and aligned")
            if cnp.PyArray_SIZE(a) != tb.size[t]:
                raise ValueError(f"{where}: {name} has {cnp.PyArray_SIZE(a)} elements, "
                                 f"expected {tb.size[t]}")
        if not cnp.PyArray_ISWRITEABLE(p):
            raise ValueError(f"{where}: param is read-only")
        if isinstance(key, bool) or not isinstance(key, int) or not -1 <= key < 2**32:
            raise ValueError(f"{where}: key must be -1 or an int in [0, 2**32), got {key!r}")
        if _overlap(p, <char*>cnp.PyArray_DATA(g), cnp.PyArray_NBYTES(g)):
            raise ValueError(f"{where}: param shares memory with grad; pass separate arrays")
        for r in range(2, tb.n_roles):
            if _overlap(p, tb.ptr[t * tb.n_roles + r], tb.size[t] * 4):
                raise ValueError(f"{where}: param shares memory with a state buffer")
        lw.keep.append(p)
        lw.keep.append(g)
        lw.p16[t] = <unsigned short*>cnp.PyArray_DATA(p)
        if g.dtype == np.float32:
            lw.g32[t] = <const float*>cnp.PyArray_DATA(g)
        else:
            lw.g16[t] = <const unsigned short*>cnp.PyArray_DATA(g)
        lw.key[t] = key
    return lw


# The cached step of an optimizer: FastStep, with its buckets and checks.
include "fast_step.pxi"
# SparseAdam's row update, off the kernel table.
include "sparse_adam.pxi"
include "lowbit.pxi"
include "lbfgs.pxi"


def first_nonfinite(arrays):
    """The position in ``arrays`` of the first array holding a NaN or an infinity, or -1
    when every element of every array is finite (fgd_any_nonfinite_*: an integer scan of
    the exponent bits, with the GIL released for arrays of a block or more)."""
    cdef list checked = _scanned_arrays(arrays)
    cdef Py_ssize_t k, size
    cdef cnp.ndarray a
    cdef const char* data
    cdef int bad
    for k in range(len(checked)):
        a = <cnp.ndarray>checked[k]
        size = cnp.PyArray_SIZE(a)
        if size == 0:
            continue
        data = <const char*>cnp.PyArray_DATA(a)
        if cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT32:
            if size >= FGD_SCAN_BLOCK:
                with nogil:
                    bad = fgd_any_nonfinite_f32(size, <const float*>data)
            else:
                bad = fgd_any_nonfinite_f32(size, <const float*>data)
        else:
            if size >= FGD_SCAN_BLOCK:
                with nogil:
                    bad = fgd_any_nonfinite_f64(size, <const double*>data)
            else:
                bad = fgd_any_nonfinite_f64(size, <const double*>data)
        if bad:
            return k
    return -1


def lowp_widen(src, out):
    """:func:`fastgd.reference.lowp.widen` in C (float16 by NumPy's conversion), checked."""
    cdef Py_ssize_t n
    cdef const unsigned short* s
    cdef float* d
    if not _lowp.check_conversion("widen", src, out):
        _lowp.widen(src, out)
        return
    n = (<cnp.ndarray>src).size
    s = <const unsigned short*>cnp.PyArray_DATA(<cnp.ndarray>src)
    d = <float*>cnp.PyArray_DATA(<cnp.ndarray>out)
    with nogil:
        fgd_bf16_widen(n, s, d)


def lowp_narrow(src, out, key=-1):
    """:func:`fastgd.reference.lowp.narrow` in C (float16 by NumPy's conversion), checked."""
    cdef Py_ssize_t n
    cdef const float* s
    cdef unsigned short* d
    cdef long long k
    if not _lowp.check_conversion("narrow", src, out, key):
        _lowp.narrow(src, out, int(key))
        return
    n = (<cnp.ndarray>src).size
    k = int(key)
    s = <const float*>cnp.PyArray_DATA(<cnp.ndarray>src)
    d = <unsigned short*>cnp.PyArray_DATA(<cnp.ndarray>out)
    with nogil:
        fgd_bf16_narrow(n, s, d, k)


def kernel_address(str name, bint f32):
    """The address of kernel ``name``'s entry for the instruction set in use (fgd_kernel_fn),
    for compiled loops elsewhere (fastgd.backends._models' fused training batches) to call."""
    cdef int kid = _KERNEL_IDS[name]
    return <uintptr_t>(_kernels.f32[kid] if f32 else _kernels.f64[kid])


_KERNEL_OBJECTS = {}
_KERNEL_IDS = {fgd_kernel_names[i].decode(): i for i in range(FGD_N_KERNELS)}


cdef tuple _names(const char* text):
    """The names of one FGD_CALL_ARGS list, "(a, b)" -> ("a", "b")."""
    cdef str s = text.decode()
    if not (s.startswith("(") and s.endswith(")")):
        raise ImportError(f"the compiled core has a malformed argument list {s!r}; rebuild it")
    return tuple(n.strip() for n in s[1:-1].split(",")) if s[1:-1].strip() else ()


def kernel_arguments():
    """``{kernel: (buffers, scalars, flags)}``: the names each compiled kernel's table entry
    reads, each tuple in the order it unpacks ``b[]``, ``s[]`` and ``f[]`` (as
    ``FGD_CALL_ARGS`` states them beside its ``FGD_CALL`` in ``src/optim/<rule>.h``)."""
    cdef int i
    return {fgd_kernel_names[i].decode(): (_names(fgd_kernel_arguments[i].roles),
                                           _names(fgd_kernel_arguments[i].scalars),
                                           _names(fgd_kernel_arguments[i].flags))
            for i in range(FGD_N_KERNELS)}


def check_kernel_arguments(name, arguments):
    """Raise ImportError, naming the kernel and the first difference, unless ``arguments``
    (``(buffers, scalars, flags)``, as :func:`kernel_arguments` gives them) are the roles,
    scalars and flags ``fastgd.reference._declare.KERNELS[name]`` declares, in order."""
    decl = KERNELS[name]
    declared = (decl.roles, tuple(decl.scalars), decl.flags)
    for what, c_names, py_names in zip(("buffers", "scalars", "flags"), arguments, declared):
        c_names, py_names = tuple(c_names), tuple(py_names)
        if c_names == py_names:
            continue
        i = next((i for i, (a, b) in enumerate(zip(c_names, py_names)) if a != b),
                 min(len(c_names), len(py_names)))
        in_c = repr(c_names[i]) if i < len(c_names) else "nothing"
        in_py = repr(py_names[i]) if i < len(py_names) else "nothing"
        raise ImportError(
            f"the compiled core's kernel {name!r} does not take its {what} as fastgd/reference/ "
            f"declares them: {what[:-1]} {i} is {in_c} in C and {in_py} in the declaration "
            f"(C reads {c_names}, FGD_CALL_ARGS(fgd_{name}, ...) in src/optim/; declared "
            f"{py_names}); fix the one that is wrong, or rebuild the core")


def _define_kernels():
    """One ``<name>_many`` per kernel; the C list and the Python declarations must agree,
    kernel by kernel down to the order of the arguments its entry reads."""
    compiled = [fgd_kernel_names[i].decode() for i in range(FGD_N_KERNELS)]
    missing = sorted(set(KERNELS) - set(compiled))
    extra = sorted(set(compiled) - set(KERNELS))
    if missing or extra:
        raise ImportError(f"the compiled core does not match fastgd's kernel declarations "
                          f"(not compiled: {missing}; not declared: {extra}); rebuild it")
    for name, arguments in kernel_arguments().items():
        check_kernel_arguments(name, arguments)
    for kid, name in enumerate(compiled):
        _KERNEL_OBJECTS[f"{name}_many"] = globals()[f"{name}_many"] = _Kernel(name, kid,
                                                                            KERNELS[name])


_define_kernels()


def _configure_from_environment():
    """FASTGD_ISA picks the kernels (default: the widest this CPU runs); FASTGD_FMA=1 their
    fused multiply-add twins (set_fma; default 0); FASTGD_NUM_THREADS
    the thread count for large buffers (default: OpenMP's); FASTGD_PARALLEL_MIN the
    smallest buffer shared between threads (default: PARALLEL_MIN, or PARALLEL_MIN_PASSIVE
    under OMP_WAIT_POLICY=PASSIVE, where waking the threads costs more)."""
    requested = os.environ.get("FASTGD_ISA", "").strip().lower()
    set_isa(requested or best_isa())
    fma = os.environ.get("FASTGD_FMA", "").strip().lower()
    if fma not in ("", "0", "1", "false", "true", "no", "yes"):
        raise ValueError(f"FASTGD_FMA must be 0 or 1, got {fma!r}")
    if fma in ("1", "true", "yes"):
        set_fma(True)
    smallest = _positive_from_environment("FASTGD_PARALLEL_MIN")
    if smallest is not None:
        set_parallel_min(smallest)
    elif os.environ.get("OMP_WAIT_POLICY", "").strip().lower() == "passive":
        set_parallel_min(PARALLEL_MIN_PASSIVE)
    threads = _positive_from_environment("FASTGD_NUM_THREADS")
    if threads is not None:
        set_num_threads(threads)


def _positive_from_environment(name):
    """The whole number >= 1 in environment variable ``name``, or None when it is unset."""
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        n = int(text)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {text!r}")
    if n < 1:
        raise ValueError(f"{name} must be >= 1, got {n}")
    return n

_configure_from_environment()
