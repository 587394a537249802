"""Low-precision parameters: widening bfloat16/float16 to float32 and rounding back.

An optimizer step on a bfloat16 or float16 parameter is specified as: widen the parameter
(and its gradient) to float32 exactly, run the rule's float32 kernel on it with float32
state, and round the result once to the parameter's dtype. This module holds the two
conversions every backend runs, bit for bit:

- :func:`widen`: bfloat16 or float16 to float32 (exact: every value is a float32);
- :func:`narrow`: float32 to the parameter's dtype, round-to-nearest-even, or for
  bfloat16 *stochastic rounding*: with :math:`b` the float32 bit pattern and :math:`r`
  uniform on :math:`[0, 2^{16})`, the result is :math:`\\lfloor b / 2^{16} \\rfloor`, plus
  one when :math:`r < b \\bmod 2^{16}`; the value rounds away from zero with probability
  equal to the discarded fraction, so its expectation is the float32 value.

The random numbers are counter-based: :math:`r` of element :math:`i` (its position in the
flattened parameter) is the top 16 bits of :func:`hash32` of
:math:`(i \\bmod 2^{32}) \\oplus k \\oplus (\\lfloor i / 2^{32} \\rfloor \\cdot 9E3779B9_{16})`
(32-bit arithmetic), the key :math:`k` = :func:`stochastic_key` of the seed, the parameter's
index and the step. Results depend on nothing else: not the thread count, not the backend.

NaN becomes the quiet NaN of its sign (``0x7FC0``/``0xFFC0`` in bfloat16), as ml_dtypes and
torch convert; infinities stay; a finite value beyond the largest bfloat16 may round to an
infinity (always, to nearest, past the midpoint; stochastically with the discarded fraction).
float16 rounds to nearest even as NumPy's ``astype`` (subnormals and overflow included).
"""

from __future__ import annotations

import numpy as np

__all__ = ["LOW_PRECISION_NAMES", "NOT_ELEMENTWISE", "is_low_precision", "widen", "narrow",
           "hash32", "check_conversion", "stochastic_key", "bfloat16_bits_nearest",
           "bfloat16_bits_stochastic"]

#: The names of the parameter dtypes stored in 16 bits and stepped in float32.
LOW_PRECISION_NAMES = ("bfloat16", "float16")

#: The table kernels whose update of an element reads the whole tensor (LAMB's and LARS's
#: trust ratios, Adafactor's factored second moment): a backend may step the others on a
#: 16-bit parameter chunk by chunk, these only on a whole float32 copy.
NOT_ELEMENTWISE = frozenset({"lamb", "lars", "adafactor"})

_MASK32 = 0xFFFFFFFF
_MASK64 = 0xFFFFFFFFFFFFFFFF


def is_low_precision(dtype: np.dtype) -> bool:
    """Whether ``dtype`` is bfloat16 (``ml_dtypes.bfloat16``) or float16."""
    return dtype == np.float16 or (dtype.name == "bfloat16" and dtype.itemsize == 2)


def hash32(x: np.ndarray) -> np.ndarray:
    """A 32-bit integer hash with full avalanche (xor-shift and multiply, three rounds):
    ``x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16``,
    every operation modulo :math:`2^{32}` (uint32 in, uint32 out)."""
    x = np.asarray(x, dtype=np.uint32).copy()
    x ^= x >> np.uint32(16)
    x *= np.uint32(0x7FEB352D)
    x ^= x >> np.uint32(15)
    x *= np.uint32(0x846CA68B)
    x ^= x >> np.uint32(16)
    return x


def _mix64(z: int) -> int:
    """SplitMix64's finaliser on a Python int modulo :math:`2^{64}`."""
    z &= _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def stochastic_key(seed: int, index: int, step: int) -> int:
    """The 32-bit key of the random numbers that round parameter ``index`` at ``step``
    (the optimizer's count of rounding steps, from 1) under ``seed`` (a whole number in
    :math:`[0, 2^{64})`): SplitMix64's finaliser chained over the three, low 32 bits."""
    z = _mix64(seed + 0x9E3779B97F4A7C15)
    z = _mix64(z ^ ((index & _MASK64) * 0xD1B54A32D192ED03))
    z = _mix64(z ^ ((step & _MASK64) * 0x8CB92BA72F3D8DD7))
    return z & _MASK32


def bfloat16_bits_nearest(x: np.ndarray) -> np.ndarray:
    """The bfloat16 bit patterns (uint16) of float32 ``x`` rounded to nearest, ties to even."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = (bits + (np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1)))) \
        >> np.uint32(16)
    return _with_nan(bits, rounded)


def bfloat16_bits_stochastic(x: np.ndarray, key: int) -> np.ndarray:
    """The bfloat16 bit patterns (uint16) of float32 ``x`` (any shape; elements counted
    in C order) rounded stochastically with the random numbers of ``key`` (see the module
    docstring)."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).reshape(-1)
    i = np.arange(bits.size, dtype=np.uint64)
    low = (i & np.uint64(_MASK32)).astype(np.uint32)
    high = (i >> np.uint64(32)).astype(np.uint32) * np.uint32(0x9E3779B9)
    r = hash32(low ^ np.uint32(key & _MASK32) ^ high) >> np.uint32(16)
    up = (r < (bits & np.uint32(0xFFFF))).astype(np.uint32)
    rounded = (bits >> np.uint32(16)) + up
    return _with_nan(bits, rounded).reshape(np.shape(x))


def _with_nan(bits: np.ndarray, rounded: np.ndarray) -> np.ndarray:
    nan = (bits & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)
    quiet = ((bits >> np.uint32(16)) & np.uint32(0x8000)) | np.uint32(0x7FC0)
    return np.where(nan, quiet, rounded).astype(np.uint16)


def check_conversion(name: str, src: object, out: object, key: object = -1) -> bool:
    """Check a call of every backend's ``lowp_widen(src, out)`` (``name`` "widen") or
    ``lowp_narrow(src, out, key)`` ("narrow"): C-contiguous aligned arrays of one size,
    ``out`` writeable, the float32 one and the 16-bit one as the call takes them, ``key``
    -1 or in :math:`[0, 2^{32})` (stochastic: bfloat16 only). Returns whether the 16-bit
    array is bfloat16 (TypeError/ValueError otherwise, naming the argument)."""
    for arg, a in (("src", src), ("out", out)):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"lowp_{name}: {arg} must be a numpy.ndarray, got "
                            f"{type(a).__name__}")
        if not (a.flags.c_contiguous and a.flags.aligned):
            raise ValueError(f"lowp_{name}: {arg} must be C-contiguous and aligned")
    assert isinstance(src, np.ndarray) and isinstance(out, np.ndarray)
    low, wide = (src, out) if name == "widen" else (out, src)
    if wide.dtype != np.float32:
        raise TypeError(f"lowp_{name}: {'out' if name == 'widen' else 'src'} has dtype "
                        f"{wide.dtype}, expected float32")
    if not is_low_precision(low.dtype):
        raise TypeError(f"lowp_{name}: {'src' if name == 'widen' else 'out'} has dtype "
                        f"{low.dtype}, expected bfloat16 or float16")
    if src.size != out.size:
        raise ValueError(f"lowp_{name}: src has {src.size} elements, out {out.size}")
    if not out.flags.writeable:
        raise ValueError(f"lowp_{name}: out is read-only")
    if isinstance(key, (bool, np.bool_)) or not isinstance(key, (int, np.integer)) \
            or not -1 <= key < 2**32:
        raise ValueError(f"lowp_{name}: key must be -1 or an int in [0, 2**32), got {key!r}")
    bf16 = low.dtype != np.float16
    if key != -1 and not bf16:
        raise ValueError(f"lowp_{name}: stochastic rounding is defined for bfloat16 only, "
                         f"not {low.dtype}")
    return bf16


def widen(src: np.ndarray, out: np.ndarray) -> None:
    """``out[...] = src`` exactly: ``src`` bfloat16 or float16, ``out`` float32 of its size."""
    if src.dtype == np.float16:
        out.reshape(-1)[...] = src.reshape(-1).astype(np.float32)
        return
    bits = src.reshape(-1).view(np.uint16).astype(np.uint32) << np.uint32(16)
    out.reshape(-1).view(np.uint32)[...] = bits


def narrow(src: np.ndarray, out: np.ndarray, key: int = -1) -> None:
    """``out[...] = src`` rounded: ``src`` float32, ``out`` bfloat16 or float16 of its size.
    ``key`` -1 rounds to nearest even; a key in :math:`[0, 2^{32})` rounds a bfloat16
    ``out`` stochastically (float16 takes only -1)."""
    flat = src.reshape(-1)
    if out.dtype == np.float16:
        if key != -1:
            raise ValueError("stochastic rounding is defined for bfloat16 only")
        with np.errstate(over="ignore"):  # beyond float16's range: infinities
            out.reshape(-1)[...] = flat.astype(np.float16)
        return
    bits = bfloat16_bits_nearest(flat) if key == -1 else bfloat16_bits_stochastic(flat, key)
    out.reshape(-1).view(np.uint16)[...] = bits
