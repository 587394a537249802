"""Block-wise 8-bit and 4-bit optimizer states: the NumPy specification.

A state tensor of n float32 values is stored as one code per element (uint8; for 4 bits
two codes per byte, the even element in the high nibble) and one float32 ``absmax`` per
block of ``block_size`` consecutive elements (the last block may be partial). A code c of
block b stands for ``qmap[c] * absmax[b]`` (one float32 multiply), where ``qmap`` is a
sorted table of 256 (or 16) float32 values in [-1, 1]:

- m (first moment, signed): :func:`create_dynamic_map` ``(True, 7, 8)``, or ``(True, 3, 4)``
  for 4 bits;
- v (second moment, unsigned): ``create_dynamic_map(False, 7, 8)``, or for 4 bits the
  linear map ``k/16, k = 1..16`` (:func:`linear_map`), which has no zero.

These are bitsandbytes' and torchao's tables bit for bit. A step (:func:`lowbit_step`)
dequantizes the states, updates them in float32 with the 32-bit rule's own arithmetic
(:func:`fastgd.reference.adam`, :func:`fastgd.reference.lion`, which also update the
parameter from the unquantized states of this step), takes ``absmax = max(abs(state))`` over
each updated block and requantizes (:func:`quantize`): ``x = state / absmax`` (IEEE
division), then the nearest code, ties to the upper code, as torchao's
``quantize_8bit_with_qmap``. A block whose updated state is all zero stores absmax 0 and
the zero code (for the 4-bit linear map, which has no zero, code 0: it still dequantizes to
exactly 0 since absmax is 0).

The compiled and Numba kernels find the code with a table over the top 16 bits of x and one
compare (:func:`lookup_tables`), which gives the same code as :func:`quantize` for every
float32 x (tested).
"""

from __future__ import annotations

import numpy as np

from fastgd.reference.adam import adam
from fastgd.reference.lion import lion

__all__ = ["create_dynamic_map", "linear_map", "qmap", "MAP_NAMES", "quantize", "dequantize",
           "lookup_tables", "pack_4bit", "unpack_4bit", "quantize_blocks", "dequantize_blocks",
           "lowbit_step", "lowbit_adam", "lowbit_lion", "VECTOR_WIDTH"]

_F = np.float32

#: The kernels' vector width in elements: block sizes are multiples of it.
VECTOR_WIDTH = 16


def _linspace(start: float, end: float, steps: int) -> np.ndarray:
    """float32 ``torch.linspace(start, end, steps)`` as torch 2.x computes it on an x86-64
    CPU: step ``(end - start) / (steps - 1)`` in float32, the first half ``start + step*i``
    and the second ``end - step*(steps - 1 - i)``, each a fused multiply-add (one rounding;
    the products are exact in float64, so a float64 sum rounded once is the same)."""
    s, e = _F(start), _F(end)
    step = _F((e - s) / _F(steps - 1))
    i = np.arange(steps, dtype=np.float64)
    low = (np.float64(s) + np.float64(step) * i).astype(_F)
    high = (np.float64(e) - np.float64(step) * (steps - 1 - i)).astype(_F)
    return np.where(np.arange(steps) < steps // 2, low, high)


def create_dynamic_map(signed: bool = True, max_exponent_bits: int = 7,
                       total_bits: int = 8) -> np.ndarray:
    """The dynamic quantization map of bitsandbytes and torchao (``create_dynamic_map``).

    For each decade i = 0 .. max_exponent_bits - 1, the midpoints of the float32
    ``linspace(0.1, 1, k + 1)`` (k = 2^(i + non_sign_bits - max_exponent_bits), doubled when
    unsigned) scaled by ``10^(i - max_exponent_bits + 1)`` (a float32 multiply), and their
    negatives when signed; then 0 and 1, sorted: ``2**total_bits`` float32 values.

    Example::

        from fastgd.reference.lowbit import create_dynamic_map
        m = create_dynamic_map(True, 7, 8)
        assert m.size == 256 and m[127] == 0 and m[255] == 1
    """
    data: list[np.ndarray] = []
    non_sign_bits = total_bits - 1
    additional = 2 ** (non_sign_bits - max_exponent_bits) - 1
    for i in range(max_exponent_bits):
        k = 2 ** (i + non_sign_bits - max_exponent_bits) if signed else \
            2 ** (i + non_sign_bits - max_exponent_bits + 1)
        b = _linspace(0.1, 1.0, k + 1)
        means = (b[:-1] + b[1:]) / _F(2)
        scale = _F(10.0 ** (-(max_exponent_bits - 1) + i))
        data.append(scale * means)
        if signed:
            data.append(-scale * means)
    if additional > 0:
        b = _linspace(0.1, 1.0, additional + 1)
        means = (b[:-1] + b[1:]) / _F(2)
        scale = _F(10.0 ** (-(max_exponent_bits - 1) + max_exponent_bits - 1))
        data.append(scale * means)
        if signed:
            data.append(-scale * means)
    values = np.concatenate(data + [np.array([0.0, 1.0], _F)]).astype(_F)
    values = np.concatenate([values, np.zeros(2 ** total_bits - values.size, _F)])
    return np.sort(values)


def linear_map(n: int = 16) -> np.ndarray:
    """The linear map without zero, ``k/n`` for k = 1..n (torchao's 4-bit second moment).

    Example::

        from fastgd.reference.lowbit import linear_map
        assert linear_map(16)[0] == 1 / 16 and linear_map(16)[-1] == 1
    """
    return (np.arange(1, n + 1, dtype=_F) / _F(n)).astype(_F)


#: The named maps a state uses (stored in checkpoints by name).
MAP_NAMES = ("dynamic_signed_8", "dynamic_unsigned_8", "dynamic_signed_4", "linear_unsigned_4")


def qmap(name: str) -> np.ndarray:
    """The map called ``name`` (one of :data:`MAP_NAMES`), a fresh float32 array.

    Example::

        from fastgd.reference.lowbit import qmap
        assert qmap("dynamic_signed_8").size == 256
        assert qmap("linear_unsigned_4").size == 16
    """
    if name == "dynamic_signed_8":
        return create_dynamic_map(True, 7, 8)
    if name == "dynamic_unsigned_8":
        return create_dynamic_map(False, 7, 8)
    if name == "dynamic_signed_4":
        return create_dynamic_map(True, 3, 4)
    if name == "linear_unsigned_4":
        return linear_map(16)
    raise ValueError(f"unknown quantization map {name!r}; expected one of {MAP_NAMES}")


_SHARED_MAPS: dict[str, np.ndarray] = {}


def shared_qmap(name: str) -> np.ndarray:
    """:func:`qmap`'s map called ``name``, built once and shared, read-only: what an
    optimizer's step reads (building a map anew took about 0.17 ms, a dozen times a small
    tensor's whole step).

    Example::

        from fastgd.reference.lowbit import qmap, shared_qmap
        m = shared_qmap("dynamic_signed_8")
        assert m is shared_qmap("dynamic_signed_8") and not m.flags.writeable
        assert np.array_equal(m, qmap("dynamic_signed_8"))
    """
    got = _SHARED_MAPS.get(name)
    if got is None:
        got = qmap(name)
        got.flags.writeable = False
        got = _SHARED_MAPS.setdefault(name, got)
    return got


def zero_code(table: np.ndarray) -> int:
    """The code of an all-zero block: the index of 0.0 in ``table``, or 0 if it has none."""
    hits = np.flatnonzero(table == 0)
    return int(hits[0]) if hits.size else 0


def quantize(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The code of each float32 ``x`` (normalised, in [-1, 1]): with i the largest index such
    that ``table[i] <= x`` (0 if none), code ``i + 1`` if ``x - table[i] >= (table[i+1] -
    table[i]) * 0.5`` in float32, else i (torchao's rule: nearest, ties to the upper code).
    NaN gives code 0 (as torchao's comparisons do). Returns uint8 codes.

    Example::

        from fastgd.reference.lowbit import quantize, linear_map
        q = linear_map(16)
        assert quantize(np.array([0.0, 1.0, 0.09375], np.float32), q).tolist() == [0, 15, 1]
    """
    x = np.asarray(x, dtype=_F)
    top = table.size - 1
    i = np.searchsorted(table, x, side="right") - 1
    i = np.clip(i, 0, top)
    i[np.isnan(x)] = 0
    up = np.minimum(i + 1, top)
    low, high = table[i], table[up]
    with np.errstate(invalid="ignore"):
        go_up = (x - low) >= (high - low) * _F(0.5)
    return np.where(go_up, up, i).astype(np.uint8)


def dequantize(codes: np.ndarray, scale: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``table[codes] * scale`` in float32 (one multiply), element by element.

    Example::

        from fastgd.reference.lowbit import dequantize, linear_map
        x = dequantize(np.array([0, 15], np.uint8), np.array([2.0, 2.0], np.float32), linear_map())
        assert x.tolist() == [0.125, 2.0]
    """
    return (table[codes] * scale.astype(_F)).astype(_F)


def check_block_size(block_size: object) -> int:
    """``block_size`` as an int if it is a positive multiple of :data:`VECTOR_WIDTH`, else a
    ValueError (TypeError if it is not an integer) naming it."""
    if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)):
        raise TypeError(f"block_size must be an int, got {type(block_size).__name__}")
    if block_size <= 0 or block_size % VECTOR_WIDTH or block_size > 2 ** 16:
        raise ValueError(f"Invalid block_size: {block_size} (a positive multiple of "
                         f"{VECTOR_WIDTH}, at most 65536)")
    return int(block_size)


def pack_4bit(codes: np.ndarray) -> np.ndarray:
    """Codes 0..15 two per byte: element 2j in the high nibble of byte j, 2j+1 in the low
    one (0 when n is odd).

    Example::

        from fastgd.reference.lowbit import pack_4bit
        assert pack_4bit(np.array([1, 2, 3], np.uint8)).tolist() == [0x12, 0x30]
    """
    c = np.asarray(codes, dtype=np.uint8)
    if c.size % 2:
        c = np.concatenate([c, np.zeros(1, np.uint8)])
    return ((c[0::2] << 4) | c[1::2]).astype(np.uint8)


def unpack_4bit(packed: np.ndarray, n: int) -> np.ndarray:
    """The n codes of :func:`pack_4bit`'s bytes.

    Example::

        from fastgd.reference.lowbit import unpack_4bit
        assert unpack_4bit(np.array([0x12, 0x30], np.uint8), 3).tolist() == [1, 2, 3]
    """
    out = np.empty(2 * packed.size, np.uint8)
    out[0::2] = packed >> 4
    out[1::2] = packed & 15
    return out[:n]


def _per_element(values: np.ndarray, n: int, block_size: int) -> np.ndarray:
    return np.repeat(values, block_size)[:n]


def block_absmax(state: np.ndarray, block_size: int) -> np.ndarray:
    """``max(abs(state))`` over each block (float32; NaN if the block holds a NaN)."""
    n = state.size
    nb = -(-n // block_size)
    padded = np.zeros(nb * block_size, _F)
    padded[:n] = np.abs(state)
    return padded.reshape(nb, block_size).max(axis=1).astype(_F)


def quantize_blocks(state: np.ndarray, table: np.ndarray, block_size: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, absmax)`` of a flat float32 state: absmax per block, ``x = state / absmax``
    (IEEE division) and :func:`quantize`; an all-zero block gets :func:`zero_code`. Codes
    are one per element (not packed).

    Example::

        from fastgd.reference.lowbit import qmap, quantize_blocks
        codes, absmax = quantize_blocks(np.array([0.5, -1.0] + [0.0] * 14, np.float32),
                                        qmap("dynamic_signed_8"), 16)
        assert absmax.tolist() == [1.0] and codes[1] == 0 and codes[2] == 127
    """
    absmax = block_absmax(state, block_size)
    scale = _per_element(absmax, state.size, block_size)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = state / scale
    codes = quantize(x, table)
    codes[scale == 0] = zero_code(table)
    return codes, absmax


def dequantize_blocks(codes: np.ndarray, absmax: np.ndarray, table: np.ndarray,
                      block_size: int) -> np.ndarray:
    """The float32 state of one-per-element ``codes`` and block ``absmax``.

    Example::

        from fastgd.reference.lowbit import dequantize_blocks, qmap
        s = dequantize_blocks(np.full(32, 255, np.uint8), np.array([1.0, 0.5], np.float32),
                              qmap("dynamic_signed_8"), 16)
        assert s[0] == 1.0 and s[31] == 0.5
    """
    return dequantize(codes, _per_element(absmax, codes.size, block_size), table)


def _float_key(bits: np.ndarray) -> np.ndarray:
    """A monotone integer key of float32 bit patterns (int64): ordered as the floats."""
    b = bits.astype(np.int64)
    return np.where(b & 0x80000000, 0x7FFFFFFF - (b & 0x7FFFFFFF), b + 0x80000000) - 0x7FFFFFFF


def _from_key(key: np.ndarray) -> np.ndarray:
    k = key.astype(np.int64) + 0x7FFFFFFF
    bits = np.where(k >= 0x80000000, k - 0x80000000, (0x7FFFFFFF - k) | 0x80000000)
    return bits.astype(np.uint32).view(_F)


def lookup_tables(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The fast quantizer's tables of a map: ``lut`` (uint8[65536]) and ``threshold``
    (float32[len(table) + 1]), such that for every float32 x other than NaN,
    ``c = lut[bits(x) >> 16]; c += x >= threshold[c + 1]`` is :func:`quantize`'s code
    (NaN patterns give 0, as :func:`quantize`). ``threshold[k]`` is the least float32 whose
    code is k or more; the top entry is +inf. Raises if some 16-bit bucket would hold two
    thresholds (not the case for the four maps).

    Example::

        from fastgd.reference.lowbit import linear_map, lookup_tables
        lut, threshold = lookup_tables(linear_map())
        x = np.float32(0.1)
        c = lut[np.array([x]).view(np.uint32)[0] >> 16]
        assert c + (x >= threshold[c + 1]) == 1  # 0.1 is nearest to 2/16
    """
    n = table.size
    # Thresholds by bisection on the float order between consecutive codes: the code is
    # monotone in x, the least x of code >= k lies in (table[k-1], table[k]].
    lo = _float_key(table[:-1].view(np.uint32))
    hi = _float_key(table[1:].view(np.uint32))
    ks = np.arange(1, n)
    while np.any(hi - lo > 1):
        mid = (lo + hi) // 2
        ok = quantize(_from_key(mid), table).astype(np.int64) >= ks
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    threshold = np.empty(n + 1, _F)
    threshold[0] = -np.inf
    threshold[1:n] = _from_key(hi)
    threshold[n] = np.inf
    buckets = np.arange(65536, dtype=np.uint32) << 16
    first = np.where(buckets & 0x80000000, buckets | 0xFFFF, buckets).view(_F)
    last = np.where(buckets & 0x80000000, buckets, buckets | 0xFFFF).view(_F)
    lut = quantize(first, table)
    nan = np.isnan(first) | np.isnan(last)
    lut[nan] = 0
    finite = ~nan
    end = quantize(last, table)
    if np.any(end[finite].astype(int) - lut[finite].astype(int) > 1):
        raise ValueError("a 16-bit bucket holds two thresholds of this map")
    return lut.astype(np.uint8), threshold


def lowbit_step(rule: str, param: np.ndarray, grad: np.ndarray, states: list, *,
                block_size: int, bits: int, check_only: bool = False, **hyper) -> None:
    """One step of a low-bit optimizer on a flat float32 ``param`` with its ``grad``.

    ``states`` lists, per state (``[m, v]`` for ``rule="adam"``, ``[m]`` for ``"lion"``),
    ``(codes, absmax, table)``: codes uint8 (one per element for 8 bits, packed for 4),
    absmax float32 per block, the state's map; codes and absmax are updated in place.
    ``hyper`` are :func:`fastgd.reference.adam`'s (or :func:`fastgd.reference.lion`'s)
    keyword arguments.

    Order: dequantize every state (``table[c] * absmax``), run the 32-bit rule on the
    float32 states (the parameter takes this step's unquantized states), take each updated
    block's ``max(abs(state))`` as its new absmax, requantize (:func:`quantize_blocks`).
    ``check_only``: only the checks (:func:`check_lowbit`), nothing written.

    Example::

        from fastgd.reference.lowbit import lowbit_step, qmap
        p, g = np.ones(32, np.float32), np.full(32, 0.5, np.float32)
        states = [(np.full(32, 127, np.uint8), np.zeros(2, np.float32), qmap("dynamic_signed_8"))]
        lowbit_step("lion", p, g, states, block_size=16, bits=8, lr=0.1, beta1=0.9, beta2=0.99)
        assert np.allclose(p, 0.9) and states[0][0][0] == 255  # m = 0.005 g: the block max
    """
    check_lowbit(rule, param, grad, states, block_size, bits)
    if check_only:
        return
    n = param.size
    floats = []
    for codes, absmax, table in states:
        c = unpack_4bit(codes, n) if bits == 4 else codes
        floats.append(dequantize_blocks(c, absmax, table, block_size))
    if rule == "adam":
        adam(param, grad, floats[0], floats[1], **hyper)
    elif rule == "lion":
        lion(param, grad, floats[0], **hyper)
    else:
        raise ValueError(f"unknown low-bit rule {rule!r}")
    for (codes, absmax, table), state in zip(states, floats):
        c, a = quantize_blocks(state, table, block_size)
        codes[...] = pack_4bit(c) if bits == 4 else c
        absmax[...] = a


def check_lowbit(rule: str, param: np.ndarray, grad: np.ndarray, states: list,
                 block_size: int, bits: int) -> None:
    """The checks every backend's ``lowbit_step`` makes before writing anything: a
    TypeError or ValueError naming the bad argument."""
    if rule not in ("adam", "lion"):
        raise ValueError(f"unknown low-bit rule {rule!r}; expected 'adam' or 'lion'")
    if bits not in (8, 4):
        raise ValueError(f"bits must be 8 or 4, got {bits!r}")
    check_block_size(block_size)
    for name, a in (("param", param), ("grad", grad)):
        if not isinstance(a, np.ndarray) or a.dtype != np.float32:
            raise TypeError(f"{name} must be a float32 numpy.ndarray, got "
                            f"{getattr(a, 'dtype', type(a).__name__)}")
        if a.ndim != 1 or not a.flags.c_contiguous:
            raise ValueError(f"{name} must be a contiguous 1-D array, got shape {a.shape}")
    if not param.flags.writeable:
        raise ValueError("param is read-only")
    if grad.size != param.size:
        raise ValueError(f"grad has {grad.size} elements, param {param.size}")
    if len(states) != (2 if rule == "adam" else 1):
        raise ValueError(f"rule {rule!r} takes {2 if rule == 'adam' else 1} states, got "
                         f"{len(states)}")
    n = param.size
    n_codes = n if bits == 8 else (n + 1) // 2
    n_blocks = -(-n // block_size)
    checked: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for k, (codes, absmax, table) in enumerate(states):
        for name, a, dtype, size in (("codes", codes, np.uint8, n_codes),
                                     ("absmax", absmax, np.float32, n_blocks),
                                     ("table", table, np.float32, 2 ** bits)):
            if not isinstance(a, np.ndarray) or a.dtype != dtype:
                raise TypeError(f"states[{k}] {name} must be a {np.dtype(dtype)} "
                                f"numpy.ndarray, got {getattr(a, 'dtype', type(a).__name__)}")
            if a.ndim != 1 or not a.flags.c_contiguous or a.size != size:
                raise ValueError(f"states[{k}] {name} must be a contiguous 1-D array of "
                                 f"{size} elements, got shape {a.shape}")
        if not (codes.flags.writeable and absmax.flags.writeable):
            raise ValueError(f"states[{k}] codes and absmax must be writable")
        arrays = [param, grad, codes, absmax]
        for i, x in enumerate(arrays):
            for y in arrays[i + 1:]:
                if np.may_share_memory(x, y):
                    raise ValueError(f"states[{k}]: param, grad, codes and absmax must not "
                                     f"overlap")
        checked.append((codes, absmax, table))
    # across the states: what the step writes, and the maps it reads while writing
    for k, (codes, absmax, _) in enumerate(checked):
        for j in range(k):
            if any(np.may_share_memory(x, y) for x in (codes, absmax) for y in checked[j][:2]):
                raise ValueError(f"states[{j}] and states[{k}]: codes and absmax must not "
                                 f"overlap")
    written = [param] + [a for codes, absmax, _ in checked for a in (codes, absmax)]
    for k, (_, _, table) in enumerate(checked):
        if any(np.may_share_memory(table, x) for x in written):
            raise ValueError(f"states[{k}] table must not overlap param or any codes or "
                             f"absmax")


def split_table(table: np.ndarray) -> np.ndarray:
    """The quantizer's one-read table of a map (uint32[65536]), :func:`lookup_tables`'
    two tables folded into one: entry ``e`` of x's top 16 bits holds the candidate code
    ``e & 0xFF`` and, in ``e >> 8``, the least *key* of the bucket's values whose code is
    one more (65536: none), where x's key is its low 16 bits, complemented for a negative
    x, so that keys order as the values within a bucket. For every float32 x other than
    NaN, ``c = e & 0xFF; c += key >= e >> 8`` is :func:`quantize`'s code (a NaN takes
    ``e & 0xFF``, as with the two tables).

    Example::

        from fastgd.reference.lowbit import linear_map, split_table
        e = split_table(linear_map())
        u = int(np.array([0.1], np.float32).view(np.uint32)[0])
        c = e[u >> 16] & 0xFF
        assert c + ((u & 0xFFFF) >= e[u >> 16] >> 8) == 1  # 0.1 is nearest to 2/16
    """
    lut, threshold = lookup_tables(table)
    top = np.arange(1 << 16, dtype=np.int64)
    negative = top >= 0x8000
    t = threshold[lut.astype(np.int64) + 1]

    def ge(key):  # each bucket's value of `key` >= its threshold; NaN above every
        lo16 = np.where(negative, 0xFFFF - key, key)  # value if positive, below if not
        x = ((top << 16) | lo16).astype(np.uint32).view(_F)
        with np.errstate(invalid="ignore"):
            return np.where(np.isnan(x), ~negative, x >= t)

    lo = np.full(top.size, -1, np.int64)   # ge(lo) is False (or lo == -1)
    hi = np.full(top.size, 1 << 16)        # ge(hi) is True (or hi == 65536)
    while np.any(hi - lo > 1):
        active = hi - lo > 1
        mid = (lo + hi) // 2
        ok = ge(np.clip(mid, 0, 0xFFFF))
        hi = np.where(active & ok, mid, hi)
        lo = np.where(active & ~ok, mid, lo)
    return (lut.astype(np.uint32) | (hi.astype(np.uint32) << 8)).astype(np.uint32)


_SPLIT: dict[bytes, np.ndarray] = {}


def fast_split_table(table: np.ndarray) -> np.ndarray:
    """:func:`split_table`, cached by the map's bytes (the compiled kernel's table)."""
    key = table.tobytes()
    got = _SPLIT.get(key)
    if got is None:
        got = _SPLIT[key] = split_table(table)
    return got


_FAST: dict[bytes, tuple[np.ndarray, np.ndarray, int]] = {}


def fast_tables(table: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """``(lut, threshold, zero_code)`` of a map (:func:`lookup_tables`), cached by its
    bytes: what the compiled and Numba kernels read."""
    key = table.tobytes()
    got = _FAST.get(key)
    if got is None:
        lut, threshold = lookup_tables(table)
        got = _FAST[key] = (lut, threshold, zero_code(table))
    return got


def lowbit_adam(param, grad, states, *, block_size, bits, lr, beta1, beta2, eps,
                weight_decay=0.0, bias_correction1, bias_correction2_sqrt,
                decoupled_weight_decay=False, maximize=False) -> None:
    r"""Adam / AdamW with block-quantized moments (``fastgd.Adam8bit``, ``AdamW8bit``,
    ``AdamW4bit``): :func:`lowbit_step` with :func:`fastgd.reference.adam`'s update.

    .. math::
        m, v &\leftarrow Q_m[c_m]\,a_m,\ Q_v[c_v]\,a_v \quad\text{(per block, float32)} \\
        p &\leftarrow p\,(1 - \eta\,wd) \ \text{(decoupled)} \quad\text{or}\quad
            g \leftarrow g + wd\,p \\
        m &\leftarrow m + (1-\beta_1)(g - m), \quad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2 \\
        p &\leftarrow p - \frac{\eta}{1-\beta_1^t}\,
            \frac{m}{\sqrt{v}/\sqrt{1-\beta_2^t} + \epsilon} \\
        a_m &\leftarrow \max_{\text{block}} |m|, \quad
        c_m \leftarrow \operatorname{nearest}_{\text{ties up}}(Q_m,\ m / a_m)
        \quad\text{(and } v\text{)}

    ``states`` is ``[(codes_m, absmax_m, map_m), (codes_v, absmax_v, map_v)]``.

    Example::

        from fastgd.reference.lowbit import lowbit_adam, qmap
        p, g = np.ones(16, np.float32), np.ones(16, np.float32)
        states = [(np.full(16, 127, np.uint8), np.zeros(1, np.float32), qmap("dynamic_signed_8")),
                  (np.zeros(16, np.uint8), np.zeros(1, np.float32), qmap("dynamic_unsigned_8"))]
        bc1, bc2_sqrt = fastgd.reference.bias_corrections(0.9, 0.999, 1)
        lowbit_adam(p, g, states, block_size=16, bits=8, lr=0.1, beta1=0.9, beta2=0.999,
                    eps=1e-8, bias_correction1=bc1, bias_correction2_sqrt=bc2_sqrt)
        assert np.allclose(p, 0.9)
    """
    lowbit_step("adam", param, grad, states, block_size=block_size, bits=bits, lr=lr,
                beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                bias_correction1=bias_correction1,
                bias_correction2_sqrt=bias_correction2_sqrt,
                decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)


def lowbit_lion(param, grad, states, *, block_size, bits, lr, beta1, beta2,
                weight_decay=0.0, maximize=False) -> None:
    r"""Lion with a block-quantized momentum (``fastgd.Lion8bit``): :func:`lowbit_step` with
    :func:`fastgd.reference.lion`'s update.

    .. math::
        m &\leftarrow Q_m[c_m]\,a_m \quad\text{(per block, float32)} \\
        p &\leftarrow p\,(1 - \eta\,wd) - \eta\,\operatorname{sign}(\beta_1 m + (1-\beta_1) g) \\
        m &\leftarrow \beta_2 m + (1-\beta_2) g \\
        a_m &\leftarrow \max_{\text{block}} |m|, \quad
        c_m \leftarrow \operatorname{nearest}_{\text{ties up}}(Q_m,\ m / a_m)

    ``states`` is ``[(codes_m, absmax_m, map_m)]``.

    Example::

        from fastgd.reference.lowbit import lowbit_lion, qmap
        p, g = np.ones(16, np.float32), np.ones(16, np.float32)
        states = [(np.full(16, 127, np.uint8), np.zeros(1, np.float32), qmap("dynamic_signed_8"))]
        lowbit_lion(p, g, states, block_size=16, bits=8, lr=0.1, beta1=0.9, beta2=0.99)
        assert np.allclose(p, 0.9)
    """
    lowbit_step("lion", param, grad, states, block_size=block_size, bits=bits, lr=lr,
                beta1=beta1, beta2=beta2, weight_decay=weight_decay, maximize=maximize)
