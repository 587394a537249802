"""How an optimizer plans a step: the native calls (kernel, buffers, scalars) and the
state entries each call commits once every call of the step has run.

A rule's plan, ``plan(opt, group, items, needed)``, turns the group's hyperparameters and
each tensor's state into :class:`Call` objects; :func:`stepwise` and :func:`stepless` are
the two shapes most plans take (with and without a step count), :func:`buckets` groups the
tensors that share one native call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from fastgd.reference._common import bias_correction

__all__ = ["Call", "apply", "state_of", "state_or_fresh", "buckets", "stepwise", "stepless",
           "adam_like_plan", "MixinBase"]


class Call:
    """One native call of a step (a kernel over a bucket of tensors), and the state entries
    it commits once every call of the step has run."""

    __slots__ = ("kernel", "entry", "lists", "scalars", "updates", "lowp")

    def __init__(self, kernel: str, lists: tuple, scalars: dict, updates: list) -> None:
        self.kernel = kernel
        self.entry = f"{kernel}_many"
        self.lists, self.scalars, self.updates = lists, scalars, updates
        #: None, or per tensor None or (bfloat16 param, grad, key) for the compiled core's
        #: chunked steps (fastgd.optim._lowp)
        self.lowp: list | None = None

    def run(self, kernels: Any, check_only: bool = False) -> None:
        extra = {} if self.lowp is None else {"lowp": self.lowp}
        if check_only:
            getattr(kernels, self.entry)(*self.lists, check_only=True, **extra,
                                         **self.scalars)
        else:
            getattr(kernels, self.entry)(*self.lists, **extra, **self.scalars)

    def commit(self, state: dict) -> None:
        for index, entries in self.updates:
            state.setdefault(index, {}).update(entries)


def state_of(opt, index: int) -> dict | None:
    """The state of parameter ``index``, checked while planning (before anything is
    written): the step commits into it with ``dict.update``."""
    state = opt.state.get(index)
    if state is not None and type(state) is not dict:
        raise TypeError(f"state of parameter {index} must be a dict, got "
                        f"{type(state).__name__}")
    return state


def state_or_fresh(opt, group, index: int, p: np.ndarray, needed) -> tuple[dict, dict | None]:
    """The state of parameter ``index`` holding every entry in ``needed``, and the entries
    made for it here at their start values (None when it had them all), which the step
    commits once every call has run."""
    state = state_of(opt, index)
    if state is not None and needed <= state.keys():
        return state, None
    fresh = opt._fresh_state(group, p, state or {})
    return {**(state or {}), **fresh}, fresh


def apply(calls: list, kernels: Any, state: dict, nonfinite: str | None, scanned,
          describe) -> bool:
    """Run a step's native calls all or nothing and commit their state entries into
    ``state``. A lone call checks everything before it writes anything; with more than one,
    or a scan to come, every call is checked first, so that a bad call is reported whatever
    the values. Under ``nonfinite``, the arrays of ``scanned`` (``(index, array)`` pairs)
    are scanned for a NaN or an infinity before the first write: ``"skip"`` returns False
    having changed nothing, ``"raise"`` raises FloatingPointError(``describe(index)``)."""
    if len(calls) > 1 or (nonfinite is not None and calls):
        for call in calls:
            call.run(kernels, check_only=True)
    if nonfinite is not None:
        bad = kernels.first_nonfinite([a for _, a in scanned])
        if bad >= 0:
            if nonfinite == "skip":
                return False
            raise FloatingPointError(describe(scanned[bad][0]))
    for call in calls:
        call.run(kernels)
    for call in calls:
        call.commit(state)
    return True


def buckets(items, keys):
    """Items grouped by their key (``keys[i]`` for ``items[i]``), in first-seen order: one
    native call per group. Usually every key is the same and there is one group."""
    first = keys[0]
    if all(k == first for k in keys):
        return ((first, items),)
    out: dict[Any, list] = {}
    for key, item in zip(keys, items):
        out.setdefault(key, []).append(item)
    return out.items()


def stepwise(opt, group, items, needed, by_step):
    """Plan the calls of an optimizer that counts steps. Each bucket holds the tensors of
    one dtype at one step count; ``by_step(bucket_states, step)`` gives the kernel name,
    buffer lists (after params and grads) and scalars for that bucket at its new step.
    Entries the options need and the state lacks are made here and committed with the
    new step count. ``needed``: the entries each state must have before its call."""
    stated = []
    append = stated.append
    state_get = opt.state.get
    for i, p, g in items:
        state = state_get(i)
        if type(state) is dict and needed <= state.keys():  # the usual case
            append((i, p, g, state, None))
            continue
        state, fresh = state_or_fresh(opt, group, i, p, needed)
        append((i, p, g, state, fresh))
    calls = []
    keys = [(p.dtype, s["step"]) for _, p, _, s, _ in stated]
    for (_, step), bucket in buckets(stated, keys):
        states = [s for _, _, _, s, _ in bucket]
        kernel, buffers, scalars = by_step(states, step + 1)
        lists = ([p for _, p, _, _, _ in bucket], [g for _, _, g, _, _ in bucket], *buffers)
        updates = [(i, {**fresh, "step": step + 1} if fresh else {"step": step + 1})
                   for i, _, _, _, fresh in bucket]
        calls.append(Call(kernel, lists, scalars, updates))
    return calls


def stepless(opt, group, items, needed, kernel, names, scalars):
    """Plan the calls of an optimizer that keeps state buffers but no step count (Lion,
    LARS): one call per dtype over the state entries ``names``; entries the options need
    and the state lacks are made here and committed after the step."""
    stated = []
    for i, p, g in items:
        state, fresh = state_or_fresh(opt, group, i, p, needed)
        stated.append((i, p, g, state, fresh))
    calls = []
    for _, bucket in buckets(stated, [p.dtype for _, p, _, _, _ in stated]):
        states = [s for _, _, _, s, _ in bucket]
        buffers = [[s[name] for s in states] if name else None for name in names]
        lists = ([p for _, p, _, _, _ in bucket], [g for _, _, g, _, _ in bucket], *buffers)
        updates = [(i, fresh) for i, _, _, _, fresh in bucket if fresh]
        calls.append(Call(kernel, lists, dict(scalars), updates))
    return calls


def adam_like_plan(kernel, state_names, extra):
    """The plan of an Adam-like optax optimizer: two moments, a step count, bias corrections
    and the group scalars named in ``extra``."""

    def plan(opt, group, items, needed):
        beta1, beta2 = group["betas"]

        def by_step(states, step):
            bc1, bc2 = bias_correction(beta1, step), bias_correction(beta2, step)
            buffers = tuple([s[name] for s in states] for name in state_names)
            return kernel, buffers, dict(
                lr=group["lr"], beta1=beta1, beta2=beta2, bias_correction1=bc1,
                bias_correction2=bc2, maximize=group["maximize"],
                **{name: group[name] for name in extra})

        return stepwise(opt, group, items, needed, by_step)

    return plan


class MixinBase:
    """What the optimizers' mixins use of :class:`Optimizer` (annotations only, for the
    type checker: nothing here exists at run time, so nothing shadows Optimizer's own)."""

    param_groups: list[dict[str, Any]]
    state: dict[int, dict[str, Any]]
    _needed: list[Any]

    if TYPE_CHECKING:
        def _revalidate_groups(self) -> None: ...

        def _fresh_state(self, group: Mapping[str, Any], p: np.ndarray,
                         state: Mapping[str, Any]) -> dict[str, Any]: ...
