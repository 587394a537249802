"""Optimizer classes: construction, validation, steps, parameter groups, state_dict."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _problems import _OPTIONS, _steps
from parity.optim_db import OPTIM_DB

import fastgd
from fastgd import reference
from fastgd.optim.registry import TABLE_OPTIMIZERS as OPTIMIZERS

NAMES = list(OPTIMIZERS)


def _make(name, params, **options):
    return getattr(fastgd, name)(params, **options)


def _variants():
    return [(spec.name, v) for spec in OPTIMIZERS.values() for v in OPTIM_DB[spec.name]]


VARIANTS = _variants()
VARIANT_IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in o.items())}" for n, o in VARIANTS]


def _run_steps(opt, params, rng_seed, steps, skip_every=0):
    rng = np.random.default_rng(rng_seed)
    for step in range(steps):
        grads = [np.asarray(rng.standard_normal(p.shape), dtype=p.dtype) for p in params]
        if skip_every and step % skip_every == 1:
            grads[0] = None
        opt.step(grads)


# -- parity of the whole class with the NumPy reference backend ------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name,variant", VARIANTS, ids=VARIANT_IDS)
def test_class_on_every_backend_matches_the_numpy_backend(any_backend, name, variant, dtype):
    shapes = [(4, 3), (7,), ()]
    start = [np.asarray(np.random.default_rng(1).standard_normal(s), dtype=dtype)
             for s in shapes]
    results = {}
    for backend in (fastgd.backend(), "numpy"):
        with fastgd.use_backend(backend):
            params = [p.copy() for p in start]
            opt = _make(name, params, **variant)
            _run_steps(opt, params, 7, 40, skip_every=5)
            results[backend] = (params, opt.state_dict())
    (ours, ours_sd), (ref, ref_sd) = results[fastgd.backend()], results["numpy"]
    for a, b in zip(ours, ref):
        np.testing.assert_array_equal(a, b)
    _assert_same_state(ours_sd, ref_sd)


def test_numpy_scalar_hyperparameters_change_no_bits(any_backend):
    # NumPy float32 scalars as hyperparameters: every backend computes with them in float64
    runs = {}
    for backend in (fastgd.backend(), "numpy"):
        with fastgd.use_backend(backend):
            w = np.linspace(-1, 1, 5)
            opt = fastgd.AdamW([w], lr=np.float32(0.01), betas=(np.float32(0.9), 0.999),
                               weight_decay=np.float32(0.1))
            for _ in range(3):
                opt.step([np.cos(w)])
            runs[backend] = w
    np.testing.assert_array_equal(runs[fastgd.backend()], runs["numpy"])


# -- construction --------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_defaults_come_from_the_registry(name):
    opt = _make(name, [np.zeros(3)])
    spec = OPTIMIZERS[name]
    assert opt.defaults == spec.defaults
    assert {k: v for k, v in opt.param_groups[0].items() if k != "params"} == spec.defaults
    assert type(opt).__doc__ and spec.matches.removeprefix("paper: ") in type(opt).__doc__


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad,error,pattern", [
    (np.zeros(3, np.int64), TypeError, "parameter 0 has dtype int64"),
    (np.zeros(3, np.complex128), TypeError, "dtype complex128"),
    (np.zeros(3, np.int16), TypeError, "dtype int16"),  # float16: tests/optim/test_lowp.py
    (np.zeros(3, bool), TypeError, "dtype bool"),
    (np.zeros(3, object), TypeError, "dtype object"),
    ([1.0, 2.0], TypeError, "can only optimize numpy arrays"),
    (np.zeros((4, 4))[:, ::2], ValueError, "not C-contiguous"),
    (np.zeros((3, 2)).T, ValueError, "not C-contiguous"),
])
def test_bad_parameters_are_rejected(name, bad, error, pattern):
    with pytest.raises(error, match=pattern):
        _make(name, [bad])


def test_read_only_parameter_is_rejected():
    p = np.zeros(3)
    p.flags.writeable = False
    with pytest.raises(ValueError, match="parameter 0 is read-only"):
        fastgd.SGD([p])


@pytest.mark.parametrize("params,error,pattern", [
    ([], ValueError, "optimizer got an empty parameter list"),
    (np.zeros(3), TypeError, "got a numpy.ndarray"),
    ({np.float64(1.0)}, TypeError, "got a set"),
    (3.0, TypeError, "should be a list of arrays or of dicts"),
])
def test_bad_params_argument(params, error, pattern):
    with pytest.raises(error, match=pattern):
        fastgd.Adam(params)


def test_the_same_array_twice_is_rejected():
    w = np.zeros(3)
    with pytest.raises(ValueError, match="parameters 0 and 1 share memory"):
        fastgd.SGD([w, w])
    with pytest.raises(ValueError, match="share memory"):
        fastgd.SGD([{"params": [w]}, {"params": [w[1:]]}])
    base = np.zeros(10)
    fastgd.SGD([base[:5], base[5:]])  # adjacent views do not overlap: fine
    wide = np.zeros(100)  # two disjoint views, then the array they both lie in
    with pytest.raises(ValueError, match="parameters 0 and 2 share memory"):
        fastgd.SGD([wide[10:20], wide[30:40], wide])


@pytest.mark.parametrize("name", NAMES)
def test_nan_hyperparameters_are_invalid(name):
    for h in OPTIMIZERS[name].hyperparameters:
        if h.kind == "real":
            with pytest.raises(ValueError, match="nan"):
                _make(name, [np.zeros(2)], **{h.name: math.nan})
        elif h.kind == "betas":
            with pytest.raises(ValueError, match="nan"):
                _make(name, [np.zeros(2)], betas=(math.nan, 0.9))


@pytest.mark.parametrize("name", NAMES)
def test_hyperparameters_of_the_wrong_type(name):
    for h in OPTIMIZERS[name].hyperparameters:
        if not h.argument:
            continue
        bad = "0.1" if h.kind != "bool" else 1
        with pytest.raises(TypeError, match=h.name):
            _make(name, [np.zeros(2)], **{h.name: bad})
    with pytest.raises(TypeError):
        _make(name, [np.zeros(2)], not_an_option=1.0)


def test_sgd_rules():
    with pytest.raises(ValueError, match="Invalid learning rate: -1.0"):
        fastgd.SGD([np.zeros(1)], lr=-1.0)
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum and zero "
                                         "dampening"):
        fastgd.SGD([np.zeros(1)], momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1: 1.0"):
        fastgd.Adam([np.zeros(1)], betas=(0.9, 1.0))


def test_zero_size_and_zero_d_parameters_work():
    w0, w1 = np.zeros(0), np.array(2.0)
    opt = fastgd.Adam([w0, w1], lr=0.5)
    opt.step([np.zeros(0), np.array(4.0)])
    assert w1 == pytest.approx(1.5, rel=1e-6)
    assert opt.state[0]["exp_avg"].shape == (0,)


# -- steps ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_none_gradient_leaves_parameter_and_state_untouched(name):
    a, b = np.ones(3), np.ones(2)
    opt = _make(name, [a, b], lr=0.1)
    opt.step([np.ones(3), None])
    assert (b == 1).all()
    assert 1 not in opt.state or all(
        (v == 0).all() or k == "sum" for k, v in opt.state[1].items()
        if isinstance(v, np.ndarray))
    assert opt.state.get(1, {}).get("step", 0) == 0
    assert not (a == 1).all()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("grads,error,pattern", [
    ([np.ones(3)], ValueError, "got 1 gradients for 2 parameters"),
    ([np.ones(3), np.ones(3), np.ones(3)], ValueError, "got 3 gradients for 2 parameters"),
    ([np.ones(3), np.ones(3)], ValueError, r"grads\[1\] has shape \(3,\).*\(2, 2\)"),
    ([np.ones(3), np.ones((2, 2), np.float32)], TypeError, r"grads\[1\] has dtype float32"),
    ([np.ones(3), [[1.0, 1.0], [1.0, 1.0]]], TypeError, r"grads\[1\] must be a numpy"),
    (np.ones(3), TypeError, "grads must be a list"),
])
def test_bad_gradients_change_nothing(name, grads, error, pattern):
    a, b = np.ones(3), np.ones((2, 2))
    opt = _make(name, [a, b], lr=0.1)
    opt.step([np.full(3, 0.5), np.full((2, 2), 0.5)])
    before = ([a.copy(), b.copy()], opt.state_dict())
    with pytest.raises(error, match=pattern):
        opt.step(grads)
    np.testing.assert_array_equal(a, before[0][0])
    np.testing.assert_array_equal(b, before[0][1])
    _assert_same_state(opt.state_dict(), before[1])


def _assert_same_state(sd, expected):
    assert sd["param_groups"] == expected["param_groups"]
    assert sd["state"].keys() == expected["state"].keys()
    for i, state in expected["state"].items():
        assert sd["state"][i].keys() == state.keys()
        for key, value in state.items():
            np.testing.assert_array_equal(sd["state"][i][key], value)


@pytest.mark.parametrize("name", NAMES)
def test_invalid_hyperparameter_set_in_a_group_is_caught_before_the_step(name):
    a, b = np.ones(3), np.ones(3)
    opt = _make(name, [{"params": [a]}, {"params": [b]}], lr=0.1)
    opt.param_groups[1]["lr"] = -0.5
    with pytest.raises(ValueError, match=r"(Invalid learning rate|Learning rate should be "
                                         r">= 0 but is): -0\.5"):
        opt.step([np.ones(3), np.ones(3)])
    assert (a == 1).all() and (b == 1).all()
    opt.param_groups[1]["lr"] = 0.5
    opt.step([np.ones(3), np.ones(3)])
    assert not (b == 1).all()


@pytest.mark.parametrize("name", NAMES)
def test_non_contiguous_and_aliased_gradients_give_the_right_answer(name):
    g = np.arange(12.0).reshape(3, 4)
    p1, p2 = np.ones((4, 3)), np.ones((4, 3))
    o1, o2 = _make(name, [p1], lr=0.1), _make(name, [p2], lr=0.1)
    o1.step([g.T])                       # a transposed (F-ordered) view
    o2.step([np.ascontiguousarray(g.T)])
    np.testing.assert_array_equal(p1, p2)
    # a gradient that is the parameter itself is read before the parameter changes
    w, w_copy = np.linspace(-1, 1, 5), np.linspace(-1, 1, 5)
    _make(name, [w], lr=0.1).step([w])
    _make(name, [w_copy], lr=0.1).step([w_copy.copy()])
    np.testing.assert_array_equal(w, w_copy)


def test_changing_lr_in_param_groups_takes_effect_next_step():
    w = np.zeros(2)
    opt = fastgd.SGD([w], lr=0.1)
    opt.step([np.ones(2)])
    opt.param_groups[0]["lr"] = 1.0
    opt.step([np.ones(2)])
    np.testing.assert_allclose(w, [-1.1, -1.1])


def test_parameter_groups_use_their_own_options():
    a, b = np.zeros(1), np.zeros(1)
    opt = fastgd.SGD([{"params": [a]}, {"params": [b], "lr": 1.0, "momentum": 0.5}], lr=0.1)
    opt.step([np.ones(1), np.ones(1)])
    opt.step([np.ones(1), np.ones(1)])
    assert a[0] == pytest.approx(-0.2) and b[0] == pytest.approx(-1.0 - 1.5)
    assert 0 not in opt.state and "momentum_buffer" in opt.state[1]
    with pytest.raises(ValueError, match="'params'"):
        opt.add_param_group({"lr": 0.1})


def test_sgd_momentum_matches_the_reference_formula_by_hand():
    w = np.array([1.0])
    opt = fastgd.SGD([w], lr=0.1, momentum=0.9, dampening=0.5)
    opt.step([np.array([1.0])])       # b = g = 1 (no dampening on the first step)
    opt.step([np.array([1.0])])       # b = 0.9 * 1 + 0.5 * 1 = 1.4
    assert w[0] == pytest.approx(1.0 - 0.1 - 0.14, rel=1e-15)


def test_adagrad_state_is_created_at_construction():
    w = np.zeros(3, np.float32)
    opt = fastgd.Adagrad([w], initial_accumulator_value=0.25)
    assert opt.state[0]["step"] == 0
    assert opt.state[0]["sum"].dtype == np.float32 and (opt.state[0]["sum"] == 0.25).all()


def test_state_names_follow_torch():
    expected = {
        ("SGD", ()): {"momentum_buffer"},
        ("Adam", ()): {"step", "exp_avg", "exp_avg_sq"},
        ("Adam", (("amsgrad", True),)): {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
        ("Adagrad", ()): {"step", "sum"},
        ("RMSprop", ()): {"step", "square_avg"},
        ("RMSprop", (("centered", True), ("momentum", 0.9))):
            {"step", "square_avg", "grad_avg", "momentum_buffer"},
    }
    for (name, options), keys in expected.items():
        options = dict(options)
        if name == "SGD":
            options["momentum"] = 0.9
        w = np.zeros(2)
        opt = _make(name, [w], **options)
        opt.step([np.ones(2)])
        assert set(opt.state[0]) == keys, name


def test_amsgrad_switched_on_later_starts_its_buffer_at_zero():
    w = np.zeros(2)
    opt = fastgd.Adam([w], lr=0.1)
    opt.step([np.full(2, 10.0)])
    old_v = opt.state[0]["exp_avg_sq"].copy()
    opt.param_groups[0]["amsgrad"] = True
    opt.step([np.full(2, 0.1)])  # v shrinks: max(0, v) = v, unlike max(old v, v)
    v = opt.state[0]["exp_avg_sq"]
    assert (v < old_v).all()
    np.testing.assert_array_equal(opt.state[0]["max_exp_avg_sq"], v)


def test_repr_lists_the_groups():
    text = repr(fastgd.Adam([np.zeros(1)], lr=0.5))
    assert text.startswith("Adam (") and "lr: 0.5" in text and "Parameter Group 0" in text


# -- state_dict ----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name,variant", VARIANTS, ids=VARIANT_IDS)
def test_state_dict_round_trip_continues_bit_identically(name, variant, dtype):
    start = [np.linspace(-1, 1, 6, dtype=dtype).reshape(2, 3), np.ones(4, dtype)]
    straight = [p.copy() for p in start]
    opt = _make(name, straight, **variant)
    _run_steps(opt, straight, 3, 10, skip_every=4)
    saved = opt.state_dict()
    snapshot = [p.copy() for p in straight]
    _run_steps(opt, straight, 4, 10)

    resumed = snapshot
    opt2 = _make(name, resumed, lr=123.0)  # other options: the state dict brings its own
    opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["lr"] == saved["param_groups"][0]["lr"]
    _run_steps(opt2, resumed, 4, 10)
    for a, b in zip(resumed, straight):
        np.testing.assert_array_equal(a, b)


def test_state_dict_holds_copies_and_torch_layout():
    w = np.zeros(3)
    opt = fastgd.Adam([{"params": [w]}, {"params": [np.zeros(2)], "lr": 0.5}])
    opt.step([np.ones(3), np.ones(2)])
    sd = opt.state_dict()
    assert sd["param_groups"][0]["params"] == [0] and sd["param_groups"][1]["params"] == [1]
    assert sd["param_groups"][1]["lr"] == 0.5 and sd["state"][0]["step"] == 1
    sd["state"][0]["exp_avg"][:] = 99
    assert (opt.state[0]["exp_avg"] != 99).all()


def test_load_state_dict_casts_to_the_parameter_dtype():
    w64 = np.zeros(3)
    opt = fastgd.Adam([w64])
    opt.step([np.ones(3)])
    w32 = np.zeros(3, np.float32)
    opt32 = fastgd.Adam([w32])
    opt32.load_state_dict(opt.state_dict())
    assert opt32.state[0]["exp_avg"].dtype == np.float32


@pytest.mark.parametrize("mutate,error,pattern", [
    (lambda sd: sd["param_groups"].append({"params": []}), ValueError, "parameter groups"),
    (lambda sd: sd["param_groups"][0]["params"].append(5), ValueError, "doesn't match the size"),
    (lambda sd: sd["state"][0].__setitem__("exp_avg", np.zeros(4)), ValueError, "shape"),
    (lambda sd: sd["state"][0].__setitem__("exp_avg", np.zeros(3, int)), TypeError, "int64"),
    (lambda sd: sd["state"][0].__setitem__("bogus", np.zeros(3)), ValueError, "'bogus'"),
    (lambda sd: sd["state"][0].pop("exp_avg_sq"), ValueError, "lacks exp_avg_sq"),
    (lambda sd: sd["state"][0].__setitem__("step", -1), ValueError, "non-negative integer"),
    (lambda sd: sd["state"][0].__setitem__("step", 1.5), ValueError, "non-negative integer"),
    (lambda sd: sd["state"].__setitem__(7, {}), ValueError, "parameter id 7"),
    (lambda sd: sd["param_groups"][0].__setitem__("lr", -1.0), ValueError,
     "Invalid learning rate"),
    (lambda sd: sd.pop("state"), ValueError, "'state' and 'param_groups'"),
])
def test_bad_state_dict_loads_nothing(mutate, error, pattern):
    opt = fastgd.Adam([np.zeros(3)], lr=0.1)
    opt.step([np.ones(3)])
    _assert_load_rejected(opt, mutate, error, pattern)


def _assert_load_rejected(opt, mutate, error, pattern):
    """Loading ``opt``'s state dict changed by ``mutate`` raises and changes nothing."""
    sd = opt.state_dict()
    mutate(sd)
    before = opt.state_dict()
    with pytest.raises(error, match=pattern):
        opt.load_state_dict(sd)
    _assert_same_state(opt.state_dict(), before)


def test_load_accepts_a_torch_style_state_dict():
    # what torch's state_dict looks like once its tensors are turned into NumPy arrays
    w = np.zeros(3)
    opt = fastgd.AdamW([w])
    sd = {"state": {0: {"step": np.array(4.0, np.float32), "exp_avg": np.ones(3),
                        "exp_avg_sq": np.ones(3)}},
          "param_groups": [{"lr": 0.01, "betas": [0.9, 0.999], "eps": 1e-8,
                            "weight_decay": 0.01, "amsgrad": False, "foreach": None,
                            "maximize": False, "capturable": False, "differentiable": False,
                            "fused": None, "decoupled_weight_decay": True, "params": [0]}]}
    opt.load_state_dict(sd)
    assert opt.state[0]["step"] == 4 and opt.param_groups[0]["betas"] == (0.9, 0.999)
    opt.step([np.ones(3)])
    assert opt.state[0]["step"] == 5


def test_reference_bias_corrections_are_float64():
    for beta1, beta2 in [(0.9, 0.999), (np.float32(0.9), np.float32(0.999))]:
        bc1, bc2 = reference.bias_corrections(beta1, beta2, 3)
        assert type(bc1) is float and type(bc2) is float
        assert bc1 == 1 - float(beta1) ** 3 and bc2 == (1 - float(beta2) ** 3) ** 0.5


# -- all or nothing -------------------------------------------------------------------------

def _two_group_optimizer(name):
    a, b = np.ones(3), np.ones(3)
    opt = _make(name, [{"params": [a]}, {"params": [b]}], lr=0.1)
    opt.step([np.full(3, 0.5), np.full(3, 0.5)])
    return opt, a, b


@pytest.mark.parametrize("name", NAMES)
def test_a_parameter_made_read_only_later_rejects_the_whole_step(name):
    opt, a, b = _two_group_optimizer(name)
    before = ([a.copy(), b.copy()], opt.state_dict())
    b.flags.writeable = False
    with pytest.raises(ValueError, match="parameter 1 is read-only"):
        opt.step([np.ones(3), np.ones(3)])
    np.testing.assert_array_equal(a, before[0][0])
    _assert_same_state(opt.state_dict(), before[1])


@pytest.mark.parametrize("name", NAMES)
def test_a_broken_state_buffer_in_a_later_call_rejects_the_whole_step(name):
    opt, a, b = _two_group_optimizer(name)
    if name == "SGD":
        opt.param_groups[0]["momentum"] = opt.param_groups[1]["momentum"] = 0.9
        opt.step([np.ones(3), np.ones(3)])
    before = ([a.copy(), b.copy()], opt.state_dict())
    key = next(k for k, v in opt.state[1].items() if isinstance(v, np.ndarray))
    opt.state[1][key] = np.zeros(3, np.float32)  # the wrong dtype, for the second call only
    with pytest.raises(TypeError, match="float32"):
        opt.step([np.ones(3), np.ones(3)])
    np.testing.assert_array_equal(a, before[0][0])
    np.testing.assert_array_equal(b, before[0][1])
    assert opt.state[0].get("step") == before[1]["state"][0].get("step")


@pytest.mark.parametrize("name", NAMES)
def test_a_rejected_first_step_creates_no_state(name):
    a, b = np.ones(3), np.ones(3)
    opt = _make(name, [{"params": [a]}, {"params": [b]}], lr=0.1)
    before = opt.state_dict()
    b.flags.writeable = False
    with pytest.raises(ValueError):
        opt.step([np.ones(3), np.ones(3)])
    _assert_same_state(opt.state_dict(), before)


def test_betas_changed_in_place_are_validated():
    w = np.zeros(3)
    opt = fastgd.Adam([w], lr=0.1, betas=[0.9, 0.999])
    opt.step([np.ones(3)])
    opt.param_groups[0]["betas"][1] = float("nan")
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1: nan"):
        opt.step([np.ones(3)])


@pytest.mark.parametrize("name", NAMES)
def test_an_empty_loaded_state_starts_afresh(name):
    # torch loads and steps from a parameter state of {}; so does fastgd
    options = {"momentum": 0.9} if name == "SGD" else {}  # so that SGD has state too
    a, b = np.ones(3), np.ones(3)
    opt = _make(name, [a, b], lr=0.1, **options)
    opt.step([np.ones(3), np.ones(3)])
    sd = opt.state_dict()
    assert sd["state"][1]
    sd["state"][1] = {}
    opt.load_state_dict(sd)
    b2 = np.ones(3)
    fresh = _make(name, [b2], lr=0.1, **options)
    b[:] = 1
    opt.step([np.ones(3), np.ones(3)])
    fresh.step([np.ones(3)])
    np.testing.assert_array_equal(b, b2)


# -- gradients that share memory with what the step writes ---------------------------------

def _sgd_alias_cases():
    def other_param(params, opt):
        return [np.ones(2), params[0]]

    def view_of_other_param(params, opt):
        return [np.ones(2), params[0][::-1]]

    def other_state(params, opt):
        return [np.ones(2), opt.state[0]["momentum_buffer"]]

    return {"another parameter": other_param, "a view of another parameter":
            view_of_other_param, "another parameter's state": other_state}


@pytest.mark.parametrize("case", list(_sgd_alias_cases()))
def test_aliased_gradients_are_read_as_passed(case):
    make_grads = _sgd_alias_cases()[case]
    results = []
    for copy in (False, True):
        params = [np.array([1.0, 2.0]), np.array([10.0, 20.0])]
        opt = fastgd.SGD(params, lr=0.5, momentum=0.9)
        opt.step([np.full(2, 0.25), np.full(2, 0.5)])
        grads = make_grads(params, opt)
        if copy:
            grads = [g.copy() for g in grads]
        opt.step(grads)
        results.append(params)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_aliased_gradient_across_step_buckets_matches_torch_semantics():
    # parameters at different step counts are separate native calls: still read as passed
    results = []
    for copy in (False, True):
        ps = [np.linspace(0, 1, 3) + k for k in range(3)]
        opt = fastgd.Adam(ps, lr=0.1)
        opt.step([np.ones(3), None, np.ones(3)])
        grads = [np.ones(3), ps[0], np.ones(3)]  # read in the second call, after p0 moves
        opt.step([g.copy() for g in grads] if copy else grads)
        results.append(ps)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


# -- more bad input --------------------------------------------------------------------------

def test_unaligned_parameter_message():
    p = np.frombuffer(bytearray(33), np.float64, offset=1, count=4)
    with pytest.raises(ValueError, match="parameter 0 is not aligned"):
        fastgd.SGD([p])


def test_huge_hyperparameter():
    with pytest.raises(ValueError, match="lr is too large for a float"):
        fastgd.SGD([np.zeros(2)], lr=10**400)


@pytest.mark.parametrize("mutate,error,pattern", [
    (lambda sd: sd["state"][0].__setitem__("step", float("inf")), ValueError,
     "non-negative integer"),
    (lambda sd: sd["state"][0].__setitem__("step", "7"), TypeError, "must be a number"),
    (lambda sd: sd["state"][0].__setitem__("step", True), TypeError, "must be a number"),
    (lambda sd: sd.__setitem__("state", [sd["state"][0]]), TypeError, "keyed by parameter"),
    (lambda sd: sd["state"].__setitem__(0, [1, 2]), TypeError, "must be a dict"),
    (lambda sd: sd["param_groups"][0].__setitem__("params", [[0], 1]), ValueError,
     "not hashable"),
    (lambda sd: sd["param_groups"][0].__setitem__("params", [0, 0]), ValueError,
     "more than once"),
])
def test_more_bad_state_dicts_load_nothing(mutate, error, pattern):
    opt = fastgd.Adagrad([np.zeros((2, 3)), np.zeros((3, 2))])
    opt.step([np.ones((2, 3)), np.ones((3, 2))])
    _assert_load_rejected(opt, mutate, error, pattern)


def test_foreign_memory_aliasing_is_detected():
    # memory NumPy does not own: views of np.frombuffer wrappers have different bases
    buf = bytearray(64)
    p0 = np.frombuffer(buf, np.float64)[0:4]
    p0[:] = 1
    g1 = np.frombuffer(buf, np.float64)[0:4]
    p1 = np.zeros(4)
    fastgd.SGD([p0, p1], lr=0.1).step([np.ones(4), g1])
    np.testing.assert_array_equal(p1, -0.1)  # g1 read as passed, before p0 moved


def test_a_memmap_parameter_and_its_own_view_as_gradient(tmp_path):
    m = np.memmap(tmp_path / "w.bin", dtype=np.float64, mode="w+", shape=(4,))
    m[:] = 2.0
    fastgd.SGD([m], lr=0.5).step([m[:]])
    np.testing.assert_array_equal(m, 1.0)


def test_state_must_stay_a_dict():
    from types import MappingProxyType
    w = np.zeros(2)
    opt = fastgd.SGD([w], lr=0.1, momentum=0.9)
    opt.state[0] = MappingProxyType({})
    with pytest.raises(TypeError, match="state of parameter 0 must be a dict"):
        opt.step([np.ones(2)])
    assert (w == 0).all()


@pytest.mark.parametrize("value", [np.array([0.1]), True])
def test_changed_hyperparameters_of_another_type_are_revalidated(value):
    w = np.zeros(2)
    opt = fastgd.SGD([w], lr=1)
    opt.step([np.ones(2)])
    opt.param_groups[0]["lr"] = value
    with pytest.raises(TypeError, match="lr must be a real number"):
        opt.step([np.ones(2)])


def test_param_groups_appended_directly_are_refused():
    opt = fastgd.SGD([np.zeros(2)], lr=0.1)
    opt.param_groups.append({"params": [np.zeros(2)], **opt.defaults})
    with pytest.raises(ValueError, match="add_param_group"):
        opt.step([np.ones(2), np.ones(2)])


def test_scalar_state_entries_start_load_and_are_checked():
    # a per-parameter real number in state (as ASGD's eta), on a throwaway spec
    import dataclasses

    from fastgd.optim import registry
    from fastgd.optim.adam import _plan_adam
    from fastgd.optim.optimizer import make_class
    spec = dataclasses.replace(registry.get("Adam"), name="AdamWithEta",
                               scalar_state={"eta": lambda g: g["lr"] * 2})
    cls = make_class(spec, _plan_adam)
    w = np.zeros(3)
    opt = cls([w], lr=0.25)
    opt.step([np.ones(3)])
    assert opt.state[0]["eta"] == 0.5 and opt.state[0]["step"] == 1
    saved = opt.state_dict()
    saved["state"][0]["eta"] = np.float32(0.125)
    opt.load_state_dict(saved)
    assert opt.state[0]["eta"] == 0.125 and type(opt.state[0]["eta"]) is float
    saved["state"][0]["eta"] = np.ones(2)
    with pytest.raises(TypeError, match="eta must be a real number"):
        opt.load_state_dict(saved)
    del saved["state"][0]["eta"]
    with pytest.raises(ValueError, match="lacks eta"):
        opt.load_state_dict(saved)


# -- the rules that follow optax: maximize and mixed dtypes ---------------------------------

#: the rules that follow optax (torch has none).
OPTAX_RULES = ["Lion", "AdaBelief", "LAMB", "LARS", "Yogi"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", OPTAX_RULES)
def test_maximize_is_minimizing_the_negated_gradient_bit_for_bit(any_backend, name, dtype):
    rng = np.random.default_rng(11)
    start = [rng.standard_normal(s).astype(dtype) for s in [(3, 4), (5,)]]
    grads = [[rng.standard_normal(p.shape).astype(dtype) for p in start] for _ in range(6)]
    up = [p.copy() for p in start]
    down = [p.copy() for p in start]
    _steps(getattr(fastgd, name)(up, maximize=True, **_OPTIONS[name]), grads)
    _steps(getattr(fastgd, name)(down, **_OPTIONS[name]), [[-g for g in gs] for gs in grads])
    for a, b in zip(up, down):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(up, start))


def test_mixed_dtypes_in_one_group(any_backend):
    for name in OPTAX_RULES:
        a, b = np.linspace(-1, 1, 6), np.linspace(-1, 1, 6).astype(np.float32)
        opt = getattr(fastgd, name)([a, b], **_OPTIONS[name])
        for _ in range(3):
            opt.step([np.cos(a), np.cos(b)])
        a1, b1 = np.linspace(-1, 1, 6), np.linspace(-1, 1, 6).astype(np.float32)
        opt1 = getattr(fastgd, name)([a1], **_OPTIONS[name])
        opt2 = getattr(fastgd, name)([b1], **_OPTIONS[name])
        for _ in range(3):
            opt1.step([np.cos(a1)])
            opt2.step([np.cos(b1)])
        np.testing.assert_array_equal(a, a1, err_msg=name)
        np.testing.assert_array_equal(b, b1, err_msg=name)
        assert b.dtype == np.float32
