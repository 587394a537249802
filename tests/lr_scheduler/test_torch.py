"""fastgd.lr_scheduler.torch (the step-wise schedulers): step(epoch) with torch's closed
forms, and LambdaLR's state dict of callable objects."""

from __future__ import annotations

import warnings

import pytest
from lr_scheduler._cases import (
    CASES,
    Warmup,
    _assert_same,
    _opt_step,
    _optimizer,
    _start,
    _step_both,
    half_life,
    needs_torch,
)

from fastgd import lr_scheduler as fls

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
