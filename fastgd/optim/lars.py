"""LARS: optax.lars's row (per-tensor trust ratio) and its plan."""

from __future__ import annotations

from fastgd.optim._planning import stepless
from fastgd.optim.optimizer import make_class
from fastgd.optim.spec import (
    EPS,
    LR,
    MAXIMIZE,
    MOMENTUM,
    WD,
    OptimizerSpec,
    Rule,
    StateBuffer,
    hyper,
)

SPEC = OptimizerSpec(
    name="LARS",
    elementwise=False,
    kernel="lars",
    matches="optax.lars",
    summary="LARS: SGD with momentum, each tensor's step scaled by "
            "trust_coefficient * ||p|| / (||g + wd p|| + eps); lr applied before the momentum.",
    hyperparameters=(
        hyper("lr", 1.0, "learning rate (applied before the momentum, as in optax and the paper)"),
        hyper("momentum", 0.9, "momentum factor (0: no buffer)"),
        hyper("weight_decay", 0.0, "L2 term added to the gradient before the trust ratio"),
        hyper("trust_coefficient", 1e-3, "scale of the trust ratio"),
        hyper("eps", 0.0, "added to the norm of the update in the trust ratio"),
        hyper("nesterov", False, "use Nesterov momentum"),
        MAXIMIZE,
    ),
    rules=(
        LR,
        MOMENTUM,
        WD,
        Rule(lambda g: 0.0 < g["trust_coefficient"],
             "Invalid trust_coefficient value: {trust_coefficient}"),
        EPS,
        Rule(lambda g: not g["nesterov"] or g["momentum"] > 0,
             "Nesterov momentum requires a momentum"),
    ),
    state=(StateBuffer("momentum_buffer"),),
    counts_steps=False,
)


def _plan_lars(opt, group, items, needed):
    momentum = group["momentum"]
    return stepless(opt, group, items, needed, "lars",
                     ("momentum_buffer" if momentum != 0 else None,), dict(
                         lr=group["lr"], momentum=momentum,
                         weight_decay=group["weight_decay"],
                         trust_coefficient=group["trust_coefficient"], eps=group["eps"],
                         nesterov=group["nesterov"], maximize=group["maximize"]))


LARS = make_class(SPEC, _plan_lars)
