"""fastgd.clip_grad_norm_ and clip_grad_value_: torch.nn.utils' semantics on NumPy arrays,
the same bits on every backend."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

import fastgd
from fastgd import backends

INSTALLED = backends.available()
NORM_TYPES = [2.0, 1.0, math.inf, 0.5, 3.0, -math.inf, 0.0]
SHAPES = [(3, 4), (7,), (2, 3, 5), (1,), (6, 2)]


def make_grads(dtypes, seed, scale=1.0, fortran_last=True):
    rng = np.random.default_rng(zlib.crc32(repr((dtypes, seed)).encode()))
    out = []
    for i, shape in enumerate(SHAPES):
        a = (scale * rng.standard_normal(shape)).astype(dtypes[i % len(dtypes)])
        if i == 1:
            a[2] = 0.0
        out.append(a)
    if fortran_last:
        out[-1] = np.asfortranarray(out[-1])
    out.append(np.zeros((2, 2), dtype=dtypes[0]))   # an all-zero gradient
    return out


DTYPE_SETS = {"float64": (np.float64,), "float32": (np.float32,),
              "mixed": (np.float32, np.float64)}


def torch_clip_norm(grads, max_norm, norm_type, error_if_nonfinite=False):
    torch = pytest.importorskip("torch")
    params = []
    for g in grads:
        p = torch.zeros(g.shape, dtype=torch.from_numpy(g).dtype)
        p.grad = torch.from_numpy(g.copy())
        params.append(p)
    total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type, error_if_nonfinite)
    return float(total), [p.grad.numpy() for p in params]


def torch_clip_value(grads, clip_value):
    torch = pytest.importorskip("torch")
    params = []
    for g in grads:
        p = torch.zeros(g.shape, dtype=torch.from_numpy(g).dtype)
        p.grad = torch.from_numpy(g.copy())
        params.append(p)
    torch.nn.utils.clip_grad_value_(params, clip_value)
    return [p.grad.numpy() for p in params]


def _rtol(dtypes):
    return 1e-12 if dtypes == (np.float64,) else 2e-6


@pytest.mark.parametrize("backend", INSTALLED)
@pytest.mark.parametrize("max_norm", [0.5, 1e6], ids=["clips", "no-clip"])
@pytest.mark.parametrize("norm_type", NORM_TYPES, ids=str)
@pytest.mark.parametrize("dtypes", list(DTYPE_SETS), ids=str)
def test_clip_grad_norm_matches_torch(dtypes, norm_type, max_norm, backend):
    dt = DTYPE_SETS[dtypes]
    grads = make_grads(dt, 1)
    want_total, want = torch_clip_norm(grads, max_norm, norm_type)
    with fastgd.use_backend(backend):
        total = fastgd.clip_grad_norm_(grads, max_norm, norm_type)
    assert isinstance(total, float)
    rtol = _rtol(dt) if norm_type not in (0.0, math.inf, -math.inf) else 1e-7
    assert total == pytest.approx(want_total, rel=rtol)
    # With mixed dtypes torch rounds each float32 array's norm to float32 before combining
    # them in float64 (fastgd sums everything in float64), so its coefficient differs at
    # float32 precision for the float64 arrays too.
    for g, w in zip(grads, want):
        assert g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=_rtol(dt), atol=0)
    if max_norm == 1e6:   # no clipping: multiplied by exactly 1
        for g, orig in zip(grads, make_grads(dt, 1)):
            np.testing.assert_array_equal(g, orig)


def test_norm_zero_is_torch_count_of_arrays():
    """torch's total 0-"norm" counts the arrays with a nonzero element, not the elements."""
    grads = [np.array([0.0, 0.0, 3.0]), np.array([1.0, 2.0]), np.zeros(3)]
    assert fastgd.clip_grad_norm_(grads, 10.0, norm_type=0) == 2.0
    assert torch_clip_norm([np.array([0.0, 0.0, 3.0]), np.array([1.0, 2.0]), np.zeros(3)],
                           10.0, 0)[0] == 2.0


@pytest.mark.parametrize("norm_type", NORM_TYPES, ids=str)
@pytest.mark.parametrize("dtypes", list(DTYPE_SETS), ids=str)
def test_every_backend_gives_the_same_bits(dtypes, norm_type):
    dt = DTYPE_SETS[dtypes]
    results = {}
    for backend in INSTALLED:
        grads = make_grads(dt, 2, scale=3.0)
        with fastgd.use_backend(backend):
            total = fastgd.clip_grad_norm_(grads, 0.7, norm_type)
        results[backend] = (total, grads)
    compiled = [b for b in results if b != "numpy"]
    # NumPy's power is not the C library's: p-norms other than 1, 2, 0 and inf agree with
    # the reference to rounding only.
    exact = compiled + (["numpy"] if norm_type in (1.0, 2.0, 0.0, math.inf, -math.inf)
                        else [])
    first = results[exact[0]]
    for b in exact[1:]:
        assert results[b][0] == first[0], b
        for g, h in zip(results[b][1], first[1]):
            np.testing.assert_array_equal(g, h, err_msg=b)
    for b in results:
        assert results[b][0] == pytest.approx(first[0], rel=1e-14)


@pytest.mark.parametrize("backend", INSTALLED)
def test_sum_order_is_the_eight_lane_order(backend):
    """The squared norm is fastgd.reference.sum_of_squares (eight float64 lanes), summed
    over the arrays in list order."""
    rng = np.random.default_rng(5)
    grads = [rng.standard_normal(1001) * 10.0 ** rng.integers(-8, 8, 1001),
             rng.standard_normal(37)]
    want = math.sqrt(fastgd.reference.sum_of_squares(grads[0])
                     + fastgd.reference.sum_of_squares(grads[1]))
    with fastgd.use_backend(backend):
        assert fastgd.clip_grad_norm_([g.copy() for g in grads], 1e30) == want


@pytest.mark.parametrize("backend", INSTALLED)
@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("norm_type", [2.0, math.inf, 1.0], ids=str)
def test_nonfinite_total(norm_type, bad, backend):
    grads = make_grads((np.float64,), 3)
    grads[2][1, 1, 1] = bad
    before = [g.copy() for g in grads]
    with pytest.raises(RuntimeError) as theirs:
        torch_clip_norm(grads, 1.0, norm_type, error_if_nonfinite=True)
    with fastgd.use_backend(backend):
        with pytest.raises(RuntimeError) as ours:
            fastgd.clip_grad_norm_(grads, 1.0, norm_type, error_if_nonfinite=True)
    assert str(ours.value) == str(theirs.value)
    for g, b in zip(grads, before):
        np.testing.assert_array_equal(g, b)   # nothing scaled
    # Without the error: scaled by the non-finite norm, as torch does.
    want_total, want = torch_clip_norm(grads, 1.0, norm_type)
    with fastgd.use_backend(backend):
        total = fastgd.clip_grad_norm_(grads, 1.0, norm_type)
    assert (math.isnan(total) and math.isnan(want_total)) or total == want_total
    for g, w in zip(grads, want):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("backend", INSTALLED)
@pytest.mark.parametrize("clip_value", [0.3, 1.0, 0.0, 1e9])
@pytest.mark.parametrize("dtypes", list(DTYPE_SETS), ids=str)
def test_clip_grad_value_matches_torch(dtypes, clip_value, backend):
    grads = make_grads(DTYPE_SETS[dtypes], 4)
    grads[0][0, 0] = np.nan
    grads[2][0, 0, 0] = -np.inf
    want = torch_clip_value(grads, clip_value)
    with fastgd.use_backend(backend):
        assert fastgd.clip_grad_value_(grads, clip_value) is None
    for g, w in zip(grads, want):
        np.testing.assert_array_equal(g, w)
    assert np.isnan(grads[0][0, 0])


def test_arguments_as_torch_takes_them():
    g = np.array([3.0, 4.0])
    assert fastgd.clip_grad_norm_(g, 1.0) == 5.0           # a single array
    np.testing.assert_allclose(g, [0.6, 0.8], rtol=1e-6)
    g = np.array([3.0, 4.0])
    assert fastgd.clip_grad_norm_([None, g, None], 10.0, "inf") == 4.0
    np.testing.assert_array_equal(g, [3.0, 4.0])
    assert fastgd.clip_grad_norm_([], 1.0) == 0.0
    assert fastgd.clip_grad_norm_([np.zeros(0)], 1.0, math.inf) == 0.0
    assert fastgd.clip_grad_norm_((x for x in [np.array([1.0])]), 1.0) == 1.0
    h = np.array([-2.0, 0.5])
    fastgd.clip_grad_value_(h, 1)
    np.testing.assert_array_equal(h, [-1.0, 0.5])
    # float32: the coefficient is computed in float32, as torch does.
    f = np.array([30.0, 40.0], dtype=np.float32)
    _, want = torch_clip_norm([f], 1.0, 2.0)
    fastgd.clip_grad_norm_([f], 1.0)
    np.testing.assert_array_equal(f, want[0])


def test_large_arrays_any_thread_count():
    if "cython" not in INSTALLED:
        pytest.skip("needs the compiled core")
    rng = np.random.default_rng(6)
    base = [rng.standard_normal(200_003), rng.standard_normal((300, 301)).astype(np.float32)]
    before = fastgd.get_num_threads()
    out = []
    try:
        for threads in (1, 2, 3):
            fastgd.set_num_threads(threads)
            grads = [b.copy() for b in base]
            with fastgd.use_backend("cython"):
                total = fastgd.clip_grad_norm_(grads, 1.0)
                fastgd.clip_grad_value_(grads, 1e-3)
            out.append((total, grads))
    finally:
        fastgd.set_num_threads(before)
    for total, grads in out[1:]:
        assert total == out[0][0]
        for g, h in zip(grads, out[0][1]):
            np.testing.assert_array_equal(g, h)


BAD = [
    (dict(max_norm=-1.0), ValueError, r"max_norm must be >= 0, got -1.0"),
    (dict(max_norm=float("nan")), ValueError, "max_norm must be >= 0, got nan"),
    (dict(max_norm="1"), TypeError, "max_norm must be a real number"),
    (dict(norm_type="abc"), ValueError, "norm_type must be a real number or 'inf'"),
    (dict(norm_type=None), TypeError, "norm_type must be a real number or 'inf'"),
    (dict(norm_type=True), TypeError, "norm_type must be a real number"),
    (dict(norm_type=float("nan")), ValueError, "norm_type must not be NaN"),
    (dict(error_if_nonfinite=1), TypeError, "error_if_nonfinite must be True or False"),
    (dict(grads=5), TypeError, "grads must be a numpy.ndarray or an iterable"),
    (dict(grads=[np.zeros(2), [1.0]]), TypeError, r"grads\[1\] must be a numpy.ndarray"),
    (dict(grads=[np.zeros(2, dtype=np.int64)]), TypeError, r"grads\[0\] has dtype int64"),
    (dict(grads=[np.zeros(4)[::2]]), ValueError, r"grads\[0\] must be contiguous"),
    (dict(grads=[np.zeros(2).astype(">f8")]), TypeError, "non-native byte order"),
]


@pytest.mark.parametrize("case", range(len(BAD)), ids=[c[2][:30] for c in BAD])
def test_bad_arguments(case):
    kw, exc, msg = BAD[case]
    kw = dict(dict(grads=[np.ones(3)], max_norm=1.0), **kw)
    with pytest.raises(exc, match=msg):
        fastgd.clip_grad_norm_(**kw)


def test_shared_and_read_only_arrays_are_refused_before_anything_changes():
    a = np.arange(1.0, 7.0)
    b = np.ones(2)
    with pytest.raises(ValueError, match=r"grads\[2\] shares memory with grads\[0\]"):
        fastgd.clip_grad_norm_([a, b, a[3:]], 0.1)
    with pytest.raises(ValueError, match=r"grads\[1\] shares memory with grads\[0\]"):
        fastgd.clip_grad_value_([a, a], 0.1)
    r = np.ones(3)
    r.flags.writeable = False
    with pytest.raises(ValueError, match=r"grads\[1\] is read-only"):
        fastgd.clip_grad_norm_([a, r], 0.1)
    np.testing.assert_array_equal(a, np.arange(1.0, 7.0))
    np.testing.assert_array_equal(b, np.ones(2))
    with pytest.raises(ValueError, match="clip_value must be >= 0"):
        fastgd.clip_grad_value_([a], -1.0)
    with pytest.raises(TypeError, match="clip_value must be a real number"):
        fastgd.clip_grad_value_([a], None)
