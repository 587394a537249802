"""fastgd.lr_scheduler: every torch scheduler against torch.optim.lr_scheduler (skipped
without torch), step by step with exact equality of the learning rates, momenta, parameter
group entries and state dicts; scikit-learn's rules against the expressions of its source
and against SGDRegressor itself (skipped without scikit-learn)."""

from __future__ import annotations

import copy
import doctest
import importlib
import math
import pickle
import pkgutil
import re
import warnings

import numpy as np
import pytest

import fastgd
from fastgd import lr_scheduler as fls

try:
    import torch
    from torch.optim import lr_scheduler as tls
except ImportError:  # the torch comparisons are skipped
    torch = tls = None

needs_torch = pytest.mark.skipif(torch is None, reason="needs torch")

LRS = (0.1, 0.03, 0.25)  # three parameter groups, each with its own learning rate
STEPS = 120
#: The parameter-group entries a scheduler reads or writes.
SCHEDULED = ("lr", "initial_lr", "max_lr", "min_lr", "momentum", "betas", "max_momentum",
             "base_momentum")


# -- the two sides: the same factory builds fastgd's scheduler and torch's ------------------


def _optimizer(lib, name, lrs=LRS, **kwargs):
    if lib == "fastgd":
        groups = [{"params": [np.zeros(2)], "lr": lr} for lr in lrs]
        return getattr(fastgd, name)(groups, **kwargs)
    groups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    return getattr(torch.optim, name)(groups, **kwargs)


def _opt_step(opt):
    """A step that changes nothing (no gradients), as the schedulers expect one first."""
    if isinstance(opt, fastgd.Optimizer):
        opt.step([None] * sum(len(g["params"]) for g in opt.param_groups))
    else:
        opt.step()


def _assert_same(ours, theirs, osched, tsched, where=""):
    assert osched.get_last_lr() == tsched.get_last_lr(), where
    for k, (g, tg) in enumerate(zip(ours.param_groups, theirs.param_groups)):
        for key in SCHEDULED:
            assert (key in g) == (key in tg), (where, k, key)
            if key in tg:
                assert g[key] == tg[key], (where, k, key, g[key], tg[key])
                if key not in ("momentum", "betas"):  # the optimizers' defaults: 0.0 / 0
                    assert type(g[key]) is type(tg[key]), (where, k, key)
    assert osched.state_dict() == tsched.state_dict(), where


class Warmup:
    """A callable object: its __dict__ goes into LambdaLR's state dict."""

    def __init__(self, n):
        self.n = n

    def __call__(self, t):
        return min(1.0, (t + 1) / self.n)


def half_life(t):
    return 0.5 ** (t / 40)


class Case:
    def __init__(self, make, opt="SGD", opt_kwargs=None, metrics=False, resumable=True):
        self.make = make  # (module, optimizer, **kw) -> scheduler
        self.opt = opt
        self.opt_kwargs = {"momentum": 0.9} if opt_kwargs is None and opt == "SGD" else (
            opt_kwargs or {})
        self.metrics = metrics  # ReduceLROnPlateau: step(metric)
        self.resumable = resumable  # takes last_epoch


def _metric(k):
    # improves, then plateaus (with noise), improves again, plateaus...
    return 10.0 / (1 + k // 17) + 0.01 * ((k * 7919) % 13)


CASES = {
    "LambdaLR-one": Case(lambda m, o, **kw: m.LambdaLR(o, lambda t: 0.97 ** t, **kw)),
    "LambdaLR-per-group": Case(lambda m, o, **kw: m.LambdaLR(
        o, [lambda t: 1 / (1 + t), Warmup(10), half_life], **kw), opt="Adam"),
    "MultiplicativeLR-one": Case(lambda m, o, **kw: m.MultiplicativeLR(o, lambda t: 0.97,
                                                                       **kw)),
    "MultiplicativeLR-per-group": Case(lambda m, o, **kw: m.MultiplicativeLR(
        o, [lambda t: 0.99, Warmup(1000), lambda t: 1.0 if t % 5 else 0.9], **kw)),
    "StepLR-7": Case(lambda m, o, **kw: m.StepLR(o, step_size=7, gamma=0.5, **kw)),
    "StepLR-1": Case(lambda m, o, **kw: m.StepLR(o, 1, 0.97, **kw), opt="Adam"),
    "StepLR-default": Case(lambda m, o, **kw: m.StepLR(o, step_size=30, **kw)),
    "MultiStepLR-repeated": Case(lambda m, o, **kw: m.MultiStepLR(
        o, milestones=[10, 30, 30, 80], gamma=0.3, **kw)),
    "MultiStepLR-unsorted": Case(lambda m, o, **kw: m.MultiStepLR(o, [50, 5, 20], **kw)),
    "ConstantLR-default": Case(lambda m, o, **kw: m.ConstantLR(o, **kw)),
    "ConstantLR-long": Case(lambda m, o, **kw: m.ConstantLR(o, factor=0.3, total_iters=40,
                                                            **kw), opt="RMSprop"),
    "ConstantLR-one": Case(lambda m, o, **kw: m.ConstantLR(o, factor=1.0, total_iters=3,
                                                           **kw)),
    "LinearLR-default": Case(lambda m, o, **kw: m.LinearLR(o, **kw)),
    "LinearLR-down": Case(lambda m, o, **kw: m.LinearLR(o, start_factor=1.0, end_factor=0.0,
                                                        total_iters=150, **kw)),
    "LinearLR-ramp": Case(lambda m, o, **kw: m.LinearLR(o, 0.1, 0.9, 50, **kw), opt="Adam"),
    "ExponentialLR-decay": Case(lambda m, o, **kw: m.ExponentialLR(o, gamma=0.97, **kw)),
    "ExponentialLR-grow": Case(lambda m, o, **kw: m.ExponentialLR(o, 1.01, **kw),
                               opt="Adagrad"),
    "PolynomialLR-default": Case(lambda m, o, **kw: m.PolynomialLR(o, **kw)),
    "PolynomialLR-square": Case(lambda m, o, **kw: m.PolynomialLR(o, total_iters=60,
                                                                  power=2.0, **kw)),
    "PolynomialLR-root": Case(lambda m, o, **kw: m.PolynomialLR(o, 150, 0.5, **kw)),
    "CosineAnnealingLR-wraps": Case(lambda m, o, **kw: m.CosineAnnealingLR(o, T_max=10,
                                                                           **kw)),
    "CosineAnnealingLR-eta_min": Case(lambda m, o, **kw: m.CosineAnnealingLR(
        o, T_max=50, eta_min=0.01, **kw), opt="Adam"),
    "CosineAnnealingLR-odd": Case(lambda m, o, **kw: m.CosineAnnealingLR(o, 7, 1e-3, **kw)),
    "CosineAnnealingWarmRestarts-T0": Case(lambda m, o, **kw: m.CosineAnnealingWarmRestarts(
        o, T_0=10, **kw)),
    "CosineAnnealingWarmRestarts-mult": Case(
        lambda m, o, **kw: m.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=0.001,
                                                         **kw), opt="Adam"),
    "CosineAnnealingWarmRestarts-mult3": Case(
        lambda m, o, **kw: m.CosineAnnealingWarmRestarts(o, 3, 3, **kw)),
    "CyclicLR-triangular": Case(lambda m, o, **kw: m.CyclicLR(
        o, base_lr=0.01, max_lr=0.1, step_size_up=10, **kw)),
    "CyclicLR-triangular2-lists-betas": Case(lambda m, o, **kw: m.CyclicLR(
        o, base_lr=[0.01, 0.02, 0.001], max_lr=[0.1, 0.3, 0.01], step_size_up=7,
        step_size_down=4, mode="triangular2", base_momentum=[0.8, 0.85, 0.7],
        max_momentum=0.95, **kw), opt="Adam"),
    "CyclicLR-exp_range": Case(lambda m, o, **kw: m.CyclicLR(
        o, 0.001, 0.1, step_size_up=9, mode="exp_range", gamma=0.99, **kw)),
    "CyclicLR-scale_fn-iterations": Case(lambda m, o, **kw: m.CyclicLR(
        o, 0.001, 0.01, step_size_up=5, scale_fn=lambda x: 1 / (1 + x / 50),
        scale_mode="iterations", cycle_momentum=False, **kw), opt="Adagrad"),
    "CyclicLR-scale_fn-cycle-momentum": Case(lambda m, o, **kw: m.CyclicLR(
        o, 0.001, 0.01, step_size_up=6, step_size_down=12, scale_fn=lambda c: 0.8 ** c,
        **kw), opt="RMSprop", opt_kwargs={"momentum": 0.5}),
    "OneCycleLR-cos": Case(lambda m, o, **kw: m.OneCycleLR(o, max_lr=0.5,
                                                           total_steps=STEPS, **kw)),
    "OneCycleLR-linear-three-phase-betas": Case(lambda m, o, **kw: m.OneCycleLR(
        o, max_lr=[0.1, 0.2, 0.05], epochs=10, steps_per_epoch=12, pct_start=0.25,
        anneal_strategy="linear", three_phase=True, **kw), opt="Adam"),
    "OneCycleLR-no-momentum": Case(lambda m, o, **kw: m.OneCycleLR(
        o, 0.3, STEPS, cycle_momentum=False, div_factor=10.0, final_div_factor=100.0,
        pct_start=0.5, **kw), opt="Adagrad"),
    "OneCycleLR-momentum-lists": Case(lambda m, o, **kw: m.OneCycleLR(
        o, 1.0, STEPS + 5, base_momentum=[0.8, 0.7, 0.6], max_momentum=[0.99, 0.9, 0.95],
        **kw), opt="SGD", opt_kwargs={"momentum": 0.0}),
    "ReduceLROnPlateau-default": Case(lambda m, o: m.ReduceLROnPlateau(o, patience=3),
                                      metrics=True, resumable=False),
    "ReduceLROnPlateau-max-abs": Case(lambda m, o: m.ReduceLROnPlateau(
        o, mode="max", factor=0.5, patience=2, threshold=0.05, threshold_mode="abs",
        cooldown=2, min_lr=[0.01, 0.0, 0.2]), metrics=True, resumable=False),
    "ReduceLROnPlateau-eps": Case(lambda m, o: m.ReduceLROnPlateau(
        o, factor=0.9, patience=0, cooldown=1, min_lr=0.05, eps=0.004), opt="Adam",
        metrics=True, resumable=False),
    "SequentialLR-warmup-cosine": Case(lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=10), m.CosineAnnealingLR(o, 30)],
        milestones=[10]), resumable=False),
    "SequentialLR-three": Case(lambda m, o: m.SequentialLR(
        o, [m.ConstantLR(o, 0.5, 3), m.ExponentialLR(o, 0.95), m.StepLR(o, 10, 0.5)],
        milestones=[5, 40]), opt="Adam", resumable=False),
    "SequentialLR-lambda": Case(lambda m, o: m.SequentialLR(
        o, [m.LambdaLR(o, Warmup(8)), m.MultiStepLR(o, [20, 50])], milestones=[8]),
        resumable=False),
    "ChainedScheduler-two": Case(lambda m, o: m.ChainedScheduler(
        [m.ConstantLR(o, factor=0.5, total_iters=4), m.ExponentialLR(o, gamma=0.98)]),
        resumable=False),
    "ChainedScheduler-three": Case(lambda m, o: m.ChainedScheduler(
        [m.LinearLR(o, 0.2, total_iters=10), m.MultiStepLR(o, [30, 60]),
         m.CosineAnnealingLR(o, T_max=25)], optimizer=o), opt="Adam",
        resumable=False),
}
SCHEDULERS_TESTED = {name.split("-")[0] for name in CASES}


def _step_both(case, k, pairs):
    for opt, sched in pairs:
        _opt_step(opt)
        if case.metrics:
            sched.step(_metric(k))
        else:
            sched.step()


def _start(case):
    ours = _optimizer("fastgd", case.opt, **case.opt_kwargs)
    theirs = _optimizer("torch", case.opt, **case.opt_kwargs)
    return ours, theirs, case.make(fls, ours), case.make(tls, theirs)


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


CLOSED_FORM = ["LambdaLR-one", "StepLR-7", "MultiStepLR-repeated", "ConstantLR-long",
               "LinearLR-ramp", "ExponentialLR-decay", "PolynomialLR-square",
               "CosineAnnealingLR-wraps", "CosineAnnealingWarmRestarts-mult",
               "CyclicLR-triangular"]
EPOCHS = [1, 2, 3, 7, 6, 20, 21, 45, 44, 60, 0, 3, 100]


@needs_torch
@pytest.mark.parametrize("name", CLOSED_FORM)
def test_step_with_epoch_uses_torchs_closed_form(name):
    case = CASES[name]
    ours, theirs, osched, tsched = _start(case)
    for epoch in EPOCHS:
        _opt_step(ours)
        _opt_step(theirs)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            osched.step(epoch)
        if not name.startswith("CosineAnnealingWarmRestarts"):
            assert any("epoch parameter" in str(w.message) for w in caught)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tsched.step(epoch)
        _assert_same(ours, theirs, osched, tsched, f"epoch {epoch}")
    for k in range(20):  # and chained steps after them
        _step_both(case, k, [(ours, osched), (theirs, tsched)])
        _assert_same(ours, theirs, osched, tsched, f"step {k}")


@needs_torch
@pytest.mark.parametrize("mult", [1, 2])
def test_warm_restarts_fractional_epochs(mult):
    case = Case(lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=4, T_mult=mult,
                                                           eta_min=0.002))
    ours, theirs, osched, tsched = _start(case)
    iters = 7
    for epoch in range(12):
        for i in range(iters):
            for opt, sched in [(ours, osched), (theirs, tsched)]:
                _opt_step(opt)
                sched.step(epoch + i / iters)
            _assert_same(ours, theirs, osched, tsched, f"{epoch} {i}")
    with pytest.raises(ValueError, match=re.escape("Expected non-negative epoch, but got -1")):
        osched.step(-1)


@needs_torch
def test_one_cycle_past_total_steps():
    case = Case(lambda m, o: m.OneCycleLR(o, max_lr=0.5, total_steps=10))
    ours, theirs, osched, tsched = _start(case)
    for k in range(10):
        _step_both(case, k, [(ours, osched), (theirs, tsched)])
    errors = []
    for opt, sched in [(ours, osched), (theirs, tsched)]:
        _opt_step(opt)
        with pytest.raises(ValueError) as error:
            sched.step()
        errors.append(str(error.value))
    assert errors[0] == errors[1] == ("Tried to step 11 times. The specified number of total "
                                      "steps is 10")


@needs_torch
def test_plateau_after_a_group_is_added():
    for min_lr, expected in [([0.0, 0.0, 0.0], RuntimeError), (0.001, None)]:
        results = []
        for lib, module in [("fastgd", fls), ("torch", tls)]:
            opt = _optimizer(lib, "SGD")
            sched = module.ReduceLROnPlateau(opt, patience=0, min_lr=min_lr)
            extra = np.zeros(3) if lib == "fastgd" else torch.zeros(3, requires_grad=True)
            opt.add_param_group({"params": [extra], "lr": 0.5})
            sched.step(1.0)
            if expected:
                with pytest.raises(expected) as error:
                    sched.step(2.0)
                results.append(str(error.value))
            else:
                sched.step(2.0)
                results.append((sched.get_last_lr(), sched.min_lrs))
        assert results[0] == results[1]


# -- training with the schedules: the optimizers use the scheduled values -------------------


def _train(lib, name, opt_kwargs, make, steps=60, metric=False):
    rng = np.random.default_rng(7)
    shapes = [(4,), (2, 3), ()]
    start = [rng.standard_normal(s) for s in shapes]
    target = [rng.standard_normal(s) for s in shapes]
    if lib == "fastgd":
        params = [p.copy() for p in start]
        opt = getattr(fastgd, name)([{"params": params[:2]}, {"params": params[2:], "lr": 0.05}],
                                    **opt_kwargs)
        sched = make(fls, opt)
    else:
        params = [torch.tensor(p.copy(), requires_grad=True) for p in start]
        opt = getattr(torch.optim, name)([{"params": params[:2]},
                                          {"params": params[2:], "lr": 0.05}], **opt_kwargs)
        sched = make(tls, opt)
    lrs = []
    for _ in range(steps):
        if lib == "fastgd":
            grads = [p - t for p, t in zip(params, target)]
            loss = sum(float(np.sum(g * g)) for g in grads)
            opt.step(grads)
        else:
            with torch.no_grad():
                for p, t in zip(params, target):
                    p.grad = p - torch.from_numpy(t)
                loss = sum(float(torch.sum(p.grad * p.grad)) for p in params)
            opt.step()
        sched.step(loss) if metric else sched.step()
        lrs.append(sched.get_last_lr())
    values = [p if lib == "fastgd" else p.detach().numpy() for p in params]
    return values, lrs


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


@needs_torch
def test_training_with_reduce_on_plateau_matches_torch():
    def make(m, o):
        return m.ReduceLROnPlateau(o, patience=2, factor=0.5, threshold=0.2)
    ours, lrs = _train("fastgd", "SGD", {"lr": 0.01, "momentum": 0.3}, make, metric=True)
    theirs, tlrs = _train("torch", "SGD", {"lr": 0.01, "momentum": 0.3}, make, metric=True)
    assert lrs == tlrs and lrs[-1] != lrs[0]
    for p, tp in zip(ours, theirs):
        np.testing.assert_allclose(p, tp, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(fastgd.optim.registry.OPTIMIZERS))
def test_every_optimizer_takes_every_momentum_schedule(name):
    """OneCycleLR and CyclicLR on each fastgd optimizer: the learning rates are the
    schedule's (the same as on SGD), the momentum goes to ``momentum`` or ``betas[0]``,
    and the optimizer accepts each value; optimizers with neither refuse, as in torch."""
    def reference(make):
        opt = fastgd.SGD([np.zeros(2)], lr=0.01, momentum=0.9)
        sched = make(opt)
        lrs, momenta = [], []
        for _ in range(30):
            opt.step([np.ones(2)])
            sched.step()
            lrs.append(sched.get_last_lr())
            momenta.append(opt.param_groups[0]["momentum"])
        return lrs, momenta

    makers = [lambda o: fls.OneCycleLR(o, max_lr=0.01, total_steps=30),
              lambda o: fls.CyclicLR(o, 0.001, 0.01, step_size_up=4)]
    defaults = fastgd.optim.registry.OPTIMIZERS[name].defaults
    for make in makers:
        w = np.linspace(-1.0, 1.0, 6).reshape(2, 3)
        opt = getattr(fastgd, name)([w], lr=0.01)
        if "momentum" not in defaults and "betas" not in defaults:
            with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
                make(opt)
            continue
        sched = make(opt)
        key = "betas" if "betas" in defaults else "momentum"
        lrs, momenta = reference(make)
        for k in range(30):
            opt.step([w * 0.5 + 0.1])
            sched.step()
            assert sched.get_last_lr() == lrs[k]
            m = opt.param_groups[0][key]
            assert (m[0] if key == "betas" else m) == momenta[k]
        assert np.all(np.isfinite(w))


# -- validation: torch's conditions and messages ----------------------------------------------


def _flat(name, **kw):
    return lambda m, o: getattr(m, name)(o, **kw)


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


@needs_torch
def test_different_optimizers_are_refused_as_torch_does():
    messages = []
    for lib, module in [("fastgd", fls), ("torch", tls)]:
        a, b = _optimizer(lib, "SGD"), _optimizer(lib, "SGD")
        def sequential(module=module, a=a, b=b):
            return module.SequentialLR(a, [module.StepLR(a, 2), module.StepLR(b, 3)], [4])

        def chained(module=module, a=a, b=b):
            return module.ChainedScheduler([module.StepLR(a, 2), module.StepLR(b, 3)])

        for make in [sequential, chained]:
            with pytest.raises(ValueError) as caught:
                make()
            message = str(caught.value)
            assert message.endswith(", which is different from SGD.")
            messages.append(message.split(" has ")[0])  # the rest is the optimizer's repr
    assert messages[:2] == messages[2:]
    assert messages[0] == ("SequentialLR expects all schedulers to belong to the same "
                           "optimizer, but got scheduler StepLR at index 1")


NAN = float("nan")


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


@pytest.mark.parametrize("opt_name,make", [
    ("SGD", _flat("CyclicLR", base_lr=0.5, max_lr=1.0, mode="square")),
    ("Adagrad", _flat("CyclicLR", base_lr=0.5, max_lr=1.0)),
    ("SGD", _flat("CyclicLR", base_lr=0.5, max_lr=1.0, max_momentum=[0.9, 0.9])),
    ("Adagrad", _flat("OneCycleLR", max_lr=1.0, total_steps=10)),
    ("Adam", _flat("OneCycleLR", max_lr=1.0, total_steps=10, base_momentum=[0.8])),
])
def test_a_refused_scheduler_leaves_the_groups_alone(opt_name, make):
    """torch's CyclicLR and OneCycleLR write some group entries before their last checks;
    here every check comes first."""
    opt = _optimizer("fastgd", opt_name)
    before = copy.deepcopy([{k: v for k, v in g.items() if k != "params"}
                            for g in opt.param_groups])
    with pytest.raises(ValueError):
        make(fls, opt)
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


def test_callable_object_state_survives_and_functions_are_left_out():
    opt = _optimizer("fastgd", "SGD")
    warmup = Warmup(4)
    sched = fls.LambdaLR(opt, [warmup, lambda t: 1.0, half_life])
    warmup.n = 10
    state = sched.state_dict()
    assert state["lr_lambdas"] == [{"n": 10}, None, None]
    other = Warmup(4)
    fls.LambdaLR(_optimizer("fastgd", "SGD"), [other, half_life, half_life]).load_state_dict(
        state)
    assert other.n == 10


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


# -- scikit-learn's rules ------------------------------------------------------------------


def _sklearn_optimal(alpha, t, dloss_at_typw=-1.0):
    """``_plain_sgd``'s expressions (sklearn/linear_model/_sgd_fast.pyx.tp), in NumPy."""
    typw = np.sqrt(1.0 / np.sqrt(alpha))
    initial_eta0 = typw / max(1.0, dloss_at_typw)
    optimal_init = 1.0 / (initial_eta0 * alpha)
    return float(np.float64(1.0) / (alpha * (optimal_init + np.float64(t) - 1)))


@pytest.mark.parametrize("alpha", [1e-4, 1e-2, 0.37, 1.0, 3.0])
def test_optimal_is_sklearns_expression(alpha):
    opt = _optimizer("fastgd", "SGD")
    sched = fls.OptimalLR(opt, alpha=alpha)
    assert sched.t0 == 1.0 / (np.sqrt(1.0 / np.sqrt(alpha)) * alpha)
    for t in range(1, 400):
        expected = _sklearn_optimal(alpha, t)
        assert sched.get_last_lr() == [expected] * len(LRS), t
        assert [g["lr"] for g in opt.param_groups] == [expected] * len(LRS)
        _opt_step(opt)
        sched.step()


def test_optimal_resumes_with_last_epoch_and_takes_a_loss_gradient():
    opt = _optimizer("fastgd", "SGD")
    fls.OptimalLR(opt, alpha=0.01)
    sched = fls.OptimalLR(opt, alpha=0.01, last_epoch=99)  # the 101st step next
    assert sched.get_last_lr()[0] == _sklearn_optimal(0.01, 101)
    typw = math.sqrt(1.0 / math.sqrt(0.25))
    sched = fls.OptimalLR(_optimizer("fastgd", "SGD"), alpha=0.25,
                          loss_gradient=lambda y, p: 4.0 * (y - p))
    assert sched.get_last_lr()[0] == typw / (4.0 * (1.0 + typw))
    assert sched.t0 == 1.0 / (typw / (4.0 * (1.0 + typw)) * 0.25)


@pytest.mark.parametrize("power_t", [0.5, 0.25, 1.0, 0.0, 2.5])
def test_invscaling_is_sklearns_expression(power_t):
    opt = _optimizer("fastgd", "Adam")
    sched = fls.InvScalingLR(opt, power_t=power_t)
    for t in range(1, 400):
        assert sched.get_last_lr() == [eta0 / pow(float(t), power_t) for eta0 in LRS], t
        _opt_step(opt)
        sched.step()
    fresh = _optimizer("fastgd", "Adam", lrs=(1.0, 1.0, 1.0))
    again = fls.InvScalingLR(fresh, power_t=power_t)
    fresh.load_state_dict(opt.state_dict())
    again.load_state_dict(sched.state_dict())
    for pair in [(opt, sched), (fresh, again)]:
        _opt_step(pair[0])
        pair[1].step()
    assert again.get_last_lr() == sched.get_last_lr() == [eta0 / 401.0 ** power_t
                                                          for eta0 in LRS]


def test_adaptive_divides_by_five_after_n_epochs_without_improvement():
    opt = _optimizer("fastgd", "SGD", lrs=(0.01, 1e-6, 5e-6))
    sched = fls.AdaptiveLR(opt, n_iter_no_change=2, tol=0.1)
    history = []
    for loss in [1.0,    # best 1.0
                 0.95,   # 0.95 > 1.0 - 0.1: no improvement (1); best 0.95
                 0.80,   # 0.80 <= 0.85: improvement, count 0; best 0.80
                 0.75,   # no improvement (1)
                 0.72,   # no improvement (2): divide by 5 where lr > 1e-6; count 0
                 0.70,   # (1)
                 0.60]:  # 0.60 <= 0.62: improvement
        _opt_step(opt)
        sched.step(loss)
        history.append((sched.get_last_lr(), sched.no_improvement_count, sched.best))
    assert [h[1] for h in history] == [0, 1, 0, 1, 0, 1, 0]
    assert [h[2] for h in history] == [1.0, 0.95, 0.80, 0.75, 0.72, 0.70, 0.60]
    assert history[3][0] == [0.01, 1e-6, 5e-6]
    assert history[4][0] == [0.01 / 5, 1e-6, 5e-6 / 5] and not sched.should_stop


def test_adaptive_stops_when_no_rate_is_above_1e_6_and_max_mode():
    opt = _optimizer("fastgd", "SGD", lrs=(1e-6, 2e-7, 1e-6))
    sched = fls.AdaptiveLR(opt, n_iter_no_change=1, tol=0.0)
    sched.step(1.0)
    sched.step(1.0)  # 1.0 > 1.0 - 0 is false: an improvement, as in scikit-learn
    assert sched.no_improvement_count == 0
    sched.step(1.5)  # no improvement; no rate above 1e-6 to divide
    assert sched.should_stop and sched.get_last_lr() == [1e-6, 2e-7, 1e-6]
    assert sched.no_improvement_count == 1

    opt = _optimizer("fastgd", "SGD")
    sched = fls.AdaptiveLR(opt, n_iter_no_change=1, tol=0.01, mode="max")
    sched.step(0.5)                   # -inf -> 0.5: improvement
    sched.step(0.505)                 # 0.505 < 0.51: none; divide
    assert sched.get_last_lr() == [lr / 5 for lr in LRS] and sched.best == 0.505
    sched.step(0.515)                 # 0.515 >= 0.515: improvement (sklearn's strict <)
    assert sched.no_improvement_count == 0

    with pytest.raises(ValueError, match="metrics must be a finite number, got nan"):
        sched.step(NAN)
    assert sched.no_improvement_count == 0 and sched.last_epoch == 3

    opt = _optimizer("fastgd", "SGD")
    sched = fls.AdaptiveLR(opt, n_iter_no_change=1, tol=None)
    for loss in [1.0, 2.0, 3.0]:
        sched.step(loss)
    assert sched.get_last_lr() == list(LRS) and sched.no_improvement_count == 0


@pytest.mark.parametrize("make,error,message", [
    (lambda o: fls.OptimalLR(o, alpha=0.0), ValueError, "alpha must be > 0"),
    (lambda o: fls.OptimalLR(o, alpha=NAN), ValueError, "alpha must be > 0"),
    (lambda o: fls.OptimalLR(o, alpha="1"), TypeError, "alpha must be a real number"),
    (lambda o: fls.OptimalLR(o, loss_gradient=3), TypeError, "loss_gradient must be"),
    (lambda o: fls.InvScalingLR(o, power_t=-0.5), ValueError, "power_t must be"),
    (lambda o: fls.InvScalingLR(o, power_t=math.inf), ValueError, "power_t must be"),
    (lambda o: fls.InvScalingLR(o, power_t=True), TypeError, "power_t must be a real"),
    (lambda o: fls.AdaptiveLR(o, n_iter_no_change=0), ValueError, "n_iter_no_change"),
    (lambda o: fls.AdaptiveLR(o, n_iter_no_change=2.0), TypeError, "n_iter_no_change"),
    (lambda o: fls.AdaptiveLR(o, tol=-1e-3), ValueError, "tol must be"),
    (lambda o: fls.AdaptiveLR(o, mode="least"), ValueError, "mode must be"),
    (lambda o: fls.AdaptiveLR([o]), TypeError, "list is not an Optimizer"),
])
def test_sklearn_rules_validate(make, error, message):
    opt = _optimizer("fastgd", "SGD")
    with pytest.raises(error, match=re.escape(message)):
        make(opt)
    assert [g["lr"] for g in opt.param_groups] == list(LRS)
    assert all("initial_lr" not in g for g in opt.param_groups)


def _sgd_regressor_problem():
    rng = np.random.default_rng(3)
    X = rng.uniform(-0.5, 0.5, (40, 3))
    y = X @ np.array([0.5, -1.0, 0.25]) + 0.3 + 0.05 * rng.standard_normal(40)
    return X, y


def _replay_sklearn(X, y, make_sched, epochs, alpha=0.0, epoch_loss=False):
    """scikit-learn's per-sample SGD (squared error, dense, no shuffling) with fastgd.SGD:
    one step per sample, weight decay alpha on the coefficients, the loss before each
    update summed per epoch for AdaptiveLR."""
    w, b = np.zeros(X.shape[1]), np.zeros(())
    opt = fastgd.SGD([{"params": [w], "weight_decay": alpha}, {"params": [b]}], lr=0.01)
    sched = make_sched(opt)
    n = 0
    for n in range(1, epochs + 1):  # noqa: B007 (the count of epochs run is returned)
        total = 0.0
        for x_i, y_i in zip(X, y):
            p = float(np.dot(w, x_i)) + float(b)
            total += 0.5 * (y_i - p) ** 2
            dloss = p - y_i
            opt.step([dloss * x_i, np.asarray(dloss)])
            if not epoch_loss:
                sched.step()
        if epoch_loss:
            sched.step(total / len(y))
            if sched.should_stop:
                break
    return w, float(b), n


@pytest.mark.parametrize("rule", ["invscaling", "optimal", "optimal-l2", "adaptive"])
def test_matches_sklearn_sgd_regressor(rule):
    sklearn_sgd = pytest.importorskip("sklearn.linear_model")
    from sklearn.exceptions import ConvergenceWarning
    X, y = _sgd_regressor_problem()
    epochs = 60 if rule == "adaptive" else 5
    kwargs = dict(penalty=None, max_iter=epochs, tol=None, shuffle=False, eta0=0.01)
    if rule == "invscaling":
        kwargs.update(learning_rate="invscaling", power_t=0.25)
        def make(o):
            return fls.InvScalingLR(o, power_t=0.25)
        alpha = 0.0
    elif rule.startswith("optimal"):
        kwargs.update(learning_rate="optimal", alpha=0.5)
        if rule == "optimal-l2":
            kwargs.update(penalty="l2")
        def make(o):
            return fls.OptimalLR(o, alpha=0.5)
        alpha = 0.5 if rule == "optimal-l2" else 0.0  # the weight decay
    else:
        kwargs.update(learning_rate="adaptive", tol=1e-4, n_iter_no_change=3, eta0=0.05)
        def make(o):
            return fls.AdaptiveLR(o, n_iter_no_change=3, tol=1e-4)
        alpha = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = sklearn_sgd.SGDRegressor(**kwargs).fit(X, y)
    if rule == "adaptive":
        def make_adaptive(o):
            for g in o.param_groups:
                g["lr"] = 0.05
            return make(o)
        w, b, n_iter = _replay_sklearn(X, y, make_adaptive, epochs, epoch_loss=True)
        assert n_iter == reg.n_iter_ < epochs  # it stopped where scikit-learn stopped
    else:
        w, b, _ = _replay_sklearn(X, y, make, epochs, alpha=alpha)
    # the same learning rates; the updates round differently in the last bit
    np.testing.assert_allclose(w, reg.coef_, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(b, reg.intercept_[0], rtol=1e-13, atol=1e-15)
