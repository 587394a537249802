"""The compiled backend's cached step (``fastgd.backends._core.FastStep``, used by
``Optimizer.step`` after a step of the general path) gives the bits, state, return values and
errors of the general path, through every change it must notice: hyperparameters (a
scheduler's lr, a list of betas changed in place), replaced state entries and parameters,
missing or odd gradients, gradients over the memory a step writes, non-finite gradients,
a switched backend, loaded state and added groups."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from parity.optim_db import OPTIM_DB

import fastgd
from fastgd import backends, optim
from fastgd.optim import _cached_step
from fastgd.optim.registry import GRADIENT_STEP

pytestmark = pytest.mark.skipif("cython" not in backends.available(),
                                reason="the cached step is the compiled backend's")

SHAPES = [(3, 4), (5,), (2, 3, 2), (0,), (6,)]
NAN = float("nan")  # one object: equal to itself in the compared group dicts


@pytest.fixture(autouse=True)
def compiled(this_backend):
    with fastgd.use_backend("cython"):
        yield


def _variants():
    cases = []
    for name, spec in GRADIENT_STEP.items():
        for v, variant in enumerate(OPTIM_DB[spec.name]):
            cases.append(pytest.param(name, dict(variant), (np.float32, np.float64)[v % 2],
                                      id=f"{name}-{v}"))
    return cases


class Pair:
    """The same optimizer twice: one stepping with the cache, one without; every action is
    applied to both and must give the same outcome and the same bits."""

    def __init__(self, monkeypatch, name, options, dtype, seed=0, shapes=SHAPES):
        self.monkeypatch = monkeypatch
        self.rng = np.random.default_rng(seed)
        self.dtype = dtype
        init = [self.rng.standard_normal(s).astype(dtype) for s in shapes]
        self.opts = []
        for _ in range(2):
            self.opts.append(getattr(fastgd, name)([a.copy() for a in init], **options))

    @property
    def cached(self):
        return self.opts[0]

    def grads(self, scale=0.1):
        return [(scale * self.rng.standard_normal(p.shape)).astype(self.dtype)
                for p in self.params(0)]

    def params(self, k):
        return [p for g in self.opts[k].param_groups for p in g["params"]]

    def act(self, action):
        """``action(opt, k)`` on both; the outcomes (value or exception) must agree."""
        outcomes = []
        for k, opt in enumerate(self.opts):
            self.monkeypatch.setattr(optim, "CACHED_STEP", k == 0)
            try:
                outcomes.append(("returned", action(opt, k)))
            except Exception as exc:  # compared below: the same type and message
                outcomes.append((type(exc), str(exc)))
        assert outcomes[0] == outcomes[1]
        self.check()
        return outcomes[0]

    def step(self, grads=None, **kwargs):
        grads = self.grads() if grads is None else grads
        return self.act(lambda opt, k: opt.step([None if g is None else g.copy()
                                                 for g in grads], **kwargs))

    def check(self):
        for a, b in zip(self.params(0), self.params(1)):
            np.testing.assert_array_equal(a, b)
        sa, sb = self.opts[0].state_dict(), self.opts[1].state_dict()
        assert sa["param_groups"] == sb["param_groups"]
        assert sa["state"].keys() == sb["state"].keys()
        for i in sa["state"]:
            assert sa["state"][i].keys() == sb["state"][i].keys()
            for key, value in sa["state"][i].items():
                if isinstance(value, np.ndarray):
                    np.testing.assert_array_equal(value, sb["state"][i][key])
                else:
                    assert type(value) is type(sb["state"][i][key])
                    assert value == sb["state"][i][key] or value != value


def _is_cached(opt):
    return opt._fast is not None


@pytest.mark.parametrize("name,options,dtype", _variants())
def test_every_optimizer_gives_the_bits_of_the_general_path(monkeypatch, name, options,
                                                            dtype):
    pair = Pair(monkeypatch, name, options, dtype)
    for _ in range(4):
        pair.step()
    assert _is_cached(pair.cached) and pair.cached._fast_misses == 0
    for _ in range(3):  # a scheduler's change of lr, every step
        pair.act(lambda opt, k: opt.param_groups[0].__setitem__(
            "lr", opt.param_groups[0]["lr"] * 0.7))
        pair.step()
    assert _is_cached(pair.cached)
    pair.step([None if i == 1 else g for i, g in enumerate(pair.grads())])  # one missing
    pair.step()
    pair.step()
    assert _is_cached(pair.cached)


@pytest.mark.parametrize("name", ["Adam", "SGD", "NAdam", "Adafactor", "AdamWScheduleFree"])
def test_changes_between_steps_are_seen(monkeypatch, name):
    options = {"SGD": dict(lr=0.1, momentum=0.9)}.get(name, {})
    pair = Pair(monkeypatch, name, options, np.float32, seed=1)
    pair.step()
    pair.step()

    def replace_state(opt, k):
        for entries in opt.state.values():
            for key, value in entries.items():
                if isinstance(value, np.ndarray):
                    entries[key] = value * 0.5
                    return
    pair.act(replace_state)
    pair.step()

    def set_step(opt, k):
        if "step" in opt.state[0]:
            opt.state[0]["step"] = 40
    pair.act(set_step)
    pair.step()
    pair.step()

    def replace_param(opt, k):
        params = opt.param_groups[0]["params"]
        params[1] = params[1] + 1
    pair.act(replace_param)
    pair.step()
    assert _is_cached(pair.cached)

    # a gradient of another layout, another dtype, a list subclass, a tuple
    g = pair.grads()
    g[0] = np.asfortranarray(np.ones((3, 4, 2), np.float32)[:, :, 0])
    pair.step(g)
    g = pair.grads()
    g[2] = g[2].astype(np.float64)
    pair.step(g)
    pair.act(lambda opt, k: opt.step(tuple(pair.grads(0.0))))
    pair.step()
    assert _is_cached(pair.cached)


def test_betas_changed_in_place_are_seen(monkeypatch):
    pair = Pair(monkeypatch, "Adam", dict(betas=[0.9, 0.999]), np.float64)
    pair.step()
    pair.step()
    pair.act(lambda opt, k: opt.param_groups[0]["betas"].__setitem__(0, 0.5))
    pair.step()
    pair.act(lambda opt, k: opt.param_groups[0]["betas"].__setitem__(1, -0.5))
    assert pair.step()[0] is ValueError  # invalid now: rejected before anything changes
    pair.act(lambda opt, k: opt.param_groups[0]["betas"].__setitem__(1, 0.99))
    pair.step()


def test_invalid_changes_are_rejected_before_anything_is_written(monkeypatch):
    pair = Pair(monkeypatch, "Adam", {}, np.float32)
    pair.step()
    pair.step()
    pair.act(lambda opt, k: opt.param_groups[0].__setitem__("lr", NAN))
    assert pair.step()[0] is ValueError
    pair.act(lambda opt, k: opt.param_groups[0].__setitem__("lr", 1e-2))
    pair.step()
    pair.act(lambda opt, k: setattr(opt.param_groups[0]["params"][4].flags, "writeable",
                                    False))
    assert pair.step()[0] is ValueError
    pair.act(lambda opt, k: setattr(opt.param_groups[0]["params"][4].flags, "writeable",
                                    True))
    g = pair.grads()
    g[1] = g[1][:3]
    assert pair.step(g)[0] is ValueError
    assert pair.step(pair.grads()[:-1])[0] is ValueError
    del pair.opts[0].param_groups[0]["eps"], pair.opts[1].param_groups[0]["eps"]
    assert pair.step()[0] is KeyError
    pair.act(lambda opt, k: opt.param_groups[0].__setitem__("eps", 1e-8))
    pair.step()
    assert _is_cached(pair.cached)


def test_gradients_over_written_memory_are_read_as_passed(monkeypatch):
    pair = Pair(monkeypatch, "Adam", dict(lr=0.1), np.float64)
    pair.step()
    pair.step()
    # the parameters themselves, a view of one, and a state buffer as gradients
    pair.act(lambda opt, k: opt.step([p for p in pair.params(k)]))
    rest = pair.grads()[1:]
    pair.act(lambda opt, k: opt.step([pair.params(k)[0][::-1][::-1]] + rest))
    pair.act(lambda opt, k: opt.step([opt.state[0]["exp_avg"]] + rest))
    pair.act(lambda opt, k: opt.step([opt.state[0]["exp_avg_sq"].reshape(3, 4)] + rest))
    for _ in range(_cached_step.RETRY_EVERY):  # after misses in a row, retried within as many
        pair.step()
    assert _is_cached(pair.cached)


def test_nonfinite_gradients(monkeypatch):
    pair = Pair(monkeypatch, "Adam", {}, np.float32)
    pair.step()
    assert pair.step(nonfinite="skip") == ("returned", True)
    assert pair.step(nonfinite="raise") == ("returned", True)
    assert _is_cached(pair.cached)
    bad = pair.grads()
    bad[4][2] = np.inf
    assert pair.step(bad, nonfinite="skip") == ("returned", False)
    assert pair.step(bad, nonfinite="raise")[0] is FloatingPointError
    assert pair.step(nonfinite="sometimes")[0] is ValueError
    pair.step(bad)  # propagates, as in torch
    pair.step()


def test_state_dicts_groups_and_backends(monkeypatch):
    pair = Pair(monkeypatch, "AdamW", dict(amsgrad=True), np.float64)
    pair.step()
    pair.step()
    saved = [opt.state_dict() for opt in pair.opts]
    pair.step()
    pair.act(lambda opt, k: opt.load_state_dict(saved[k]))
    pair.step()
    pair.step()
    pair.act(lambda opt, k: opt.add_param_group({"params": [np.ones(3)], "lr": 0.5}))
    pair.step()
    pair.step()
    assert _is_cached(pair.cached)
    with fastgd.use_backend("numpy"):
        pair.step()
    pair.step()
    pair.act(lambda opt, k: opt.param_groups[0].__setitem__("amsgrad", False))
    pair.step()
    pair.step()


def test_an_optimizer_with_a_cached_step_copies_and_pickles():
    w = np.zeros(4)
    opt = fastgd.Adam([w], lr=0.1)
    opt.step([np.ones(4)])
    assert _is_cached(opt)
    twin = copy.deepcopy(opt)
    again = pickle.loads(pickle.dumps(opt))
    for o in (opt, twin, again):
        o.step([np.ones(4)])
        o.step([np.ones(4)])
    p = [o.param_groups[0]["params"][0] for o in (opt, twin, again)]
    np.testing.assert_array_equal(p[0], p[1])
    np.testing.assert_array_equal(p[0], p[2])
    assert twin._fast is not opt._fast and again.state[0]["step"] == 3


def test_many_tensors_in_groups_of_two_dtypes(monkeypatch):
    shapes = [(64, 64), (64,)] * 20 + [(7, 3)]
    pair = Pair(monkeypatch, "Adam", dict(lr=1e-2, weight_decay=0.1), np.float32,
                shapes=shapes)
    extra = [np.ones((5, 5)), np.zeros(2)]
    pair.act(lambda opt, k: opt.add_param_group({"params": [a.copy() for a in extra],
                                                 "lr": 0.3}))

    def grads():  # float32 for the first group, float64 for the added one
        return [g.astype(p.dtype) for g, p in zip(pair.grads(), pair.params(0))]
    for _ in range(4):
        pair.step(grads())
    assert _is_cached(pair.cached) and pair.cached._fast_misses == 0


def test_repeated_misses_stop_rebuilding(monkeypatch):
    built = []
    cache_step = optim.Optimizer._cache_step
    monkeypatch.setattr(optim.Optimizer, "_cache_step",
                        lambda self, *a: built.append(1) or cache_step(self, *a))
    w, b = np.zeros(3), np.zeros(2)
    opt = fastgd.SGD([w, b], lr=0.1, momentum=0.9)
    for _ in range(200):  # b never has a gradient: the cached step never applies
        opt.step([np.ones(3), None])
    assert len(built) == 2 * (1 + 199 // _cached_step.RETRY_EVERY) and opt._fast is None
    reference = fastgd.SGD([np.zeros(3), np.zeros(2)], lr=0.1, momentum=0.9)
    monkeypatch.setattr(optim, "CACHED_STEP", False)
    for _ in range(200):
        reference.step([np.ones(3), None])
    np.testing.assert_array_equal(w, reference.param_groups[0]["params"][0])
    monkeypatch.setattr(optim, "CACHED_STEP", True)
    for _ in range(_cached_step.RETRY_EVERY):  # the usual case again: cached within as many steps
        opt.step([np.ones(3), np.ones(2)])
    assert opt._fast is not None and opt._fast_misses == 0


def test_a_plan_that_depends_on_another_tensor(monkeypatch):
    """Adafactor's eps=(None, ...) comes from the dtype of the group's first parameter, for
    every parameter of the group: a group of two dtypes keeps the general path."""
    results = []
    for cached in (True, False):
        monkeypatch.setattr(optim, "CACHED_STEP", cached)
        params = [np.full((3, 2), 0.5, np.float32), np.full(4, 0.5, np.float64)]
        opt = fastgd.Adafactor(params, lr=0.1, eps=(None, 1e-3))
        for _ in range(4):
            opt.step([np.full((3, 2), 1e-4, np.float32), np.full(4, 1e-4, np.float64)])
        results.append(params)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_empty_parameters_are_checked_too(monkeypatch):
    pair = Pair(monkeypatch, "Adam", {}, np.float64)  # SHAPES[3] is empty
    pair.step()
    pair.step()
    pair.act(lambda opt, k: setattr(pair.params(k)[3].flags, "writeable", False))
    outcome = pair.step()
    assert outcome[0] is ValueError and "parameter 3 is read-only" in outcome[1]


def test_a_changed_hyperparameter_is_checked_without_any_parameter(this_backend):
    """A group with no parameters has no native call, and a cached step of it none to
    plan: an invalid new value is still refused, as on the general path."""
    opt = fastgd.Adam([{"params": []}], lr=0.1)
    opt.step([])
    opt.step([])
    opt.param_groups[0]["lr"] = -1.0
    with pytest.raises(ValueError, match="Invalid learning rate: -1.0"):
        opt.step([])


def test_a_pickled_optimizer_names_no_compiled_module(this_backend):
    w = np.zeros(3)
    opt = fastgd.Adam([w], lr=0.1)
    for _ in range(3):
        opt.step([np.ones(3)])
    data = pickle.dumps(opt)
    assert b"backends._core" not in data and b"FastStep" not in data
    copy = pickle.loads(data)
    assert copy._fast is None and np.array_equal(copy.param_groups[0]["params"][0], w)


def test_turning_the_cache_off_stops_a_cached_optimizer(monkeypatch):
    planned = []
    plan = fastgd.Adam._plan
    monkeypatch.setattr(fastgd.Adam, "_plan",
                        staticmethod(lambda *a: planned.append(1) or plan(*a)))
    w = np.zeros(5)
    opt = fastgd.Adam([w], lr=0.1)
    for _ in range(3):  # the general path, the cache's own plan, its first run's plan
        opt.step([np.ones(5)])
    before = len(planned)
    opt.step([np.ones(5)])
    assert opt._fast is not None and len(planned) == before  # then no plan (formulas)
    monkeypatch.setattr(optim, "CACHED_STEP", False)
    opt.step([np.ones(5)])
    assert len(planned) == before + 1


def test_a_failure_while_caching_does_not_fail_the_applied_step():
    """A parameter without a gradient may be anything; the general path never reads it,
    and the cache (which would) is simply not made."""
    w = np.zeros((2, 3))
    opt = fastgd.Adafactor([w, np.zeros(4)], lr=0.1)
    opt.param_groups[0]["params"][1] = "not an array"
    assert opt.step([np.ones((2, 3)), None]) is None
    assert opt.state[0]["step"] == 1 and opt._fast is None
