"""Lion: optax.lion's row (torch-style arguments) and its plan."""

from __future__ import annotations

from fastgd.optim._planning import stepless
from fastgd.optim.optimizer import make_class
from fastgd.optim.spec import BETAS_RULES, LR, MAXIMIZE, WD, OptimizerSpec, StateBuffer, hyper

SPEC = OptimizerSpec(
    name="Lion",
    kernel="lion",
    matches="optax.lion",
    summary="Lion: steps of lr * sign of a momentum mix; decoupled weight decay.",
    hyperparameters=(
        hyper("lr", 1e-4, "learning rate"),
        hyper("betas", (0.9, 0.99), "decay rates: beta1 mixes the step direction, beta2 the "
                                 "stored momentum"),
        hyper("weight_decay", 0.0, "decoupled weight decay, p <- p * (1 - lr * weight_decay) "
                                "(optax.lion's default is 1e-3)"),
        MAXIMIZE,
    ),
    rules=(LR, *BETAS_RULES, WD),
    state=(StateBuffer("exp_avg"),),
    counts_steps=False,
)


def _plan_lion(opt, group, items, needed):
    beta1, beta2 = group["betas"]
    return stepless(opt, group, items, needed, "lion", ("exp_avg",), dict(
        lr=group["lr"], beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"],
        maximize=group["maximize"]))


Lion = make_class(SPEC, _plan_lion)
