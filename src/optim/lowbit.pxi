# The fused low-bit step (src/optim/lowbit.h), included by _core.pyx. Not a kernel of the
# table: fastgd.optim.lowbit calls it once per tensor with block-quantized states.

from libc.stdint cimport uint8_t, uint32_t

from fastgd.reference.lowbit import check_lowbit as _check_lowbit
from fastgd.reference.lowbit import fast_split_table as _fast_split_table
from fastgd.reference.lowbit import fast_tables as _fast_tables

cdef extern from "quant.h" nogil:
    ctypedef struct fgd_lowbit_call:
        int rule
        int bits
        Py_ssize_t n
        Py_ssize_t block
        float* p
        const float* g
        uint8_t* codes[2]
        float* absmax[2]
        const float* table[2]
        const uint8_t* lut[2]
        const float* threshold[2]
        const uint32_t* split[2]
        int zero[2]
        double lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2_sqrt
        int decoupled_weight_decay, maximize
        int vbmi
    int fgd_lowbit_f32(int isa, const fgd_lowbit_call* a)


# Whether the AVX-512 low-bit step reads the 8-bit maps by the byte permutes of AVX-512
# VBMI (the default where this CPU has them) or by gathers: the same bits either way.
cdef bint _lowbit_vbmi = fgd_vbmi_supported()


def lowbit_vbmi():
    """Whether the AVX-512 low-bit step dequantizes 8-bit states by AVX-512 VBMI byte
    permutes (the default where this CPU has them) rather than by gathers."""
    return bool(_lowbit_vbmi)


def set_lowbit_vbmi(flag):
    """Dequantize 8-bit states in the AVX-512 low-bit step by AVX-512 VBMI byte permutes
    (True: only where this CPU has them) or by gathers (False); the bits are the same."""
    global _lowbit_vbmi
    if not isinstance(flag, bool):
        raise TypeError(f"flag must be True or False, got {flag!r}")
    if flag and not fgd_vbmi_supported():
        raise ValueError("this CPU has no AVX-512 VBMI byte permutes: "
                         "set_lowbit_vbmi(True) cannot be honoured")
    _lowbit_vbmi = flag


def lowbit_step(str rule, cnp.ndarray param, cnp.ndarray grad, list states, *,
                int block_size, int bits, double lr, double beta1, double beta2,
                double eps=0.0, double weight_decay=0.0, double bias_correction1=1.0,
                double bias_correction2_sqrt=1.0, bint decoupled_weight_decay=False,
                bint maximize=False, bint check_only=False):
    """One low-bit step of a flat float32 tensor (see fastgd.reference.lowbit.lowbit_step,
    the specification): checked first, then one fused pass over the blocks with the GIL
    released."""
    _check_lowbit(rule, param, grad, states, block_size, bits)
    if check_only:
        return
    cdef fgd_lowbit_call a
    cdef int k, rc
    cdef list keep = []
    a.rule = 0 if rule == "adam" else 1
    a.bits = bits
    a.n = cnp.PyArray_SIZE(param)
    a.block = block_size
    a.p = <float*>cnp.PyArray_DATA(param)
    a.g = <const float*>cnp.PyArray_DATA(grad)
    for k in range(2):
        codes, absmax, table = states[k if k < len(states) else 0]
        lut, threshold, zero = _fast_tables(table)
        keep += [lut, threshold]
        a.codes[k] = <uint8_t*>cnp.PyArray_DATA(codes)
        a.absmax[k] = <float*>cnp.PyArray_DATA(absmax)
        a.table[k] = <const float*>cnp.PyArray_DATA(table)
        a.lut[k] = <const uint8_t*>cnp.PyArray_DATA(lut)
        a.threshold[k] = <const float*>cnp.PyArray_DATA(threshold)
        if bits == 8:  # the AVX-512 quantizer's one-read table
            split = _fast_split_table(table)
            keep.append(split)
            a.split[k] = <const uint32_t*>cnp.PyArray_DATA(split)
        else:
            a.split[k] = NULL
        a.zero[k] = zero
    a.lr, a.beta1, a.beta2, a.eps = lr, beta1, beta2, eps
    a.weight_decay = weight_decay
    a.bias_correction1, a.bias_correction2_sqrt = bias_correction1, bias_correction2_sqrt
    a.decoupled_weight_decay, a.maximize = decoupled_weight_decay, maximize
    a.vbmi = _lowbit_vbmi
    if a.n == 0:
        return
    with nogil:
        rc = fgd_lowbit_f32(_isa_index, &a)
    if rc != 0:
        raise MemoryError("the low-bit step could not allocate its scratch")
