"""The optimizer's side of the compiled backend's cached step (``FastStep``).

The compiled core never reads an optimizer's attributes or calls its methods. The
optimizer hands it plain data: the groups' list and the state dict (compared by identity
at every step), the hyperparameter names, and whether a rule plans by the tensor's
number of dimensions. When the core needs a step's scalars (the first step, a changed
hyperparameter, a rule without native step formulas), it answers with the tensors to
plan, the first of each native call; they are planned here, with the optimizer's own
plan, and handed back as ``(kernel, lists, scalars, entries)`` tuples. Anything unusual
sends the step down the general path of :meth:`Optimizer.step`, which gives the same
bits and the same errors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["RETRY_EVERY", "build", "run"]

#: After repeated fallbacks of the cached step, rebuild it only every this many steps.
RETRY_EVERY = 64


def _plan_first(opt: Any, request: tuple) -> tuple | None:
    """The plan of one tensor, as plain data: ``(kernel, lists, scalars, entries)`` with
    ``entries`` the non-array state entries the step commits; None when the plan raises,
    makes more than one call, or would create state or commit anything else."""
    k, index, p, g = request
    try:
        calls = opt._plan(opt, opt.param_groups[k], [(index, p, g)], opt._needed[k])
    except Exception:
        return None
    if len(calls) != 1:
        return None
    call = calls[0]
    entries = _steady_updates(call.updates, index, opt.state.get(index))
    if entries is None:
        return None
    return call.kernel, tuple(call.lists), call.scalars, entries


def _steady_updates(updates: list, index: int, state: Any) -> dict | None:
    """The non-array entries a call commits for tensor ``index`` (a dict, maybe empty), or
    None when it would create state (a first step) or commit anything else."""
    if not updates:
        return {}
    if len(updates) != 1 or updates[0][0] != index or state is None:
        return None
    entries = updates[0][1]
    for key, value in entries.items():
        if isinstance(value, np.ndarray) or key not in state:
            return None
    return entries


def build(opt: Any, kernels: Any, grads: list) -> Any:
    """The cached step of ``opt`` right after a step of the general path that applied
    ``grads`` (aligned with the parameters, all present), or None."""
    fast = kernels.FastStep.build(opt.param_groups, opt.state,
                                  opt.spec.hyperparameter_names, opt.spec.plan_by_ndim,
                                  grads)
    if fast is None:
        return None
    planned = [_plan_first(opt, request) for request in fast.first_tensors()]
    return fast if fast.bind(planned) else None


def run(opt: Any, fast: Any, grads: Any, nonfinite: str | None) -> bool:
    """Apply the step from the cache and return True, or return False having changed
    nothing (the general path then takes the step)."""
    requests = fast.run(opt.param_groups, opt.state, grads, nonfinite)
    if requests is True or requests is False:
        return requests
    try:
        if fast.changed:
            # a scheduler's new lr, say: the general path's own checks, errors included
            opt._revalidate_groups()
            if not fast.accept_hyperparameters():
                return False
        return fast.resume([_plan_first(opt, request) for request in requests])
    finally:
        fast.release()
