# SparseAdam's row update (src/optim/sparse_adam.h), included by _core.pyx. Not a kernel of
# the table: fastgd.optim.sparse_adam calls it with a parameter's touched rows.

from libc.stdint cimport int64_t

from fastgd.reference.sparse_adam import check_rows as _check_rows

cdef extern from "sparse_adam.h" nogil:
    void fgd_sparse_adam_rows_f32(float* param, float* exp_avg, float* exp_avg_sq,
                                  Py_ssize_t width, const int64_t* indices,
                                  const float* rows, Py_ssize_t k, double one_minus_beta1,
                                  double one_minus_beta2, double eps, double neg_step_size,
                                  int maximize)
    void fgd_sparse_adam_rows_f64(double* param, double* exp_avg, double* exp_avg_sq,
                                  Py_ssize_t width, const int64_t* indices,
                                  const double* rows, Py_ssize_t k, double one_minus_beta1,
                                  double one_minus_beta2, double eps, double neg_step_size,
                                  int maximize)


def sparse_adam_rows(cnp.ndarray param, cnp.ndarray exp_avg, cnp.ndarray exp_avg_sq,
                     cnp.ndarray indices, cnp.ndarray rows, *, double one_minus_beta1,
                     double one_minus_beta2, double eps, double neg_step_size,
                     bint maximize=False, bint check_only=False):
    """SparseAdam's update of the rows ``indices`` of the 2-D views ``param``, ``exp_avg``,
    ``exp_avg_sq`` from ``rows`` (see fastgd.reference.sparse_adam.sparse_adam_rows, the
    specification): checked first, then one pass over the rows with the GIL released."""
    _check_rows(param, exp_avg, exp_avg_sq, indices, rows)
    if check_only:
        return
    cdef Py_ssize_t k = cnp.PyArray_DIM(rows, 0), width = cnp.PyArray_DIM(param, 1)
    cdef const int64_t* idx = <const int64_t*>cnp.PyArray_DATA(indices)
    cdef char* p = <char*>cnp.PyArray_DATA(param)
    cdef char* m = <char*>cnp.PyArray_DATA(exp_avg)
    cdef char* v = <char*>cnp.PyArray_DATA(exp_avg_sq)
    cdef const char* g = <const char*>cnp.PyArray_DATA(rows)
    if k == 0:
        return
    if cnp.PyArray_TYPE(param) == cnp.NPY_FLOAT32:
        with nogil:
            fgd_sparse_adam_rows_f32(<float*>p, <float*>m, <float*>v, width, idx,
                                     <const float*>g, k, one_minus_beta1, one_minus_beta2,
                                     eps, neg_step_size, maximize)
    else:
        with nogil:
            fgd_sparse_adam_rows_f64(<double*>p, <double*>m, <double*>v, width, idx,
                                     <const double*>g, k, one_minus_beta1, one_minus_beta2,
                                     eps, neg_step_size, maximize)
