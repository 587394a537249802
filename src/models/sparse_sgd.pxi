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
    ctypedef int (*fgdsp_fn)(const fgdsp_args *a) noexcept nogil
    enum:
        FGDSP_SGD
        FGDSP_ADAM
        FGDSP_SOFTMAX
    # [isa][loop][2 * float64 + int64]: the isa rows are fgd_isa.h's (those of the models'
    # tables), FGD_N_ISAS of them
    const fgdsp_fn fgdsp_table[3][3][4]


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
    # the instruction set the compiled core runs now, as the model kernels (_table)
    index = _TABLE_INDEX.get(_core.isa())
    if index is None or not fgd_isa_supported(index):
        index = 0
    fn = fgdsp_table[<int>index][loop][2 * f64 + i64]
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
