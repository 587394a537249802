"""torch.optim.lr_scheduler's schedulers of schedulers: :class:`SequentialLR` (one after
another, at milestones) and :class:`ChainedScheduler` (all at once, factors multiplied)."""

from __future__ import annotations

import copy
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from typing import Any

from fastgd.lr_scheduler.base import (
    LRScheduler,
    _group_values,
)
from fastgd.lr_scheduler.plateau import ReduceLROnPlateau
from fastgd.optim import Optimizer

__all__ = ["SequentialLR", "ChainedScheduler"]


def _check_members(kind: str, optimizer: Any, schedulers: Sequence) -> None:
    for i, scheduler in enumerate(schedulers):
        if not hasattr(scheduler, "optimizer"):
            raise TypeError(f"{kind} at index {i} should have `optimizer` as its attribute.")
        if isinstance(scheduler, ReduceLROnPlateau):
            raise ValueError(
                f"{kind} does not support `ReduceLROnPlateau` scheduler as it requires "
                "additional kwargs to be specified when calling `step`, but got one at "
                f"index {i} in the given schedulers sequence.")
        if optimizer != scheduler.optimizer:
            raise ValueError(
                f"{kind} expects all schedulers to belong to the same optimizer, but got "
                f"scheduler {type(scheduler).__name__} at index {i} has "
                f"{scheduler.optimizer}, which is different from {type(optimizer).__name__}.")


class SequentialLR(LRScheduler):
    r"""Run schedulers one after the other, switching at the milestones.

    Scheduler ``i`` runs from step ``milestones[i-1]`` to ``milestones[i]``; when it takes
    over, it restarts at its own step 0 (its closed form at 0 where it has one). Matches
    ``torch.optim.lr_scheduler.SequentialLR``, including the constructor's resets: every
    group's ``lr`` back to its ``initial_lr``, the schedulers' constructor steps undone,
    and the first scheduler's initial step taken again.

    Args:
        optimizer: the fastgd optimizer all the schedulers drive.
        schedulers: the schedulers, in order (at least one; not ``ReduceLROnPlateau``).
        milestones: the steps at which the next scheduler takes over (one fewer than
            schedulers).
        last_epoch: the index of the last step (default -1: start).

    Example::

        >>> import numpy as np, fastgd
        >>> w, g = np.zeros(3), np.ones(3)
        >>> from fastgd.lr_scheduler import ConstantLR, ExponentialLR, SequentialLR
        >>> opt = fastgd.SGD([w], lr=1.0)
        >>> warmup = ConstantLR(opt, factor=0.5, total_iters=2)
        >>> decay = ExponentialLR(opt, gamma=0.5)
        >>> sched = SequentialLR(opt, schedulers=[warmup, decay], milestones=[2])
        >>> lrs = sched.get_last_lr()
        >>> for _ in range(4):
        ...     opt.step([g]); sched.step(); lrs += sched.get_last_lr()
        >>> lrs
        [0.5, 0.5, 1.0, 0.5, 0.25]
    """

    def __init__(self, optimizer: Optimizer, schedulers: list[LRScheduler],
                 milestones: list[int], last_epoch: int = -1) -> None:
        kind = type(self).__name__
        if len(schedulers) < 1:
            raise ValueError(f"{kind} expects at least one scheduler, but got no scheduler.")
        _check_members(kind, optimizer, schedulers)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                "Sequential Schedulers expects number of schedulers provided to be one more "
                f"than the number of milestone points, but got number of schedulers "
                f"{len(schedulers)} and the number of milestones to be equal to "
                f"{len(milestones)}")
        self._schedulers = schedulers
        self._milestones = milestones
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        self.recursive_undo()
        first = self._schedulers[bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def recursive_undo(self, sched: Any = None) -> None:
        """Take back one step from every scheduler inside (their constructors' steps)."""
        target = self if sched is None else sched
        if hasattr(target, "_schedulers"):
            for inner in target._schedulers:
                self.recursive_undo(inner)
        elif hasattr(target, "last_epoch"):
            target.last_epoch -= 1

    def step(self) -> None:  # type: ignore[override]
        """Advance by one step: the scheduler of the new step steps (or restarts at 0)."""
        self.last_epoch += 1
        i = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[i]
        if i > 0 and self._milestones[i - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        """The state, with each inner scheduler's state dict under ``_schedulers``."""
        state = {key: copy.deepcopy(value) for key, value in self.__dict__.items()
                 if key not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a :meth:`state_dict`, the inner schedulers' states included."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a dict, got {type(state_dict).__name__}")
        saved = dict(state_dict)
        inner = saved.pop("_schedulers")
        self.__dict__.update(copy.deepcopy(saved))
        for scheduler, scheduler_state in zip(self._schedulers, inner):
            scheduler.load_state_dict(scheduler_state)


class ChainedScheduler(LRScheduler):
    r"""Step several schedulers at once: one ``step()`` steps each of them, in order, so
    that their (chainable) factors multiply.

    Matches ``torch.optim.lr_scheduler.ChainedScheduler``.

    Args:
        schedulers: the schedulers (at least one; not ``ReduceLROnPlateau``), all driving
            the same optimizer.
        optimizer: that optimizer (default: the first scheduler's).

    Example::

        >>> import numpy as np, fastgd
        >>> w, g = np.zeros(3), np.ones(3)
        >>> from fastgd.lr_scheduler import ChainedScheduler, ConstantLR, ExponentialLR
        >>> opt = fastgd.SGD([w], lr=1.0)
        >>> sched = ChainedScheduler([ConstantLR(opt, factor=0.5, total_iters=2),
        ...                           ExponentialLR(opt, gamma=0.5)])
        >>> lrs = sched.get_last_lr()
        >>> for _ in range(3):
        ...     opt.step([g]); sched.step(); lrs += sched.get_last_lr()
        >>> lrs
        [0.5, 0.25, 0.25, 0.125]
    """

    def __init__(self, schedulers: Sequence[LRScheduler],
                 optimizer: Optimizer | None = None) -> None:
        kind = type(self).__name__
        if len(schedulers) < 1:
            raise ValueError(f"{kind} expects at least one scheduler to be chained, but got "
                             "no scheduler.")
        optimizer = optimizer or schedulers[0].optimizer
        _check_members(kind, optimizer, schedulers)
        self._schedulers = schedulers
        self.optimizer = optimizer
        self._last_lr = _group_values(self._schedulers[-1].optimizer, "lr")

    def step(self) -> None:  # type: ignore[override]
        """Step every scheduler, in order."""
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = _group_values(self._schedulers[-1].optimizer, "lr")

    state_dict = SequentialLR.state_dict
    load_state_dict = SequentialLR.load_state_dict
