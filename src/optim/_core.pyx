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
    fgd_isa_supported,
    fgd_kernel_fn,
    fgd_kernel_names,
    fgd_kernel_table,
    fgd_step_formula,
    fgd_tables,
)

from fastgd.reference._checks import real as _real
from fastgd.reference._checks import scanned_arrays as _scanned_arrays
from fastgd.reference._declare import KERNELS, STEP_FORMULAS

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

cdef enum:
    MAX_SCALARS = 32
    MAX_DIMS = 8     # parameters of more dimensions take the general path

NAME = "cython"
OPENMP = bool(fgd_openmp_enabled())
#: Buffers of at least this many elements are shared between threads (the default with
#: OpenMP's default waiting, and with OMP_WAIT_POLICY=PASSIVE); see set_parallel_min.
PARALLEL_MIN = FGD_PARALLEL_MIN
PARALLEL_MIN_PASSIVE = FGD_PARALLEL_MIN_PASSIVE

cdef const fgd_kernel_table* _kernels = &fgd_tables[0]


def isas():
    """The instruction sets this build has kernels for, and whether this CPU runs each."""
    return {fgd_tables[i].name.decode(): bool(fgd_isa_supported(i))
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
            if not fgd_isa_supported(i):
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

    def __call__(self, *lists, bint check_only=False, **scalars):
        cdef double s[MAX_SCALARS]
        cdef int f[MAX_SCALARS]
        cdef Py_ssize_t t
        cdef fgd_kernel_fn fn
        cdef _Table tb
        cdef Py_ssize_t n_roles = len(self.roles)
        if len(lists) > n_roles:
            raise TypeError(f"{self.name}_many() takes at most {n_roles} buffer lists, "
                            f"got {len(lists)}")
        if len(lists) < n_roles:
            lists = lists + (None,) * (n_roles - len(lists))
        needed = self._parse(scalars, s, f)
        tb = _collect(self.name, self.roles, lists, self.writable, needed, self.size_codes)
        if check_only:
            return
        fn = _kernels.f32[self.kid] if tb.is_f32 else _kernels.f64[self.kid]
        with nogil:
            for t in range(tb.n):
                fn(tb.size[t], &tb.dims[3 * t], &tb.ptr[t * n_roles], s, f)


# ---- the cached step of an optimizer ------------------------------------------------------

cdef class _FastBucket:
    """Tensors of one group stepped by one native call: same dtype, same state entries and
    the same values of the state's non-array entries (step counts and the like), so the
    plan of the first tensor is the plan of all."""
    cdef int group
    cdef list members           # positions of the tensors in the flat parameter list
    cdef Py_ssize_t m
    cdef dict scalar_entries    # the non-array state entries, the same objects for all
    cdef str entry
    cdef _Kernel kernel
    cdef tuple role_keys        # per role: "" (param, grad), the state key, or None
    cdef _Table table           # pointers, sizes and dims; the grads' pointers per step
    cdef double s[MAX_SCALARS]
    cdef int f[MAX_SCALARS]
    # after a plan was checked: the next step, if no hyperparameter changes, needs no plan
    # (stationary: it commits nothing and its scalars stay; else its only commit is the
    # step count and its per-step scalars are the kernel's STEP_FORMULAS)
    cdef bint reuse
    cdef bint stationary


cdef inline bint _same_value(object now, object cached):
    """Identity, or for a list (``betas=[0.9, 0.999]``) the identity of its items."""
    if now is cached:
        return True
    if type(now) is list and type(cached) is tuple:
        if len(<list>now) != len(<tuple>cached):
            return False
        for a, b in zip(<list>now, <tuple>cached):
            if a is not b:
                return False
        return True
    return False


cdef object _cached_value(object value):
    """What ``run`` compares a hyperparameter's value with: the object itself (a list as a
    tuple of its items); _NotCached for a value that could change in place unseen (an
    array, say), which the general path checks at every step."""
    if type(value) is list or type(value) is tuple:
        for item in value:
            if not (item is None or isinstance(item, _IMMUTABLE)):
                raise _NotCached
        return tuple(value) if type(value) is list else value
    if value is None or isinstance(value, _IMMUTABLE):
        return value
    raise _NotCached


cdef object _scalar_key(object value):
    """What must be equal for two tensors' state entries to plan alike (-0.0 is not 0.0)."""
    if isinstance(value, float):
        return (type(value), float(value).hex())
    hash(value)  # TypeError for an unhashable entry: no cached step
    return (type(value), value)


cdef class FastStep:
    """One optimizer's step with everything that does not change between steps cached:
    the parameters, the groups' structure, the state's arrays and their pointers, which
    tensors share a native call, and which state entry feeds which kernel buffer.

    It takes plain data and never calls into the optimizer: the optimizer's side
    (fastgd/optim/_cached_step.py) plans the tensors it asks for and hands the plans back
    as ``(kernel, lists, scalars, entries)`` tuples.

    ``build(groups, state, hyper_names, plan_by_ndim, grads)`` caches the step just
    applied, then ``first_tensors()`` names the first tensor of each native call and
    ``bind(plans)`` takes their plans. ``run(groups, state, grads, nonfinite)`` checks,
    with C loops, that none of this changed and that every gradient is a C-contiguous
    array of its parameter's shape and dtype sharing no memory with anything the step
    writes. Where the per-step scalars need no plan (nothing changed, and they are the
    kernel's STEP_FORMULAS or stay the same), it runs the kernels without the GIL, commits
    the new step counts (the same objects into every tensor's state) and returns True.
    Otherwise it returns the tensors to plan (``changed`` says whether the groups'
    hyperparameters changed: check them, then ``accept_hyperparameters()``), and
    ``resume(plans)`` finishes the step; ``release()`` ends the run either way. Each
    returns False, having changed nothing, whenever anything differs from the usual case;
    the optimizer then takes its general path, which checks and reports everything
    itself.
    """
    cdef object backend
    cdef list groups            # the optimizer's param_groups, the list
    cdef dict opt_state         # the optimizer's state, the dict
    cdef list group_dicts
    cdef list param_lists
    cdef list param_counts
    cdef tuple hyper_names
    cdef list hyper_values      # per group, per name: the object (a list as a tuple)
    cdef Py_ssize_t n
    cdef list params
    cdef list states            # the state dicts, or None
    cdef list array_entries     # per tensor: tuple of (key, array)
    cdef list bucket_of         # per tensor: its bucket
    cdef list buckets
    cdef list written           # every array a step writes, by address (but empty ones)
    cdef list empty             # (array, type number) of the empty ones
    cdef bint busy              # a run is in progress (another thread's call: general path)
    cdef list build_grads       # between build() and bind(): the gradients of that step
    cdef list pending_grads     # between run() and resume(): this step's gradients (held)
    cdef list pending_buckets   # ... the positions of the buckets to plan
    cdef list pending_entries   # ... what each bucket commits (None: not planned yet)
    cdef readonly bint changed  # ... whether a group's hyperparameters changed
    cdef Py_ssize_t n_written
    cdef uintptr_t* lo
    cdef uintptr_t* hi
    cdef int* typenum           # of each written array
    cdef Py_ssize_t* dims       # the parameters' shapes, MAX_DIMS per tensor
    cdef int* ndim

    def __dealloc__(self):
        free(self.lo)
        free(self.hi)
        free(self.typenum)
        free(self.dims)
        free(self.ndim)

    def __reduce__(self):  # a copied optimizer builds its own
        return (_no_fast_step, ())

    @staticmethod
    def build(groups, state, hyper_names, bint plan_by_ndim, list grads):
        """The cached step of an optimizer with these ``groups`` (its param_groups) and
        ``state`` right after a step that applied ``grads`` (aligned with the parameters;
        all present), or None where the usual case does not hold. ``plan_by_ndim``: the
        rule plans a tensor by its number of dimensions and from the group's first
        parameter (Adafactor). Not usable before :meth:`bind`."""
        try:
            return FastStep._build(groups, state, tuple(hyper_names), plan_by_ndim, grads)
        except _NotCached:
            return None

    @staticmethod
    cdef FastStep _build(groups, state_dict, tuple hyper_names, bint factored_split,
                         list grads):
        cdef FastStep self = FastStep.__new__(FastStep)
        cdef Py_ssize_t t, k
        cdef _FastBucket b
        self.backend = _this_module()
        if type(groups) is not list or type(state_dict) is not dict:
            raise _NotCached
        self.groups = groups
        self.opt_state = state_dict
        self.group_dicts = list(self.groups)
        self.param_lists = []
        self.param_counts = []
        self.hyper_names = hyper_names
        self.hyper_values = []
        self.params, self.states, self.array_entries = [], [], []
        by_key = {}
        self.buckets = []
        self.bucket_of = []
        t = 0
        for k in range(len(self.group_dicts)):
            group = self.group_dicts[k]
            if type(group) is not dict or type(group["params"]) is not list:
                raise _NotCached
            self.param_lists.append(group["params"])
            self.param_counts.append(len(group["params"]))
            if factored_split and len({getattr(p, "dtype", None)
                                       for p in group["params"]}) > 1:
                # Adafactor's eps=(None, ...) comes from the group's first parameter: its
                # plan for one tensor depends on another one's dtype
                raise _NotCached
            self.hyper_values.append([_cached_value(group[name]) for name in self.hyper_names])
            for p in group["params"]:
                if type(p) is not cnp.ndarray or t >= len(grads) or grads[t] is None:
                    raise _NotCached
                state = self.opt_state.get(t)
                if state is not None and type(state) is not dict:
                    raise _NotCached
                arrays, scalars = [], []
                if state is not None:
                    for key, value in state.items():
                        if isinstance(value, cnp.ndarray):
                            if (type(value) is not cnp.ndarray or value.dtype != p.dtype
                                    or not value.flags.c_contiguous or not value.flags.aligned
                                    or not value.flags.writeable):
                                raise _NotCached
                            arrays.append((key, value))
                        else:
                            try:
                                scalars.append((key, _scalar_key(value)))
                            except TypeError:
                                raise _NotCached
                bucket_key = (k, p.dtype.num, factored_split and p.ndim >= 2, state is None,
                              frozenset(key for key, _ in arrays), frozenset(scalars))
                b = by_key.get(bucket_key)
                if b is None:
                    b = _FastBucket.__new__(_FastBucket)
                    b.group = k
                    b.members = []
                    b.scalar_entries = ({key: value for key, value in state.items()
                                         if not isinstance(value, cnp.ndarray)}
                                        if state is not None else {})
                    by_key[bucket_key] = b
                    self.buckets.append(b)
                elif state is not None:  # the same values: make them the same objects
                    state.update(b.scalar_entries)
                b.members.append(t)
                self.bucket_of.append(b)
                self.params.append(p)
                self.states.append(state)
                self.array_entries.append(tuple(arrays))
                t += 1
        self.n = t
        if self.n != len(grads):
            raise _NotCached
        self.build_grads = grads
        return self

    def first_tensors(self):
        """After :meth:`build`: ``(group index, tensor index, parameter, gradient)`` of the
        first tensor of each native call, in order, for the optimizer to plan."""
        cdef _FastBucket b
        return [(b.group, b.members[0], self.params[b.members[0]],
                 self.build_grads[b.members[0]]) for b in self.buckets]

    def bind(self, list planned):
        """Finish :meth:`build` with the plans of :meth:`first_tensors` (each
        ``(kernel, lists, scalars, entries)``, or None where the plan is not the usual
        case); False where the step cannot be cached."""
        try:
            if self.build_grads is None or len(planned) != len(self.buckets):
                return False
            self._bind(planned, self.build_grads)
            return True
        except _NotCached:
            return False
        finally:
            self.build_grads = None

    cdef _bind(self, list planned, list grads):
        cdef Py_ssize_t t, j, r, w, n_roles
        cdef cnp.ndarray a
        cdef _FastBucket b
        # Which state entry feeds which buffer: the plan of the first tensor of each bucket.
        for b, plan in zip(self.buckets, planned):
            b.m = len(b.members)
            i0 = b.members[0]
            if plan is None:
                raise _NotCached
            kernel, call_lists, call_scalars, _ = plan
            entry = f"{kernel}_many"
            if entry not in _KERNEL_OBJECTS:
                raise _NotCached
            b.entry = entry
            b.kernel = _KERNEL_OBJECTS[entry]
            n_roles = len(b.kernel.roles)
            lists = tuple(call_lists) + (None,) * (n_roles - len(call_lists))
            role_keys = ["", ""]
            for r in range(2, n_roles):
                if lists[r] is None:
                    role_keys.append(None)
                    continue
                found = None
                for key, value in self.array_entries[i0]:
                    if value is lists[r][0]:
                        found = key
                if found is None:
                    raise _NotCached
                role_keys.append(found)
            b.role_keys = tuple(role_keys)
            needed = b.kernel._parse(call_scalars, b.s, b.f)
            member_lists = []
            for r in range(n_roles):
                key = b.role_keys[r]
                if key is None:
                    if needed[r]:
                        raise _NotCached
                    member_lists.append(None)
                elif r == 0:
                    member_lists.append([self.params[i] for i in b.members])
                elif r == 1:
                    member_lists.append([grads[i] for i in b.members])
                else:
                    member_lists.append([self.states[i][key] for i in b.members])
            try:
                b.table = _collect(b.kernel.name, b.kernel.roles, tuple(member_lists),
                                   b.kernel.writable, needed, b.kernel.size_codes)
            except (TypeError, ValueError):
                raise _NotCached
            b.table.keep = []  # the cache holds the parameters and state itself
        # Every array a step writes, sorted by address: disjoint, or no cached step.
        written = list(self.params)
        for arrays in self.array_entries:
            written += [value for _, value in arrays]
        self.empty = [(x, cnp.PyArray_TYPE(<cnp.ndarray>x)) for x in written if not x.size]
        written = [x for x in written if x.size]
        written.sort(key=_address)
        self.written = written
        self.n_written = len(written)
        self.lo = <uintptr_t*>malloc(max(1, self.n_written) * sizeof(uintptr_t))
        self.hi = <uintptr_t*>malloc(max(1, self.n_written) * sizeof(uintptr_t))
        self.typenum = <int*>malloc(max(1, self.n_written) * sizeof(int))
        self.dims = <Py_ssize_t*>malloc(max(1, self.n * MAX_DIMS) * sizeof(Py_ssize_t))
        self.ndim = <int*>malloc(max(1, self.n) * sizeof(int))
        if (self.lo == NULL or self.hi == NULL or self.typenum == NULL or self.dims == NULL
                or self.ndim == NULL):
            raise MemoryError()
        for w in range(self.n_written):
            a = <cnp.ndarray>written[w]
            self.lo[w] = <uintptr_t>cnp.PyArray_DATA(a)
            self.hi[w] = self.lo[w] + <uintptr_t>cnp.PyArray_NBYTES(a)
            self.typenum[w] = cnp.PyArray_TYPE(a)
            if w and self.lo[w] < self.hi[w - 1]:
                raise _NotCached
        for t in range(self.n):
            a = <cnp.ndarray>self.params[t]
            if cnp.PyArray_NDIM(a) > MAX_DIMS:
                raise _NotCached
            self.ndim[t] = cnp.PyArray_NDIM(a)
            for j in range(self.ndim[t]):
                self.dims[t * MAX_DIMS + j] = cnp.PyArray_DIMS(a)[j]
        return self

    def run(self, groups, state_dict, grads, nonfinite):
        """Check the step (``groups`` and ``state_dict``: the optimizer's param_groups and
        state). Returns True having applied it, False having changed nothing, or the
        tensors to plan (as :meth:`first_tensors`), for :meth:`resume`; :meth:`release`
        ends the run after that."""
        if self.busy:  # the same optimizer stepped from two threads: the tables are in use
            return False
        self.busy = True
        try:
            result = self._run(groups, state_dict, grads, nonfinite)
        except BaseException:
            self.release()
            raise
        if result is True or result is False:
            self.release()
        return result

    def release(self):
        """End a run: drop the gradients held between :meth:`run` and :meth:`resume`."""
        self.pending_grads = self.pending_buckets = self.pending_entries = None
        self.changed = False
        self.busy = False

    def accept_hyperparameters(self):
        """After :meth:`run` reported ``changed`` and the optimizer checked the new values:
        cache them; False where one could change in place unseen (no cached step)."""
        cdef Py_ssize_t k
        try:
            for k in range(len(self.group_dicts)):
                group = <dict>self.group_dicts[k]
                self.hyper_values[k] = [_cached_value(group[name])
                                        for name in self.hyper_names]
        except _NotCached:
            return False
        return True

    cdef object _run(self, groups, state_dict, grads, nonfinite):
        cdef Py_ssize_t t, k, j, w, n_groups, lo_i, hi_i, mid, n_roles, q
        cdef cnp.ndarray a, g
        cdef _FastBucket b
        cdef list gl, plist, hv
        cdef dict group, state
        cdef int scan = 0, bad
        cdef uintptr_t glo, ghi
        cdef fgd_kernel_fn fn
        cdef Py_ssize_t size
        if nonfinite is not None:
            if type(nonfinite) is not str or (nonfinite != "raise" and nonfinite != "skip"):
                return False
            scan = 1
        if self.backend is not _active_backend():
            return False
        if type(grads) is list:
            gl = list(<list>grads)  # holds the gradients while the kernels run
        elif type(grads) is tuple:
            gl = list(<tuple>grads)
        else:
            return False
        if len(gl) != self.n:
            return False
        if groups is not self.groups:
            return False
        n_groups = len(self.group_dicts)
        if len(self.groups) != n_groups:
            return False
        # Hyperparameters: unchanged objects, or checked again by the optimizer itself
        # (a scheduler sets a new lr every step); their effect reaches the kernels through
        # the plan below.
        changed = False
        for k in range(n_groups):
            if self.groups[k] is not self.group_dicts[k]:
                return False
            group = <dict>self.group_dicts[k]
            hv = <list>self.hyper_values[k]
            for j in range(len(self.hyper_names)):
                value = group.get(self.hyper_names[j], _MISSING)
                if not _same_value(value, hv[j]):
                    if value is _MISSING:
                        return False
                    changed = True
            plist = <list>self.param_lists[k]
            if group.get("params") is not plist or len(plist) != self.param_counts[k]:
                return False
        if changed:
            # replanned by resume(), or at the next run if this one stops; the optimizer
            # checks the new values first (the general path's own checks, errors included)
            for b in self.buckets:
                b.reuse = False
        if state_dict is not self.opt_state:
            return False
        # Parameters, gradients and state, tensor by tensor.
        t = 0
        for k in range(n_groups):
            plist = <list>self.param_lists[k]
            for j in range(len(plist)):
                p_obj = plist[j]
                if p_obj is not self.params[t]:
                    return False
                a = <cnp.ndarray>p_obj
                g_obj = gl[t]
                if not cnp.PyArray_CheckExact(g_obj):
                    return False
                g = <cnp.ndarray>g_obj
                if (cnp.PyArray_TYPE(g) != cnp.PyArray_TYPE(a) or not cnp.PyArray_ISNOTSWAPPED(g)
                        or not cnp.PyArray_IS_C_CONTIGUOUS(g) or not cnp.PyArray_ISALIGNED(g)
                        or cnp.PyArray_NDIM(g) != self.ndim[t]
                        or cnp.PyArray_NDIM(a) != self.ndim[t]):
                    return False
                for q in range(self.ndim[t]):
                    if (cnp.PyArray_DIMS(g)[q] != self.dims[t * MAX_DIMS + q]
                            or cnp.PyArray_DIMS(a)[q] != self.dims[t * MAX_DIMS + q]):
                        return False
                b = <_FastBucket>self.bucket_of[t]
                state_obj = self.opt_state.get(t)  # state is keyed by position
                if state_obj is not self.states[t]:
                    return False
                if state_obj is not None:
                    state = <dict>state_obj
                    arrays = <tuple>self.array_entries[t]
                    if len(state) != len(arrays) + len(b.scalar_entries):
                        return False
                    for key, value in arrays:
                        if state.get(key) is not value:
                            return False
                    for key, value in b.scalar_entries.items():
                        if state.get(key, _MISSING) is not value:
                            return False
                t += 1
        # Everything the step writes is where it was, writable; no gradient overlaps it.
        for w in range(self.n_written):
            a = <cnp.ndarray>self.written[w]
            if (<uintptr_t>cnp.PyArray_DATA(a) != self.lo[w]
                    or <uintptr_t>cnp.PyArray_DATA(a) + <uintptr_t>cnp.PyArray_NBYTES(a)
                    != self.hi[w]
                    or cnp.PyArray_TYPE(a) != self.typenum[w] or not _writable_layout(a)):
                return False
        for x, typenum in self.empty:
            a = <cnp.ndarray>x
            if (cnp.PyArray_SIZE(a) != 0 or cnp.PyArray_TYPE(a) != typenum
                    or not _writable_layout(a)):
                return False
        for t in range(self.n):
            g = <cnp.ndarray>gl[t]
            size = cnp.PyArray_NBYTES(g)
            if size == 0:
                continue
            glo = <uintptr_t>cnp.PyArray_DATA(g)
            ghi = glo + <uintptr_t>size
            # the last written span starting before the gradient ends must end before it
            lo_i, hi_i = 0, self.n_written
            while lo_i < hi_i:
                mid = (lo_i + hi_i) // 2
                if self.lo[mid] < ghi:
                    lo_i = mid + 1
                else:
                    hi_i = mid
            if lo_i and self.hi[lo_i - 1] > glo:
                return False
        if scan:
            for t in range(self.n):
                g = <cnp.ndarray>gl[t]
                size = cnp.PyArray_SIZE(g)
                if cnp.PyArray_TYPE(g) == cnp.NPY_FLOAT32:
                    bad = fgd_any_nonfinite_f32(size, <const float*>cnp.PyArray_DATA(g))
                else:
                    bad = fgd_any_nonfinite_f64(size, <const double*>cnp.PyArray_DATA(g))
                if bad:
                    return False  # the general path skips or raises
        # This step's scalars: without a plan where the last one still holds.
        bucket_entries = []
        pending = []
        for k in range(len(self.buckets)):
            b = <_FastBucket>self.buckets[k]
            if b.reuse and not changed:
                if b.stationary:
                    bucket_entries.append(None)
                else:
                    step = b.scalar_entries["step"] + 1
                    b.kernel._formula_scalars(b.s, <double>step)
                    bucket_entries.append({"step": step})
                continue
            b.reuse = False
            bucket_entries.append(None)
            pending.append(k)
        if not pending:
            self._apply(gl, bucket_entries)
            return True
        self.pending_grads, self.pending_buckets = gl, pending
        self.pending_entries, self.changed = bucket_entries, changed
        return [((<_FastBucket>self.buckets[k]).group, (<_FastBucket>self.buckets[k]).members[0],
                 self.params[(<_FastBucket>self.buckets[k]).members[0]],
                 gl[(<_FastBucket>self.buckets[k]).members[0]]) for k in pending]

    def resume(self, list planned):
        """Finish the step :meth:`run` paused, with the plans of the tensors it returned
        (each ``(kernel, lists, scalars, entries)``, or None where the plan raised or is
        not the usual case): True having applied it, False having changed nothing."""
        cdef Py_ssize_t q, n_roles
        cdef _FastBucket b
        if self.pending_buckets is None or len(planned) != len(self.pending_buckets):
            return False
        gl = self.pending_grads
        bucket_entries = self.pending_entries
        for k, plan in zip(self.pending_buckets, planned):
            b = <_FastBucket>self.buckets[k]
            i0 = b.members[0]
            if plan is None or f"{plan[0]}_many" != b.entry:
                return False  # a plan that raises: the general path raises it
            _, lists, scalars, entries = plan
            n_roles = len(b.role_keys)
            if len(lists) > n_roles:
                return False
            for q in range(2, n_roles):
                lst = lists[q] if q < len(lists) else None
                if b.role_keys[q] is None:
                    if lst is not None:
                        return False
                elif lst is None or lst[0] is not (<dict>self.states[i0])[b.role_keys[q]]:
                    return False
            try:
                needed = b.kernel._parse(scalars, b.s, b.f)
            except (TypeError, ValueError):
                return False
            for q in range(n_roles):
                if needed[q] and b.role_keys[q] is None:
                    return False
            bucket_entries[k] = entries
            if not entries:
                b.reuse = b.stationary = True
            elif (b.kernel.has_formulas and len(entries) == 1 and "step" in entries
                    and type(entries["step"]) is int):
                b.stationary = False
                b.reuse = b.kernel._formulas_give(b.s, <double>entries["step"])
        self._apply(gl, bucket_entries)
        return True

    cdef _apply(self, list gl, list bucket_entries):
        """Run every bucket's kernel on the gradients ``gl`` and commit ``bucket_entries``."""
        cdef Py_ssize_t t, j, n_roles
        cdef _FastBucket b
        cdef fgd_kernel_fn fn
        # Run: the gradients' pointers into each table, then every kernel without the GIL.
        for b in self.buckets:
            n_roles = len(b.role_keys)
            for j in range(b.m):
                t = b.members[j]
                b.table.ptr[j * n_roles + 1] = <char*>cnp.PyArray_DATA(<cnp.ndarray>gl[t])
        for b in self.buckets:
            n_roles = len(b.role_keys)
            fn = _kernels.f32[b.kernel.kid] if b.table.is_f32 else _kernels.f64[b.kernel.kid]
            with nogil:
                for j in range(b.m):
                    fn(b.table.size[j], &b.table.dims[3 * j], &b.table.ptr[j * n_roles],
                       b.s, b.f)
        # Commit: the same new objects into every state of the bucket.
        for b, entries in zip(self.buckets, bucket_entries):
            if entries:
                for t in b.members:
                    (<dict>self.states[t]).update(entries)
                b.scalar_entries.update(entries)


cdef inline bint _writable_layout(cnp.ndarray a):
    """Writable, aligned, C-contiguous and in native byte order: what a kernel writes."""
    return (cnp.PyArray_ISWRITEABLE(a) and cnp.PyArray_ISALIGNED(a)
            and cnp.PyArray_IS_C_CONTIGUOUS(a) and cnp.PyArray_ISNOTSWAPPED(a))


class _NotCached(Exception):
    pass


#: Hyperparameter values that cannot change in place (numbers, strings, NumPy scalars).
_IMMUTABLE = (float, int, str, np.generic)


_MISSING = object()


def _no_fast_step():
    return None


cdef object _this_module():
    import fastgd.backends._core
    return fastgd.backends._core


cdef object _backend_module = None


cdef object _active_backend():
    global _backend_module
    if _backend_module is None:
        import fastgd.backends
        _backend_module = fastgd.backends
    return _backend_module._active


def _address(a):
    return <uintptr_t>cnp.PyArray_DATA(<cnp.ndarray>a)


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


def kernel_address(str name, bint f32):
    """The address of kernel ``name``'s entry for the instruction set in use (fgd_kernel_fn),
    for compiled loops elsewhere (fastgd.backends._models' fused training batches) to call."""
    cdef int kid = _KERNEL_IDS[name]
    return <uintptr_t>(_kernels.f32[kid] if f32 else _kernels.f64[kid])


_KERNEL_OBJECTS = {}
_KERNEL_IDS = {fgd_kernel_names[i].decode(): i for i in range(FGD_N_KERNELS)}


def _define_kernels():
    """One ``<name>_many`` per kernel; the C list and the Python declarations must agree."""
    compiled = [fgd_kernel_names[i].decode() for i in range(FGD_N_KERNELS)]
    missing = sorted(set(KERNELS) - set(compiled))
    extra = sorted(set(compiled) - set(KERNELS))
    if missing or extra:
        raise ImportError(f"the compiled core does not match fastgd's kernel declarations "
                          f"(not compiled: {missing}; not declared: {extra}); rebuild it")
    for kid, name in enumerate(compiled):
        _KERNEL_OBJECTS[f"{name}_many"] = globals()[f"{name}_many"] = _Kernel(name, kid,
                                                                            KERNELS[name])


_define_kernels()


def _configure_from_environment():
    """FASTGD_ISA picks the kernels (default: the widest this CPU runs); FASTGD_NUM_THREADS
    the thread count for large buffers (default: OpenMP's); FASTGD_PARALLEL_MIN the
    smallest buffer shared between threads (default: PARALLEL_MIN, or PARALLEL_MIN_PASSIVE
    under OMP_WAIT_POLICY=PASSIVE, where waking the threads costs more)."""
    requested = os.environ.get("FASTGD_ISA", "").strip().lower()
    set_isa(requested or best_isa())
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
