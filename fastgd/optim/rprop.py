"""Rprop: torch.optim.Rprop's row and its plan."""

from __future__ import annotations

import math

from fastgd.optim._planning import stepwise
from fastgd.optim.optimizer import make_class
from fastgd.optim.spec import (
    LR,
    MAXIMIZE,
    OptimizerSpec,
    Rule,
    StateBuffer,
    hyper,
    pair,
    pair_of_reals,
)

SPEC = OptimizerSpec(
    name="Rprop",
    kernel="rprop",
    matches="torch.optim.Rprop",
    summary="Rprop: per-coordinate step sizes grown or shrunk by the sign agreement of "
            "successive gradients; the step is the sign of the gradient.",
    hyperparameters=(
        hyper("lr", 1e-2, "learning rate: the starting step size of every coordinate"),
        pair("etas", "(etaminus, etaplus): step size factors when the gradient changes "
              "sign or keeps it", (0.5, 1.2)),
        pair("step_sizes", "(minimal, maximal) step size", (1e-6, 50)),
        MAXIMIZE,
    ),
    rules=(
        pair_of_reals("etas"),
        pair_of_reals("step_sizes"),
        LR,
        Rule(lambda g: 0.0 < g["etas"][0] < 1.0 < g["etas"][1],
             "Invalid eta values: {etas[0]}, {etas[1]}"),
        # torch does not validate step_sizes; NaN is rejected here, as NaN is everywhere
        Rule(lambda g: not any(math.isnan(x) for x in g["step_sizes"]),
             "Invalid step_sizes values: {step_sizes[0]}, {step_sizes[1]}"),
    ),
    state=(StateBuffer("prev"), StateBuffer("step_size", fill="lr")),
)


def _plan_rprop(opt, group, items, needed):
    etaminus, etaplus = group["etas"]
    step_size_min, step_size_max = group["step_sizes"]

    def by_step(states, step):
        return "rprop", ([s["prev"] for s in states], [s["step_size"] for s in states]), dict(
            etaminus=etaminus, etaplus=etaplus, step_size_min=step_size_min,
            step_size_max=step_size_max, maximize=group["maximize"])

    return stepwise(opt, group, items, needed, by_step)


Rprop = make_class(SPEC, _plan_rprop)
