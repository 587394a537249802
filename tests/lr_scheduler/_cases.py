"""The lr_scheduler tests' shared helpers: the same factory builds fastgd's scheduler
and torch's (torch is None without it, and the torch comparisons are skipped), the cases of
every torch scheduler, and the checks that both sides hold the same values."""

from __future__ import annotations

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


# -- training with a schedule, on either side --------------------------------------------


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


# -- a scheduler by its name and arguments, for either side ----------------------------------


def _flat(name, **kw):
    return lambda m, o: getattr(m, name)(o, **kw)


NAN = float("nan")
