# L-BFGS's vector operations (src/optim/lbfgs.h), with the signatures of
# fastgd/reference/lbfgs.py. Included by _core.pyx. Every array is checked (a 1-D,
# C-contiguous float32 or float64 array; all of one dtype and one length; written ones
# writeable) before the GIL is released; nothing is written when a check fails.

cdef extern from "lbfgs.h" nogil:
    double fgd_lbfgs_dot_f32(Py_ssize_t n, const float* x, const float* y)
    double fgd_lbfgs_dot_f64(Py_ssize_t n, const double* x, const double* y)
    void fgd_lbfgs_axpy_f32(Py_ssize_t n, float* y, double alpha, const float* x)
    void fgd_lbfgs_axpy_f64(Py_ssize_t n, double* y, double alpha, const double* x)
    double fgd_lbfgs_abs_max_f32(Py_ssize_t n, const float* x)
    double fgd_lbfgs_abs_max_f64(Py_ssize_t n, const double* x)
    double fgd_lbfgs_abs_sum_f32(Py_ssize_t n, const float* x)
    double fgd_lbfgs_abs_sum_f64(Py_ssize_t n, const double* x)
    void fgd_lbfgs_memory_f32(Py_ssize_t n, float* y, float* s, const float* g,
                              const float* g_prev, const float* d, double t,
                              double* ys, double* yy)
    void fgd_lbfgs_memory_f64(Py_ssize_t n, double* y, double* s, const double* g,
                              const double* g_prev, const double* d, double t,
                              double* ys, double* yy)
    void fgd_lbfgs_two_loop_f32(Py_ssize_t n, float* d, const float* g, Py_ssize_t m,
                                float* const* dirs, float* const* stps, const double* ro,
                                double h_diag, double* al)
    void fgd_lbfgs_two_loop_f64(Py_ssize_t n, double* d, const double* g, Py_ssize_t m,
                                double* const* dirs, double* const* stps, const double* ro,
                                double h_diag, double* al)


cdef char* _lbfgs_vector(str fn, str name, object a, int typenum, Py_ssize_t n,
                         bint write) except? NULL:
    """The data of ``a``, checked: a 1-D C-contiguous array of ``typenum`` (-1: float32 or
    float64) and length ``n`` (-1: any), writeable when ``write``."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{fn}: {name} must be a numpy.ndarray, got {type(a).__name__}")
    cdef cnp.ndarray arr = <cnp.ndarray>a
    cdef int t = cnp.PyArray_TYPE(arr)
    if t != cnp.NPY_FLOAT and t != cnp.NPY_DOUBLE:
        raise TypeError(f"{fn}: {name} has dtype {arr.dtype}; float32 or float64 expected")
    if typenum >= 0 and t != typenum:
        raise TypeError(f"{fn}: {name} has dtype {arr.dtype}, the other arrays another")
    if cnp.PyArray_NDIM(arr) != 1 or not cnp.PyArray_IS_C_CONTIGUOUS(arr) \
            or not cnp.PyArray_ISALIGNED(arr):
        raise ValueError(f"{fn}: {name} must be a 1-D, C-contiguous, aligned array")
    if n >= 0 and cnp.PyArray_DIM(arr, 0) != n:
        raise ValueError(f"{fn}: {name} has {cnp.PyArray_DIM(arr, 0)} elements, expected {n}")
    if write and not cnp.PyArray_ISWRITEABLE(arr):
        raise ValueError(f"{fn}: {name} is read-only")
    return <char*>cnp.PyArray_DATA(arr)


def lbfgs_dot(x, y):
    """``x . y`` in float64, in the eight-lane order (:func:`fastgd.reference.lbfgs.lbfgs_dot`)."""
    cdef char* px = _lbfgs_vector("lbfgs_dot", "x", x, -1, -1, False)
    cdef int t = cnp.PyArray_TYPE(<cnp.ndarray>x)
    cdef Py_ssize_t n = cnp.PyArray_DIM(<cnp.ndarray>x, 0)
    cdef char* py = _lbfgs_vector("lbfgs_dot", "y", y, t, n, False)
    cdef double r
    with nogil:
        if t == cnp.NPY_FLOAT:
            r = fgd_lbfgs_dot_f32(n, <float*>px, <float*>py)
        else:
            r = fgd_lbfgs_dot_f64(n, <double*>px, <double*>py)
    return r


def lbfgs_axpy(y, alpha, x):
    """``y += alpha * x`` in place (:func:`fastgd.reference.lbfgs.lbfgs_axpy`)."""
    cdef double a = _real("lbfgs_axpy: alpha", alpha)
    cdef char* py = _lbfgs_vector("lbfgs_axpy", "y", y, -1, -1, True)
    cdef int t = cnp.PyArray_TYPE(<cnp.ndarray>y)
    cdef Py_ssize_t n = cnp.PyArray_DIM(<cnp.ndarray>y, 0)
    cdef char* px = _lbfgs_vector("lbfgs_axpy", "x", x, t, n, False)
    with nogil:
        if t == cnp.NPY_FLOAT:
            fgd_lbfgs_axpy_f32(n, <float*>py, a, <float*>px)
        else:
            fgd_lbfgs_axpy_f64(n, <double*>py, a, <double*>px)


def lbfgs_abs_max(x):
    """``max |x_i|`` as float64 (:func:`fastgd.reference.lbfgs.lbfgs_abs_max`)."""
    cdef char* px = _lbfgs_vector("lbfgs_abs_max", "x", x, -1, -1, False)
    cdef int t = cnp.PyArray_TYPE(<cnp.ndarray>x)
    cdef Py_ssize_t n = cnp.PyArray_DIM(<cnp.ndarray>x, 0)
    cdef double r
    with nogil:
        if t == cnp.NPY_FLOAT:
            r = fgd_lbfgs_abs_max_f32(n, <float*>px)
        else:
            r = fgd_lbfgs_abs_max_f64(n, <double*>px)
    return r


def lbfgs_abs_sum(x):
    """``sum |x_i|`` in float64 (:func:`fastgd.reference.lbfgs.lbfgs_abs_sum`)."""
    cdef char* px = _lbfgs_vector("lbfgs_abs_sum", "x", x, -1, -1, False)
    cdef int t = cnp.PyArray_TYPE(<cnp.ndarray>x)
    cdef Py_ssize_t n = cnp.PyArray_DIM(<cnp.ndarray>x, 0)
    cdef double r
    with nogil:
        if t == cnp.NPY_FLOAT:
            r = fgd_lbfgs_abs_sum_f32(n, <float*>px)
        else:
            r = fgd_lbfgs_abs_sum_f64(n, <double*>px)
    return r


def lbfgs_memory(y, s, g, g_prev, d, t):
    """``y = g - g_prev``, ``s = t d``; returns ``(y . s, y . y)``
    (:func:`fastgd.reference.lbfgs.lbfgs_memory`)."""
    cdef double tt = _real("lbfgs_memory: t", t)
    cdef char* pg = _lbfgs_vector("lbfgs_memory", "g", g, -1, -1, False)
    cdef int typ = cnp.PyArray_TYPE(<cnp.ndarray>g)
    cdef Py_ssize_t n = cnp.PyArray_DIM(<cnp.ndarray>g, 0)
    cdef char* pp = _lbfgs_vector("lbfgs_memory", "g_prev", g_prev, typ, n, False)
    cdef char* pd = _lbfgs_vector("lbfgs_memory", "d", d, typ, n, False)
    cdef char* py = _lbfgs_vector("lbfgs_memory", "y", y, typ, n, True)
    cdef char* ps = _lbfgs_vector("lbfgs_memory", "s", s, typ, n, True)
    if py == ps or py == pg or py == pp or py == pd or ps == pg or ps == pp or ps == pd:
        if n > 0:
            raise ValueError("lbfgs_memory: y and s must be arrays of their own")
    cdef double ys = 0.0, yy = 0.0
    with nogil:
        if typ == cnp.NPY_FLOAT:
            fgd_lbfgs_memory_f32(n, <float*>py, <float*>ps, <float*>pg, <float*>pp,
                                 <float*>pd, tt, &ys, &yy)
        else:
            fgd_lbfgs_memory_f64(n, <double*>py, <double*>ps, <double*>pg, <double*>pp,
                                 <double*>pd, tt, &ys, &yy)
    return ys, yy


def lbfgs_two_loop(d, g, old_dirs, old_stps, ro, h_diag, al):
    """The direction ``d = -H g`` by the two-loop recursion
    (:func:`fastgd.reference.lbfgs.lbfgs_two_loop`)."""
    cdef double h = _real("lbfgs_two_loop: h_diag", h_diag)
    cdef char* pg = _lbfgs_vector("lbfgs_two_loop", "g", g, -1, -1, False)
    cdef int typ = cnp.PyArray_TYPE(<cnp.ndarray>g)
    cdef Py_ssize_t n = cnp.PyArray_DIM(<cnp.ndarray>g, 0)
    cdef char* pd = _lbfgs_vector("lbfgs_two_loop", "d", d, typ, n, True)
    if n > 0 and pd == pg:
        raise ValueError("lbfgs_two_loop: d and g must be arrays of their own")
    if not isinstance(old_dirs, (list, tuple)) or not isinstance(old_stps, (list, tuple)):
        raise TypeError("lbfgs_two_loop: old_dirs and old_stps must be lists of arrays")
    cdef Py_ssize_t m = len(old_dirs), k
    if len(old_stps) != m or len(ro) < m:
        raise ValueError(f"lbfgs_two_loop: {m} old_dirs, {len(old_stps)} old_stps and "
                         f"{len(ro)} ro")
    cdef char* pal = _lbfgs_vector("lbfgs_two_loop", "al", al, cnp.NPY_DOUBLE, -1, True)
    if cnp.PyArray_DIM(<cnp.ndarray>al, 0) < m:
        raise ValueError(f"lbfgs_two_loop: al has {cnp.PyArray_DIM(<cnp.ndarray>al, 0)} "
                         f"elements, the history {m}")
    cdef char** ptrs = <char**>malloc((2 * m + 1) * sizeof(char*))
    cdef double* rho = <double*>malloc((m + 1) * sizeof(double))
    if ptrs == NULL or rho == NULL:
        free(ptrs)
        free(rho)
        raise MemoryError()
    keep = [d, g, al]  # held until the call returns
    try:
        for k in range(m):
            ptrs[k] = _lbfgs_vector("lbfgs_two_loop", f"old_dirs[{k}]", old_dirs[k], typ,
                                    n, False)
            ptrs[m + k] = _lbfgs_vector("lbfgs_two_loop", f"old_stps[{k}]", old_stps[k],
                                        typ, n, False)
            if n > 0 and (ptrs[k] == pd or ptrs[m + k] == pd):
                raise ValueError("lbfgs_two_loop: d must not be a history array")
            rho[k] = _real(f"lbfgs_two_loop: ro[{k}]", ro[k])
            keep.append(old_dirs[k])
            keep.append(old_stps[k])
        with nogil:
            if typ == cnp.NPY_FLOAT:
                fgd_lbfgs_two_loop_f32(n, <float*>pd, <float*>pg, m, <float**>ptrs,
                                       <float**>(ptrs + m), rho, h, <double*>pal)
            else:
                fgd_lbfgs_two_loop_f64(n, <double*>pd, <double*>pg, m, <double**>ptrs,
                                       <double**>(ptrs + m), rho, h, <double*>pal)
    finally:
        free(ptrs)
        free(rho)
