"""Adafactor: torch.optim.Adafactor's row, its plan and its shape-dependent state."""

from __future__ import annotations

import numpy as np

from fastgd.optim._planning import stepwise
from fastgd.optim.optimizer import make_class
from fastgd.optim.spec import MAXIMIZE, OptimizerSpec, Rule, StateBuffer, hyper, pair, pair_of_reals


def _factored(p: np.ndarray) -> bool:
    """Whether Adafactor factors the second moment of ``p`` (torch: two or more
    dimensions)."""
    return p.ndim >= 2


SPEC = OptimizerSpec(
    name="Adafactor",
    elementwise=False,
    plan_by_ndim=True,
    kernel="adafactor",
    matches="torch.optim.Adafactor",
    summary="Adafactor: a factored second moment (row and column means of g**2 over the "
            "last two dimensions), relative step sizes and update clipping; no momentum.",
    hyperparameters=(
        hyper("lr", 1e-2, "learning rate: the cap of the relative step min(lr, 1/sqrt(t))"),
        hyper("beta2_decay", -0.8, "the second-moment weight of step t is t**beta2_decay"),
        pair("eps", "(eps1, eps2): eps1 bounds the second moment from below (None: the "
              "machine epsilon of the parameter's dtype), eps2 the parameter scale",
              (None, 1e-3)),
        hyper("d", 1.0, "clipping threshold of the update's RMS"),
        hyper("weight_decay", 0.0, "decoupled weight decay: p <- p * (1 - lr * weight_decay)"),
        MAXIMIZE,
    ),
    rules=(
        pair_of_reals("eps", first_may_be_none=True),
        Rule(lambda g: 0.0 <= g["lr"], "Learning rate should be >= 0 but is: {lr}"),
        Rule(lambda g: 0.0 >= g["beta2_decay"], "beta2_decay should be <= 0 but is: "
             "{beta2_decay}"),
        Rule(lambda g: g["eps"][0] is None or 0.0 <= g["eps"][0],
             "epsilon1 should be >= 0 but is: {eps[0]}"),
        Rule(lambda g: 0.0 <= g["eps"][1], "epsilon2 should be >= 0 but is: {eps[1]}"),
        Rule(lambda g: 1.0 <= g["d"], "Clipping threshold d should be >= 1 but is: {d}"),
        Rule(lambda g: 0.0 <= g["weight_decay"],
             "weight_decay should be >= 0 but is: {weight_decay}"),
    ),
    # torch's state: row_var (..., rows, 1) and col_var (..., 1, cols) for a parameter of
    # two or more dimensions (the kernel's factored form), variance of its shape otherwise,
    # all plain arrays starting at zero; which of them a parameter holds is the kernel's
    # `needed` under `factored`
    state=(StateBuffer("row_var", shape=lambda shape: shape[:-1] + (1,)),
           StateBuffer("col_var", shape=lambda shape: shape[:-2] + (1, shape[-1])),
           StateBuffer("variance", shape=lambda shape: shape)),
    parameter_scalars=lambda p: {"factored": _factored(p)},
)


def _plan_adafactor(opt, group, items, needed):
    from fastgd.reference import adafactor_schedule

    eps1, eps2 = group["eps"]
    if eps1 is None:
        # torch resolves None once per group and step, from the first parameter with a
        # gradient, and uses it for the group's other parameters too
        eps1 = float(np.finfo(items[0][1].dtype).eps)
    options = dict(lr=group["lr"], eps1=eps1, eps2=eps2, d=group["d"],
                   weight_decay=group["weight_decay"], maximize=group["maximize"])

    def planner(factored):
        def by_step(states, step):
            rho, one_minus_beta2 = adafactor_schedule(group["lr"], group["beta2_decay"], step)
            if factored:
                buffers = ([s["row_var"] for s in states], [s["col_var"] for s in states],
                           None)
            else:
                buffers = (None, None, [s["variance"] for s in states])
            return "adafactor", buffers, dict(
                options, rho=rho, one_minus_beta2=one_minus_beta2, factored=factored)
        return by_step

    calls = []
    for factored in (True, False):
        part = [item for item in items if _factored(item[1]) == factored]
        if part:
            calls += stepwise(opt, group, part, opt._needed_state(group, part[0][1]),
                               planner(factored))
    return calls


Adafactor = make_class(SPEC, _plan_adafactor)
