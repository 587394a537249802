# The C declarations both compiled modules share (cimported by src/optim/_core.pyx and
# src/models/_models.pyx): an optimizer kernel's table entry (fgd_kernel_fn), the tables of
# entry points per instruction set (src/optim/kernels.h), the CPU check
# (src/common/fgd_isa.h) and the step formula (src/common/fgd_elementwise.h).

cdef extern from "fgd_isa.h" nogil:
    int fgd_isa_supported(int i)
    int fgd_fma_supported(int i)
    int fgd_vbmi_supported()

cdef extern from "fgd_elementwise.h" nogil:
    double fgd_step_formula(double beta, double step, int code)

cdef extern from "kernels.h" nogil:
    ctypedef void (*fgd_kernel_fn)(Py_ssize_t n, const Py_ssize_t* dims, char* const* b,
                                   const double* s, const int* f) noexcept nogil
    ctypedef struct fgd_kernel_table:
        const char* name
        fgd_kernel_fn* f32
        fgd_kernel_fn* f64

    const fgd_kernel_table fgd_tables[]
    const fgd_kernel_table fgd_fma_tables[]
    const char* const fgd_kernel_names[]
    int FGD_N_KERNELS
    int FGD_N_TABLES
