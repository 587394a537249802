"""NAdam: torch.optim.NAdam's row and its plan (the momentum schedule, mu_product in float32)."""

from __future__ import annotations

import numpy as np

from fastgd.optim._planning import buckets, state_of, stepwise
from fastgd.optim.optimizer import make_class
from fastgd.optim.spec import (
    EPS,
    LR,
    MAXIMIZE,
    WD,
    OptimizerSpec,
    StateBuffer,
    at_least_zero,
    beta_rule,
    hyper,
)
from fastgd.reference._common import bias_correction

SPEC = OptimizerSpec(
    name="NAdam",
    kernel="nadam",
    matches="torch.optim.NAdam",
    summary="NAdam: Adam with Nesterov momentum and Dozat's momentum schedule "
            "mu_t = beta1 * (1 - 0.5 * 0.96**(t * momentum_decay)).",
    hyperparameters=(
        hyper("lr", 2e-3, "learning rate"),
        hyper("betas", (0.9, 0.999), "decay rates of the first and second moment averages"),
        hyper("eps", 1e-8, "added to the root of the bias-corrected second moment"),
        hyper("weight_decay", 0.0, "weight decay: an L2 term in the gradient, or decoupled"),
        hyper("momentum_decay", 4e-3, "momentum schedule decay (psi)"),
        hyper("decoupled_weight_decay", False, "decay the weights directly (NAdamW) instead of "
           "L2"),
        MAXIMIZE,
    ),
    rules=(
        LR, EPS, beta_rule(0), beta_rule(1), WD,
        at_least_zero("momentum_decay", "momentum_decay value"),
    ),
    state=(StateBuffer("exp_avg"), StateBuffer("exp_avg_sq")),
    # the product of the momentum schedule so far, kept rounded to float32 (as torch's
    # float32 tensor; see _plan_nadam)
    scalar_state={"mu_product": lambda group: 1.0},
)


def _float32_product(product: float, factor: float) -> float:
    """``product * factor`` as torch computes ``mu_product *= mu`` on its float32 tensor:
    both rounded to float32, multiplied in float32 (checked against torch over thousands of
    steps)."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        return float(np.float32(product) * np.float32(factor))


def _plan_nadam(opt, group, items, needed):
    # torch keeps mu_product in a float32 tensor (torch's "scalar dtype": float32 unless
    # torch's default dtype is float64) and reads it back as a Python float: the product is
    # rounded to float32 here after every step, which reproduces torch's value exactly.
    # What fastgd cannot follow: under torch.set_default_dtype(torch.float64) torch keeps
    # the product in float64, and torch's load_state_dict casts it to the parameter's
    # dtype (float64 for float64 parameters) before it goes on multiplying. There the
    # product differs by its accumulated float32 rounding (relative 2e-7 after 60 steps,
    # measured) and the parameters by at most 7e-10 absolute in the tests, which allow
    # 1e-8 (tests/test_adam_family_torch.py).
    beta1, beta2 = (float(b) for b in group["betas"])
    psi = float(group["momentum_decay"])
    start = opt.spec.scalar_state["mu_product"](group)

    def by_step(states, step):
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * psi)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * psi)))
        product = _float32_product(states[0]["mu_product"], mu)
        return "nadam", ([s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states]), dict(
            lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
            weight_decay=group["weight_decay"], bias_correction2=bias_correction(beta2, step),
            mu=mu, mu_next=mu_next, mu_product=product,
            decoupled_weight_decay=group["decoupled_weight_decay"], maximize=group["maximize"])

    # one call per value of mu_product too (they differ only after the schedule changed
    # while some parameters had no gradient, or after loading such a state)
    products = [((state_of(opt, i) or {}).get("mu_product", start)) for i, _, _ in items]
    calls = []
    for _, bucket in buckets(items, products):
        for call in stepwise(opt, group, bucket, needed, by_step):
            for _, entries in call.updates:
                entries["mu_product"] = call.scalars["mu_product"]
            calls.append(call)
    return calls


NAdam = make_class(SPEC, _plan_nadam)
