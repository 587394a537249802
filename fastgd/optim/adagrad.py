"""Adagrad: torch.optim.Adagrad's row and its plan (the decayed learning rate per step)."""

from __future__ import annotations

from fastgd.optim._planning import stepwise
from fastgd.optim.optimizer import make_class
from fastgd.optim.spec import (
    EPS,
    LR,
    MAXIMIZE,
    WD,
    OptimizerSpec,
    StateBuffer,
    at_least_zero,
    hyper,
)

SPEC = OptimizerSpec(
    name="Adagrad",
    kernel="adagrad",
    matches="torch.optim.Adagrad",
    summary="Adagrad: per-coordinate steps scaled by the root of the summed squared gradients.",
    hyperparameters=(
        hyper("lr", 1e-2, "learning rate"),
        hyper("lr_decay", 0.0, "learning-rate decay: lr / (1 + (t - 1) * lr_decay)"),
        hyper("weight_decay", 0.0, "L2 penalty added to the gradient"),
        hyper("initial_accumulator_value", 0.0, "starting value of the sum of squares"),
        hyper("eps", 1e-10, "added to the root of the sum of squares"),
        MAXIMIZE,
    ),
    rules=(
        LR,
        at_least_zero("lr_decay", "lr_decay value"),
        WD,
        at_least_zero("initial_accumulator_value", "initial_accumulator_value value"),
        EPS,
    ),
    state=(StateBuffer("sum", fill="initial_accumulator_value", role="state_sum"),),
    eager_state=True,
)


def _plan_adagrad(opt, group, items, needed):
    def by_step(states, step):
        clr = float(group["lr"]) / (1 + (step - 1) * float(group["lr_decay"]))
        return "adagrad", ([s["sum"] for s in states],), dict(
            clr=clr, eps=group["eps"], weight_decay=group["weight_decay"],
            maximize=group["maximize"])

    return stepwise(opt, group, items, needed, by_step)


Adagrad = make_class(SPEC, _plan_adagrad)
