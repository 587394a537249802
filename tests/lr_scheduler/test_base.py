"""fastgd.lr_scheduler.base, and what every scheduler shares: each torch scheduler against
torch.optim.lr_scheduler (skipped without torch), step by step with exact equality of the
learning rates, momenta, parameter group entries and state dicts; state dict round trips,
last_epoch, training with a schedule, torch's validation messages and warnings; the
docstring examples of every module."""

from __future__ import annotations

import copy
import doctest
import importlib
import pickle
import pkgutil
import warnings

import numpy as np
import pytest
from lr_scheduler._cases import (
    CASES,
    LRS,
    NAN,
    SCHEDULERS_TESTED,
    STEPS,
    _assert_same,
    _flat,
    _opt_step,
    _optimizer,
    _start,
    _step_both,
    _train,
    needs_torch,
    tls,
    torch,
)

import fastgd
from fastgd import lr_scheduler as fls


def test_every_torch_scheduler_is_tested():
    names = {n for n in tls.__all__ if n != "LRScheduler"} if tls else set()
    assert names <= SCHEDULERS_TESTED
    assert names <= set(fls.__all__)


@needs_torch
@pytest.mark.parametrize("name", [n for n in (tls.__all__ if tls else [])])
def test_signature_is_torchs(name):
    import inspect
    ours = inspect.signature(getattr(fls, name)).parameters
    theirs = inspect.signature(getattr(tls, name)).parameters
    assert list(ours) == list(theirs)
    for key, p in ours.items():
        assert (p.default, p.kind) == (theirs[key].default, theirs[key].kind), key
        assert type(p.default) is type(theirs[key].default), key


@needs_torch
@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch_step_by_step(name):
    case = CASES[name]
    ours, theirs, osched, tsched = _start(case)
    _assert_same(ours, theirs, osched, tsched, "constructed")
    for k in range(STEPS):
        _step_both(case, k, [(ours, osched), (theirs, tsched)])
        _assert_same(ours, theirs, osched, tsched, f"step {k + 1}")


@needs_torch
@pytest.mark.parametrize("source", ["fastgd", "torch"])
@pytest.mark.parametrize("name", list(CASES))
def test_state_dict_round_trip_mid_run(name, source):
    """Stop half-way, rebuild optimizer and scheduler, load both state dicts (the
    scheduler's from fastgd's or from torch's), go on: the same as torch without a break."""
    case = CASES[name]
    ours, theirs, osched, tsched = _start(case)
    half = STEPS // 2
    for k in range(half):
        _step_both(case, k, [(ours, osched), (theirs, tsched)])
    saved_opt = ours.state_dict()
    saved = (osched if source == "fastgd" else tsched).state_dict()
    saved_copy = copy.deepcopy(saved)
    fresh = _optimizer("fastgd", case.opt, lrs=(1.0, 2.0, 3.0), **case.opt_kwargs)
    fresh_sched = case.make(fls, fresh)
    fresh.load_state_dict(saved_opt)
    fresh_sched.load_state_dict(saved)
    assert saved == saved_copy  # loading leaves the dict as it was
    _assert_same(fresh, theirs, fresh_sched, tsched, "loaded")
    for k in range(half, STEPS):
        _step_both(case, k, [(fresh, fresh_sched), (theirs, tsched)])
        _assert_same(fresh, theirs, fresh_sched, tsched, f"step {k + 1}")


RESUMABLE = [name for name, case in CASES.items() if case.resumable]


@needs_torch
@pytest.mark.parametrize("name", RESUMABLE)
def test_last_epoch_resume(name):
    """A scheduler built with last_epoch=k on groups holding initial_lr (as a checkpoint
    of the optimizer has them) behaves as torch's built the same way."""
    case = CASES[name]
    ours, theirs, osched, tsched = _start(case)
    k0 = 37
    for k in range(k0):
        _step_both(case, k, [(ours, osched), (theirs, tsched)])
    resumed = getattr(fastgd, case.opt)(
        [{**g, "params": [np.zeros(2)]} for g in ours.param_groups], **case.opt_kwargs)
    tresumed = getattr(torch.optim, case.opt)(
        [{**g, "params": [torch.zeros(2, requires_grad=True)]} for g in theirs.param_groups],
        **case.opt_kwargs)
    osched = case.make(fls, resumed, last_epoch=k0 - 1)
    tsched = case.make(tls, tresumed, last_epoch=k0 - 1)
    _assert_same(resumed, tresumed, osched, tsched, "resumed")
    for k in range(k0, STEPS):
        _step_both(case, k, [(resumed, osched), (tresumed, tsched)])
        _assert_same(resumed, tresumed, osched, tsched, f"step {k + 1}")


@needs_torch
@pytest.mark.parametrize("name", RESUMABLE)
def test_last_epoch_needs_initial_lr(name):
    case = CASES[name]
    ours = _optimizer("fastgd", case.opt, **case.opt_kwargs)
    theirs = _optimizer("torch", case.opt, **case.opt_kwargs)
    with pytest.raises(KeyError) as ours_error:
        case.make(fls, ours, last_epoch=5)
    with pytest.raises(KeyError) as theirs_error:
        case.make(tls, theirs, last_epoch=5)
    assert str(ours_error.value) == str(theirs_error.value)


# -- training with the schedules: the optimizers use the scheduled values -------------------


TRAINING = {
    "SGD-nesterov-OneCycleLR": ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True},
                                lambda m, o: m.OneCycleLR(o, max_lr=0.3, total_steps=60)),
    "SGD-momentum-from-zero-CyclicLR": ("SGD", {"lr": 0.1},
                                        lambda m, o: m.CyclicLR(o, 0.01, 0.2, 5)),
    "Adam-betas-CyclicLR": ("Adam", {"lr": 0.01}, lambda m, o: m.CyclicLR(
        o, 0.001, 0.05, step_size_up=8, mode="triangular2")),
    "AdamW-betas-OneCycleLR": ("AdamW", {"lr": 0.01, "weight_decay": 0.1},
                               lambda m, o: m.OneCycleLR(o, 0.05, 60, three_phase=True)),
    "RMSprop-momentum-OneCycleLR": ("RMSprop", {"lr": 0.01, "momentum": 0.5},
                                    lambda m, o: m.OneCycleLR(o, 0.02, 60)),
    "NAdam-SequentialLR": ("NAdam", {"lr": 0.01}, lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, 0.1, total_iters=10), m.CosineAnnealingWarmRestarts(o, 9, 2)],
        [10])),
}


@needs_torch
@pytest.mark.parametrize("name", list(TRAINING))
def test_training_with_a_schedule_matches_torch(name):
    opt_name, opt_kwargs, make = TRAINING[name]
    ours, lrs = _train("fastgd", opt_name, opt_kwargs, make)
    theirs, tlrs = _train("torch", opt_name, opt_kwargs, make)
    assert lrs == tlrs
    for p, tp in zip(ours, theirs):
        np.testing.assert_allclose(p, tp, rtol=1e-10, atol=1e-12)


# -- validation: torch's conditions and messages ----------------------------------------------


INVALID = {
    "lambda-count": ("SGD", lambda m, o: m.LambdaLR(o, [lambda t: 1.0] * 2), ValueError),
    "multiplicative-count": ("SGD", lambda m, o: m.MultiplicativeLR(o, (lambda t: 1.0,)),
                             ValueError),
    "multiplicative-not-callable": ("SGD", lambda m, o: m.MultiplicativeLR(o, 0.5), TypeError),
    "constant-factor-high": ("SGD", _flat("ConstantLR", factor=1.5), ValueError),
    "constant-factor-negative": ("SGD", _flat("ConstantLR", factor=-0.1), ValueError),
    "linear-start-zero": ("SGD", _flat("LinearLR", start_factor=0.0), ValueError),
    "linear-start-high": ("SGD", _flat("LinearLR", start_factor=1.1), ValueError),
    "linear-end-high": ("SGD", _flat("LinearLR", end_factor=1.1), ValueError),
    "linear-end-negative": ("SGD", _flat("LinearLR", end_factor=-1.0), ValueError),
    "sequential-empty": ("SGD", lambda m, o: m.SequentialLR(o, [], []), ValueError),
    "sequential-not-a-scheduler": ("SGD", lambda m, o: m.SequentialLR(o, [object()], []),
                                   TypeError),
    "sequential-plateau": ("SGD", lambda m, o: m.SequentialLR(
        o, [m.StepLR(o, 2), m.ReduceLROnPlateau(o)], [3]), ValueError),
    "sequential-milestones": ("SGD", lambda m, o: m.SequentialLR(
        o, [m.StepLR(o, 2), m.ExponentialLR(o, 0.9)], [3, 5]), ValueError),
    "chained-empty": ("SGD", lambda m, o: m.ChainedScheduler([]), ValueError),
    "chained-plateau": ("SGD", lambda m, o: m.ChainedScheduler(
        [m.StepLR(o, 2), m.ReduceLROnPlateau(o)]), ValueError),
    "plateau-factor": ("SGD", _flat("ReduceLROnPlateau", factor=1.0), ValueError),
    "plateau-min_lrs": ("SGD", _flat("ReduceLROnPlateau", min_lr=[0.1, 0.2]), ValueError),
    "plateau-mode": ("SGD", _flat("ReduceLROnPlateau", mode="lowest"), ValueError),
    "plateau-threshold-mode": ("SGD", _flat("ReduceLROnPlateau", threshold_mode="relative"),
                               ValueError),
    "cyclic-base-count": ("SGD", _flat("CyclicLR", base_lr=[0.1], max_lr=1.0), ValueError),
    "cyclic-max-count": ("SGD", _flat("CyclicLR", base_lr=0.1, max_lr=(1.0, 2.0)),
                         ValueError),
    "cyclic-mode": ("SGD", _flat("CyclicLR", base_lr=0.1, max_lr=1.0, mode="square"),
                    ValueError),
    "cyclic-no-momentum": ("Adagrad", _flat("CyclicLR", base_lr=0.1, max_lr=1.0), ValueError),
    "cyclic-momentum-count": ("SGD", _flat("CyclicLR", base_lr=0.1, max_lr=1.0,
                                           base_momentum=[0.8, 0.9]), ValueError),
    "warm-T0-zero": ("SGD", _flat("CosineAnnealingWarmRestarts", T_0=0), ValueError),
    "warm-T0-float": ("SGD", _flat("CosineAnnealingWarmRestarts", T_0=2.0), ValueError),
    "warm-Tmult": ("SGD", _flat("CosineAnnealingWarmRestarts", T_0=2, T_mult=0), ValueError),
    "warm-Tmult-float": ("SGD", _flat("CosineAnnealingWarmRestarts", T_0=2, T_mult=1.5),
                         ValueError),
    "warm-eta_min": ("SGD", _flat("CosineAnnealingWarmRestarts", T_0=2, eta_min="0"),
                     ValueError),
    "onecycle-total": ("SGD", _flat("OneCycleLR", max_lr=1.0, total_steps=0), ValueError),
    "onecycle-total-float": ("SGD", _flat("OneCycleLR", max_lr=1.0, total_steps=10.0),
                             ValueError),
    "onecycle-epochs": ("SGD", _flat("OneCycleLR", max_lr=1.0, epochs=0, steps_per_epoch=3),
                        ValueError),
    "onecycle-steps-per-epoch": ("SGD", _flat("OneCycleLR", max_lr=1.0, epochs=2,
                                              steps_per_epoch=-3), ValueError),
    "onecycle-neither": ("SGD", _flat("OneCycleLR", max_lr=1.0, epochs=2), ValueError),
    "onecycle-pct-int": ("SGD", _flat("OneCycleLR", max_lr=1.0, total_steps=9, pct_start=1),
                         ValueError),
    "onecycle-pct-high": ("SGD", _flat("OneCycleLR", max_lr=1.0, total_steps=9,
                                       pct_start=1.5), ValueError),
    "onecycle-anneal": ("SGD", _flat("OneCycleLR", max_lr=1.0, total_steps=9,
                                     anneal_strategy="cosine"), ValueError),
    "onecycle-max-count": ("SGD", _flat("OneCycleLR", max_lr=[1.0], total_steps=9),
                           ValueError),
    "onecycle-no-momentum": ("Adagrad", _flat("OneCycleLR", max_lr=1.0, total_steps=9),
                             ValueError),
    "not-an-optimizer-step": (None, _flat("StepLR", step_size=3), TypeError),
    "not-an-optimizer-plateau": (None, _flat("ReduceLROnPlateau"), TypeError),
    "not-an-optimizer-cyclic": (None, _flat("CyclicLR", base_lr=0.1, max_lr=1.0), TypeError),
    "not-an-optimizer-onecycle": (None, _flat("OneCycleLR", max_lr=1.0, total_steps=3),
                                  TypeError),
}


@needs_torch
@pytest.mark.parametrize("name", list(INVALID))
def test_validation_matches_torch(name):
    opt_name, make, error = INVALID[name]
    messages = []
    for lib, module in [("fastgd", fls), ("torch", tls)]:
        opt = {"params": 3} if opt_name is None else _optimizer(lib, opt_name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(error) as caught:
                make(module, opt)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]


@pytest.mark.parametrize("make,message", [
    (_flat("ConstantLR", factor=NAN), "Constant multiplicative factor expected to be "
                                      "between 0 and 1."),
    (_flat("LinearLR", start_factor=NAN), "Starting multiplicative factor expected to be "
                                          "greater than 0 and less or equal to 1."),
    (_flat("LinearLR", end_factor=NAN), "Ending multiplicative factor expected to be "
                                        "between 0 and 1."),
    (_flat("ReduceLROnPlateau", factor=NAN), "Factor should be < 1.0."),
    (_flat("OneCycleLR", max_lr=1.0, total_steps=5, pct_start=NAN),
     "Expected float between 0 and 1 pct_start, but got nan"),
    (_flat("StepLR", step_size=0), "Expected positive step_size, but got 0"),
    (_flat("StepLR", step_size=NAN), "Expected positive step_size, but got nan"),
    (_flat("CosineAnnealingLR", T_max=0), "Expected positive T_max, but got 0"),
])
def test_values_torch_lets_through_are_refused(make, message):
    """NaN where torch's comparison lets it through, and the periods torch accepts but then
    divides by (a ZeroDivisionError at the first step): ValueErrors at construction."""
    opt = _optimizer("fastgd", "SGD")
    before = copy.deepcopy([{k: v for k, v in g.items() if k != "params"}
                            for g in opt.param_groups])
    with pytest.raises(ValueError) as caught:
        make(fls, opt)
    assert str(caught.value) == message
    assert [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups] == before


# -- warnings, as torch warns ----------------------------------------------------------------


def _messages(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


def test_scheduler_step_before_optimizer_step_warns():
    opt = _optimizer("fastgd", "SGD")
    sched = fls.StepLR(opt, 3)
    assert any("before `optimizer.step()`" in m for m in _messages(sched.step))
    assert _messages(sched.step) == []  # only the first step is checked

    opt = _optimizer("fastgd", "SGD")
    sched = fls.StepLR(opt, 3)
    _opt_step(opt)
    assert _messages(sched.step) == []


def test_overridden_optimizer_step_warns():
    opt = _optimizer("fastgd", "SGD")
    sched = fls.ExponentialLR(opt, 0.9)
    opt.step = lambda grads: None
    assert any("has been overridden" in m for m in _messages(sched.step))


def test_get_lr_outside_step_warns_and_epoch_argument_warns():
    opt = _optimizer("fastgd", "SGD")
    sched = fls.CosineAnnealingLR(opt, 10)
    _opt_step(opt)
    assert any("get_last_lr()" in m for m in _messages(sched.get_lr))
    assert any("epoch parameter" in m for m in _messages(lambda: sched.step(3)))
    assert _messages(sched.step) == []


@needs_torch
def test_warnings_are_torchs():
    """Each situation warns in both libraries, or in neither."""
    def situations(lib, module):
        out = []
        opt = _optimizer(lib, "SGD")
        sched = module.StepLR(opt, 3)
        out.append(len(_messages(sched.step)))          # before the optimizer's step
        _opt_step(opt)
        out.append(len(_messages(sched.step)))          # in order
        out.append(len(_messages(sched.get_lr)))        # outside step
        out.append(len(_messages(lambda: sched.step(5))))  # with an epoch
        opt = _optimizer(lib, "SGD")
        sched = module.CosineAnnealingWarmRestarts(opt, 3)
        out.append(len(_messages(lambda: sched.step(1.5))))  # its own epochs: silent
        return out

    assert situations("fastgd", fls) == situations("torch", tls) == [1, 0, 1, 1, 0]


# -- other behaviour ------------------------------------------------------------------------


def test_optimizer_with_a_scheduler_pickles_and_copies():
    w = np.zeros(3)
    opt = fastgd.SGD([w], lr=0.1, momentum=0.9)
    sched = fls.StepLR(opt, 2)
    for clone in (pickle.loads(pickle.dumps(opt)), copy.deepcopy(opt)):
        assert not getattr(clone, "_opt_called", False)
        clone.step([np.ones(3)])
        assert clone._opt_called and not getattr(opt, "_opt_called", False)
        assert np.all(clone.param_groups[0]["params"][0] == -0.1) and np.all(w == 0)
    copy.deepcopy(sched)  # the scheduler (with its optimizer) copies too
    opt.step([np.ones(3)])
    assert opt._opt_called and np.all(w == -0.1)


def test_two_schedulers_wrap_the_step_once():
    opt = _optimizer("fastgd", "SGD")
    fls.StepLR(opt, 2)
    wrapped = opt.step
    fls.ExponentialLR(opt, 0.5)
    assert opt.step is wrapped


def test_state_dict_is_a_copy():
    opt = _optimizer("fastgd", "SGD")
    sched = fls.MultiStepLR(opt, [2, 4])
    state = sched.state_dict()
    state["base_lrs"].append(9.0)
    state["milestones"][3] = 1
    assert sched.base_lrs == list(LRS) and 3 not in sched.milestones
    with pytest.raises(TypeError, match="state_dict must be a dict"):
        sched.load_state_dict([("last_epoch", 3)])


def test_lr_set_by_the_scheduler_is_the_one_the_optimizer_uses():
    w = np.ones(2)
    opt = fastgd.SGD([w], lr=1.0)
    sched = fls.StepLR(opt, step_size=1, gamma=0.5)
    for expected in [1.0, 0.5, 0.25]:
        before = w.copy()
        opt.step([np.ones(2)])
        np.testing.assert_array_equal(before - w, expected)
        sched.step()


def test_docstring_examples():
    # the package and each of its modules (fastgd/lr_scheduler/*.py)
    modules = [fls] + [importlib.import_module(f"fastgd.lr_scheduler.{m.name}")
                       for m in pkgutil.iter_modules(fls.__path__)]
    results = [doctest.testmod(m, optionflags=doctest.ELLIPSIS) for m in modules]
    result = doctest.TestResults(sum(r.failed for r in results),
                                 sum(r.attempted for r in results))
    assert result.attempted > 50 and result.failed == 0
