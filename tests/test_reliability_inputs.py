"""What must work, works: 0-d and empty parameters, gradients in any layout, a gradient
that is its parameter, None gradients, on every optimizer of the registry; non-finite
gradients (``nonfinite=``) and the finiteness scan of every backend.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _reliability import (
    NAMES,
    _assert_same,
    _grads,
    _make,
    _options,
    _params,
    _snapshot,
    _value_bytes,
    _warm_up,
)

import fastgd
from fastgd import backends

# -- what must work -------------------------------------------------------------------------

def _run(name, params, grad_lists):
    opt = getattr(fastgd, name)(params, **_options(name))
    for grads in grad_lists:
        opt.step(grads)
    return opt


@pytest.mark.parametrize("name", NAMES)
def test_zero_size_and_zero_d_parameters(this_backend, name):
    shapes = [(), (0,), (0, 3), (3, 0), (2, 0, 4), (1,)]
    results = []
    for backend in (this_backend.partition("-")[0], "numpy"):
        with fastgd.use_backend(backend):
            params = [np.full(s, 0.5) for s in shapes]
            rng = np.random.default_rng(2)
            steps = [[np.asarray(rng.standard_normal(s)) for s in shapes] for _ in range(3)]
            opt = _run(name, params, steps)
            if hasattr(opt, "update_hessian"):
                opt.update_hessian([np.ones(s) for s in shapes])
                opt.step(steps[0])
            results.append((params, opt.state_dict()))
    (ours, sd), (ref, ref_sd) = results
    for a, b in zip(ours, ref):
        assert a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    assert ours[0] != 0.5  # the 0-d parameter moved
    for i, state in ref_sd["state"].items():
        for key, value in state.items():
            np.testing.assert_array_equal(sd["state"][i][key], value)


def _gradient_layouts(g):
    """The same values in other layouts: transposed (F-ordered), strided, unaligned, a
    NumPy scalar for 0-d, a read-only array, a subclass."""
    out = {"read-only": g.copy(), "matrix-like subclass": g.copy().view(_Sub)}
    out["read-only"].flags.writeable = False
    if g.ndim == 2:
        out["F-ordered"] = np.asfortranarray(g)
        out["strided"] = np.repeat(g, 2, axis=1)[:, ::2]
        raw = np.empty(g.nbytes + 1, np.uint8)[1:].view(g.dtype).reshape(g.shape)
        raw[...] = g
        out["unaligned"] = raw
    if g.ndim == 0:
        out["NumPy scalar"] = g[()]
    return out


class _Sub(np.ndarray):
    pass


@pytest.mark.parametrize("name", NAMES)
def test_gradients_in_any_layout_give_the_bits_of_contiguous_ones(this_backend, name):
    rng = np.random.default_rng(4)
    start = [rng.standard_normal((3, 4)), np.asarray(rng.standard_normal(()))]
    grads = [[rng.standard_normal((3, 4)), np.asarray(rng.standard_normal(()))]
             for _ in range(3)]
    ref_params = [p.copy() for p in start]
    _run(name, ref_params, grads)
    layouts = [_gradient_layouts(g) for g in grads[0]]
    for k, variants in enumerate(layouts):
        for label, g in variants.items():
            params = [p.copy() for p in start]
            first = list(grads[0])
            first[k] = g
            _run(name, params, [first] + grads[1:])
            for a, b in zip(params, ref_params):
                assert a.tobytes() == b.tobytes(), (label, k)


@pytest.mark.parametrize("name", NAMES)
def test_a_gradient_that_is_its_parameter_or_its_state(this_backend, name):
    start = np.linspace(-1, 1, 6).reshape(2, 3)
    w, ref = start.copy(), start.copy()
    opt, ref_opt = _run(name, [w], []), _run(name, [ref], [])
    for _ in range(3):
        ref_opt.step([ref.copy()])
        opt.step([w])            # the parameter itself, read before it changes
    assert w.tobytes() == ref.tobytes()
    for key, value in list(opt.state[0].items()):
        if isinstance(value, np.ndarray) and value.shape == w.shape:
            ref_opt.step([ref_opt.state[0][key].copy()])
            opt.step([value.reshape(w.shape)])  # a state buffer as the gradient
            assert w.tobytes() == ref.tobytes(), key


@pytest.mark.parametrize("name", NAMES)
def test_none_gradients_skip_their_parameter_and_its_state(this_backend, name):
    params = _params()
    opt = _make(name, params)
    _warm_up(opt, params, 2)
    before = _snapshot(opt, params)
    assert opt.step([None] * 4) is None                 # nothing at all
    assert opt.step([None] * 4, nonfinite="raise") is True
    _assert_same(_snapshot(opt, params), before, "a step with every gradient None")
    kept = (params[1].tobytes(), {k: _value_bytes(v) for k, v in opt.state[1].items()})
    opt.step([np.ones(p.shape, p.dtype) if i != 1 else None for i, p in enumerate(params)])
    assert (params[1].tobytes(), {k: _value_bytes(v) for k, v in opt.state[1].items()}) \
        == kept
    assert params[0].tobytes() != before[0][0][3]


# -- non-finite gradients ---------------------------------------------------------------------

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("name", NAMES)
def test_nonfinite_default_propagates_as_on_the_numpy_backend(this_backend, name, bad):
    runs = []
    for backend in (this_backend.partition("-")[0], "numpy"):
        with fastgd.use_backend(backend):
            params = _params()
            opt = _make(name, params)
            _warm_up(opt, params, 2)
            grads = _grads(np.random.default_rng(8), params)
            grads[3][1, 2] = bad
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # no RuntimeWarning from NumPy either
                assert opt.step(grads) is None
            runs.append((params, opt.state_dict()["state"]))
    (ours, state), (ref, ref_state) = runs
    for a, b in zip(ours, ref):
        np.testing.assert_array_equal(a, b)  # NaN where the NumPy backend has NaN
    for i in ref_state:
        for key, value in ref_state[i].items():
            np.testing.assert_array_equal(state[i][key], value)
    # it went into the update: parameter 3 or its state is no longer all finite (but in
    # Rprop, which uses signs only: an infinity of the sign opposite to the previous
    # gradient's is zeroed there, as in torch)
    if name == "Rprop" and not np.isnan(bad):
        return
    assert not np.isfinite(ours[3]).all() or any(
        not np.isfinite(v).all() for v in state[3].values() if isinstance(v, np.ndarray))


def test_nonfinite_skip_is_like_amp_found_inf():
    w = np.ones(3)
    opt = fastgd.Adam([w], lr=0.1)
    assert opt.step([np.ones(3)], nonfinite="skip") is True
    assert opt.state[0]["step"] == 1
    assert opt.step([np.array([1.0, np.nan, 1.0])], nonfinite="skip") is False
    assert opt.state[0]["step"] == 1 and np.isfinite(w).all()
    with pytest.raises(FloatingPointError, match=r"grads\[1\] holds a NaN"):
        fastgd.SGD([np.ones(2), np.ones(2), np.ones(2)], lr=0.1).step(
            [np.ones(2), np.array([np.inf, 0.0]), np.array([np.nan, 0.0])], nonfinite="raise")
    with pytest.raises(FloatingPointError, match=r"grads\[2\]"):  # the index in grads,
        fastgd.SGD([np.ones(2), np.ones(2), np.ones(2)], lr=0.1).step(  # Nones counted
            [None, np.ones(2), np.array([np.nan, 0.0])], nonfinite="raise")


def test_nonfinite_scan_runs_after_every_other_check():
    w = np.ones(3)
    opt = fastgd.Adam([w])
    opt.param_groups[0]["lr"] = -1.0
    with pytest.raises(ValueError, match="Invalid learning rate"):
        opt.step([np.full(3, np.nan)], nonfinite="skip")
    opt.param_groups[0]["lr"] = 1e-3
    with pytest.raises(ValueError, match=r"grads\[0\] has shape"):
        opt.step([np.full(2, np.nan)], nonfinite="raise")


def _scan_cases(rng):
    for dtype in (np.float32, np.float64):
        info = np.finfo(dtype)
        specials = [np.nan, np.inf, -np.inf, -np.nan, info.max, -info.max, info.tiny,
                    info.smallest_subnormal, -0.0, 0.0]
        for size in (0, 1, 7, 4095, 4096, 4097, 9000):
            for special in specials:
                a = np.asarray(rng.standard_normal(size), dtype=dtype)
                if size:
                    a[rng.integers(size)] = special
                yield [np.ones(3, dtype), a, np.full((), np.nan, dtype)]
        # signalling and quiet NaNs with odd payloads, of either sign
        uint = np.uint32 if dtype == np.float32 else np.uint64
        width = 32 if dtype == np.float32 else 64
        exponent = (1 << (width - 1)) - (1 << (info.nmant))
        for payload in (1, 1 << (info.nmant - 1) | 5):
            for sign in (0, 1 << (width - 1)):
                yield [np.array([1.0, 2.0], dtype),
                       np.array([0, sign | exponent | payload], uint).view(dtype)]
        yield [np.array([info.max, -info.max], dtype).reshape(2, 1).T]


def test_first_nonfinite_agrees_on_every_backend():
    rng = np.random.default_rng(0)
    for arrays in _scan_cases(rng):
        expected = next((k for k, a in enumerate(arrays) if not np.isfinite(a).all()), -1)
        for name in backends.available():
            assert backends.load(name).first_nonfinite(arrays) == expected, (name, arrays)


@pytest.mark.parametrize("backend", backends.available())
def test_first_nonfinite_rejects_what_it_cannot_scan(backend):
    scan = backends.load(backend).first_nonfinite
    for bad, error, pattern in [
            (np.zeros(3), TypeError, "must be a list or tuple"),
            ([np.zeros(3, np.int64)], TypeError, r"arrays\[0\] has dtype int64"),
            ([np.zeros(3), np.zeros(3, np.float16)], TypeError, r"arrays\[1\] has dtype"),
            ([np.zeros(3, ">f8")], TypeError, "dtype >f8"),
            ([np.zeros(8)[::2]], ValueError, "must be contiguous"),
            ([[1.0]], TypeError, "must be a numpy.ndarray")]:
        with pytest.raises(error, match=pattern):
            scan(bad)
    assert scan([]) == -1 and scan(()) == -1
    assert scan([np.asfortranarray(np.full((3, 2), np.inf))]) == 0
