"""Adafactor: torch.optim.Adafactor's row, its plan and its shape-dependent state."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from fastgd.optim._planning import (
    stepwise,
)
from fastgd.optim.optimizer import loaded_step, make_class
from fastgd.optim.spec import (
    MAXIMIZE,
    OptimizerSpec,
    Rule,
    StateBuffer,
    hyper,
    pair,
    pair_of_reals,
)

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
    # per parameter: row_var and col_var (two or more dimensions) or variance (fewer),
    # made by fastgd.optim's Adafactor mixin with torch's shapes
    state=(StateBuffer("row_var"), StateBuffer("col_var"), StateBuffer("variance")),
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
        part = [item for item in items if (item[1].ndim >= 2) == factored]
        if part:
            calls += stepwise(opt, group, part, _adafactor_needed(factored),
                               planner(factored))
    return calls


def _adafactor_needed(factored: bool) -> frozenset[str]:
    return frozenset(("step", "row_var", "col_var") if factored else ("step", "variance"))


def _adafactor_shapes(p: np.ndarray) -> dict[str, tuple[int, ...]]:
    """Adafactor's state arrays of ``p`` and their shapes, as torch makes them."""
    if p.ndim >= 2:
        return {"row_var": p.shape[:-1] + (1,), "col_var": p.shape[:-2] + (1, p.shape[-1])}
    return {"variance": p.shape}


class _AdafactorState:
    """Adafactor's state depends on each parameter's shape (torch's): ``row_var`` of shape
    (..., rows, 1) and ``col_var`` of shape (..., 1, cols) for a parameter of two or more
    dimensions, ``variance`` of its shape otherwise; all start at zero."""

    def _fresh_state(self, group: Mapping[str, Any], p: np.ndarray, state: Mapping) -> dict:
        fresh: dict[str, Any] = {}
        if "step" not in state:
            fresh["step"] = 0
        for name, shape in _adafactor_shapes(p).items():
            if name not in state:
                fresh[name] = np.zeros(shape, dtype=p.dtype)
        return fresh

    def _loaded_state(self, index: int, group: Mapping, p: np.ndarray, saved: Any) -> dict:
        if not isinstance(saved, Mapping):
            raise TypeError(f"state of parameter {index} must be a dict, got "
                            f"{type(saved).__name__}")
        shapes = _adafactor_shapes(p)
        state: dict[str, Any] = {}
        for key, value in saved.items():
            if key == "step":
                state["step"] = loaded_step(index, value)
            elif key in shapes:
                arr = np.asarray(value)
                if not np.issubdtype(arr.dtype, np.floating):
                    raise TypeError(f"state of parameter {index}: {key} has dtype "
                                    f"{arr.dtype}, expected floating point")
                if arr.shape != shapes[key]:
                    raise ValueError(f"state of parameter {index}: {key} has shape "
                                     f"{arr.shape}, expected {shapes[key]} for a parameter "
                                     f"of shape {p.shape}")
                state[key] = np.array(arr, dtype=p.dtype, order="C", copy=True)
            else:
                raise ValueError(f"state of parameter {index}: unexpected entry {key!r} for "
                                 f"Adafactor with a parameter of shape {p.shape} (its state "
                                 f"is step, {', '.join(shapes)})")
        missing = [name for name in ("step", *shapes) if name not in state]
        if missing and state:
            raise ValueError(f"state of parameter {index} lacks {', '.join(missing)}")
        return state


Adafactor = make_class(SPEC, _plan_adafactor, mixins=(_AdafactorState,))
