"""SGD: torch.optim.SGD's row (momentum, dampening, Nesterov) and its plan."""

from __future__ import annotations

import math

import numpy as np

from fastgd.optim._planning import Call, buckets, state_of
from fastgd.optim.optimizer import make_class
from fastgd.optim.spec import LR, MAXIMIZE, MOMENTUM, WD, OptimizerSpec, Rule, StateBuffer, hyper

# torch does not validate dampening; a NaN one is rejected here, as NaN is everywhere.
_DAMPENING_NOT_NAN = Rule(lambda g: not math.isnan(g["dampening"]),
                          "Invalid dampening value: {dampening}")

SPEC = OptimizerSpec(
    name="SGD",
    kernel="sgd",
    matches="torch.optim.SGD",
    summary="Stochastic gradient descent, with optional (Nesterov) momentum.",
    hyperparameters=(
        hyper("lr", 1e-3, "learning rate"),
        hyper("momentum", 0.0, "momentum factor"),
        hyper("dampening", 0.0, "dampening for momentum (not applied on the first step)"),
        hyper("weight_decay", 0.0, "L2 penalty added to the gradient"),
        hyper("nesterov", False, "use Nesterov momentum"),
        MAXIMIZE,
    ),
    rules=(
        LR,
        MOMENTUM,
        WD,
        _DAMPENING_NOT_NAN,
        Rule(lambda g: not g["nesterov"] or (g["momentum"] > 0 and g["dampening"] == 0),
             "Nesterov momentum requires a momentum and zero dampening"),
    ),
    state=(StateBuffer("momentum_buffer", from_first_grad=True),),
    counts_steps=False,
)


def _plan_sgd(opt, group, items, needed):
    momentum = group["momentum"]
    keys = [(p.dtype, momentum != 0 and "momentum_buffer" not in (state_of(opt, i) or ()))
            for i, p, _ in items]
    calls = []
    for (_, first_step), bucket in buckets(items, keys):
        bufs, updates = None, []
        if momentum != 0:
            bufs = [np.empty_like(p) if first_step else opt.state[i]["momentum_buffer"]
                    for i, p, _ in bucket]
            if first_step:
                updates = [(i, {"momentum_buffer": b}) for (i, _, _), b in zip(bucket, bufs)]
        lists = ([p for _, p, _ in bucket], [g for _, _, g in bucket], bufs)
        calls.append(Call("sgd", lists, dict(
            lr=group["lr"], momentum=momentum, dampening=group["dampening"],
            weight_decay=group["weight_decay"], nesterov=group["nesterov"],
            maximize=group["maximize"], first_step=first_step), updates))
    return calls


SGD = make_class(SPEC, _plan_sgd)
