"""Muon's reference: the bfloat16 rounding against ml_dtypes' cast, the Newton-Schulz
iteration worked by hand, the learning-rate adjustments and the first step by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fastgd import reference
from fastgd.reference.muon import adjusted_lr, newton_schulz, round_to_bfloat16


def _bits(x):
    return np.asarray(x, np.float32).view(np.uint32)


def test_rounding_is_ml_dtypes_cast_to_bfloat16():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    rng = np.random.default_rng(0)
    # random bit patterns cover every exponent, subnormals, ties (low half 0x8000) and NaNs
    bits = rng.integers(0, 2**32, size=200_000, dtype=np.uint64).astype(np.uint32)
    bits[:1000] = (bits[:1000] & np.uint32(0xFFFF0000)) | np.uint32(0x8000)  # exact ties
    x = bits.view(np.float32)
    ours = round_to_bfloat16(x)
    with np.errstate(invalid="ignore"):  # the NaNs
        theirs = x.astype(ml_dtypes.bfloat16).astype(np.float32)
    finite = ~np.isnan(x)
    np.testing.assert_array_equal(_bits(ours[finite]), _bits(theirs[finite]))
    assert np.isnan(ours[~finite]).all() and np.isnan(x[~finite]).any()
    assert not (_bits(ours) & np.uint32(0xFFFF)).any()  # the low half is always zero


def test_rounding_by_hand():
    one = 1.0
    ulp = 2.0 ** -7  # bfloat16 keeps 7 fraction bits
    x = np.array([one + ulp / 2, one + 3 * ulp / 2, one + ulp / 2 + 2.0 ** -20, -0.0,
                  np.inf, -np.inf, 3.4e38, np.float32(np.nan)], dtype=np.float32)
    out = round_to_bfloat16(x)
    # ties to even: 1 + ulp/2 -> 1, 1 + 3ulp/2 -> 1 + 2ulp; just above a tie rounds up
    assert out[0] == 1.0 and out[1] == 1.0 + 2 * ulp and out[2] == 1.0 + ulp
    assert _bits(out[3]) == 0x80000000 and out[4] == np.inf and out[5] == -np.inf
    assert out[6] == np.inf  # beyond bfloat16's largest finite value (about 3.39e38)
    assert np.isnan(out[7])
    # in place, and the caller's array untouched otherwise
    y = x.copy()
    assert round_to_bfloat16(y, out=y) is y and np.array_equal(_bits(y[:7]), _bits(out[:7]))
    assert x[0] == np.float32(one + ulp / 2)


def test_newton_schulz_in_float32_by_hand():
    rng = np.random.default_rng(1)
    g = rng.standard_normal((3, 5)).astype(np.float32)
    a, b, c = 3.4445, -4.775, 2.0315
    x = g / np.float32(math.sqrt(float(np.sum(g.astype(np.float64) ** 2))))
    for _ in range(2):
        gram = x @ x.T
        x = np.float32(a) * x + (np.float32(b) * gram + np.float32(c) * (gram @ gram)) @ x
    np.testing.assert_allclose(newton_schulz(g, (a, b, c), 2, ns_dtype="float32"), x,
                               rtol=2e-6, atol=2e-7)
    # a tall matrix is iterated transposed: the result is the transpose of its transpose's
    np.testing.assert_array_equal(newton_schulz(g.T, (a, b, c), 2, ns_dtype="float32"),
                                  newton_schulz(g, (a, b, c), 2, ns_dtype="float32").T)


def test_newton_schulz_orthogonalises():
    rng = np.random.default_rng(2)
    g = rng.standard_normal((16, 32))
    for dtype in ("float32", "bfloat16"):
        o = newton_schulz(g, ns_steps=5, ns_dtype=dtype)
        s = np.linalg.svd(o.astype(np.float64), compute_uv=False)
        assert 0.6 < s.min() and s.max() < 1.25, (dtype, s.min(), s.max())
    bf = newton_schulz(g)
    assert not (_bits(bf) & np.uint32(0xFFFF)).any()  # every value is a bfloat16
    assert np.array_equal(newton_schulz(np.zeros((2, 3))), np.zeros((2, 3)))  # eps floor
    with pytest.raises(ValueError, match="2D"):
        newton_schulz(np.zeros(3))
    with pytest.raises(ValueError, match="exactly 3"):
        newton_schulz(np.zeros((2, 2)), (1.0, 2.0))
    with pytest.raises(ValueError, match="ns_dtype"):
        newton_schulz(np.zeros((2, 2)), ns_dtype="float16")


def test_adjusted_lr():
    assert adjusted_lr(0.1, None, (8, 2)) == 0.1 * 2.0
    assert adjusted_lr(0.1, "original", (2, 8)) == 0.1
    assert adjusted_lr(0.1, "match_rms_adamw", (2, 16)) == 0.1 * 0.2 * 4.0


def test_first_step_by_hand():
    p = np.array([[1.0, 2.0], [3.0, 4.0]])
    g = np.array([[2.0, 0.0], [0.0, 0.5]])
    buf = np.zeros((2, 2))
    reference.muon(p, g, buf, lr=0.1, weight_decay=0.5, momentum=0.5, nesterov=False,
                   ns_steps=0, ns_dtype="float32")
    # b = 0 + 0.5 (g - 0); without iterations the update is b / ||b||
    np.testing.assert_array_equal(buf, 0.5 * g)
    ortho = (0.5 * g / np.float32(math.sqrt(1.0 + 0.0625))).astype(np.float32)
    np.testing.assert_array_equal(
        p, np.array([[1.0, 2.0], [3.0, 4.0]]) * (1 - 0.1 * 0.5) - 0.1 * ortho.astype(np.float64))
    # Nesterov: the update is g + mu (b - g) (lerp), here from a fresh buffer
    p2, buf2 = np.zeros((2, 2)), np.zeros((2, 2))
    reference.muon(p2, g, buf2, lr=1.0, weight_decay=0.0, momentum=0.5, nesterov=True,
                   ns_steps=0, ns_dtype="float32")
    u = g - (g - 0.5 * g) * 0.5
    np.testing.assert_allclose(p2, -(u / np.linalg.norm(u)), rtol=1e-7)
