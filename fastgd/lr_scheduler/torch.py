"""torch.optim.lr_scheduler's schedules that are a formula of the step count:
:class:`LambdaLR`, :class:`MultiplicativeLR`, :class:`StepLR`, :class:`MultiStepLR`,
:class:`ConstantLR`, :class:`LinearLR`, :class:`ExponentialLR`, :class:`PolynomialLR` and
:class:`CosineAnnealingLR` (each with its closed form where torch has one)."""

from __future__ import annotations

import copy
import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastgd.lr_scheduler.base import (
    LRScheduler,
    _callable_states,
    _check_optimizer,
    _group_values,
    _per_group_lambdas,
)
from fastgd.optim import Optimizer

__all__ = ["LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR",
           "ExponentialLR", "PolynomialLR", "CosineAnnealingLR"]


class LambdaLR(LRScheduler):
    r"""The initial learning rate times a function of the step.

    .. math:: \mathrm{lr}_t = \mathrm{base\_lr} \cdot \lambda(t)

    where ``t`` is ``last_epoch`` and ``base_lr`` the group's ``initial_lr``. Matches
    ``torch.optim.lr_scheduler.LambdaLR``.

    Args:
        optimizer: a fastgd optimizer.
        lr_lambda: a function of the integer step giving the factor, or a list of such
            functions, one per parameter group.
        last_epoch: the index of the last step (default -1: start).

    Example::

        >>> import numpy as np, fastgd
        >>> w, g = np.zeros(3), np.ones(3)
        >>> opt = fastgd.SGD([w], lr=0.1)
        >>> sched = fastgd.lr_scheduler.LambdaLR(opt, lambda t: 1 / (t + 1))
        >>> for _ in range(3):
        ...     opt.step([g]); sched.step()
        >>> sched.get_last_lr()
        [0.025]

    ``state_dict()`` saves a callable object's ``__dict__``, and nothing of a function or
    lambda (``None`` in its place).
    """

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | list,
                 last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        self.lr_lambdas = _per_group_lambdas(optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state; of ``lr_lambdas``, only callable objects' ``__dict__``."""
        state = {key: copy.deepcopy(value) for key, value in self.__dict__.items()
                 if key not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = _callable_states(self.lr_lambdas)
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a :meth:`state_dict`; a saved ``__dict__`` updates that callable object's."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a dict, got {type(state_dict).__name__}")
        saved = dict(state_dict)
        lambdas = saved.pop("lr_lambdas")
        self.__dict__.update(copy.deepcopy(saved))
        for fn, fn_state in zip(self.lr_lambdas, lambdas):
            if fn_state is not None:
                fn.__dict__.update(fn_state)

    def get_lr(self) -> list[float]:
        self._warn_outside_step()
        return [base_lr * fn(self.last_epoch)
                for fn, base_lr in zip(self.lr_lambdas, self.base_lrs, strict=True)]


class MultiplicativeLR(LRScheduler):
    r"""The learning rate multiplied by a function of the step, at every step.

    .. math:: \mathrm{lr}_t = \mathrm{lr}_{t-1} \cdot \lambda(t), \quad
              \mathrm{lr}_0 = \mathrm{lr}

    Matches ``torch.optim.lr_scheduler.MultiplicativeLR`` (chainable: it multiplies
    whatever ``group["lr"]`` holds).

    Args:
        optimizer: a fastgd optimizer.
        lr_lambda: a function of the integer step giving the factor, or a list of such
            functions, one per parameter group.
        last_epoch: the index of the last step (default -1: start).

    Example::

        >>> import numpy as np, fastgd
        >>> w, g = np.zeros(3), np.ones(3)
        >>> opt = fastgd.SGD([w], lr=0.5)
        >>> sched = fastgd.lr_scheduler.MultiplicativeLR(opt, lambda t: 0.5)
        >>> for _ in range(2):
        ...     opt.step([g]); sched.step()
        >>> sched.get_last_lr()
        [0.125]
    """

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | list,
                 last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        self.lr_lambdas = _per_group_lambdas(optimizer, lr_lambda)
        for fn in self.lr_lambdas:
            if not callable(fn):
                raise TypeError(f"lr_lambda should be a function, but got {type(fn).__name__}")
        super().__init__(optimizer, last_epoch)

    state_dict = LambdaLR.state_dict
    load_state_dict = LambdaLR.load_state_dict

    def get_lr(self) -> list[float]:
        self._warn_outside_step()
        if self._is_initial:
            return _group_values(self.optimizer, "lr")
        return [group["lr"] * fn(self.last_epoch)
                for fn, group in zip(self.lr_lambdas, self.optimizer.param_groups,
                                     strict=True)]


class StepLR(LRScheduler):
    r"""Multiply the learning rate by ``gamma`` every ``step_size`` steps.

    .. math:: \mathrm{lr}_t = \mathrm{base\_lr} \cdot
              \gamma^{\lfloor t / \mathrm{step\_size} \rfloor}

    computed as torch does, chained: the current ``group["lr"]`` times ``gamma`` at every
    positive multiple of ``step_size`` (the closed form above with ``step(epoch)``).
    Matches ``torch.optim.lr_scheduler.StepLR``.

    Args:
        optimizer: a fastgd optimizer.
        step_size: the period, in steps (positive).
        gamma: the factor (default 0.1).
        last_epoch: the index of the last step (default -1: start).

    Example::

        >>> import numpy as np, fastgd
        >>> w, g = np.zeros(3), np.ones(3)
        >>> opt = fastgd.SGD([w], lr=1.0)
        >>> sched = fastgd.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        >>> lrs = []
        >>> for _ in range(5):
        ...     opt.step([g]); sched.step(); lrs += sched.get_last_lr()
        >>> lrs
        [1.0, 0.5, 0.5, 0.25, 0.25]
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        if not step_size > 0:
            raise ValueError(f"Expected positive step_size, but got {step_size}")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        self._warn_outside_step()
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return _group_values(self.optimizer, "lr")
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size)
                for base_lr in self.base_lrs]


class MultiStepLR(LRScheduler):
    r"""Multiply the learning rate by ``gamma`` at each milestone.

    .. math:: \mathrm{lr}_t = \mathrm{base\_lr} \cdot
              \gamma^{\#\{m \in \mathrm{milestones} : m \le t\}}

    computed chained, as torch does: at a step listed ``k`` times among the milestones,
    the current ``group["lr"]`` times ``gamma**k``. Matches
    ``torch.optim.lr_scheduler.MultiStepLR``.

    Args:
        optimizer: a fastgd optimizer.
        milestones: the steps at which to decay (a step may appear more than once).
        gamma: the factor (default 0.1).
        last_epoch: the index of the last step (default -1: start).

    Example::

        >>> import numpy as np, fastgd
        >>> w, g = np.zeros(3), np.ones(3)
        >>> opt = fastgd.SGD([w], lr=1.0)
        >>> sched = fastgd.lr_scheduler.MultiStepLR(opt, milestones=[1, 3], gamma=0.5)
        >>> lrs = []
        >>> for _ in range(4):
        ...     opt.step([g]); sched.step(); lrs += sched.get_last_lr()
        >>> lrs
        [0.5, 0.5, 0.25, 0.25]
    """

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        self._warn_outside_step()
        if self.last_epoch not in self.milestones:
            return _group_values(self.optimizer, "lr")
        return [group["lr"] * self.gamma ** self.milestones[self.last_epoch]
                for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        milestones = sorted(self.milestones.elements())
        return [base_lr * self.gamma ** bisect_right(milestones, self.last_epoch)
                for base_lr in self.base_lrs]


class ConstantLR(LRScheduler):
    r"""Multiply the learning rate by a constant factor for the first ``total_iters`` steps.

    .. math:: \mathrm{lr}_t = \mathrm{base\_lr} \cdot
              (\mathrm{factor} \text{ if } t < \mathrm{total\_iters} \text{ else } 1)

    computed chained, as torch does: times ``factor`` at step 0, times ``1 / factor`` at
    step ``total_iters``. Matches ``torch.optim.lr_scheduler.ConstantLR``.

    Args:
        optimizer: a fastgd optimizer.
        factor: the factor, in [0, 1] (default 1/3).
        total_iters: the number of steps it applies to (default 5).
        last_epoch: the index of the last step (default -1: start).

    Example::

        >>> import numpy as np, fastgd
        >>> w, g = np.zeros(3), np.ones(3)
        >>> opt = fastgd.SGD([w], lr=1.0)
        >>> sched = fastgd.lr_scheduler.ConstantLR(opt, factor=0.5, total_iters=2)
        >>> lrs = sched.get_last_lr()
        >>> for _ in range(3):
        ...     opt.step([g]); sched.step(); lrs += sched.get_last_lr()
        >>> lrs
        [0.5, 0.5, 1.0, 1.0]
    """

    def __init__(self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5,
                 last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        if not 0 <= factor <= 1.0:  # NaN fails too
            raise ValueError("Constant multiplicative factor expected to be between 0 and 1.")
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        self._warn_outside_step()
        if self.last_epoch == 0:
            return [group["lr"] * self.factor for group in self.optimizer.param_groups]
        if self.last_epoch != self.total_iters:
            return _group_values(self.optimizer, "lr")
        return [group["lr"] * (1.0 / self.factor) for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [base_lr * (self.factor
                           + (self.last_epoch >= self.total_iters) * (1 - self.factor))
                for base_lr in self.base_lrs]


class LinearLR(LRScheduler):
    r"""Scale the learning rate by a factor going linearly from ``start_factor`` to
    ``end_factor`` over ``total_iters`` steps.

    .. math:: \mathrm{lr}_t = \mathrm{base\_lr} \cdot \left(s + (e - s)
              \frac{\min(t, \mathrm{total\_iters})}{\mathrm{total\_iters}}\right)

    computed chained, as torch does: at step ``0 < t <= total_iters`` the current
    ``group["lr"]`` times :math:`1 + (e - s) / (\mathrm{total\_iters}\, s + (t - 1)(e - s))`.
    Matches ``torch.optim.lr_scheduler.LinearLR``.

    Args:
        optimizer: a fastgd optimizer.
        start_factor: the factor at step 0, in (0, 1] (default 1/3).
        end_factor: the factor from step ``total_iters`` on, in [0, 1] (default 1.0).
        total_iters: the number of steps of the ramp (default 5).
        last_epoch: the index of the last step (default -1: start).

    Example::

        >>> import numpy as np, fastgd
        >>> w, g = np.zeros(3), np.ones(3)
        >>> opt = fastgd.SGD([w], lr=1.0)
        >>> sched = fastgd.lr_scheduler.LinearLR(opt, start_factor=0.5, total_iters=2)
        >>> lrs = sched.get_last_lr()
        >>> for _ in range(3):
        ...     opt.step([g]); sched.step(); lrs += sched.get_last_lr()
        >>> lrs
        [0.5, 0.75, 1.0, 1.0]
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3,
                 end_factor: float = 1.0, total_iters: int = 5, last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        if not 0 < start_factor <= 1.0:
            raise ValueError("Starting multiplicative factor expected to be greater than 0 "
                             "and less or equal to 1.")
        if not 0 <= end_factor <= 1.0:
            raise ValueError("Ending multiplicative factor expected to be between 0 and 1.")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        self._warn_outside_step()
        if self.last_epoch == 0:
            return [group["lr"] * self.start_factor for group in self.optimizer.param_groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return _group_values(self.optimizer, "lr")
        slope = self.end_factor - self.start_factor
        ratio = 1.0 + slope / (self.total_iters * self.start_factor
                               + (self.last_epoch - 1) * slope)
        return [group["lr"] * ratio for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [base_lr * (self.start_factor
                           + (self.end_factor - self.start_factor)
                           * min(self.total_iters, self.last_epoch) / self.total_iters)
                for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    r"""Multiply the learning rate by ``gamma`` at every step.

    .. math:: \mathrm{lr}_t = \mathrm{base\_lr} \cdot \gamma^t

    computed chained, as torch does (the current ``group["lr"]`` times ``gamma``).
    Matches ``torch.optim.lr_scheduler.ExponentialLR``.

    Args:
        optimizer: a fastgd optimizer.
        gamma: the factor.
        last_epoch: the index of the last step (default -1: start).

    Example::

        >>> import numpy as np, fastgd
        >>> w, g = np.zeros(3), np.ones(3)
        >>> opt = fastgd.SGD([w], lr=1.0)
        >>> sched = fastgd.lr_scheduler.ExponentialLR(opt, gamma=0.5)
        >>> for _ in range(2):
        ...     opt.step([g]); sched.step()
        >>> sched.get_last_lr()
        [0.25]
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        self._warn_outside_step()
        if self._is_initial:
            return _group_values(self.optimizer, "lr")
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma ** self.last_epoch for base_lr in self.base_lrs]


class PolynomialLR(LRScheduler):
    r"""Decay the learning rate polynomially to 0 over ``total_iters`` steps.

    .. math:: \mathrm{lr}_t = \mathrm{base\_lr} \cdot
              \left(1 - \frac{\min(t, \mathrm{total\_iters})}{\mathrm{total\_iters}}
              \right)^{\mathrm{power}}

    computed chained, as torch does: at step ``t <= total_iters`` the current
    ``group["lr"]`` times :math:`((1 - t/T) / (1 - (t-1)/T))^{\mathrm{power}}`. Matches
    ``torch.optim.lr_scheduler.PolynomialLR``.

    Args:
        optimizer: a fastgd optimizer.
        total_iters: the number of steps of the decay (default 5).
        power: the power (default 1.0).
        last_epoch: the index of the last step (default -1: start).

    Example::

        >>> import numpy as np, fastgd
        >>> w, g = np.zeros(3), np.ones(3)
        >>> opt = fastgd.SGD([w], lr=1.0)
        >>> sched = fastgd.lr_scheduler.PolynomialLR(opt, total_iters=4, power=2.0)
        >>> lrs = []
        >>> for _ in range(4):
        ...     opt.step([g]); sched.step(); lrs += sched.get_last_lr()
        >>> lrs
        [0.5625, 0.25, 0.0625, 0.0]
    """

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0,
                 last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        self.total_iters = total_iters
        self.power = power
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        self._warn_outside_step()
        if self._is_initial or self.last_epoch > self.total_iters:
            return _group_values(self.optimizer, "lr")
        decay = ((1.0 - self.last_epoch / self.total_iters)
                 / (1.0 - (self.last_epoch - 1) / self.total_iters)) ** self.power
        return [group["lr"] * decay for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [base_lr * (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters)
                ** self.power for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    r"""Cosine annealing from the initial learning rate to ``eta_min`` over ``T_max`` steps.

    .. math:: \eta_t = \eta_{\min} + \tfrac12(\eta_{\max} - \eta_{\min})
              \left(1 + \cos\frac{t\pi}{T_{\max}}\right)

    computed as torch does, recursively (chainable):
    :math:`\eta_t = \eta_{\min} + (\eta_{t-1} - \eta_{\min})
    \frac{1 + \cos(t\pi/T_{\max})}{1 + \cos((t-1)\pi/T_{\max})}`, with torch's special case
    one step after each minimum (``(t - 1 - T_max) % (2 T_max) == 0``), where it adds
    :math:`(\eta_{\max} - \eta_{\min})(1 - \cos(\pi/T_{\max}))/2`; past ``T_max`` the
    learning rate goes back up along the cosine (no restart). Matches
    ``torch.optim.lr_scheduler.CosineAnnealingLR``.

    Args:
        optimizer: a fastgd optimizer.
        T_max: the number of steps to the minimum (positive).
        eta_min: the minimum learning rate (default 0.0).
        last_epoch: the index of the last step (default -1: start).

    Example::

        >>> import numpy as np, fastgd
        >>> w, g = np.zeros(3), np.ones(3)
        >>> opt = fastgd.SGD([w], lr=1.0)
        >>> sched = fastgd.lr_scheduler.CosineAnnealingLR(opt, T_max=2)
        >>> lrs = []
        >>> for _ in range(2):
        ...     opt.step([g]); sched.step(); lrs += sched.get_last_lr()
        >>> [round(lr, 12) for lr in lrs]
        [0.5, 0.0]
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        if not T_max > 0:
            raise ValueError(f"Expected positive T_max, but got {T_max}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        self._warn_outside_step()
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        groups = self.optimizer.param_groups
        if self._is_initial:
            return _group_values(self.optimizer, "lr")
        if self._step_count == 1 and t > 0:
            return [eta_min + (base_lr - eta_min) * (1 + math.cos(t * math.pi / T)) / 2
                    for base_lr, _ in zip(self.base_lrs, groups, strict=True)]
        if (t - 1 - T) % (2 * T) == 0:
            return [group["lr"] + (base_lr - eta_min) * (1 - math.cos(math.pi / T)) / 2
                    for base_lr, group in zip(self.base_lrs, groups, strict=True)]
        return [(1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
                * (group["lr"] - eta_min) + eta_min for group in groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [self.eta_min + (base_lr - self.eta_min)
                * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base_lr in self.base_lrs]
