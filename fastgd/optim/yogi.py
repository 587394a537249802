"""Yogi: optax.yogi's row and its plan."""

from __future__ import annotations

from fastgd.optim._planning import adam_like_plan
from fastgd.optim.optimizer import make_class
from fastgd.optim.spec import (
    BETAS_RULES,
    EPS,
    LR,
    MAXIMIZE,
    OptimizerSpec,
    StateBuffer,
    at_least_zero,
    hyper,
)

SPEC = OptimizerSpec(
    name="Yogi",
    kernel="yogi",
    matches="optax.yogi",
    summary="Yogi: Adam with an additive second-moment update, v -= (1 - beta2) * "
            "sign(v - g^2) * g^2.",
    hyperparameters=(
        hyper("lr", 1e-2, "learning rate"),
        hyper("betas", (0.9, 0.999), "decay rates of the first and second moment estimates"),
        hyper("eps", 1e-3, "added to the bias-corrected root of the second moment"),
        hyper("initial_accumulator_value", 1e-6, "starting value of both moments (as optax)"),
        MAXIMIZE,
    ),
    rules=(LR, EPS, *BETAS_RULES,
           at_least_zero("initial_accumulator_value", "initial_accumulator_value value")),
    state=(StateBuffer("exp_avg", fill="initial_accumulator_value"),
           StateBuffer("exp_avg_sq", fill="initial_accumulator_value")),
)


_plan_yogi = adam_like_plan("yogi", ("exp_avg", "exp_avg_sq"), ("eps",))


Yogi = make_class(SPEC, _plan_yogi)
