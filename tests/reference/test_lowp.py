"""fastgd.reference.lowp: bfloat16/float16 widening and rounding, against ml_dtypes' and
NumPy's own conversions and against a plain-Python rendering of the stochastic rule."""

from __future__ import annotations

import numpy as np
import pytest

from fastgd.reference import lowp

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = np.dtype(ml_dtypes.bfloat16)


def _special_float32():
    """Values where rounding is delicate: ties both ways, the largest finite values, the
    smallest subnormals, +-0, infinities, NaNs with payloads in the discarded bits."""
    bits = [0x00000000, 0x80000000, 0x00000001, 0x00008000, 0x00018000, 0x7F7FFFFF,
            0xFF7FFFFF, 0x7F7F8000, 0x7F7F7FFF, 0x3F808000, 0x3F818000, 0x3F80FFFF,
            0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001,
            0x7FBFFFFF, 0x007FFFFF, 0x00800000, 0x3F800001]
    return np.array(bits, dtype=np.uint32).view(np.float32)


def _sample(rng, n=20000):
    scales = 10.0 ** rng.integers(-40, 39, n)
    with np.errstate(over="ignore"):
        x = (rng.standard_normal(n) * scales).astype(np.float32)
    return np.concatenate([x, _special_float32(),
                           rng.integers(0, 2**32, 4000, dtype=np.uint32).view(np.float32)])


def test_nearest_matches_ml_dtypes(rng):
    x = _sample(rng)
    out = np.empty(x.size, BF16)
    with np.errstate(all="ignore"):
        expected = x.astype(BF16).view(np.uint16)
    lowp.narrow(x, out)
    np.testing.assert_array_equal(out.view(np.uint16), expected)


def test_float16_matches_numpy(rng):
    x = _sample(rng)
    out = np.empty(x.size, np.float16)
    lowp.narrow(x, out)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(out.view(np.uint16), x.astype(np.float16).view(np.uint16))
    wide = np.empty(x.size, np.float32)
    lowp.widen(out, wide)
    np.testing.assert_array_equal(wide, out.astype(np.float32))


def test_widen_is_exact():
    every = np.arange(2**16, dtype=np.uint16).view(BF16)
    wide = np.empty(every.size, np.float32)
    lowp.widen(every, wide)
    np.testing.assert_array_equal(wide.view(np.uint32), every.astype(np.float32).view(np.uint32))
    back = np.empty_like(every)
    lowp.narrow(wide, back)  # every bfloat16 rounds to itself (NaNs to the quiet NaN)
    finite = np.isfinite(wide)
    np.testing.assert_array_equal(back.view(np.uint16)[finite], every.view(np.uint16)[finite])


def _hash32_python(x):
    m = 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & m
    x ^= x >> 15
    x = (x * 0x846CA68B) & m
    return x ^ (x >> 16)


def test_hash32_matches_python_ints(rng):
    xs = rng.integers(0, 2**32, 1000, dtype=np.uint64)
    np.testing.assert_array_equal(lowp.hash32(xs.astype(np.uint32)),
                                  [_hash32_python(int(x)) for x in xs])


def test_stochastic_rule_element_by_element(rng):
    """The vectorised rule against the rule written out on Python ints (torchao's form:
    round away from zero when r < the discarded low 16 bits)."""
    x = _sample(rng, 3000)
    key = lowp.stochastic_key(12345, 7, 3)
    got = lowp.bfloat16_bits_stochastic(x, key)
    for i, b in enumerate(x.view(np.uint32).tolist()):
        if (b & 0x7FFFFFFF) > 0x7F800000:
            want = ((b >> 16) & 0x8000) | 0x7FC0
        else:
            r = _hash32_python(i ^ key) >> 16
            want = (b >> 16) + (1 if r < (b & 0xFFFF) else 0)
        assert got[i] == want, (i, hex(b))


def test_stochastic_gives_a_neighbour_and_keeps_exact_values(rng):
    x = (rng.standard_normal(50000) * 3).astype(np.float32)
    bits = lowp.bfloat16_bits_stochastic(x, 99)
    down = x.view(np.uint32) >> 16
    assert np.all((bits == down) | (bits == down + 1))
    exact = x.astype(BF16).astype(np.float32)
    np.testing.assert_array_equal(lowp.bfloat16_bits_stochastic(exact, 5),
                                  exact.view(np.uint32) >> 16)


def test_stochastic_is_unbiased():
    """The mean of many stochastic roundings of one value is the value: 1024 keys over
    256 copies each, 262,144 roundings per value; the standard error is under 1/1000 of
    a bfloat16 step, the bound 5/1000."""
    values = np.array([1.0 + 2**-9, 1.0 + 3 * 2**-10, -3.0 - 2**-12, 1e-3 + 1e-6,
                       0.1, -7.77], dtype=np.float32)
    for v in values:
        x = np.full(256, v, np.float32)
        total = 0.0
        for key in range(1024):
            total += lowp.bfloat16_bits_stochastic(x, lowp.stochastic_key(1, 0, key)) \
                .astype(np.uint32).__lshift__(16).view(np.float32).astype(np.float64).sum()
        mean = total / (256 * 1024)
        ulp = float(np.spacing(np.abs(v))) * 2**16  # a bfloat16 step at v
        assert abs(mean - float(v)) < 5e-3 * ulp, (v, mean)
        nearest = float(np.float32(v).astype(BF16).astype(np.float32))
        if nearest != float(v):  # round to nearest is biased here; the mean is not
            assert abs(mean - float(v)) < abs(nearest - float(v)) / 20


def test_keys_differ():
    keys = {lowp.stochastic_key(s, i, t) for s in range(4) for i in range(8) for t in range(32)}
    assert len(keys) == 4 * 8 * 32
    assert all(0 <= k < 2**32 for k in keys)


@pytest.mark.parametrize("call, message", [
    (lambda: lowp.check_conversion("widen", np.zeros(3, np.float32), np.zeros(3, np.float32)),
     "src has dtype float32, expected bfloat16 or float16"),
    (lambda: lowp.check_conversion("narrow", np.zeros(3, np.float64), np.zeros(3, np.float16)),
     "src has dtype float64, expected float32"),
    (lambda: lowp.check_conversion("narrow", np.zeros(3, np.float32), np.zeros(4, np.float16)),
     "src has 3 elements, out 4"),
    (lambda: lowp.check_conversion("narrow", np.zeros(3, np.float32), np.zeros(3, np.float16), 5),
     "stochastic rounding is defined for bfloat16 only"),
    (lambda: lowp.check_conversion("narrow", np.zeros(3, np.float32), np.zeros(3, BF16), 2**32),
     "key must be -1 or an int"),
    (lambda: lowp.check_conversion("widen", np.zeros(3, BF16), [0.0]),
     "out must be a numpy.ndarray"),
    (lambda: lowp.check_conversion("widen", np.zeros(6, BF16)[::2], np.zeros(3, np.float32)),
     "src must be C-contiguous"),
])
def test_conversion_checks(call, message):
    with pytest.raises((TypeError, ValueError), match=message):
        call()
