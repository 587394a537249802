"""Bad input gets a clear error before anything changes.

For every optimizer of the registry, on the active backend (FASTGD_BACKEND; the compiled
one once per instruction set; CI runs the suite once per backend): after warm-up steps,
each kind of rejected call (bad gradients, bad hyperparameters, bad state, bad state
dicts, non-finite gradients under ``nonfinite=``) leaves the parameters, the groups and
the state exactly as they were (compared byte for byte), and the next valid steps give
the bits of a run in which the rejected calls never happened. The constructor's checks,
and state dicts of other optimizers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _reliability import (
    GROUPS,
    NAMES,
    WARM_STEPS,
    _assert_same,
    _grads,
    _make,
    _params,
    _snapshot,
    _warm_up,
)

import fastgd
from fastgd.optim.registry import TABLE_OPTIMIZERS as OPTIMIZERS

# -- the rejected calls ---------------------------------------------------------------------

def _replace_grad(k, value):
    def call(opt, params, grads):
        grads = list(grads)
        grads[k] = value(params[k]) if callable(value) else value
        opt.step(grads)
    return call


def _with_nonfinite(k, bad, mode):
    def call(opt, params, grads):
        grads = [None if g is None else g.copy() for g in grads]
        grads[k].reshape(-1)[-1] = bad
        return opt.step(grads, nonfinite=mode)
    return call


def _group_value(group, key, value):
    def call(opt, params, grads):
        old = opt.param_groups[group][key]
        opt.param_groups[group][key] = value
        try:
            opt.step(grads)
        finally:
            opt.param_groups[group][key] = old
    return call


def _invalid_hyperparameters(name):
    """(key, value, error) for group 1: NaN for every real, a wrong type for every flag, a
    NaN inside every pair, and torch's usual suspects."""
    spec = OPTIMIZERS[name]
    out = [("lr", -1.0, ValueError), ("lr", "0.1", TypeError)]
    for h in spec.hyperparameters:
        if h.kind in ("real", "real_or_none"):
            out += [(h.name, math.nan, ValueError)]
            if h.kind == "real":
                out += [(h.name, None, TypeError), (h.name, True, TypeError)]
        elif h.kind == "bool":
            out.append((h.name, "yes", TypeError))
        elif h.kind in ("betas", "pair"):
            first = 0.5 if h.default[0] is None else h.default[0]
            out += [(h.name, (math.nan, h.default[1]), ValueError),
                    (h.name, (first,), TypeError), (h.name, 0.9, TypeError)]
    if "betas" in spec.defaults:
        out += [("betas", (1.0, 0.9), ValueError), ("betas", (0.9, -0.1), ValueError)]
    if "momentum" in spec.defaults:
        out.append(("momentum", -0.5, ValueError))
    if "eps" in spec.defaults and spec.hyperparameters[
            spec.hyperparameter_names.index("eps")].kind == "real":
        out.append(("eps", -1e-8, ValueError))
    if "weight_decay" in spec.defaults:
        out.append(("weight_decay", -0.1, ValueError))
    if name == "SGD":
        out += [("nesterov", True, ValueError)]  # group 1 has dampening 0.3
    return out


def _state_mutations(opt):
    """Ways to break parameter 3's state: (label, entry, replacement)."""
    state = opt.state.get(3, {})
    out = []
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            out += [(f"state {key} float32", key, value.astype(np.float32)),
                    (f"state {key} one element more", key, np.zeros(value.size + 1)),
                    (f"state {key} a list", key, value.tolist())]
            break
    return out


def _make_warm_state(name):
    """The state of parameter 3 after two steps."""
    params = _params()
    opt = _make(name, params)
    _warm_up(opt, params, 2)
    return opt.state[3]


def _other_optimizer(name):
    return "Adam" if name in ("SGD", "LARS") else "SGD"


def _load_rejections(name, params):
    """(label, state dict) pairs that load_state_dict must refuse."""
    out = []
    # a state dict of another optimizer, warm and fresh
    for warm in (0, 2):
        other_params = [p.copy() for p in params]
        other_name = _other_optimizer(name)
        other = getattr(fastgd, other_name)(
            [{"params": other_params[a:b]} for a, b in GROUPS],
            **({"momentum": 0.9} if other_name == "SGD" else {}))
        _warm_up(other, other_params, warm)
        out.append((f"state dict of {other_name} after {warm} steps", other.state_dict()))
    # the same optimizer over parameters of other shapes (the 0-d one as (1,))
    shapes = [((4, 3), np.float64), ((5,), np.float32), ((1,), np.float64),
              ((3, 2), np.float64)]
    other_params = [np.ones(s, dtype=d) for s, d in shapes]
    other = _make(name, other_params)
    _warm_up(other, other_params, 2)
    out.append(("state dict for other shapes", other.state_dict()))

    def mutated(label, mutate):
        opt = _make(name, [p.copy() for p in params])
        _warm_up(opt, opt.param_groups[0]["params"] + opt.param_groups[1]["params"], 2)
        sd = opt.state_dict()
        mutate(sd)
        out.append((label, sd))

    def first_array(sd):
        return next(k for k, v in sd["state"][3].items() if isinstance(v, np.ndarray))

    def retype(dtype):
        def mutate(sd):
            key = first_array(sd)
            sd["state"][3][key] = sd["state"][3][key].astype(dtype)
        return mutate

    mutated("a state array of int64", retype(np.int64))
    mutated("a state array of complex128", retype(np.complex128))
    mutated("a state array of objects", retype(object))
    mutated("one group fewer", lambda sd: sd["param_groups"].pop())
    mutated("a group one parameter short", lambda sd: sd["param_groups"][1]["params"].pop())
    mutated("a negative saved lr", lambda sd: sd["param_groups"][1].__setitem__("lr", -1.0))
    mutated("a NaN saved lr", lambda sd: sd["param_groups"][1].__setitem__("lr", math.nan))
    mutated("state of an unknown parameter id", lambda sd: sd["state"].__setitem__(9, {}))
    mutated("an unknown state entry", lambda sd: sd["state"][3].__setitem__("bogus", 1.0))
    if len(_make_warm_state(name)) > 1:  # (a lone buffer missing is a fresh state)
        mutated("a state entry missing", lambda sd: sd["state"][3].pop(first_array(sd)))
    mutated("no 'state'", lambda sd: sd.pop("state"))
    if OPTIMIZERS[name].counts_steps:
        mutated("a negative step", lambda sd: sd["state"][3].__setitem__("step", -1))
    return out


def _rejected_calls(name, opt, params):
    """(label, call, error, pattern): ``call(opt, params, grads)`` must raise ``error``
    (None: must return False) and change nothing."""
    calls = [
        ("one gradient short", lambda o, p, g: o.step(g[:-1]), ValueError,
         "got 3 gradients for 4 parameters"),
        ("one gradient too many", lambda o, p, g: o.step(g + [g[0]]), ValueError,
         "got 5 gradients for 4 parameters"),
        ("no gradients", lambda o, p, g: o.step([]), ValueError, "got 0 gradients"),
        ("a generator of gradients", lambda o, p, g: o.step(x for x in g), TypeError,
         "grads must be a list"),
        ("gradients as one array", lambda o, p, g: o.step(g[0]), TypeError,
         "grads must be a list"),
        ("last gradient of another shape", _replace_grad(3, np.ones((3, 2))), ValueError,
         r"grads\[3\] has shape \(3, 2\)"),
        ("0-d parameter's gradient of shape (1,)", _replace_grad(2, np.ones(1)), ValueError,
         r"grads\[2\] has shape \(1,\)"),
        ("last gradient a list", _replace_grad(3, lambda p: p.tolist()), TypeError,
         r"grads\[3\] must be a numpy.ndarray or None"),
        ("last gradient a string", _replace_grad(3, "abc"), TypeError,
         r"grads\[3\] must be a numpy.ndarray or None"),
        ("a Python float for the 0-d parameter", _replace_grad(2, 0.5), TypeError,
         r"grads\[2\] must be a numpy.ndarray"),
        ("nonfinite='never'", lambda o, p, g: o.step(g, nonfinite="never"), ValueError,
         "nonfinite must be None, 'raise' or 'skip'"),
        ("nonfinite=True", lambda o, p, g: o.step(g, nonfinite=True), ValueError,
         "nonfinite must be"),
        ("NaN in the last gradient, raise", _with_nonfinite(3, np.nan, "raise"),
         FloatingPointError, r"grads\[3\] holds a NaN or an infinity"),
        ("inf in the first gradient, raise", _with_nonfinite(0, np.inf, "raise"),
         FloatingPointError, r"grads\[0\]"),
        ("-inf in a float32 gradient, raise", _with_nonfinite(1, -np.inf, "raise"),
         FloatingPointError, r"grads\[1\]"),
        ("NaN in the 0-d gradient, skip", _with_nonfinite(2, np.nan, "skip"), None, None),
        ("inf in the last gradient, skip", _with_nonfinite(3, np.inf, "skip"), None, None),
    ]
    for dtype in (np.float32, np.int64, np.complex128, np.bool_, object, np.float16, ">f8"):
        calls.append((f"last gradient of dtype {np.dtype(dtype)}",
                      _replace_grad(3, lambda p, d=dtype: np.ones(p.shape, dtype=d)),
                      TypeError, r"grads\[3\] has dtype"))
    for key, value, error in _invalid_hyperparameters(name):
        calls.append((f"group 1 {key}={value!r}", _group_value(1, key, value), error,
                      "nan" if value is math.nan else None))
    if "train_mode" in OPTIMIZERS[name].defaults:
        calls.append(("a step in eval mode", _group_value(1, "train_mode", False),
                      RuntimeError, "called in eval mode"))

    def read_only(o, p, g):
        p[3].flags.writeable = False
        try:
            o.step(g)
        finally:
            p[3].flags.writeable = True
    calls.append(("parameter 3 read-only", read_only, ValueError,
                  "parameter 3 is read-only"))

    for label, replacement, error in [
            ("a list", lambda p: p.tolist(), TypeError),
            ("an int64 array", lambda p: np.ones(p.shape, np.int64), TypeError),
            ("a non-contiguous view", lambda p: np.ones((p.shape[0], 2 * p.shape[1]))[:, ::2],
             ValueError)]:
        def replaced(o, p, g, replacement=replacement):
            group = o.param_groups[1]["params"]
            group[1] = replacement(p[3])
            try:
                o.step(g)
            finally:
                group[1] = p[3]
        calls.append((f"parameter 3 replaced in its group by {label}", replaced, error, None))

    for label, key, replacement in _state_mutations(opt):
        def broken(o, p, g, key=key, replacement=replacement):
            old = o.state[3][key]
            o.state[3][key] = replacement
            try:
                o.step(g)
            finally:
                o.state[3][key] = old
        calls.append((label, broken, (TypeError, ValueError), None))

    for label, sd in _load_rejections(name, params):
        calls.append((f"load_state_dict: {label}",
                      lambda o, p, g, sd=sd: o.load_state_dict(sd), (TypeError, ValueError),
                      None))

    for label, group, error in [
            ("a parameter already in a group", lambda p: {"params": [p[0]]}, ValueError),
            ("a view of a parameter", lambda p: {"params": [p[3][1:]]}, ValueError),
            ("an int64 parameter", lambda p: {"params": [np.zeros(3, np.int64)]}, TypeError),
            ("a bad lr", lambda p: {"params": [np.zeros(3)], "lr": -1.0}, ValueError),
            ("no params", lambda p: {"lr": 0.1}, ValueError)]:
        calls.append((f"add_param_group: {label}",
                      lambda o, p, g, group=group: o.add_param_group(group(p)), error, None))

    if hasattr(opt, "update_hessian"):
        calls += [
            ("update_hessian: one estimate short",
             lambda o, p, g: o.update_hessian([np.abs(x) for x in g[:-1]]), ValueError,
             "got 3 estimates for 4 parameters"),
            ("update_hessian: last estimate of another shape",
             lambda o, p, g: o.update_hessian([np.abs(x) for x in g[:-1]] + [np.ones(2)]),
             ValueError, r"estimates\[3\] has shape"),
            ("update_hessian: last estimate float32",
             lambda o, p, g: o.update_hessian([np.abs(x) for x in g[:-1]]
                                              + [np.abs(g[3]).astype(np.float32)]),
             TypeError, r"estimates\[3\] has dtype"),
            ("update_hessian: NaN, raise",
             lambda o, p, g: o.update_hessian([np.abs(x) for x in g[:-1]]
                                              + [np.full_like(g[3], np.nan)],
                                              nonfinite="raise"),
             FloatingPointError, r"estimates\[3\] holds a NaN"),
            ("update_hessian: inf, skip",
             lambda o, p, g: o.update_hessian([np.full_like(g[0], np.inf)] + g[1:],
                                              nonfinite="skip"), None, None),
            ("update_hessian: nonfinite=0",
             lambda o, p, g: o.update_hessian(g, nonfinite=0), ValueError,
             "nonfinite must be"),
        ]
    return calls


def _valid_steps(opt, params):
    rng = np.random.default_rng(99)
    for skip in ((), (2,)):
        assert opt.step(_grads(rng, params, skip=skip)) is None  # as torch's step()
    if hasattr(opt, "update_hessian"):
        assert opt.update_hessian([np.abs(g) for g in _grads(rng, params)]) is None
        opt.step(_grads(rng, params))


@pytest.mark.parametrize("warm", [0, WARM_STEPS], ids=["fresh", "warm"])
@pytest.mark.parametrize("name", NAMES)
def test_rejected_calls_change_nothing_and_later_steps_are_unaffected(this_backend, name,
                                                                      warm):
    params = _params()
    opt = _make(name, params)
    _warm_up(opt, params, warm)
    grads = _grads(np.random.default_rng(3), params)
    calls = _rejected_calls(name, opt, params)
    assert len(calls) > 40
    before = _snapshot(opt, params)
    for label, call, error, pattern in calls:
        if error is None:  # a step dropped by nonfinite="skip"
            assert call(opt, params, grads) is False, label
        else:
            with pytest.raises(error) as info:
                call(opt, params, grads)
            if pattern:
                assert info.match(pattern), label
        _assert_same(_snapshot(opt, params), before, label)
    # the next valid steps: the bits of a run without the rejected calls
    _valid_steps(opt, params)
    ref_params = _params()
    ref = _make(name, ref_params)
    _warm_up(ref, ref_params, warm)
    _valid_steps(ref, ref_params)
    _assert_same(_snapshot(opt, params)[::2], _snapshot(ref, ref_params)[::2],
                 "the steps after the rejected calls")


# -- the constructor --------------------------------------------------------------------------

def _read_only():
    p = np.zeros(3)
    p.flags.writeable = False
    return [p]


def _same_twice():
    w = np.zeros(3)
    return [w, w]


def _same_in_two_groups():
    w = np.zeros(3)
    return [{"params": [w]}, {"params": [np.zeros(2), w]}]


def _overlapping_views():
    base = np.zeros(10)
    return [base[:6], base[4:]]


BAD_PARAMS = {
    "int64": ([np.zeros(3, np.int64)], TypeError, "parameter 0 has dtype int64"),
    "uint8": ([np.zeros(3, np.uint8)], TypeError, "dtype uint8"),
    "complex": ([np.zeros(3, np.complex128)], TypeError, "dtype complex128"),
    "object": ([np.zeros(3, object)], TypeError, "dtype object"),
    "int16": ([np.zeros(3, np.int16)], TypeError, "dtype int16"),
    "longdouble": ([np.zeros(3, np.longdouble)], TypeError, "dtype"),
    "bool": ([np.zeros(3, bool)], TypeError, "dtype bool"),
    "big-endian": ([np.zeros(3, ">f8")], TypeError, "dtype >f8"),
    "second of two": ([np.zeros(2), np.zeros(3, np.int32)], TypeError, "parameter 1"),
    "a list": ([[1.0, 2.0]], TypeError, "can only optimize numpy arrays"),
    "a scalar": ([np.float64(1.0)], TypeError, "can only optimize numpy arrays"),
    "read-only": (_read_only(), ValueError, "parameter 0 is read-only"),
    "same array twice": (_same_twice(), ValueError, "parameters 0 and 1 share memory"),
    "same array in two groups": (_same_in_two_groups(), ValueError,
                                 "parameters 0 and 2 share memory"),
    "overlapping views": (_overlapping_views(), ValueError, "share memory"),
    "empty list": ([], ValueError, "empty parameter list"),
    "an array, not a list": (np.zeros(3), TypeError, "got a numpy.ndarray"),
    "a set": ({1.0}, TypeError, "got a set"),
    "F-ordered": ([np.asfortranarray(np.zeros((3, 2)))], ValueError, "not C-contiguous"),
    "strided": ([np.zeros(8)[::2]], ValueError, "not C-contiguous"),
    "a group without params": ([{"lr": 0.1}], ValueError, "'params' entry"),
    "a group that is not a dict": ([{"params": [np.zeros(2)]}, [np.zeros(2)]], TypeError,
                                   "must be a dict"),
}


@pytest.mark.parametrize("case", list(BAD_PARAMS))
@pytest.mark.parametrize("name", NAMES)
def test_constructor_rejects_bad_parameters(name, case):
    params, error, pattern = BAD_PARAMS[case]
    with pytest.raises(error, match=pattern):
        getattr(fastgd, name)(params)


@pytest.mark.parametrize("name", NAMES)
def test_constructor_rejects_invalid_hyperparameters(name):
    """Every invalid value of the step matrix is refused by the constructor too."""
    spec = OPTIMIZERS[name]
    for key, value, error in _invalid_hyperparameters(name):
        options = {key: value}
        if name == "SGD" and key == "nesterov" and value is True:
            options = dict(nesterov=True, momentum=0.9, dampening=0.1)
        if key in spec.defaults and not spec.hyperparameters[
                spec.hyperparameter_names.index(key)].argument:
            continue  # fixed by the class (AdamW's decoupled_weight_decay, train_mode)
        with pytest.raises(error):
            getattr(fastgd, name)([np.zeros(2)], **options)


def test_torch_messages_for_the_usual_mistakes():
    cases = [
        (fastgd.SGD, dict(lr=-0.1), "Invalid learning rate: -0.1"),
        (fastgd.SGD, dict(lr=math.nan), "Invalid learning rate: nan"),
        (fastgd.SGD, dict(momentum=-0.9), "Invalid momentum value: -0.9"),
        (fastgd.SGD, dict(weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
        (fastgd.SGD, dict(nesterov=True), "Nesterov momentum requires a momentum and zero "
                                          "dampening"),
        (fastgd.SGD, dict(nesterov=True, momentum=0.9, dampening=0.5),
         "Nesterov momentum requires a momentum and zero dampening"),
        (fastgd.Adam, dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
        (fastgd.Adam, dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
        (fastgd.Adam, dict(betas=(0.9, -0.5)), "Invalid beta parameter at index 1: -0.5"),
        (fastgd.Adam, dict(betas=(0.9, math.nan)), "Invalid beta parameter at index 1: nan"),
        (fastgd.RMSprop, dict(alpha=-0.1), "Invalid alpha value: -0.1"),
        (fastgd.Adagrad, dict(lr_decay=-1.0), "Invalid lr_decay value: -1.0"),
    ]
    for cls, options, message in cases:
        with pytest.raises(ValueError) as info:
            cls([np.zeros(2)], **options)
        assert str(info.value) == message


# -- state dicts of other optimizers -----------------------------------------------------

#: Pairs whose state dicts have the same layout (groups and state), which load_state_dict
#: cannot tell apart: Adam's and AdamW's (as in torch), and Adamax's and LAMB's groups
#: before any step.
SAME_LAYOUT = {("Adam", "AdamW"), ("AdamW", "Adam")}
SAME_GROUPS = {("Adamax", "LAMB"), ("LAMB", "Adamax")}


@pytest.mark.parametrize("warm", [0, 2], ids=["fresh", "warm"])
@pytest.mark.parametrize("source", NAMES)
def test_a_state_dict_of_another_optimizer_loads_nothing(source, warm):
    source_params = _params()
    saved = _make(source, source_params)
    _warm_up(saved, source_params, warm)
    sd = saved.state_dict()
    for name in NAMES:
        if name == source or (source, name) in SAME_LAYOUT or (
                not warm and (source, name) in SAME_GROUPS):
            continue
        params = _params()
        opt = _make(name, params)
        _warm_up(opt, params, 1)
        before = _snapshot(opt, params)
        with pytest.raises((TypeError, ValueError)):
            opt.load_state_dict(sd)
        _assert_same(_snapshot(opt, params), before, f"{source} -> {name}")


def test_adamw_keeps_decoupled_weight_decay_when_it_loads_adam():
    adam = fastgd.Adam([np.ones(3)], weight_decay=0.1)
    adam.step([np.ones(3)])
    sd = adam.state_dict()
    w, w_ref = np.ones(3), np.ones(3)
    adamw = fastgd.AdamW([w], weight_decay=0.1)
    adamw.load_state_dict(sd)
    assert adamw.param_groups[0]["decoupled_weight_decay"] is True
    sd["param_groups"][0]["decoupled_weight_decay"] = True
    reference = fastgd.Adam([w_ref], weight_decay=0.1, decoupled_weight_decay=True)
    reference.load_state_dict(sd)
    adamw.step([np.full(3, 0.5)])
    reference.step([np.full(3, 0.5)])
    assert w.tobytes() == w_ref.tobytes()


def test_the_options_torch_lacks_are_those_its_state_dicts_lack():
    torch = pytest.importorskip("torch")
    for name, optional in ((n, s.optional_on_load) for n, s in OPTIMIZERS.items()
                           if s.optional_on_load):
        group = getattr(torch.optim, name)([torch.zeros(2)]).state_dict()["param_groups"][0]
        ours = set(OPTIMIZERS[name].hyperparameter_names)
        assert ours - set(group) == set(optional), name
