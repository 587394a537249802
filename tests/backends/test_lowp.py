"""Every backend's lowp_widen / lowp_narrow give the reference's bits (fastgd.reference.lowp),
whatever the thread count, and check their arguments alike."""

from __future__ import annotations

import numpy as np
import pytest

import fastgd
from fastgd import backends
from fastgd.reference import lowp

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = np.dtype(ml_dtypes.bfloat16)


def _values(rng, n):
    x = (rng.standard_normal(n) * 10.0 ** rng.integers(-30, 30, n)).astype(np.float32)
    x[:4] = [np.nan, -np.inf, np.inf, -0.0]
    x[4:8] = np.array([0x7F800001, 0xFFBFFFFF, 0x7F7FFFFF, 0x3F818000],
                      np.uint32).view(np.float32)
    return x


@pytest.mark.parametrize("dtype", [BF16, np.dtype(np.float16)], ids=["bfloat16", "float16"])
def test_conversions_match_the_reference(any_backend, rng, dtype):
    kernels = backends.active()
    x = _values(rng, 3000).reshape(3, 1000)  # 2-D: elements counted in C order
    keys = [-1, lowp.stochastic_key(7, 2, 1)] if dtype == BF16 else [-1]
    for key in keys:
        want = np.empty(x.shape, dtype)
        got = np.zeros(x.shape, dtype)
        lowp.narrow(x, want, key)
        kernels.lowp_narrow(x, got, key)
        np.testing.assert_array_equal(got.view(np.uint16), want.view(np.uint16))
        wide = np.empty(x.shape, np.float32)
        kernels.lowp_widen(got, wide)
        np.testing.assert_array_equal(wide.view(np.uint32),
                                      got.astype(np.float32).view(np.uint32))


def test_stochastic_rounding_ignores_threads(this_backend, threads, rng):
    """Above the parallel threshold the compiled core splits the rounding between threads;
    each element's random number depends only on its index and the key."""
    kernels = backends.active()
    before = fastgd.get_parallel_min()
    fastgd.set_parallel_min(1024)
    try:
        x = (rng.standard_normal(50_003)).astype(np.float32)
        got = np.empty(x.size, BF16)
        kernels.lowp_narrow(x, got, 123456789)
    finally:
        fastgd.set_parallel_min(before)
    np.testing.assert_array_equal(got.view(np.uint16), lowp.bfloat16_bits_stochastic(x, 123456789))


def test_empty_arrays(any_backend):
    kernels = backends.active()
    kernels.lowp_widen(np.zeros(0, BF16), np.zeros(0, np.float32))
    kernels.lowp_narrow(np.zeros(0, np.float32), np.zeros(0, BF16), 3)


@pytest.mark.parametrize("args, error, message", [
    ((np.zeros(3, np.float32), np.zeros(3, np.float64)), TypeError, "out has dtype float64"),
    ((np.zeros(3, np.float32), np.zeros(2, BF16)), ValueError, "src has 3 elements, out 2"),
    ((np.zeros(3, np.float32), np.zeros(3, np.float16), 1), ValueError, "bfloat16 only"),
    ((np.zeros(3, np.float32), np.zeros(3, BF16), -2), ValueError, "key must be -1"),
])
def test_narrow_checks(any_backend, args, error, message):
    out = args[1].copy()
    with pytest.raises(error, match=message):
        backends.active().lowp_narrow(*args)
    np.testing.assert_array_equal(out, args[1])  # nothing written


def test_read_only_output_is_refused(any_backend):
    out = np.zeros(3, BF16)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        backends.active().lowp_narrow(np.ones(3, np.float32), out)
