"""Adadelta: torch.optim.Adadelta's row and its plan."""

from __future__ import annotations

from fastgd.optim._planning import stepwise
from fastgd.optim.optimizer import make_class
from fastgd.optim.spec import EPS, LR, MAXIMIZE, WD, OptimizerSpec, Rule, StateBuffer, hyper

SPEC = OptimizerSpec(
    name="Adadelta",
    kernel="adadelta",
    matches="torch.optim.Adadelta",
    summary="Adadelta: steps scaled by the ratio of the running roots of past squared steps "
            "and squared gradients (eps inside both roots).",
    hyperparameters=(
        hyper("lr", 1.0, "learning rate, scaling the step (not part of the accumulated steps)"),
        hyper("rho", 0.9, "decay rate of the running averages, in [0, 1]"),
        hyper("eps", 1e-6, "added inside both square roots"),
        hyper("weight_decay", 0.0, "L2 penalty added to the gradient"),
        MAXIMIZE,
    ),
    rules=(
        LR,
        Rule(lambda g: 0.0 <= g["rho"] <= 1.0, "Invalid rho value: {rho}"),
        EPS,
        WD,
    ),
    state=(StateBuffer("square_avg"), StateBuffer("acc_delta")),
)


def _plan_adadelta(opt, group, items, needed):
    def by_step(states, step):
        return "adadelta", ([s["square_avg"] for s in states],
                            [s["acc_delta"] for s in states]), dict(
            lr=group["lr"], rho=group["rho"], eps=group["eps"],
            weight_decay=group["weight_decay"], maximize=group["maximize"])

    return stepwise(opt, group, items, needed, by_step)


Adadelta = make_class(SPEC, _plan_adadelta)
