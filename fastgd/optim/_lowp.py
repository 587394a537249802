"""bfloat16 and float16 parameters of the element-wise optimizers.

A step on such a parameter is specified as: widen it (and its gradient, bfloat16, float16
or float32) to a float32 copy, run the rule's float32 kernel on the copy with the
parameter's float32 state, and round the copy once back into the parameter: to nearest
even, or for bfloat16 with ``stochastic_rounding=True`` stochastically
(:mod:`fastgd.reference.lowp`). No float32 master copy is kept between steps: each step
starts again from the 16-bit values.

The plans see float32 stand-ins of the 16-bit arrays (:func:`stand_in_work`). On the
compiled backend an element-wise kernel then steps a bfloat16 parameter chunk by chunk
(a few thousand elements widened into each thread's scratch, stepped and rounded back:
no full-size copy); otherwise (NumPy and Numba backends, LAMB, LARS, Adafactor, float16)
the stand-ins are filled and rounded back after the step. Both give the same bits.

The random numbers of the stochastic rounding are keyed on the optimizer's ``seed``, the
parameter's index and the count of steps that rounded parameters (the optimizer's
``rounding`` entry of ``state_dict()``), so a run is reproducible and the same on every
backend and thread count.
"""

from __future__ import annotations

import secrets
from typing import Any

import numpy as np

from fastgd.optim._aliasing import overlapping_by_bounds
from fastgd.reference.lowp import is_low_precision, stochastic_key

__all__ = ["is_low_precision", "check_rounding_options", "check_rounding_state",
           "compute_dtype", "widened", "stand_in_work", "route", "narrow_back"]


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


class _Low:
    """A 16-bit parameter of a step: its float32 stand-ins, and whether they hold values."""

    __slots__ = ("index", "p", "g", "p32", "g32", "p_filled", "g_filled")

    def __init__(self, index: int, p: np.ndarray, g: np.ndarray) -> None:
        self.index, self.p, self.g = index, p, g
        self.p32 = np.empty(p.shape, np.float32)  # pages untouched until written
        self.g32 = g if g.dtype == np.float32 else np.empty(g.shape, np.float32)
        self.p_filled = False
        self.g_filled = g.dtype == np.float32

    def fill(self, kernels: Any) -> None:
        if not self.p_filled:
            kernels.lowp_widen(self.p, self.p32)
            self.p_filled = True
        self.fill_grad(kernels)

    def fill_grad(self, kernels: Any) -> None:
        if not self.g_filled:
            kernels.lowp_widen(self.g, self.g32)
            self.g_filled = True


def stand_in_work(opt: Any, kernels: Any, work: list,
                  nonfinite: str | None) -> tuple[list, dict[int, _Low]]:
    """``work`` (``(group index, group, [(index, p, g), ...])``) with each 16-bit parameter
    and gradient replaced by a float32 array of its shape: the plans see float32 tensors
    (float32 state, the float32 rule). A stand-in holds the values only where they are
    read: a parameter whose state is made this step (from its values), a gradient under
    ``nonfinite`` (scanned), and any the step does not run chunk by chunk
    (:func:`route`). A gradient over a 16-bit parameter's memory is copied first."""
    params16 = [p for *_, items in work for _, p, _ in items if p.dtype.itemsize == 2]
    grads = [g for *_, items in work for _, _, g in items]
    overlapping = overlapping_by_bounds(grads, params16)
    low: dict[int, _Low] = {}
    out, position = [], 0
    for k, group, items in work:
        needed = opt._needed[k]
        new_items = []
        for index, p, g in items:
            if position in overlapping:
                g = g.copy()
            position += 1
            if p.dtype.itemsize != 2:
                new_items.append((index, p, g))
                continue
            item = _Low(index, p, g)
            state = opt.state.get(index)
            if not (type(state) is dict and needed <= state.keys()):
                item.fill(kernels)  # its state starts from the parameter (ASGD's ax, ...)
            elif nonfinite is not None:
                item.fill_grad(kernels)
            low[id(item.p32)] = item
            new_items.append((index, item.p32, item.g32))
        out.append((k, group, new_items))
    return out, low


def route(kernels: Any, calls: list, low: dict[int, _Low],
          rounding: dict[str, Any]) -> list[tuple[_Low, int]]:
    """Give each call over a 16-bit parameter what it runs on: on a backend that steps
    bfloat16 parameters chunk by chunk (the compiled core's ``LOWP_CHUNKED``) and an
    element-wise kernel, the parameter itself (``call.lowp``); otherwise its filled float32
    copy. Returns the copies to round back after the step, with their keys."""
    step = rounding["step"] + 1
    stochastic, seed = rounding["stochastic"], rounding["seed"]
    chunked = getattr(kernels, "LOWP_CHUNKED", False)
    narrowing, seen = [], set()
    for call in calls:
        firsts = call.lists[0]
        if not any(id(a) in low for a in firsts):
            continue
        elementwise = chunked and getattr(getattr(kernels, call.entry), "elementwise", False)
        entries: list = []
        for a in firsts:
            item = low.get(id(a))
            if item is None or id(a) in seen:
                entries.append(None)
                continue
            seen.add(id(a))
            bf16 = item.p.dtype != np.float16
            key = (stochastic_key(seed, item.index, step) if stochastic and bf16 else -1)
            if elementwise and bf16:
                grad = item.g if item.g.dtype != np.float16 and not item.g_filled else item.g32
                if grad is item.g32:
                    item.fill_grad(kernels)
                entries.append((item.p, grad, key))
            else:
                item.fill(kernels)
                narrowing.append((item, key))
                entries.append(None)
        if any(e is not None for e in entries):
            call.lowp = entries
    for key_id, item in low.items():  # a stand-in no call runs on: as a float32 copy
        if key_id not in seen:
            item.fill(kernels)
            bf16 = item.p.dtype != np.float16
            narrowing.append((item, stochastic_key(seed, item.index, step)
                              if stochastic and bf16 else -1))
    return narrowing


def narrow_back(kernels: Any, rounding: dict[str, Any],
                narrowing: list[tuple[_Low, int]]) -> None:
    """After the step's calls: round each float32 copy back into its parameter and count
    the rounding step."""
    rounding["step"] += 1
    for item, key in narrowing:
        kernels.lowp_narrow(item.p32, item.p, key)
