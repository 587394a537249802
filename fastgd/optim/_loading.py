"""Loading a saved optimizer state: a saved group's keys (refusing another optimizer's
state dict) and each parameter's saved state, checked and copied before anything is
replaced (:meth:`fastgd.optim.Optimizer.load_state_dict`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from fastgd.optim.spec import OptimizerSpec
from fastgd.reference.lowp import is_low_precision

__all__ = ["check_saved_group_keys", "loaded_state", "loaded_step"]


def check_saved_group_keys(spec: OptimizerSpec, k: int, saved: Mapping) -> None:
    """A saved group of another optimizer is refused: it must hold every hyperparameter
    of this one (but those torch's state dicts lack, which keep their defaults) and no
    hyperparameter of another optimizer of the registry that this one lacks."""
    ours = spec.hyperparameter_names
    optional = spec.optional_on_load
    missing = [h for h in ours if h not in saved and h not in optional]
    foreign = sorted(key for key in saved if isinstance(key, str)
                     and key in _all_hyperparameters() and key not in ours)
    if missing or foreign:
        what = (f"lacks {', '.join(missing)}" if missing else
                f"has {', '.join(foreign)}, which {spec.name} does not take")
        raise ValueError(f"saved parameter group {k} {what}: not a state dict of "
                         f"{spec.name} (of another optimizer?)")

def loaded_state(spec: OptimizerSpec, index: int, group: Mapping, p: np.ndarray,
                 saved: Any) -> dict:
    """A saved state of parameter ``index``, checked and copied. It may hold any of the
    row's buffers whatever the group's options (a state saved under other options, as
    torch allows), but where the buffers depend on the parameter (Adafactor's on its
    number of dimensions) only those of this parameter."""
    if not isinstance(saved, Mapping):
        raise TypeError(f"state of parameter {index} must be a dict, got "
                        f"{type(saved).__name__}")
    holds = spec.buffers(group, p)
    by_name = {b.name: b for b in (spec.state if spec.parameter_scalars is None
                                   else holds)}
    state: dict[str, Any] = {}
    for key, value in saved.items():
        if key == "step" and spec.counts_steps:
            state["step"] = loaded_step(index, value)
        elif key in spec.scalar_state:
            state[key] = _loaded_real(index, key, value)
        elif key in by_name:
            arr = np.asarray(value)
            if not np.issubdtype(arr.dtype, np.floating):
                raise TypeError(f"state of parameter {index}: {key} has dtype "
                                f"{arr.dtype}, expected floating point")
            shape_rule = by_name[key].shape
            if shape_rule is not None and arr.shape != shape_rule(p.shape):
                raise ValueError(f"state of parameter {index}: {key} has shape "
                                 f"{arr.shape}, expected {shape_rule(p.shape)} for a "
                                 f"parameter of shape {p.shape}")
            if shape_rule is None and arr.shape != p.shape:
                raise ValueError(f"state of parameter {index}: {key} has shape "
                                 f"{arr.shape}, but the parameter has shape {p.shape}")
            state[key] = np.array(arr, dtype=_state_dtype(p.dtype), order="C", copy=True)
        elif spec.parameter_scalars is not None:
            names = ((["step"] if spec.counts_steps else [])
                     + list(spec.scalar_state) + [b.name for b in holds])
            raise ValueError(f"state of parameter {index}: unexpected entry {key!r} for "
                             f"{spec.name} with a parameter of shape {p.shape} (its "
                             f"state is {', '.join(names)})")
        else:
            raise ValueError(f"state of parameter {index}: unexpected entry {key!r} for "
                             f"{spec.name}")
    missing = [b.name for b in holds if b.name not in state and not b.from_first_grad]
    missing += [name for name in spec.scalar_state if name not in state]
    if spec.counts_steps and "step" not in state:
        missing.insert(0, "step")
    if missing and state:
        raise ValueError(f"state of parameter {index} lacks {', '.join(missing)}")
    return state


def _state_dtype(dtype: np.dtype) -> np.dtype:
    """float32 for a bfloat16 or float16 parameter, its own dtype otherwise."""
    return np.dtype(np.float32) if is_low_precision(dtype) else dtype


def _all_hyperparameters() -> frozenset[str]:
    """Every hyperparameter name of the registry: a saved group holding one its optimizer
    does not take comes from another optimizer."""
    from fastgd.optim.registry import OPTIMIZERS  # the registry imports the rule modules

    return frozenset(h for spec in OPTIMIZERS.values() for h in spec.hyperparameter_names)


def loaded_step(index: int, value: Any) -> int:
    """A saved step count: a whole number >= 0 (a 0-d array, as torch saves it, is fine)."""
    arr = np.asarray(value)
    if arr.shape != () or not (np.issubdtype(arr.dtype, np.integer)
                               or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"state of parameter {index}: step must be a number, got {value!r}")
    step = float(arr)
    if not (0 <= step < 2**53 and step == int(step)):
        raise ValueError(f"state of parameter {index}: step must be a non-negative integer, "
                         f"got {value!r}")
    return int(step)


def _loaded_real(index: int, key: str, value: Any) -> float:
    """A saved real-valued state entry (a number, or a 0-d array as torch saves it)."""
    arr = np.asarray(value)
    if arr.shape != () or not (np.issubdtype(arr.dtype, np.integer)
                               or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"state of parameter {index}: {key} must be a real number, got "
                        f"{value!r}")
    return float(arr)
