"""torch.optim.lr_scheduler's :class:`ReduceLROnPlateau`: the learning rate driven by a
monitored metric rather than by the step count."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any, SupportsFloat

from fastgd.lr_scheduler.base import (
    EPOCH_DEPRECATION_WARNING,
    LRScheduler,
    _check_optimizer,
    _group_values,
)
from fastgd.optim import Optimizer

__all__ = ["ReduceLROnPlateau"]


class ReduceLROnPlateau(LRScheduler):
    r"""Multiply the learning rate by ``factor`` when a metric has stopped improving.

    ``step(metrics)`` once per epoch: a value better than the best so far (in ``mode``
    'min': ``a < best * (1 - threshold)`` in 'rel' mode, ``a < best - threshold`` in 'abs';
    in 'max': ``a > best * (1 + threshold)`` / ``a > best + threshold``) becomes the best
    and resets the count of bad epochs; otherwise the count grows. When it exceeds
    ``patience``, every group's ``lr`` becomes ``max(lr * factor, min_lr)`` (unless that
    changes it by no more than ``eps``), then ``cooldown`` epochs are ignored. Matches
    ``torch.optim.lr_scheduler.ReduceLROnPlateau``.

    Args:
        optimizer: a fastgd optimizer.
        mode: 'min' (default) or 'max'.
        factor: the factor, below 1.0 (default 0.1).
        patience: the number of bad epochs tolerated (default 10).
        threshold: the margin of a significant improvement (default 1e-4).
        threshold_mode: 'rel' (default) or 'abs'.
        cooldown: the epochs to wait after a reduction (default 0).
        min_lr: the lower bound, one for all groups or a list, one per group (default 0).
        eps: the smallest change applied (default 1e-8).

    Example::

        >>> import numpy as np, fastgd
        >>> w, g = np.zeros(3), np.ones(3)
        >>> opt = fastgd.SGD([w], lr=1.0)
        >>> sched = fastgd.lr_scheduler.ReduceLROnPlateau(opt, patience=1)
        >>> for loss in [3.0, 2.0, 2.0, 2.0]:
        ...     opt.step([g]); sched.step(loss)
        >>> sched.get_last_lr()
        [0.1]
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: list[float] | float = 0,
                 eps: float = 1e-8) -> None:
        if not factor < 1.0:
            raise ValueError("Factor should be < 1.0.")
        _check_optimizer(optimizer)
        n = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)) and len(min_lr) != n:
            raise ValueError(f"expected {n} min_lrs, got {len(min_lr)}")
        self._check_modes(mode, threshold_mode)
        self.factor = factor
        self.optimizer = optimizer
        if isinstance(min_lr, (list, tuple)):
            self.default_min_lr = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * n
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = _group_values(optimizer, "lr")
        self._init_is_better(mode, threshold, threshold_mode)
        self._reset()

    @staticmethod
    def _check_modes(mode: str, threshold_mode: str) -> None:
        if mode not in {"min", "max"}:
            raise ValueError("mode " + mode + " is unknown!")
        if threshold_mode not in {"rel", "abs"}:
            raise ValueError("threshold mode " + threshold_mode + " is unknown!")

    def _init_is_better(self, mode: str, threshold: float, threshold_mode: str) -> None:
        self._check_modes(mode, threshold_mode)
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode

    def _reset(self) -> None:
        """Forget the best value and the counts of bad and cooldown epochs."""
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_better(self, a: float, best: float) -> bool:
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return a < best * (1.0 - self.threshold)
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def step(self, metrics: SupportsFloat, epoch: int | None = None) -> None:  # type: ignore[override]
        """Record one epoch's metric, and reduce the learning rates if it is time."""
        current = float(metrics)
        if epoch is None:
            epoch = self.last_epoch + 1
        else:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self.last_epoch = epoch
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce_lr(epoch)
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = _group_values(self.optimizer, "lr")

    def _reduce_lr(self, epoch: int) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(
                    f"The number of param groups in the `optimizer` ({len(groups)}) differs "
                    f"from when `ReduceLROnPlateau` was initialized ({len(self.min_lrs)}), "
                    "usually due to a new param group being added to the optimizer. Please "
                    "modify the `min_lrs` field to match the length of the `optimizer` "
                    "param groups.")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a :meth:`state_dict` (its modes are checked)."""
        super().load_state_dict(state_dict)
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)
