"""fastgd.lr_scheduler.cyclic: CosineAnnealingWarmRestarts' fractional epochs, OneCycleLR
past its total steps, the momentum schedules of CyclicLR and OneCycleLR on every optimizer,
and their checks coming before any write."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
from lr_scheduler._cases import (
    Case,
    _assert_same,
    _flat,
    _opt_step,
    _optimizer,
    _start,
    _step_both,
    needs_torch,
)

import fastgd
from fastgd import lr_scheduler as fls


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


@pytest.mark.parametrize("name", list(fastgd.optim.registry.TABLE_OPTIMIZERS))
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
