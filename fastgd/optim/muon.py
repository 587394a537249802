"""Muon: torch.optim.Muon's row (2-D parameters only), its plan and its checks.

Muon's step is a matrix iteration, not an element-wise kernel (``kernel_table=False``):
each parameter's call runs :func:`fastgd.reference.muon.muon` — NumPy's matrix products
(BLAS) for the Newton-Schulz iteration, NumPy for the momentum and the update — the same
on every backend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from fastgd.optim._planning import Call, MixinBase, state_or_fresh
from fastgd.optim.optimizer import Optimizer, make_class
from fastgd.optim.spec import Hyperparameter, OptimizerSpec, Rule, StateBuffer, hyper, not_nan
from fastgd.reference._checks import real
from fastgd.reference.muon import ADJUST_LR_FNS, NS_DTYPES, muon


def _three_reals(group: Mapping[str, Any]) -> bool:
    value = group["ns_coefficients"]
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        raise ValueError(f"Coefficients must be a tuple of exactly 3 values, got {value!r}")
    for k, x in enumerate(value):
        real(f"ns_coefficients[{k}]", x)
    return True


def _choice(name: str, choices: tuple, message: str) -> Rule:
    def ok(group: Mapping[str, Any]) -> bool:
        value = group[name]
        return (value is None or isinstance(value, str)) and value in choices

    return Rule(ok, message)


SPEC = OptimizerSpec(
    name="Muon",
    kernel="muon",
    matches="torch.optim.Muon",
    summary="Muon: momentum orthogonalised by a Newton-Schulz iteration, for 2-D parameters.",
    hyperparameters=(
        hyper("lr", 1e-3, "learning rate"),
        hyper("weight_decay", 0.1, "decoupled weight decay (the parameter is scaled by "
                                   "1 - lr * weight_decay)"),
        hyper("momentum", 0.95, "momentum factor"),
        hyper("nesterov", True, "use Nesterov momentum"),
        Hyperparameter("ns_coefficients", (3.4445, -4.775, 2.0315), "tuple",
                       "the coefficients (a, b, c) of the quintic Newton-Schulz iteration"),
        hyper("eps", 1e-7, "floor of the norm the update is divided by"),
        hyper("ns_steps", 5, "number of Newton-Schulz iterations (0 to 99)"),
        Hyperparameter("adjust_lr_fn", None, "choice",
                       "scaling of lr to the matrix's shape (A, B): None or 'original' "
                       "(sqrt(max(1, A/B))), 'match_rms_adamw' (0.2 sqrt(max(A, B)))"),
        Hyperparameter("ns_dtype", "bfloat16", "choice",
                       "element type of the Newton-Schulz iteration: 'bfloat16' (as torch; "
                       "emulated with float32 products rounded to bfloat16) or 'float32'",
                       keyword_only=True),
    ),
    rules=(
        Rule(lambda g: 0.0 <= g["lr"], "Learning rate should be >= 0 but is: {lr}"),
        Rule(lambda g: 0.0 <= g["momentum"], "momentum should be >= 0 but is: {momentum}"),
        Rule(lambda g: 0.0 <= g["weight_decay"],
             "weight decay should be >= 0 but is: {weight_decay}"),
        _choice("adjust_lr_fn", ADJUST_LR_FNS,
                "Adjust learning rate function {adjust_lr_fn} is not supported"),
        Rule(_three_reals, ""),
        not_nan("eps"),
        Rule(lambda g: math.isfinite(g["ns_steps"]) and g["ns_steps"] == int(g["ns_steps"])
             and g["ns_steps"] >= 0, "Invalid ns_steps value: {ns_steps}"),
        Rule(lambda g: g["ns_steps"] < 100,
             "Number of steps must be less than 100 for computational efficiency"),
        _choice("ns_dtype", NS_DTYPES,
                "ns_dtype must be 'bfloat16' or 'float32', got {ns_dtype!r}"),
    ),
    state=(StateBuffer("momentum_buffer"),),
    counts_steps=False,
    elementwise=False,
    optional_on_load=frozenset({"ns_dtype"}),
    kernel_table=False,
    example=(
        "w = np.random.default_rng(0).standard_normal((4, 3))",
        "opt = fastgd.Muon([w], lr=0.02)",
        "for _ in range(3):",
        "    opt.step([2 * w])  # the gradient of sum(w**2); w is updated in place",
    ),
)


class _MuonCall(Call):
    """The Muon steps of a group's tensors (one reference call each)."""

    __slots__ = ()

    def run(self, kernels: Any, check_only: bool = False) -> None:
        if check_only:  # shapes and dtypes were checked with the gradients
            return
        for p, g, buf in zip(*self.lists):
            muon(p, g, buf, **self.scalars)


def _plan_muon(opt, group, items, needed):
    params, grads, bufs, updates = [], [], [], []
    for i, p, g in items:
        state, fresh = state_or_fresh(opt, group, i, p, needed)
        params.append(p)
        grads.append(g)
        bufs.append(state["momentum_buffer"])
        if fresh:
            updates.append((i, fresh))
    scalars = {name: group[name] for name in SPEC.hyperparameter_names}
    return [_MuonCall("muon", (params, grads, bufs), scalars, updates)]


class _MuonMethods(MixinBase):
    """Muon's check of its parameters: 2-D real arrays only (torch's errors)."""

    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        params = param_group.get("params", []) if isinstance(param_group, Mapping) else []
        if not isinstance(params, (np.ndarray, list, tuple, set, frozenset)):
            try:  # an iterator: read it once, here
                params = list(params)
            except TypeError:
                params = []
            else:
                param_group = {**param_group, "params": params}
        for p in [params] if isinstance(params, np.ndarray) else params:
            if isinstance(p, np.ndarray) and np.iscomplexobj(p):
                raise RuntimeError("Muon does not support complex parameters")
            if isinstance(p, np.ndarray) and p.ndim != 2:
                raise ValueError(f"Muon only supports 2D parameters whereas we found a "
                                 f"parameter with size: {p.shape}")
        Optimizer.add_param_group(self, param_group)  # type: ignore[arg-type]


Muon = make_class(SPEC, _plan_muon, (_MuonMethods,))
