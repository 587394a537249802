# The cached step of an optimizer (FastStep), included by _core.pyx: it uses the kernel
# objects (_Kernel), the pointer tables (_Table, _collect) and the active table (_kernels)
# defined there. It takes plain data from the optimizer's side
# (fastgd/optim/_cached_step.py) and never calls into it.

from cpython.dict cimport PyDict_Next, PyDict_SetItem, PyDict_Size
from cpython.ref cimport PyObject
from libc.stdlib cimport calloc

cdef extern from *:
    """
    /* The cached step's checks of one array, on borrowed references (no reference
     * counting in the loops over every tensor). A dtype the same object as the one
     * checked when the step was cached is that dtype (the cache holds a reference to it,
     * so no other dtype can take its address). */

    /* A gradient: an ndarray of the parameter's dtype, native byte order, aligned and
     * C-contiguous, of the parameter's shape (ndim, dims). */
    static inline int fgd_fs_grad_ok(PyObject *o, PyObject *descr, int ndim,
                                     const npy_intp *dims)
    {
        const int need = NPY_ARRAY_ALIGNED | NPY_ARRAY_C_CONTIGUOUS;
        PyArrayObject *a = (PyArrayObject *)o;
        if (Py_TYPE(o) != &PyArray_Type || (PyArray_FLAGS(a) & need) != need
                || PyArray_NDIM(a) != ndim)
            return 0;
        if ((PyObject *)PyArray_DESCR(a) != descr
                && (PyArray_TYPE(a) != ((PyArray_Descr *)descr)->type_num
                    || !PyArray_ISNOTSWAPPED(a)))
            return 0;
        for (int q = 0; q < ndim; ++q)
            if (PyArray_DIMS(a)[q] != dims[q])
                return 0;
        return 1;
    }

    /* A parameter: of the shape it had (its memory and dtype are checked as written). */
    static inline int fgd_fs_shape_ok(PyObject *o, int ndim, const npy_intp *dims)
    {
        PyArrayObject *a = (PyArrayObject *)o;
        if (PyArray_NDIM(a) != ndim)
            return 0;
        for (int q = 0; q < ndim; ++q)
            if (PyArray_DIMS(a)[q] != dims[q])
                return 0;
        return 1;
    }

    static inline npy_intp fgd_fs_nbytes(PyObject *o)
    {
        PyArrayObject *a = (PyArrayObject *)o;
        npy_intp size = PyArray_ITEMSIZE(a);
        for (int q = 0; q < PyArray_NDIM(a); ++q)
            size *= PyArray_DIMS(a)[q];
        return size;
    }

    /* An array the step writes: at address lo, of the dtype descr and count elements,
     * writable, aligned and C-contiguous. */
    static inline int fgd_fs_written_ok(PyObject *o, uintptr_t lo, PyObject *descr,
                                        npy_intp count)
    {
        const int need = NPY_ARRAY_WRITEABLE | NPY_ARRAY_ALIGNED | NPY_ARRAY_C_CONTIGUOUS;
        PyArrayObject *a = (PyArrayObject *)o;
        if ((uintptr_t)PyArray_DATA(a) != lo || (PyObject *)PyArray_DESCR(a) != descr
                || (PyArray_FLAGS(a) & need) != need)
            return 0;
        npy_intp n = 1;
        for (int q = 0; q < PyArray_NDIM(a); ++q)
            n *= PyArray_DIMS(a)[q];
        return n == count;
    }

    static inline char *fgd_fs_data(PyObject *o)
    {
        return (char *)PyArray_DATA((PyArrayObject *)o);
    }

    static inline PyObject *fgd_fs_descr(PyObject *o)
    {
        return (PyObject *)PyArray_DESCR((PyArrayObject *)o);
    }
    """
    bint fgd_fs_grad_ok(PyObject* o, PyObject* descr, int ndim, const Py_ssize_t* dims) nogil
    bint fgd_fs_shape_ok(PyObject* o, int ndim, const Py_ssize_t* dims) nogil
    Py_ssize_t fgd_fs_nbytes(PyObject* o) nogil
    bint fgd_fs_written_ok(PyObject* o, uintptr_t lo, PyObject* descr, Py_ssize_t count) nogil
    char* fgd_fs_data(PyObject* o) nogil
    PyObject* fgd_fs_descr(PyObject* o) nogil

cdef class _FastBucket:
    """Tensors of one group stepped by one native call: same dtype, same state entries and
    the same values of the state's non-array entries (step counts and the like), so the
    plan of the first tensor is the plan of all."""
    cdef int group
    cdef list members           # positions of the tensors in the flat parameter list
    cdef Py_ssize_t m
    cdef Py_ssize_t* member_at  # the same, in C (after bind)
    cdef dict scalar_entries    # the non-array state entries, the same objects for all
    cdef tuple scalar_keys      # their keys, in order, and their values (held by
    cdef PyObject* scalar_values[MAX_SCALARS]  # scalar_entries) for the C checks
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

    def __dealloc__(self):
        free(self.member_at)

    cdef _mirror(self):
        """Copy the scalar entries' current objects into ``scalar_values``."""
        cdef Py_ssize_t i
        for i in range(len(self.scalar_keys)):
            self.scalar_values[i] = <PyObject*>self.scalar_entries[self.scalar_keys[i]]


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
    # Borrowed pointers (held by params, states, written): each tensor's parameter and
    # state dict (NULL: none), each written array.
    cdef PyObject** c_params
    cdef PyObject** c_states
    cdef PyObject** c_written
    cdef PyObject** p_descr     # each parameter's dtype (held by the parameter...
    cdef PyObject** w_descr     # ... and each written array's, held by descrs)
    cdef Py_ssize_t* w_count    # each written array's element count
    cdef list descrs
    # The optimizer's state dict as built, in its order (the C checks compare each run's
    # with it entry by entry): keys and values, held by state_items.
    cdef list state_items
    cdef Py_ssize_t n_state_items
    cdef PyObject** state_keys
    cdef PyObject** state_values
    # Each tensor's state dict as built, in its order: entries ent_start[t] to
    # ent_start[t + 1] - 1, each a key and where its expected value is (the array's own
    # slot in ent_value; a scalar entry's in its bucket's scalar_values). Held by
    # array_entries, ent_keep and the buckets.
    cdef list ent_keep
    cdef Py_ssize_t* ent_start
    cdef PyObject** ent_key
    cdef PyObject** ent_value
    cdef PyObject*** ent_expected
    # The span of each tensor's gradient found disjoint from every written span at the
    # last run (the written spans never change while the cache holds), or 0, 0.
    cdef uintptr_t* grad_lo
    cdef uintptr_t* grad_hi

    def __dealloc__(self):
        free(self.lo)
        free(self.hi)
        free(self.typenum)
        free(self.dims)
        free(self.ndim)
        free(self.c_params)
        free(self.c_states)
        free(self.c_written)
        free(self.p_descr)
        free(self.w_descr)
        free(self.w_count)
        free(self.state_keys)
        free(self.state_values)
        free(self.ent_start)
        free(self.ent_key)
        free(self.ent_value)
        free(self.ent_expected)
        free(self.grad_lo)
        free(self.grad_hi)

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
        self._bind_state()
        return self

    cdef _bind_state(self):
        """The C mirrors of the state dicts that :meth:`_run` compares, entry by entry."""
        cdef Py_ssize_t t, e, i, n_entries
        cdef _FastBucket b
        cdef cnp.ndarray a
        for b in self.buckets:
            b.scalar_keys = tuple(b.scalar_entries)
            if len(b.scalar_keys) > MAX_SCALARS:
                raise _NotCached
            b._mirror()
        self.state_items = list(self.opt_state.items())
        self.n_state_items = len(self.state_items)
        n_entries = 0
        for state in self.states:
            if state is not None:
                n_entries += len(<dict>state)
        self.state_keys = <PyObject**>malloc(max(1, self.n_state_items) * sizeof(PyObject*))
        self.state_values = <PyObject**>malloc(max(1, self.n_state_items) * sizeof(PyObject*))
        self.ent_start = <Py_ssize_t*>malloc((self.n + 1) * sizeof(Py_ssize_t))
        self.ent_key = <PyObject**>malloc(max(1, n_entries) * sizeof(PyObject*))
        self.ent_value = <PyObject**>malloc(max(1, n_entries) * sizeof(PyObject*))
        self.ent_expected = <PyObject***>malloc(max(1, n_entries) * sizeof(PyObject**))
        self.grad_lo = <uintptr_t*>calloc(max(1, self.n), sizeof(uintptr_t))
        self.grad_hi = <uintptr_t*>calloc(max(1, self.n), sizeof(uintptr_t))
        self.c_params = <PyObject**>malloc(max(1, self.n) * sizeof(PyObject*))
        self.c_states = <PyObject**>malloc(max(1, self.n) * sizeof(PyObject*))
        self.p_descr = <PyObject**>malloc(max(1, self.n) * sizeof(PyObject*))
        self.c_written = <PyObject**>malloc(max(1, self.n_written) * sizeof(PyObject*))
        self.w_descr = <PyObject**>malloc(max(1, self.n_written) * sizeof(PyObject*))
        self.w_count = <Py_ssize_t*>malloc(max(1, self.n_written) * sizeof(Py_ssize_t))
        if (self.state_keys == NULL or self.state_values == NULL or self.ent_start == NULL
                or self.ent_key == NULL or self.ent_value == NULL
                or self.ent_expected == NULL or self.grad_lo == NULL
                or self.grad_hi == NULL or self.c_params == NULL or self.c_states == NULL
                or self.p_descr == NULL or self.c_written == NULL or self.w_descr == NULL
                or self.w_count == NULL):
            raise MemoryError()
        self.descrs = []
        for t in range(self.n):
            self.c_params[t] = <PyObject*>self.params[t]
            self.p_descr[t] = fgd_fs_descr(self.c_params[t])
            self.descrs.append((<cnp.ndarray>self.params[t]).dtype)
            state = self.states[t]
            self.c_states[t] = NULL if state is None else <PyObject*>state
        for i in range(self.n_written):
            a = <cnp.ndarray>self.written[i]
            if not _writable_layout(a):
                raise _NotCached
            self.c_written[i] = <PyObject*>a
            self.descrs.append(a.dtype)
            self.w_descr[i] = fgd_fs_descr(<PyObject*>a)
            self.w_count[i] = cnp.PyArray_SIZE(a)
        for b in self.buckets:
            b.member_at = <Py_ssize_t*>malloc(max(1, b.m) * sizeof(Py_ssize_t))
            if b.member_at == NULL:
                raise MemoryError()
            for i in range(b.m):
                b.member_at[i] = b.members[i]
        for i in range(self.n_state_items):
            key, value = self.state_items[i]
            self.state_keys[i] = <PyObject*>key
            self.state_values[i] = <PyObject*>value
        self.ent_keep = []
        e = 0
        for t in range(self.n):
            self.ent_start[t] = e
            state = self.states[t]
            if state is None:
                continue
            b = <_FastBucket>self.bucket_of[t]
            for key, value in (<dict>state).items():
                self.ent_keep.append(key)
                self.ent_key[e] = <PyObject*>key
                self.ent_value[e] = <PyObject*>value
                if isinstance(value, cnp.ndarray):
                    self.ent_expected[e] = &self.ent_value[e]
                else:
                    i = b.scalar_keys.index(key)
                    if b.scalar_values[i] != <PyObject*>value:
                        raise _NotCached
                    self.ent_expected[e] = &b.scalar_values[i]
                e += 1
        self.ent_start[self.n] = e

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
        cdef Py_ssize_t t, k, j, w, n_groups, lo_i, hi_i, mid, n_roles, q, i, e, pos
        cdef cnp.ndarray a, g
        cdef _FastBucket b
        cdef list gl, plist, hv
        cdef dict group
        cdef PyObject* key_p
        cdef PyObject* value_p
        cdef PyObject* g_p
        cdef PyObject* state_p
        cdef Py_ssize_t* dims
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
        # The state dict: the entries it had when built, the same objects in the same
        # order (so each tensor's state is the one cached; none was added or removed).
        if PyDict_Size(self.opt_state) != self.n_state_items:
            return False
        pos = 0
        for i in range(self.n_state_items):
            if (not PyDict_Next(self.opt_state, &pos, &key_p, &value_p)
                    or key_p != self.state_keys[i] or value_p != self.state_values[i]):
                return False
        # Parameters, gradients and state, tensor by tensor.
        t = 0
        for k in range(n_groups):
            plist = <list>self.param_lists[k]
            for j in range(len(plist)):
                if <PyObject*>plist[j] != self.c_params[t]:
                    return False
                g_p = <PyObject*>gl[t]
                dims = &self.dims[t * MAX_DIMS]
                if not (fgd_fs_grad_ok(g_p, self.p_descr[t], self.ndim[t], dims)
                        and fgd_fs_shape_ok(self.c_params[t], self.ndim[t], dims)):
                    return False
                state_p = self.c_states[t]
                if state_p != NULL:
                    # its entries as cached, in order: the arrays, and the bucket's
                    # current scalar entries (step counts and the like)
                    e = self.ent_start[t]
                    if PyDict_Size(<object>state_p) != self.ent_start[t + 1] - e:
                        return False
                    pos = 0
                    while e < self.ent_start[t + 1]:
                        if (not PyDict_Next(<object>state_p, &pos, &key_p, &value_p)
                                or key_p != self.ent_key[e]
                                or value_p != self.ent_expected[e][0]):
                            return False
                        e += 1
                t += 1
        # Everything the step writes is where it was, writable; no gradient overlaps it.
        for w in range(self.n_written):
            if not fgd_fs_written_ok(self.c_written[w], self.lo[w], self.w_descr[w],
                                     self.w_count[w]):
                return False
        for x, typenum in self.empty:
            a = <cnp.ndarray>x
            if (cnp.PyArray_SIZE(a) != 0 or cnp.PyArray_TYPE(a) != typenum
                    or not _writable_layout(a)):
                return False
        for t in range(self.n):
            g_p = <PyObject*>gl[t]
            size = fgd_fs_nbytes(g_p)
            if size == 0:
                continue
            glo = <uintptr_t>fgd_fs_data(g_p)
            ghi = glo + <uintptr_t>size
            if glo == self.grad_lo[t] and ghi == self.grad_hi[t]:
                continue  # found disjoint at the last run
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
            self.grad_lo[t], self.grad_hi[t] = glo, ghi
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
        if not pending and not changed:
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
        not the usual case): True having applied it, False having written nothing (the
        cache's own tables may have changed: the optimizer drops it)."""
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
                b.table.ptr[j * n_roles + 1] = fgd_fs_data(<PyObject*>gl[b.member_at[j]])
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
                for key, value in (<dict>entries).items():
                    for j in range(b.m):
                        if self.c_states[b.member_at[j]] != NULL:
                            PyDict_SetItem(<object>self.c_states[b.member_at[j]], key, value)
                b.scalar_entries.update(entries)
                b._mirror()


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
