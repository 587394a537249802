"""Adamax: torch.optim.Adamax's row and its plan."""

from __future__ import annotations

from fastgd.optim._planning import stepwise
from fastgd.optim.optimizer import make_class
from fastgd.optim.spec import EPS, LR, MAXIMIZE, WD, OptimizerSpec, StateBuffer, beta_rule, hyper
from fastgd.reference._common import bias_correction

SPEC = OptimizerSpec(
    name="Adamax",
    kernel="adamax",
    matches="torch.optim.Adamax",
    summary="Adamax: Adam with the running maximum of ``|g|`` (eps inside the maximum) in place "
            "of the root of the second moment.",
    hyperparameters=(
        hyper("lr", 2e-3, "learning rate"),
        hyper("betas", (0.9, 0.999), "decay rates of the first moment and of the maximum"),
        hyper("eps", 1e-8, "added to ``|g|`` inside the maximum"),
        hyper("weight_decay", 0.0, "L2 penalty added to the gradient"),
        MAXIMIZE,
    ),
    rules=(LR, EPS, beta_rule(0), beta_rule(1), WD),
    state=(StateBuffer("exp_avg"), StateBuffer("exp_inf")),
)


def _plan_adamax(opt, group, items, needed):
    beta1, beta2 = group["betas"]

    def by_step(states, step):
        return "adamax", ([s["exp_avg"] for s in states], [s["exp_inf"] for s in states]), dict(
            lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
            weight_decay=group["weight_decay"], bias_correction1=bias_correction(beta1, step),
            maximize=group["maximize"])

    return stepwise(opt, group, items, needed, by_step)


Adamax = make_class(SPEC, _plan_adamax)
