"""scikit-learn's SGD learning-rate rules as schedulers: :class:`OptimalLR`
(``learning_rate='optimal'``), :class:`InvScalingLR` (``'invscaling'``) and
:class:`AdaptiveLR` (``'adaptive'``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Integral
from typing import SupportsFloat

from fastgd.lr_scheduler.base import (
    LRScheduler,
    _check_optimizer,
    _group_values,
    _is_number,
)
from fastgd.optim import Optimizer

__all__ = ["OptimalLR", "InvScalingLR", "AdaptiveLR"]


class OptimalLR(LRScheduler):
    r"""scikit-learn's ``learning_rate='optimal'`` (Bottou's schedule for SGD with an L2
    penalty ``alpha``).

    .. math:: \eta_t = \frac{1}{\alpha\,(t_0 + t - 1)}, \qquad
              t_0 = \frac{1}{\alpha\,\eta_1}, \quad
              \eta_1 = \frac{w}{\max(1, \ell'(1, -w))}, \quad w = \sqrt{1/\sqrt{\alpha}}

    ``t`` = 1, 2, ... counts the optimizer's steps (``t = last_epoch + 1``: the
    constructor sets :math:`\eta_1`, each ``step()`` the next), as scikit-learn's ``t``
    counts its per-sample updates from 1 (its ``t_`` starts at 1.0 and is not reset
    between epochs). ``\ell'(y, p)`` is the derivative of the loss in the prediction,
    which scikit-learn evaluates for its ``loss`` (``_plain_sgd`` in ``_sgd_fast.pyx``);
    for every one of its losses it is negative at ``y = 1, p = -w``, so
    :math:`\eta_1 = w` and :math:`t_0 = 1/(\alpha w)`; pass ``loss_gradient`` to use
    another loss's. The expression and its order of operations are scikit-learn's, so the
    learning rates are equal to its ``eta`` to the last bit. The optimizer's own learning
    rates are not used (scikit-learn's ``eta0`` is not either): every group gets
    :math:`\eta_t`. scikit-learn applies the penalty as weight decay with the same step,
    ``w *= 1 - eta * alpha``: ``fastgd.SGD(..., weight_decay=alpha)`` does the same.

    Args:
        optimizer: a fastgd optimizer.
        alpha: the regularisation strength, positive (default 1e-4, scikit-learn's).
        loss_gradient: ``(y, p) -> dloss/dp`` for the heuristic (default None: a loss of
            scikit-learn's).
        last_epoch: the index of the last step (default -1: start).

    Attributes:
        t0: :math:`t_0` (``optimal_init`` in scikit-learn's source).

    Example::

        >>> import numpy as np, fastgd
        >>> w, g = np.zeros(3), np.ones(3)
        >>> opt = fastgd.SGD([w], weight_decay=1.0)
        >>> sched = fastgd.lr_scheduler.OptimalLR(opt, alpha=1.0)
        >>> lrs = sched.get_last_lr()
        >>> for _ in range(3):
        ...     opt.step([g]); sched.step(); lrs += sched.get_last_lr()
        >>> lrs
        [1.0, 0.5, 0.3333333333333333, 0.25]
    """

    def __init__(self, optimizer: Optimizer, alpha: float = 1e-4,
                 loss_gradient: Callable[[float, float], float] | None = None,
                 last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        if not _is_number(alpha):
            raise TypeError(f"alpha must be a real number, got {alpha!r}")
        if not 0 < alpha < math.inf:
            raise ValueError(f"alpha must be > 0 since learning_rate is 'optimal', got "
                             f"{alpha}")
        if loss_gradient is not None and not callable(loss_gradient):
            raise TypeError(f"loss_gradient must be a function (y, p) -> dloss/dp or None, "
                            f"got {type(loss_gradient).__name__}")
        alpha = float(alpha)
        typw = math.sqrt(1.0 / math.sqrt(alpha))
        slope = -1.0 if loss_gradient is None else float(loss_gradient(1.0, -typw))
        if not math.isfinite(slope):
            raise ValueError(f"loss_gradient(1.0, {-typw}) is not finite: {slope}")
        eta1 = typw / max(1.0, slope)
        self.alpha = alpha
        self.t0 = 1.0 / (eta1 * alpha)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        self._warn_outside_step()
        t = float(self.last_epoch + 1)
        eta = 1.0 / (self.alpha * (self.t0 + t - 1))
        return [eta] * len(self.optimizer.param_groups)


class InvScalingLR(LRScheduler):
    r"""scikit-learn's ``learning_rate='invscaling'``.

    .. math:: \eta_t = \frac{\mathrm{base\_lr}}{t^{\mathrm{power\_t}}}

    ``base_lr`` is the group's ``initial_lr`` (scikit-learn's ``eta0``) and ``t`` = 1, 2,
    ... counts the optimizer's steps (``t = last_epoch + 1``: the constructor sets
    ``base_lr`` itself), as scikit-learn's ``t`` counts its per-sample updates from 1,
    across epochs. Computed as scikit-learn does (``eta0 / pow(t, power_t)`` in double
    precision), so equal to its ``eta`` to the last bit.

    Args:
        optimizer: a fastgd optimizer.
        power_t: the exponent, a real >= 0 (default 0.5, ``SGDClassifier``'s;
            ``SGDRegressor``'s is 0.25). scikit-learn has deprecated negative values.
        last_epoch: the index of the last step (default -1: start).

    Example::

        >>> import numpy as np, fastgd
        >>> w, g = np.zeros(3), np.ones(3)
        >>> opt = fastgd.SGD([w], lr=0.01)
        >>> sched = fastgd.lr_scheduler.InvScalingLR(opt, power_t=0.5)
        >>> lrs = sched.get_last_lr()
        >>> for _ in range(3):
        ...     opt.step([g]); sched.step(); lrs += sched.get_last_lr()
        >>> lrs
        [0.01, 0.0070710678118654745, 0.005773502691896258, 0.005]
    """

    def __init__(self, optimizer: Optimizer, power_t: float = 0.5,
                 last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        if not _is_number(power_t):
            raise TypeError(f"power_t must be a real number, got {power_t!r}")
        if not 0 <= power_t < math.inf:
            raise ValueError(f"power_t must be a finite real >= 0, got {power_t}")
        self.power_t = float(power_t)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        self._warn_outside_step()
        t = float(self.last_epoch + 1)
        return [base_lr / t ** self.power_t for base_lr in self.base_lrs]


class AdaptiveLR(LRScheduler):
    r"""scikit-learn's ``learning_rate='adaptive'``: divide the learning rate by 5 when
    the loss has stopped improving.

    Call ``step(loss)`` once per epoch with the epoch's value (scikit-learn: the mean over
    the epoch of each sample's loss plus penalty, each taken before that sample's update;
    or, with ``mode='max'``, a validation score, as with ``early_stopping=True``). An epoch
    is "no improvement" when, with the best value ``best`` of the earlier epochs,

    - ``mode='min'``: ``loss > best - tol``;
    - ``mode='max'``: ``score < best + tol``.

    ``tol=None`` never counts one. After ``n_iter_no_change`` such epochs in a row, every
    group whose ``lr`` is above 1e-6 has it divided by 5, and the count starts again; if no
    group's ``lr`` is above 1e-6, scikit-learn stops training at that epoch: here
    :attr:`should_stop` becomes True (and the learning rates stay). The count and ``best``
    run on across reductions, as in scikit-learn's epoch loop (``_plain_sgd``). Between
    calls the learning rates are constant (scikit-learn's ``eta0``, the groups' ``lr``).

    Args:
        optimizer: a fastgd optimizer.
        n_iter_no_change: epochs without improvement before a reduction, an int >= 1
            (default 5).
        tol: the improvement that counts, a real >= 0 or None (default 1e-3).
        mode: 'min' (default: a training loss) or 'max' (a validation score).

    Attributes:
        best: the best value so far (``inf`` / ``-inf`` at first).
        no_improvement_count: the current count of epochs without improvement.
        should_stop: whether scikit-learn would have stopped training.

    Example::

        >>> import numpy as np, fastgd
        >>> w, g = np.zeros(3), np.ones(3)
        >>> opt = fastgd.SGD([w], lr=0.01)
        >>> sched = fastgd.lr_scheduler.AdaptiveLR(opt, n_iter_no_change=2)
        >>> for loss in [1.0, 0.5, 0.4995, 0.4992]:
        ...     opt.step([g]); sched.step(loss)
        >>> sched.get_last_lr(), sched.no_improvement_count
        ([0.002], 0)
    """

    n_iter_no_change: int
    tol: float
    mode: str
    best: float
    no_improvement_count: int
    should_stop: bool

    def __init__(self, optimizer: Optimizer, n_iter_no_change: int = 5,
                 tol: float | None = 1e-3, mode: str = "min") -> None:
        _check_optimizer(optimizer)
        if isinstance(n_iter_no_change, bool) or not isinstance(n_iter_no_change, Integral):
            raise TypeError(f"n_iter_no_change must be an int, got {n_iter_no_change!r}")
        if n_iter_no_change < 1:
            raise ValueError(f"n_iter_no_change must be >= 1, got {n_iter_no_change}")
        if tol is not None:
            if not _is_number(tol):
                raise TypeError(f"tol must be a real number or None, got {tol!r}")
            if not 0 <= tol < math.inf:
                raise ValueError(f"tol must be a finite real >= 0 or None, got {tol}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.optimizer = optimizer
        self.n_iter_no_change = int(n_iter_no_change)
        self.tol = -math.inf if tol is None else float(tol)
        self.mode = mode
        self.best = math.inf if mode == "min" else -math.inf
        self.no_improvement_count = 0
        self.should_stop = False
        self.last_epoch = 0
        self._last_lr = _group_values(optimizer, "lr")

    def step(self, metrics: SupportsFloat) -> None:  # type: ignore[override]
        """Record one epoch's loss (or score), and divide the learning rates if it is time.

        A NaN or infinite value is a ValueError (scikit-learn stops with one when its
        weights overflow), and changes nothing."""
        value = float(metrics)
        if not math.isfinite(value):
            raise ValueError(f"metrics must be a finite number, got {value}")
        self.last_epoch += 1
        if self.mode == "min":
            if self.tol > -math.inf and value > self.best - self.tol:
                self.no_improvement_count += 1
            else:
                self.no_improvement_count = 0
            if value < self.best:
                self.best = value
        else:
            if self.tol > -math.inf and value < self.best + self.tol:
                self.no_improvement_count += 1
            else:
                self.no_improvement_count = 0
            if value > self.best:
                self.best = value
        if self.no_improvement_count >= self.n_iter_no_change:
            reduced = False
            for group in self.optimizer.param_groups:
                if group["lr"] > 1e-6:
                    group["lr"] = group["lr"] / 5
                    reduced = True
            if reduced:
                self.no_improvement_count = 0
            else:
                self.should_stop = True
        self._last_lr = _group_values(self.optimizer, "lr")
