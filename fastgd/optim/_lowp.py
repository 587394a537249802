"""bfloat16 and float16 parameters of the element-wise optimizers.

A step on such a parameter widens it (and its gradient, bfloat16, float16 or float32) to
a float32 copy, runs the rule's float32 kernel on the copy with the parameter's float32
state, and rounds the copy once back into the parameter: to nearest even, or for bfloat16
with ``stochastic_rounding=True`` stochastically (:mod:`fastgd.reference.lowp`). No float32
master copy is kept between steps: each step starts again from the 16-bit values.

The random numbers of the stochastic rounding are keyed on the optimizer's ``seed``, the
parameter's index and the count of steps that rounded parameters (the optimizer's
``rounding`` entry of ``state_dict()``), so a run is reproducible and the same on every
backend and thread count.
"""

from __future__ import annotations

import secrets
from typing import Any

import numpy as np

from fastgd.reference.lowp import is_low_precision, stochastic_key

__all__ = ["is_low_precision", "check_rounding_options", "check_rounding_state",
           "compute_dtype", "widened", "widen_work", "narrow_back"]


def compute_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype of the state and of the arithmetic for a parameter of ``dtype``."""
    return np.dtype(np.float32) if is_low_precision(dtype) else dtype


def check_rounding_options(stochastic_rounding: Any, seed: Any) -> dict[str, Any]:
    """The optimizer's rounding state, ``{"stochastic", "seed", "step"}``, from the
    constructor's arguments (TypeError/ValueError naming a bad one); a seed of None is
    drawn from the operating system's entropy."""
    if not isinstance(stochastic_rounding, (bool, np.bool_)):
        raise TypeError(f"stochastic_rounding must be True or False, got "
                        f"{stochastic_rounding!r}")
    if seed is None:
        seed = secrets.randbits(64)
    elif isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be None or an int, got {seed!r}")
    elif not 0 <= seed < 2**64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed!r}")
    return {"stochastic": bool(stochastic_rounding), "seed": int(seed), "step": 0}


def check_rounding_state(saved: Any) -> dict[str, Any]:
    """A saved ``rounding`` entry of a state dict, checked and copied."""
    if not isinstance(saved, dict) or set(saved) != {"stochastic", "seed", "step"}:
        raise ValueError(f"state_dict['rounding'] must be a dict with 'stochastic', 'seed' "
                         f"and 'step', got {saved!r}")
    state = check_rounding_options(saved["stochastic"], saved["seed"])
    step = saved["step"]
    if isinstance(step, (bool, np.bool_)) or not isinstance(step, (int, np.integer)) \
            or not 0 <= step < 2**63:
        raise ValueError(f"state_dict['rounding']['step'] must be an int >= 0, got {step!r}")
    state["step"] = int(step)
    return state


def widened(kernels: Any, a: np.ndarray) -> np.ndarray:
    """A float32 copy of the 16-bit array ``a`` (``a`` itself when it is float32)."""
    if a.dtype == np.float32:
        return a
    out = np.empty(a.shape, np.float32)
    kernels.lowp_widen(a, out)
    return out


def widen_work(kernels: Any, work: list) -> tuple[list, list]:
    """``work`` (``(group index, group, [(index, p, g), ...])``) with every 16-bit
    parameter and gradient replaced by a float32 copy, and the ``(index, copy, p)`` to
    round back after the step."""
    narrowing = []
    out = []
    for k, group, items in work:
        new_items = []
        for index, p, g in items:
            if p.dtype.itemsize == 2:
                p32 = widened(kernels, p)
                narrowing.append((index, p32, p))
                new_items.append((index, p32, widened(kernels, g)))
            else:
                new_items.append((index, p, g))
        out.append((k, group, new_items))
    return out, narrowing


def narrow_back(kernels: Any, rounding: dict[str, Any], narrowing: list) -> None:
    """Round each float32 copy back into its parameter (counting one rounding step)."""
    rounding["step"] += 1
    stochastic, seed, step = rounding["stochastic"], rounding["seed"], rounding["step"]
    for index, p32, p in narrowing:
        key = (stochastic_key(seed, index, step)
               if stochastic and p.dtype != np.float16 else -1)
        kernels.lowp_narrow(p32, p, key)
