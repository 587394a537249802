# The sparse training loops (src/models/sparse_sgd.h, one unit per instruction set:
# sparse_sgd_<isa>.c), included by _models.pyx.

cdef extern from "sparse_sgd_decl.h" nogil:
    ctypedef struct fgdsp_args:
        const void *data
        const void *indices
        const void *indptr
        const void *y
        const void *sw
        const int64_t *order
        Py_ssize_t n_order, d, batch
        void *v
        void *b
        void *q
        void *m1
        void *m2
        double *st
        const double *prm
        const int64_t *iprm
        double *work
        double *g
        unsigned char *mark
        int64_t *touched
        Py_ssize_t k
        const double *pw
        Py_ssize_t vs
    ctypedef int (*fgdsp_fn)(const fgdsp_args *a) noexcept nogil
    enum:
        FGDSP_SGD
        FGDSP_ADAM
        FGDSP_SOFTMAX
        FGDSP_MOMENTUM
    # [isa][loop][2 * float64 + int64]: the isa rows are fgd_isa.h's (those of the models'
    # tables), FGD_N_ISAS of them
    const fgdsp_fn fgdsp_table[3][4][4]


cdef void* _ptr_or_null(object a):
    if a is None:
        return NULL
    if cnp.PyArray_SIZE(<cnp.ndarray>a) == 0:
        return NULL
    return cnp.PyArray_DATA(<cnp.ndarray>a)


def _sparse_epoch(str which, cnp.ndarray data, cnp.ndarray indices, cnp.ndarray indptr,
                  cnp.ndarray y, object sw, cnp.ndarray order, Py_ssize_t batch,
                  cnp.ndarray v, object b, object q, object m1, object m2,
                  cnp.ndarray st, cnp.ndarray prm, cnp.ndarray iprm, cnp.ndarray work,
                  object g, object mark, object touched):
    cdef fgdsp_args a
    cdef fgdsp_fn fn
    cdef int f64 = cnp.PyArray_TYPE(data) != cnp.NPY_FLOAT32
    cdef int i64 = cnp.PyArray_ITEMSIZE(indices) != 4
    cdef int loop = FGDSP_SGD if which == "sgd" else (
        FGDSP_SOFTMAX if which == "softmax" else FGDSP_ADAM)
    fn = fgdsp_table[_isa_index()][loop][2 * f64 + i64]
    a.data = cnp.PyArray_DATA(data)
    a.indices = cnp.PyArray_DATA(indices)
    a.indptr = cnp.PyArray_DATA(indptr)
    a.y = cnp.PyArray_DATA(y)
    a.sw = _ptr_or_null(sw)
    a.order = <const int64_t *>cnp.PyArray_DATA(order)
    a.n_order = cnp.PyArray_DIM(order, 0)
    a.d = cnp.PyArray_DIM(v, 0)
    a.k = cnp.PyArray_DIM(v, 1) if cnp.PyArray_NDIM(v) == 2 else 1
    a.batch = batch
    a.v = cnp.PyArray_DATA(v)
    a.b = _ptr_or_null(b)
    a.q = _ptr_or_null(q)
    a.m1 = _ptr_or_null(m1)
    a.m2 = _ptr_or_null(m2)
    a.st = <double *>cnp.PyArray_DATA(st)
    a.prm = <const double *>cnp.PyArray_DATA(prm)
    a.iprm = <const int64_t *>cnp.PyArray_DATA(iprm)
    a.work = <double *>cnp.PyArray_DATA(work)
    a.g = <double *>_ptr_or_null(g)
    a.mark = <unsigned char *>_ptr_or_null(mark)
    a.touched = <int64_t *>_ptr_or_null(touched)
    a.pw = NULL
    # a 1-D v may be strided (lazy Adam: the weights in its state's records)
    a.vs = (cnp.PyArray_STRIDE(v, 0) // cnp.PyArray_ITEMSIZE(v)
            if cnp.PyArray_NDIM(v) == 1 else 1)
    if a.vs < 1 or cnp.PyArray_STRIDE(v, 0) % cnp.PyArray_ITEMSIZE(v) or (
            cnp.PyArray_NDIM(v) == 2 and not cnp.PyArray_IS_C_CONTIGUOUS(v)):
        raise ValueError("sparse loops: v must be C-contiguous, or 1-D with a positive "
                         "stride of whole elements")
    with nogil:
        fn(&a)


def sparse_sgd_epoch(data, indices, indptr, y, sw, order, batch, v, b, q, st, prm, iprm,
                     work):
    """One epoch of the sparse SGD loop on checked arrays (fastgd.reference.sparse_sgd
    .sgd_epoch is its specification)."""
    _sparse_epoch("sgd", data, indices, indptr, y, sw, order, batch, v, b, q, None, None,
                  st, prm, iprm, work, None, None, None)


def sparse_adam_epoch(data, indices, indptr, y, sw, order, batch, v, b, state, st, prm,
                      iprm, work, touched):
    """One epoch of the lazy Adam loop on checked arrays (fastgd.reference.sparse_sgd
    .adam_epoch is its specification); ``state`` is the structured array of
    fastgd.reference.sparse_sgd.adam_state."""
    _sparse_epoch("adam", data, indices, indptr, y, sw, order, batch, v, b, None, state,
                  None, st, prm, iprm, work, None, None, touched)


def sparse_softmax_epoch(data, indices, indptr, y, sw, order, batch, v, b, st, prm, iprm,
                         work):
    """One epoch of the sparse multinomial SGD loop on checked arrays (coef ``v`` d x k;
    fastgd.reference.sparse_sgd.softmax_epoch is its specification)."""
    _sparse_epoch("softmax", data, indices, indptr, y, sw, order, batch, v, b, None, None,
                  None, st, prm, iprm, work, None, None, None)


def sparse_momentum_epoch(cnp.ndarray data, cnp.ndarray indices, cnp.ndarray indptr,
                          cnp.ndarray y, cnp.ndarray sw, cnp.ndarray order, Py_ssize_t batch,
                          cnp.ndarray state, cnp.ndarray b, cnp.ndarray bm,
                          cnp.ndarray touched, cnp.ndarray pw, cnp.ndarray st,
                          cnp.ndarray prm, cnp.ndarray iprm, cnp.ndarray work):
    """One epoch of the SGD-with-momentum loop on checked arrays
    (fastgd.reference.sparse_momentum.momentum_epoch is its specification); ``state`` the
    records of momentum_state (weight and buffer of data's dtype), ``bm`` the intercept's
    momentum buffer, ``pw`` the float64 (1089, 4) table of momentum_table."""
    cdef fgdsp_args a
    cdef fgdsp_fn fn
    cdef int f32 = cnp.PyArray_TYPE(data) == cnp.NPY_FLOAT32
    cdef int i32 = cnp.PyArray_ITEMSIZE(indices) == 4
    fn = fgdsp_table[_isa_index()][FGDSP_MOMENTUM][2 * (not f32) + (not i32)]
    if (state.dtype.names != ("w", "m", "g", "stamp")
            or state.dtype.itemsize != (24 if f32 else 32)
            or state.dtype["w"] != data.dtype or not state.flags.c_contiguous
            or cnp.PyArray_SIZE(pw) != 1089 * 4 or cnp.PyArray_DIM(work, 0) < 3 * batch
            or cnp.PyArray_DIM(st, 0) < 10 or cnp.PyArray_DIM(prm, 0) < 15
            or cnp.PyArray_DIM(iprm, 0) < 8 or cnp.PyArray_SIZE(bm) < 1):
        raise ValueError("sparse_momentum_epoch: the arrays do not have the loop's layout")
    a.data = cnp.PyArray_DATA(data)
    a.indices = cnp.PyArray_DATA(indices)
    a.indptr = cnp.PyArray_DATA(indptr)
    a.y = cnp.PyArray_DATA(y)
    a.sw = _ptr_or_null(sw)
    a.order = <const int64_t *>cnp.PyArray_DATA(order)
    a.n_order = cnp.PyArray_DIM(order, 0)
    a.d = cnp.PyArray_DIM(state, 0)
    a.k = 1
    a.batch = batch
    a.v = NULL
    a.b = _ptr_or_null(b)
    a.q = NULL
    a.m1 = cnp.PyArray_DATA(state)
    a.m2 = cnp.PyArray_DATA(bm)
    a.st = <double *>cnp.PyArray_DATA(st)
    a.prm = <const double *>cnp.PyArray_DATA(prm)
    a.iprm = <const int64_t *>cnp.PyArray_DATA(iprm)
    a.work = <double *>cnp.PyArray_DATA(work)
    a.g = NULL
    a.mark = NULL
    a.touched = <int64_t *>cnp.PyArray_DATA(touched)
    a.pw = <const double *>cnp.PyArray_DATA(pw)
    a.vs = 1
    with nogil:
        fn(&a)
