"""AdaBelief: optax.adabelief's row and its plan."""

from __future__ import annotations

from fastgd.optim._planning import adam_like_plan
from fastgd.optim.optimizer import make_class
from fastgd.optim.spec import (
    BETAS_RULES,
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
    name="AdaBelief",
    kernel="adabelief",
    matches="optax.adabelief",
    summary="AdaBelief: Adam with the variance of the gradient around its average "
            "(no rectification); decoupled weight decay.",
    hyperparameters=(
        hyper("lr", 1e-3, "learning rate"),
        hyper("betas", (0.9, 0.999), "decay rates of the first moment and of the squared "
                                  "prediction error"),
        hyper("eps", 1e-16, "added to the bias-corrected root of the second moment"),
        hyper("eps_root", 1e-16, "added to the second moment at every step (kept in the state)"),
        hyper("weight_decay", 0.0, "decoupled weight decay, p <- p * (1 - lr * weight_decay), "
                                "as AdamW"),
        MAXIMIZE,
    ),
    rules=(LR, EPS, at_least_zero("eps_root", "eps_root value"), *BETAS_RULES, WD),
    state=(StateBuffer("exp_avg"), StateBuffer("exp_avg_var")),
)


_plan_adabelief = adam_like_plan("adabelief", ("exp_avg", "exp_avg_var"),
                                 ("eps", "eps_root", "weight_decay"))


AdaBelief = make_class(SPEC, _plan_adabelief)
