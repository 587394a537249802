"""RMSprop: torch.optim.RMSprop's row (centered, momentum, optax's eps_in_sqrt) and its plan."""

from __future__ import annotations

from fastgd.optim._planning import stepwise
from fastgd.optim.optimizer import make_class
from fastgd.optim.spec import (
    EPS,
    LR,
    MAXIMIZE,
    MOMENTUM,
    WD,
    OptimizerSpec,
    StateBuffer,
    at_least_zero,
    hyper,
)

SPEC = OptimizerSpec(
    name="RMSprop",
    kernel="rmsprop",
    matches="torch.optim.RMSprop",
    summary="RMSprop: steps scaled by a running root mean square (eps outside the root, "
            "or inside with eps_in_sqrt=True).",
    hyperparameters=(
        hyper("lr", 1e-2, "learning rate"),
        hyper("alpha", 0.99, "smoothing constant of the squared-gradient average"),
        hyper("eps", 1e-8, "added to the root of the average"),
        hyper("weight_decay", 0.0, "L2 penalty added to the gradient"),
        hyper("momentum", 0.0, "momentum factor"),
        hyper("centered", False, "normalise by the estimated variance of the gradient"),
        MAXIMIZE,
        # not a torch.optim.RMSprop argument
        hyper("eps_in_sqrt", False, "False: eps added outside the square root, sqrt(v) + eps "
           "(torch.optim.RMSprop, the default); True: inside, sqrt(v + eps) (optax.rmsprop's "
           "default form, with its initial_scale=0 and bias_correction=False)",
           keyword_only=True),
    ),
    rules=(
        LR,
        EPS,
        MOMENTUM,
        WD,
        at_least_zero("alpha", "alpha value"),
    ),
    state=(
        StateBuffer("square_avg"),
        StateBuffer("momentum_buffer"),
        StateBuffer("grad_avg"),
    ),
    optional_on_load=frozenset({"eps_in_sqrt"}),
)


def _plan_rmsprop(opt, group, items, needed):
    centered, momentum = group["centered"], group["momentum"]

    def by_step(states, step):
        buffers = ([s["square_avg"] for s in states],
                   [s["grad_avg"] for s in states] if centered else None,
                   [s["momentum_buffer"] for s in states] if momentum > 0 else None)
        return "rmsprop", buffers, dict(
            lr=group["lr"], alpha=group["alpha"], eps=group["eps"],
            weight_decay=group["weight_decay"], momentum=momentum, centered=centered,
            maximize=group["maximize"], eps_in_sqrt=group["eps_in_sqrt"])

    return stepwise(opt, group, items, needed, by_step)


RMSprop = make_class(SPEC, _plan_rmsprop)
