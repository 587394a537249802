# The fused low-bit step (src/optim/lowbit.h), included by _core.pyx. Not a kernel of the
# table: fastgd.optim.lowbit calls it once per tensor with block-quantized states.

from libc.stdint cimport uint8_t, uint32_t
from libc.string cimport memcmp

from fastgd.reference.lowbit import VECTOR_WIDTH as _VECTOR_WIDTH
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


cdef bint _flat(object a, int type_num, Py_ssize_t size):
    """a is a native-order ndarray of type_num, 1-D, C-contiguous, of size elements."""
    if not isinstance(a, cnp.ndarray):
        return False
    cdef cnp.ndarray x = <cnp.ndarray>a
    return (cnp.PyArray_TYPE(x) == type_num and cnp.PyArray_ISNOTSWAPPED(x)
            and cnp.PyArray_NDIM(x) == 1 and cnp.PyArray_IS_C_CONTIGUOUS(x)
            and cnp.PyArray_SIZE(x) == size)


cdef bint _apart(list arrays):
    """No two of these arrays' byte ranges overlap (numpy.may_share_memory's bounds test,
    exact for contiguous arrays; an empty array overlaps nothing)."""
    cdef Py_ssize_t i, j
    cdef uintptr_t a0, a1, b0, b1
    cdef cnp.ndarray x, y
    for i in range(len(arrays)):
        x = <cnp.ndarray>arrays[i]
        a0 = <uintptr_t>cnp.PyArray_DATA(x)
        a1 = a0 + <uintptr_t>cnp.PyArray_NBYTES(x)
        for j in range(i + 1, len(arrays)):
            y = <cnp.ndarray>arrays[j]
            b0 = <uintptr_t>cnp.PyArray_DATA(y)
            b1 = b0 + <uintptr_t>cnp.PyArray_NBYTES(y)
            if a1 > a0 and b1 > b0 and a0 < b1 and b0 < a1:
                return False
    return True


cdef bint _lowbit_fine(str rule, cnp.ndarray param, cnp.ndarray grad, list states,
                       int block_size, int bits):
    """Whether check_lowbit (the specification's checks) accepts these arguments, by
    C-level tests of every one of its conditions: True only where it does (where this says
    False, check_lowbit runs and names what is wrong). About 0.5 us against its 7 us."""
    if rule != "adam" and rule != "lion":
        return False
    if (bits != 8 and bits != 4) or block_size <= 0 or block_size % _VECTOR_WIDTH \
            or block_size > 65536:
        return False
    if param is None or grad is None:
        return False
    cdef Py_ssize_t n = cnp.PyArray_SIZE(param)
    if not (_flat(param, cnp.NPY_FLOAT32, n) and _flat(grad, cnp.NPY_FLOAT32, n)
            and cnp.PyArray_ISWRITEABLE(param)):
        return False
    if len(states) != (2 if rule == "adam" else 1):
        return False
    cdef Py_ssize_t n_codes = n if bits == 8 else (n + 1) // 2
    cdef Py_ssize_t n_blocks = (n + block_size - 1) // block_size
    cdef list written = [param]
    for state in states:
        if type(state) is not tuple or len(<tuple>state) != 3:
            return False
        codes, absmax, table = <tuple>state
        if not (_flat(codes, cnp.NPY_UINT8, n_codes) and _flat(absmax, cnp.NPY_FLOAT32, n_blocks)
                and _flat(table, cnp.NPY_FLOAT32, 1 << bits)):
            return False
        if not (cnp.PyArray_ISWRITEABLE(<cnp.ndarray>codes)
                and cnp.PyArray_ISWRITEABLE(<cnp.ndarray>absmax)):
            return False
        if not _apart([param, grad, codes, absmax]):
            return False
        written += [codes, absmax]
    for state in states:  # each map and everything written, across the states: apart
        if not _apart([(<tuple>state)[2]] + written):
            return False
    return True


# The quantizer's tables of the maps in use (fastgd.reference.lowbit.fast_tables and
# fast_split_table, which key them by the map's bytes), found again by the map array
# itself: id(table) -> (table, its bytes, lut, threshold, zero code, split table or None).
# An entry holds the array (so its id is not reused) and is taken only while the array's
# size and bytes are still those (memcmp of 1 KiB): 0.1 us against 2 us for the two keyed
# lookups.
cdef dict _TABLES = {}


cdef tuple _tables_of(cnp.ndarray table, int bits):
    got = _TABLES.get(id(table))
    cdef bytes saved
    if got is not None and (<tuple>got)[0] is table:
        saved = (<tuple>got)[1]
        if (cnp.PyArray_NBYTES(table) == len(saved)  # not resized in place since
                and memcmp(cnp.PyArray_DATA(table), <const char*>saved, len(saved)) == 0):
            return <tuple>got
    lut, threshold, zero = _fast_tables(table)
    split = _fast_split_table(table) if bits == 8 else None  # the AVX-512 quantizer's
    if len(_TABLES) >= 64:
        _TABLES.clear()
    got = (table, table.tobytes(), lut, threshold, zero, split)
    _TABLES[id(table)] = got
    return <tuple>got


def lowbit_step(str rule, cnp.ndarray param, cnp.ndarray grad, list states, *,
                int block_size, int bits, double lr, double beta1, double beta2,
                double eps=0.0, double weight_decay=0.0, double bias_correction1=1.0,
                double bias_correction2_sqrt=1.0, bint decoupled_weight_decay=False,
                bint maximize=False, bint check_only=False):
    """One low-bit step of a flat float32 tensor (see fastgd.reference.lowbit.lowbit_step,
    the specification): checked first, then one fused pass over the blocks with the GIL
    released."""
    if not _lowbit_fine(rule, param, grad, states, block_size, bits):
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
        tables = _tables_of(table, bits)
        keep.append(tables)
        _, _, lut, threshold, zero, split = tables
        a.codes[k] = <uint8_t*>cnp.PyArray_DATA(codes)
        a.absmax[k] = <float*>cnp.PyArray_DATA(absmax)
        a.table[k] = <const float*>cnp.PyArray_DATA(table)
        a.lut[k] = <const uint8_t*>cnp.PyArray_DATA(lut)
        a.threshold[k] = <const float*>cnp.PyArray_DATA(threshold)
        a.split[k] = NULL if split is None else <const uint32_t*>cnp.PyArray_DATA(split)
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
