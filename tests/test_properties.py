"""Property-based tests (hypothesis): for every optimizer, on the active backend (the
compiled one once per instruction set; CI runs the suite once per backend), random shapes
(0-d and empty ones included), dtypes, hyperparameters drawn from their valid ranges,
gradients and None patterns.

- parity: every backend gives the bits of the NumPy reference backend (NaN compared as
  NaN, the sign of zero compared too);
- invariants: lr = 0 leaves the parameters as they are (every optimizer but Rprop, whose
  lr is only the starting step size: its steps come from the clamped step sizes; NaN
  where the update itself is NaN, since 0 * NaN is NaN); zero gradients from the start,
  without weight decay, leave them as they are (ASGD without its decay ``lambd``, Yogi
  with its moments starting at 0); a step whose gradients are all None changes nothing;
  maximizing with g is minimizing with -g; a step skipped by ``nonfinite="skip"`` is a
  step that never happened; the finiteness scan of every backend agrees with
  ``np.isfinite``.

Examples are derandomized (the same ones on every run) and few per test, so that the file
takes under a minute per backend.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import fastgd
from fastgd import backends
from fastgd.optim.registry import GRADIENT_STEP

NAMES = list(GRADIENT_STEP)


SETTINGS = settings(max_examples=12, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def _real(low, high):
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


#: Valid ranges of the real hyperparameters (the optimizer's own checks reject the rest:
#: the draws they refuse are discarded).
REALS = {
    "lr": _real(0.0, 0.5), "momentum": _real(0.0, 0.99), "dampening": _real(0.0, 0.99),
    "weight_decay": _real(0.0, 0.3), "eps": _real(1e-12, 1e-2),
    "lr_decay": _real(0.0, 0.1), "initial_accumulator_value": _real(0.0, 1.0),
    "alpha": _real(0.0, 1.0), "rho": _real(0.0, 1.0), "momentum_decay": _real(0.0, 0.1),
    "lambd": _real(0.0, 0.01), "t0": st.sampled_from([0.0, 1.0, 2.0, 1e6]),
    "beta2_decay": _real(-1.0, 0.0), "d": _real(1.0, 10.0),
    "trust_coefficient": _real(1e-4, 0.1), "update_interval": st.integers(1, 3),
    "warmup_steps": st.integers(0, 3), "r": _real(0.0, 2.0),
    "weight_lr_power": _real(0.0, 3.0),
}
EPS_ROOT = st.one_of(st.none(), _real(0.0, 1e-8))
PAIRS = {
    "etas": st.tuples(_real(0.1, 0.9), _real(1.01, 3.0)),
    "step_sizes": st.tuples(_real(1e-7, 1e-3), _real(1e-3, 50.0)),
    "eps": st.tuples(st.one_of(st.none(), _real(1e-30, 1e-20)), _real(1e-4, 1e-2)),
}
BETAS = st.tuples(_real(0.0, 0.99), _real(0.0, 0.9999))


@st.composite
def hyperparameters(draw, name):
    """Options for ``name`` from their valid ranges (flags drawn too)."""
    options = {}
    for h in GRADIENT_STEP[name].hyperparameters:
        if not h.argument:
            continue
        if h.kind == "bool":
            options[h.name] = draw(st.booleans())
        elif h.kind == "betas":
            options[h.name] = draw(BETAS)
        elif h.kind == "pair":
            options[h.name] = draw(PAIRS[h.name])
        elif h.kind == "real_or_none":
            options[h.name] = draw(EPS_ROOT)
        elif h.name == "eps_root":
            options[h.name] = draw(_real(0.0, 1e-8))
        else:
            options[h.name] = draw(REALS[h.name])
    return options


SHAPE = st.one_of(
    st.just(()),
    st.tuples(st.integers(0, 40)),
    st.tuples(st.integers(0, 6), st.integers(0, 9)),
    st.tuples(st.integers(1, 3), st.integers(0, 4), st.integers(0, 5)),
)


@st.composite
def problems(draw):
    """Shapes, a dtype, a gradient scale, the steps (which gradients are None) and a seed
    for the values."""
    shapes = draw(st.lists(SHAPE, min_size=1, max_size=3))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n_steps = draw(st.integers(1, 4))
    present = draw(st.lists(st.lists(st.booleans(), min_size=len(shapes),
                                     max_size=len(shapes)),
                            min_size=n_steps, max_size=n_steps))
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    seed = draw(st.integers(0, 2**32 - 1))
    return shapes, dtype, present, scale, seed


def _arrays(problem):
    shapes, dtype, present, scale, seed = problem
    rng = np.random.default_rng(seed)
    params = [np.asarray(rng.standard_normal(s), dtype=dtype) for s in shapes]
    grads = [[np.asarray(scale * rng.standard_normal(s), dtype=dtype) if keep else None
              for s, keep in zip(shapes, step)] for step in present]
    return params, grads


def _build(name, params, options):
    """The optimizer, or None when these options are not valid together (nesterov
    without momentum, ...): the draw is then discarded."""
    try:
        return getattr(fastgd, name)(params, **options)
    except ValueError:
        return None


def _run(name, params, options, grads):
    opt = getattr(fastgd, name)(params, **options)
    for k, g in enumerate(grads):
        opt.step(g)
        if hasattr(opt, "update_hessian") and k == 0:
            opt.update_hessian([None if x is None else np.abs(x) for x in g])
    return opt


def _bits(a):
    """The bytes of ``a`` with every NaN made the same NaN (payloads and signs of NaN are
    not part of the contract); the sign of zero is kept."""
    a = np.array(a, copy=True)
    if a.dtype.kind == "f":
        a[np.isnan(a)] = np.nan
    return a.dtype.str, a.shape, a.tobytes()


def _state_bits(opt):
    return sorted((i, sorted((k, _bits(v) if isinstance(v, np.ndarray) else repr(v))
                             for k, v in s.items())) for i, s in opt.state.items())


def _outcome(opt, params):
    return [_bits(p) for p in params], _state_bits(opt)


def _backend_name(this_backend):
    return this_backend.partition("-")[0]


# -- parity with the NumPy reference backend ------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_every_backend_gives_the_bits_of_the_numpy_backend(this_backend, name):
    if _backend_name(this_backend) == "numpy":
        pytest.skip("the NumPy backend is the reference")

    @SETTINGS
    @given(options=hyperparameters(name), problem=problems())
    def check(options, problem):
        assume(_build(name, [np.zeros(1)], options) is not None)
        outcomes = []
        for backend in (_backend_name(this_backend), "numpy"):
            with fastgd.use_backend(backend):
                params, grads = _arrays(problem)
                with np.errstate(all="ignore"):
                    opt = _run(name, params, options, grads)
                outcomes.append(_outcome(opt, params))
        assert outcomes[0] == outcomes[1]

    check()


# -- invariants ------------------------------------------------------------------------------

LR_ZERO_MOVES = {"Rprop"}  # lr is the starting step size; the steps use the clamped sizes


@pytest.mark.parametrize("name", [n for n in NAMES if n not in LR_ZERO_MOVES])
def test_lr_zero_leaves_the_parameters_as_they_are(this_backend, name):
    @SETTINGS
    @given(options=hyperparameters(name), problem=problems())
    def check(options, problem):
        options = dict(options, lr=0.0)
        assume(_build(name, [np.zeros(1)], options) is not None)
        params, grads = _arrays(problem)
        start = [p.copy() for p in params]
        with np.errstate(all="ignore"):
            _run(name, params, options, grads)
        # unchanged, but where the update itself is NaN (0 * NaN is NaN, as in torch:
        # e.g. centered RMSprop's sqrt of a variance that rounding made negative)
        assert [_bits(np.where(np.isnan(p), s, p)) for p, s in zip(params, start)] == \
            [_bits(s) for s in start]

    check()


def test_rprop_moves_with_lr_zero():
    # Rprop's lr only starts the step sizes, which the clamp lifts to step_size_min.
    w = np.ones(3)
    fastgd.Rprop([w], lr=0.0, step_sizes=(1e-3, 1.0)).step([np.ones(3)])
    np.testing.assert_array_equal(w, 1 - 1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_zero_gradients_without_decay_leave_the_parameters_as_they_are(this_backend, name):
    @SETTINGS
    @given(options=hyperparameters(name), problem=problems())
    def check(options, problem):
        options = dict(options)
        for key in ("weight_decay", "lambd", "initial_accumulator_value"):
            if key in options:  # (Yogi's first moment starts at the latter, as in optax)
                options[key] = 0.0
        if name == "Adafactor" and options["eps"][0] is not None:
            # eps1**2 must not underflow to 0 in float32 (then 0 / sqrt(0) is NaN, as in
            # torch)
            options["eps"] = (max(options["eps"][0], 1e-18), options["eps"][1])
        assume(_build(name, [np.zeros(1)], options) is not None)
        params, grads = _arrays(problem)
        zeros = [[None if g is None else np.zeros_like(g) for g in step] for step in grads]
        start = [_bits(p) for p in params]
        _run(name, params, options, zeros)
        assert [_bits(p) for p in params] == start

    check()


@pytest.mark.parametrize("name", NAMES)
def test_a_step_with_every_gradient_none_changes_nothing(this_backend, name):
    @SETTINGS
    @given(options=hyperparameters(name), problem=problems())
    def check(options, problem):
        assume(_build(name, [np.zeros(1)], options) is not None)
        params, grads = _arrays(problem)
        with np.errstate(all="ignore"):
            opt = _run(name, params, options, grads)
            before = _outcome(opt, params)
            assert opt.step([None] * len(params)) is None
        assert _outcome(opt, params) == before

    check()


@pytest.mark.parametrize("name", [n for n in NAMES if "maximize" in GRADIENT_STEP[n].defaults])
def test_maximizing_g_is_minimizing_minus_g(this_backend, name):
    @SETTINGS
    @given(options=hyperparameters(name), problem=problems())
    def check(options, problem):
        assume(_build(name, [np.zeros(1)], options) is not None)
        outcomes = []
        for maximize in (True, False):
            params, grads = _arrays(problem)
            if not maximize:
                grads = [[None if g is None else -g for g in step] for step in grads]
            with np.errstate(all="ignore"):
                opt = _run(name, params, dict(options, maximize=maximize), grads)
            outcomes.append(_outcome(opt, params))
        assert outcomes[0] == outcomes[1]

    check()


@pytest.mark.parametrize("name", NAMES)
def test_a_skipped_step_is_a_step_that_never_happened(this_backend, name):
    @SETTINGS
    @given(options=hyperparameters(name), problem=problems(), data=st.data())
    def check(options, problem, data):
        assume(_build(name, [np.zeros(1)], options) is not None)
        params, grads = _arrays(problem)
        candidates = [(k, i) for k, step in enumerate(grads) for i, g in enumerate(step)
                      if g is not None and g.size]
        assume(candidates)
        k, i = data.draw(st.sampled_from(candidates))
        bad = [None if g is None else g.copy() for g in grads[k]]
        flat = bad[i].reshape(-1)
        flat[data.draw(st.integers(0, flat.size - 1))] = data.draw(
            st.sampled_from([np.nan, np.inf, -np.inf]))
        # a run with the bad step inserted (and skipped) before step k, and one without
        runs = []
        for insert in (True, False):
            ps, gs = _arrays(problem)
            opt = getattr(fastgd, name)(ps, **options)
            for j, g in enumerate(gs):
                if insert and j == k:
                    assert opt.step(bad, nonfinite="skip") is False
                with np.errstate(all="ignore"):
                    assert opt.step(g, nonfinite="skip") is True
            runs.append(_outcome(opt, ps))
        assert runs[0] == runs[1]

    check()


@SETTINGS
@given(shapes=st.lists(SHAPE, min_size=0, max_size=4),
       dtype=st.sampled_from([np.float32, np.float64]), order=st.sampled_from("CF"),
       seed=st.integers(0, 2**32 - 1),
       specials=st.lists(st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0, "max",
                                          "tiny", "subnormal"]), max_size=3))
def test_the_finiteness_scans_agree_with_numpy(shapes, dtype, order, seed, specials):
    rng = np.random.default_rng(seed)
    info = np.finfo(dtype)
    named = {"max": info.max, "tiny": info.tiny, "subnormal": info.smallest_subnormal}
    arrays = [np.asarray(rng.standard_normal(s), dtype=dtype, order=order) for s in shapes]
    for value in specials:
        sized = [a for a in arrays if a.size]
        if sized:
            a = sized[rng.integers(len(sized))]
            a.reshape(-1, order="A")[rng.integers(a.size)] = named.get(value, value)
    expected = next((k for k, a in enumerate(arrays) if not np.isfinite(a).all()), -1)
    for name in backends.available():
        assert backends.load(name).first_nonfinite(arrays) == expected, name
