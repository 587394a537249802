"""Learning-rate schedules for fastgd's optimizers.

Two families, both driving any :class:`fastgd.Optimizer` through its ``param_groups`` only
(each scheduler reads and writes ``group["lr"]``, and the momentum schedules ``momentum``
or ``betas[0]``), so they work with every optimizer and every backend:

- torch.optim.lr_scheduler's schedulers (torch 2.13), with torch's names, arguments,
  defaults, formulas and behaviour: :class:`LambdaLR`, :class:`MultiplicativeLR`,
  :class:`StepLR`, :class:`MultiStepLR`, :class:`ConstantLR`, :class:`LinearLR`,
  :class:`ExponentialLR`, :class:`PolynomialLR`, :class:`CosineAnnealingLR`,
  :class:`CosineAnnealingWarmRestarts`, :class:`CyclicLR`, :class:`OneCycleLR`,
  :class:`ReduceLROnPlateau`, :class:`SequentialLR`, :class:`ChainedScheduler`, and
  their base class :class:`LRScheduler`. The learning rates are computed with torch's
  expressions, in torch's order of floating-point operations, so they are equal to
  torch's bit for bit. As in torch: the constructor performs the initial step (it sets
  ``group["initial_lr"]`` and the first learning rate), ``step()`` is called after the
  optimizer's ``step``, ``last_epoch`` counts the scheduler's steps, ``get_last_lr()``
  returns the learning rates last set, ``step(epoch)`` (deprecated in torch) uses the
  closed form where there is one, and ``state_dict()`` holds every attribute but the
  optimizer (functions and lambdas are left out; a callable object's ``__dict__`` is
  kept). The state dicts have torch's keys and values: one saved by torch loads here.

- scikit-learn's SGD learning-rate rules (``SGDClassifier``/``SGDRegressor``'s
  ``learning_rate``), as schedulers: :class:`OptimalLR` (``'optimal'``),
  :class:`InvScalingLR` (``'invscaling'``) and :class:`AdaptiveLR` (``'adaptive'``).
  scikit-learn updates once per sample and counts its updates with ``t``, starting at 1;
  here ``t`` counts the optimizer's steps the same way: the learning rate of the ``t``-th
  step is scikit-learn's ``eta`` at that ``t`` (``t = last_epoch + 1``).

Typical use::

    opt = fastgd.SGD([w], lr=0.1, momentum=0.9)
    sched = fastgd.lr_scheduler.CosineAnnealingLR(opt, T_max=100)
    for epoch in range(100):
        opt.step([grad(w)])
        sched.step()

Where torch differs from this module (all of it outside the learning rates): the
optimizer's type is checked first in every constructor; every argument is checked before
a constructor writes anything into the parameter groups (torch's ``CyclicLR`` and
``OneCycleLR`` write some values before their last checks); a NaN factor or fraction is
rejected with torch's message where torch's comparison lets it through; ``StepLR`` and
``CosineAnnealingLR`` reject a period that is not positive (torch accepts it and fails
with a ZeroDivisionError at the first step); ``state_dict()`` returns copies and
``load_state_dict`` does not change the dict it is given.
"""

from __future__ import annotations

import copy
import math
import types
import warnings
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from numbers import Integral, Real
from typing import Any, SupportsFloat

from fastgd.optim import Optimizer

__all__ = [
    "LRScheduler", "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR",
    "LinearLR", "ExponentialLR", "SequentialLR", "PolynomialLR", "CosineAnnealingLR",
    "ChainedScheduler", "ReduceLROnPlateau", "CyclicLR", "CosineAnnealingWarmRestarts",
    "OneCycleLR", "OptimalLR", "InvScalingLR", "AdaptiveLR",
]

EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being "
    "deprecated where possible. Please use `scheduler.step()` to step the "
    "scheduler. During the deprecation, if epoch is different from None, the "
    "closed form is used instead of the new chainable form, where available."
)
_ORDER_WARNING = (
    "Detected call of `lr_scheduler.step()` before `optimizer.step()`. "
    "You should call them in the opposite order: "
    "`optimizer.step()` before `lr_scheduler.step()`. Failure to do this "
    "will result in skipping the first value of the learning rate schedule."
)
_OVERRIDDEN_WARNING = (
    "Seems like `optimizer.step()` has been overridden after learning rate scheduler "
    "initialization. Please, make sure to call `optimizer.step()` before "
    "`lr_scheduler.step()`."
)
_GET_LR_WARNING = ("To get the last learning rate computed by the scheduler, "
                   "please use `get_last_lr()`.")


# -- helpers ------------------------------------------------------------------------------


def _check_optimizer(optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")


def _group_values(optimizer: Optimizer, key: str) -> list:
    """``group[key]`` of every parameter group, in order (KeyError where one lacks it)."""
    return [group[key] for group in optimizer.param_groups]


def _per_group(name: str, optimizer: Optimizer, value: Any) -> list:
    """One value per parameter group: a list or tuple of that length, or a scalar repeated."""
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{name} must have the same length as optimizer.param_groups. "
                             f"{name} has {len(value)} values, param_groups has {n}.")
        return list(value)
    return [value] * n


def _per_group_lambdas(optimizer: Optimizer, lr_lambda: Any) -> list:
    n = len(optimizer.param_groups)
    if not isinstance(lr_lambda, (list, tuple)):
        return [lr_lambda] * n
    if len(lr_lambda) != n:
        raise ValueError(f"Expected {n} lr_lambdas, but got {len(lr_lambda)}")
    return list(lr_lambda)


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


class _StepTracker:
    """Stands in for ``optimizer.step`` (on the instance): records that the optimizer has
    stepped, for the warning about calling the scheduler first, then steps it.

    It holds the optimizer itself rather than a weak reference, so that a pickled or
    deep-copied optimizer steps itself (the reference cycle is the garbage collector's).
    """

    _wrapped_by_lr_sched = True

    def __init__(self, optimizer: Optimizer, inner: Callable | None) -> None:
        self._optimizer = optimizer
        self._inner = inner  # a ``step`` the user set on the instance, else None
        self.__wrapped__ = inner if inner is not None else type(optimizer).step
        self.__doc__ = self.__wrapped__.__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        optimizer = self._optimizer
        optimizer._opt_called = True  # type: ignore[attr-defined]  # torch's flag, set here
        if self._inner is not None:
            return self._inner(*args, **kwargs)
        return type(optimizer).step(optimizer, *args, **kwargs)


def _track_steps(optimizer: Optimizer) -> None:
    if hasattr(optimizer.step, "_wrapped_by_lr_sched"):
        return
    optimizer.step = _StepTracker(  # type: ignore[method-assign]
        optimizer, optimizer.__dict__.get("step"))


def _callable_states(functions: list) -> list:
    """What a state dict keeps of each function: a callable object's ``__dict__``, or None
    for a plain function or lambda (which cannot be saved)."""
    return [None if isinstance(fn, types.FunctionType) else dict(fn.__dict__)
            for fn in functions]


# -- base class ---------------------------------------------------------------------------


class LRScheduler:
    """Base class of the schedulers: ``step()``, ``get_last_lr()``, ``state_dict()``.

    A subclass computes the next learning rates in :meth:`get_lr` (``last_epoch`` has
    already been advanced when it runs) and, where it has one, the closed form in
    ``_get_closed_form_lr`` (used by the deprecated ``step(epoch)``).

    Args:
        optimizer: a fastgd optimizer.
        last_epoch: the index of the last step taken; -1 (default) starts the schedule.
            Another value resumes it, and then needs ``initial_lr`` in every parameter
            group (as an optimizer's ``state_dict`` saved while a scheduler ran holds).

    Constructing a scheduler sets ``group["initial_lr"]`` (where the group has none) and
    then the learning rate of the first step: construct it before loading an optimizer's
    state dict, so that the loaded learning rates are the ones kept. Matches
    ``torch.optim.lr_scheduler.LRScheduler``.

    Example::

        class Halve(fastgd.lr_scheduler.LRScheduler):
            def get_lr(self):  # lr_t = lr_0 / 2^t
                return [g["initial_lr"] / 2**self.last_epoch
                        for g in self.optimizer.param_groups]

        opt = fastgd.SGD([np.zeros(2)], lr=1.0)
        sched = Halve(opt)
        for _ in range(2):
            opt.step([np.ones(2)])
            sched.step()
        assert sched.get_last_lr() == [0.25]
    """

    _get_lr_called_within_step: bool = False
    _is_initial: bool = False

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param 'initial_lr' is not specified in param_groups[{i}] when "
                        "resuming scheduler with last_epoch >= 0.\n"
                        "This typically happens when:\n"
                        "1. You're trying to resume training from a checkpoint but haven't "
                        "properly loaded the optimizer state\n"
                        "2. You're using last_epoch >= 0 for a fresh training run (not "
                        "recommended)")
        self.base_lrs: list = _group_values(optimizer, "initial_lr")
        self.last_epoch = last_epoch
        _track_steps(optimizer)
        self._initial_step()

    def _initial_step(self) -> None:
        """Reset the step count and take the constructor's step."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def _warn_outside_step(self) -> None:
        if not self._get_lr_called_within_step:
            warnings.warn(_GET_LR_WARNING, UserWarning, stacklevel=3)

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state: a copy of every attribute except the optimizer."""
        return {key: copy.deepcopy(value) for key, value in self.__dict__.items()
                if key != "optimizer"}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a :meth:`state_dict` (this module's or torch's scheduler of the same kind)."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a dict, got {type(state_dict).__name__}")
        self.__dict__.update(copy.deepcopy(dict(state_dict)))

    def get_last_lr(self) -> list[float]:
        """The learning rates the last step set, one per parameter group."""
        return self._last_lr

    def get_lr(self) -> list[float]:
        """The learning rates of the step being taken (call :meth:`get_last_lr` instead)."""
        raise NotImplementedError

    def step(self, epoch: int | None = None) -> None:
        """Advance the schedule by one step and set the learning rates; call it after the
        optimizer's ``step``. ``epoch`` (deprecated, as in torch) sets ``last_epoch`` and
        uses the closed form where the scheduler has one."""
        if self._step_count == 1:
            if not hasattr(self.optimizer.step, "_wrapped_by_lr_sched"):
                warnings.warn(_OVERRIDDEN_WARNING, UserWarning, stacklevel=2)
            elif not getattr(self.optimizer, "_opt_called", False):
                warnings.warn(_ORDER_WARNING, UserWarning, stacklevel=2)
        self._step_count += 1
        if epoch is not None:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        self._get_lr_called_within_step = True
        try:
            if epoch is None:
                self.last_epoch += 1
                values = self.get_lr()
            else:
                self.last_epoch = epoch
                closed_form = getattr(self, "_get_closed_form_lr", None)
                values = closed_form() if closed_form is not None else self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        for group, lr in zip(self.optimizer.param_groups, values, strict=True):
            group["lr"] = lr
        self._last_lr = _group_values(self.optimizer, "lr")


# -- torch.optim.lr_scheduler's schedulers -------------------------------------------------


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


class CyclicLR(LRScheduler):
    r"""Cyclical learning rate (Smith, 2017): the learning rate goes from ``base_lr`` up to
    ``max_lr`` in ``step_size_up`` steps and back in ``step_size_down`` steps, and the
    momentum the opposite way between ``max_momentum`` and ``base_momentum``.

    With :math:`c = \lfloor 1 + t/S \rfloor` (the cycle, :math:`S` = up + down steps),
    :math:`x = 1 + t/S - c` and :math:`r` = up / S, the position in the cycle is
    :math:`h = x/r` while :math:`x \le r`, else :math:`(x - 1)/(r - 1)`; then

    .. math:: \mathrm{lr}_t = \mathrm{base\_lr} + (\mathrm{max\_lr} - \mathrm{base\_lr})
              \, h \, f(\cdot), \quad
              m_t = \mathrm{max\_m} - (\mathrm{max\_m} - \mathrm{base\_m}) \, h \, f(\cdot)

    where ``f`` is the scale function of ``mode``: 'triangular' 1, 'triangular2'
    :math:`1/2^{c-1}` (both of the cycle :math:`c`), 'exp_range' :math:`\gamma^t` (of the
    step :math:`t`), or ``scale_fn`` of the cycle or of the step (``scale_mode``).
    ``cycle_momentum`` writes ``group["momentum"]``, or ``betas[0]`` for optimizers with
    ``betas`` (Adam, ...); it needs an optimizer that has one of them. Matches
    ``torch.optim.lr_scheduler.CyclicLR``; call ``step()`` after every batch.

    Args:
        optimizer: a fastgd optimizer.
        base_lr: the lower learning rate, one for all groups or a list.
        max_lr: the upper learning rate, one for all groups or a list.
        step_size_up: steps of the rising half (default 2000).
        step_size_down: steps of the falling half (default None: ``step_size_up``).
        mode: 'triangular' (default), 'triangular2' or 'exp_range'; ignored with scale_fn.
        gamma: the base of 'exp_range' (default 1.0).
        scale_fn: a function of one argument in [0, 1] replacing mode's (default None).
        scale_mode: 'cycle' (default) or 'iterations': what ``scale_fn`` takes.
        cycle_momentum: cycle the momentum too (default True).
        base_momentum: the lower momentum (default 0.8), one for all groups or a list.
        max_momentum: the upper momentum (default 0.9), one for all groups or a list.
        last_epoch: the index of the last batch (default -1: start).

    Example::

        >>> import numpy as np, fastgd
        >>> w, g = np.zeros(3), np.ones(3)
        >>> opt = fastgd.SGD([w], lr=0.1, momentum=0.9)
        >>> sched = fastgd.lr_scheduler.CyclicLR(opt, base_lr=0.5, max_lr=1.0, step_size_up=2)
        >>> lrs = sched.get_last_lr()
        >>> for _ in range(4):
        ...     opt.step([g]); sched.step(); lrs += sched.get_last_lr()
        >>> lrs, opt.param_groups[0]["momentum"]
        ([0.5, 0.75, 1.0, 0.75, 0.5], 0.9)
    """

    def __init__(self, optimizer: Optimizer, base_lr: float | list[float],
                 max_lr: float | list[float], step_size_up: int = 2000,
                 step_size_down: int | None = None, mode: str = "triangular",
                 gamma: float = 1.0, scale_fn: Callable[[float], float] | None = None,
                 scale_mode: str = "cycle", cycle_momentum: bool = True,
                 base_momentum: float | list[float] = 0.8,
                 max_momentum: float | list[float] = 0.9, last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        base_lrs = _per_group("base_lr", optimizer, base_lr)
        max_lrs = _per_group("max_lr", optimizer, max_lr)
        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        total_size = up + down
        step_ratio = up / total_size
        if mode not in ["triangular", "triangular2", "exp_range"] and scale_fn is None:
            raise ValueError("mode is invalid and scale_fn is None")
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError("optimizer must support momentum or beta1 with "
                                 "`cycle_momentum` option enabled")
            base_momentums = _per_group("base_momentum", optimizer, base_momentum)
            max_momentums = _per_group("max_momentum", optimizer, max_momentum)
        # everything checked: now write
        self.optimizer = optimizer
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups, strict=True):
                group["lr"] = lr
        self.max_lrs = max_lrs
        self.total_size = total_size
        self.step_ratio = step_ratio
        self.mode = mode
        self.gamma = gamma
        self._scale_fn_custom = scale_fn
        self.scale_mode = scale_mode
        self._init_scale_fn()
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = "betas" in optimizer.defaults
            self.base_momentums = base_momentums
            self.max_momentums = max_momentums
            if last_epoch == -1:
                for m_max, m_base, group in zip(max_momentums, base_momentums,
                                                optimizer.param_groups, strict=True):
                    _set_momentum(group, self.use_beta1, m_max)
                    group["max_momentum"] = m_max
                    group["base_momentum"] = m_base
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def _init_scale_fn(self) -> None:
        # the built-in modes fix what their scale function takes
        if self._scale_fn_custom is None:
            if self.mode in ("triangular", "triangular2"):
                self.scale_mode = "cycle"
            elif self.mode == "exp_range":
                self.scale_mode = "iterations"

    def scale_fn(self, x: float) -> float:
        """The scale function: ``scale_fn`` if given, else the mode's."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma ** x

    def get_lr(self) -> list[float]:
        """The learning rates of this step; sets the momentum too (``cycle_momentum``)."""
        self._warn_outside_step()
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        if x <= self.step_ratio:
            scale_factor = x / self.step_ratio
        else:
            scale_factor = (x - 1) / (self.step_ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        lrs = [base_lr + (max_lr - base_lr) * scale_factor * scale
               for base_lr, max_lr in zip(self.base_lrs, self.max_lrs, strict=True)]
        if self.cycle_momentum:
            momenta = [m_max - (m_max - m_base) * scale_factor * scale
                       for m_base, m_max in zip(self.base_momentums, self.max_momentums,
                                                strict=True)]
            for group, momentum in zip(self.optimizer.param_groups, momenta, strict=True):
                _set_momentum(group, self.use_beta1, momentum)
        return lrs

    def state_dict(self) -> dict[str, Any]:
        """The state; of ``scale_fn``, only a callable object's ``__dict__``."""
        state = {key: copy.deepcopy(value) for key, value in self.__dict__.items()
                 if key not in ("optimizer", "_scale_fn_custom")}
        state["_scale_fn_custom"] = (None if self._scale_fn_custom is None
                                     else _callable_states([self._scale_fn_custom])[0])
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a :meth:`state_dict`; a saved ``__dict__`` updates ``scale_fn``'s."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a dict, got {type(state_dict).__name__}")
        saved = dict(state_dict)
        fn_state = saved.pop("_scale_fn_custom")
        saved.pop("_scale_fn_ref", None)
        self.__dict__.update(copy.deepcopy(saved))
        if fn_state is not None:
            self._scale_fn_custom.__dict__.update(fn_state)
        self._init_scale_fn()


def _set_momentum(group: dict, use_beta1: bool, momentum: float) -> None:
    if use_beta1:
        group["betas"] = (momentum, *group["betas"][1:])
    else:
        group["momentum"] = momentum


class CosineAnnealingWarmRestarts(LRScheduler):
    r"""Cosine annealing with warm restarts (SGDR): restart every ``T_i`` steps, the period
    growing by ``T_mult`` after each restart.

    .. math:: \eta_t = \eta_{\min} + \tfrac12(\mathrm{base\_lr} - \eta_{\min})
              \left(1 + \cos\frac{T_{cur}\pi}{T_i}\right)

    with :math:`T_{cur}` the steps since the last restart and :math:`T_0` the first period.
    ``step(epoch)`` also takes a fractional epoch (e.g. ``epoch + i / iters``), without a
    warning, as in torch. Matches ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts``.

    Args:
        optimizer: a fastgd optimizer.
        T_0: the first period, a positive int.
        T_mult: the growth of the period, an int >= 1 (default 1).
        eta_min: the minimum learning rate (default 0.0).
        last_epoch: the index of the last step (default -1: start).

    Example::

        >>> import numpy as np, fastgd
        >>> w, g = np.zeros(3), np.ones(3)
        >>> opt = fastgd.SGD([w], lr=1.0)
        >>> sched = fastgd.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2)
        >>> lrs = sched.get_last_lr()
        >>> for _ in range(4):
        ...     opt.step([g]); sched.step(); lrs += sched.get_last_lr()
        >>> [round(lr, 12) for lr in lrs]
        [1.0, 0.5, 1.0, 0.5, 1.0]
    """

    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        if T_0 <= 0 or not isinstance(T_0, int):
            raise ValueError(f"Expected positive integer T_0, but got {T_0}")
        if T_mult < 1 or not isinstance(T_mult, int):
            raise ValueError(f"Expected integer T_mult >= 1, but got {T_mult}")
        if not isinstance(eta_min, (float, int)):
            raise ValueError(f"Expected float or int eta_min, but got {eta_min} of type "
                             f"{type(eta_min)}")
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur: float = last_epoch  # a float after step(epoch) with a fractional epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        self._warn_outside_step()
        return [self.eta_min + (base_lr - self.eta_min)
                * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
                for base_lr in self.base_lrs]

    def step(self, epoch: float | None = None) -> None:
        """Advance by one step, or go to ``epoch`` (possibly fractional)."""
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            if epoch < 0:
                raise ValueError(f"Expected non-negative epoch, but got {epoch}")
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:
                    n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult ** n
            else:
                self.T_i = self.T_0
                self.T_cur = epoch
        self.last_epoch = math.floor(epoch)
        self._get_lr_called_within_step = True
        try:
            values = self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        for group, lr in zip(self.optimizer.param_groups, values, strict=True):
            group["lr"] = lr
        self._last_lr = _group_values(self.optimizer, "lr")


class OneCycleLR(LRScheduler):
    r"""The 1cycle policy (Smith & Topin, 2017): the learning rate rises from
    ``max_lr / div_factor`` to ``max_lr`` over the first ``pct_start`` of ``total_steps``,
    then anneals to ``initial_lr / final_div_factor``; the momentum goes the opposite way
    between ``max_momentum`` and ``base_momentum``.

    Phases (``three_phase=False``, fastai's): up to step ``pct_start * total_steps - 1``,
    from ``initial_lr`` to ``max_lr``; then to step ``total_steps - 1``, from ``max_lr``
    to ``min_lr``. With ``three_phase=True`` (the paper's): up, down to ``initial_lr`` by
    step ``2 * pct_start * total_steps - 2``, then down to ``min_lr``. Within a phase,
    with :math:`p` = (step - phase start) / (phase end - phase start):

    .. math:: \text{cos: } e + \frac{s - e}{2}(1 + \cos \pi p), \qquad
              \text{linear: } (e - s) p + s

    from start value :math:`s` to end value :math:`e`. The values are kept in every
    parameter group (``initial_lr``, ``max_lr``, ``min_lr``, ``max_momentum``,
    ``base_momentum``); ``cycle_momentum`` writes ``group["momentum"]``, or ``betas[0]``
    for optimizers with ``betas``. Stepping past ``total_steps`` is a ValueError. Matches
    ``torch.optim.lr_scheduler.OneCycleLR``; call ``step()`` after every batch.

    Args:
        optimizer: a fastgd optimizer.
        max_lr: the peak learning rate, one for all groups or a list.
        total_steps: the number of steps (default None: ``epochs * steps_per_epoch``).
        epochs, steps_per_epoch: the alternative to ``total_steps`` (default None).
        pct_start: the fraction of the cycle spent rising, a float (default 0.3).
        anneal_strategy: 'cos' (default) or 'linear'.
        cycle_momentum: cycle the momentum too (default True).
        base_momentum: the lower momentum (default 0.85), one for all groups or a list.
        max_momentum: the upper momentum (default 0.95), one for all groups or a list.
        div_factor: ``initial_lr = max_lr / div_factor`` (default 25.0).
        final_div_factor: ``min_lr = initial_lr / final_div_factor`` (default 1e4).
        three_phase: the paper's three phases (default False).
        last_epoch: the index of the last batch (default -1: start).

    Example::

        >>> import numpy as np, fastgd
        >>> w, g = np.zeros(3), np.ones(3)
        >>> opt = fastgd.Adam([w])
        >>> sched = fastgd.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10,
        ...                                        anneal_strategy="linear")
        >>> sched.get_last_lr(), opt.param_groups[0]["betas"]
        ([0.04], (0.95, 0.999))
        >>> for _ in range(2):
        ...     opt.step([g]); sched.step()
        >>> sched.get_last_lr(), opt.param_groups[0]["betas"]
        ([1.0], (0.85, 0.999))
    """

    def __init__(self, optimizer: Optimizer, max_lr: float | list[float],
                 total_steps: int | None = None, epochs: int | None = None,
                 steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: float | list[float] = 0.85,
                 max_momentum: float | list[float] = 0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        if total_steps is not None:
            if total_steps <= 0 or not isinstance(total_steps, int):
                raise ValueError(f"Expected positive integer total_steps, but got "
                                 f"{total_steps}")
        elif epochs is not None and steps_per_epoch is not None:
            if not isinstance(epochs, int) or epochs <= 0:
                raise ValueError(f"Expected positive integer epochs, but got {epochs}")
            if not isinstance(steps_per_epoch, int) or steps_per_epoch <= 0:
                raise ValueError(f"Expected positive integer steps_per_epoch, but got "
                                 f"{steps_per_epoch}")
            total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("You must define either total_steps OR (epochs AND "
                             "steps_per_epoch)")
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        if anneal_strategy not in ["cos", "linear"]:
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got "
                             f"{anneal_strategy}")
        max_lrs = _per_group("max_lr", optimizer, max_lr)
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError("optimizer must support momentum or beta1 with "
                                 "`cycle_momentum` option enabled")
            max_momentums = _per_group("max_momentum", optimizer, max_momentum)
            base_momentums = _per_group("base_momentum", optimizer, base_momentum)
        # everything checked: now write
        self.optimizer = optimizer
        self.total_steps = total_steps
        rise_end = float(pct_start * total_steps) - 1
        if three_phase:
            self._schedule_phases = [
                _phase(rise_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                _phase(float(2 * pct_start * total_steps) - 2, "max_lr", "initial_lr",
                       "base_momentum", "max_momentum"),
                _phase(total_steps - 1, "initial_lr", "min_lr", "max_momentum",
                       "max_momentum"),
            ]
        else:
            self._schedule_phases = [
                _phase(rise_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                _phase(total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"),
            ]
        self._anneal_func_type = anneal_strategy
        if last_epoch == -1:
            for peak, group in zip(max_lrs, optimizer.param_groups, strict=True):
                group["initial_lr"] = peak / div_factor
                group["max_lr"] = peak
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = "betas" in optimizer.defaults
            if last_epoch == -1:
                for m_max, m_base, group in zip(max_momentums, base_momentums,
                                                optimizer.param_groups, strict=True):
                    _set_momentum(group, self.use_beta1, m_max)
                    group["max_momentum"] = m_max
                    group["base_momentum"] = m_base
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        if self._anneal_func_type == "linear":
            return (end - start) * pct + start
        raise ValueError(f"Unknown _anneal_func_type: {self._anneal_func_type}")

    def get_lr(self) -> list[float]:
        """The learning rates of this step; sets the momentum too (``cycle_momentum``)."""
        self._warn_outside_step()
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"Tried to step {step} times. The specified number of total "
                             f"steps is {self.total_steps}")
        lrs = []
        last = len(self._schedule_phases) - 1
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step <= end_step or i == last:
                    pct = (step - start_step) / (end_step - start_step)
                    lr = self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct)
                    if self.cycle_momentum:
                        momentum = self._anneal(group[phase["start_momentum"]],
                                                group[phase["end_momentum"]], pct)
                    break
                start_step = phase["end_step"]
            lrs.append(lr)
            if self.cycle_momentum:
                _set_momentum(group, self.use_beta1, momentum)
        return lrs


def _phase(end_step: float, start_lr: str, end_lr: str, start_momentum: str,
           end_momentum: str) -> dict[str, Any]:
    return {"end_step": end_step, "start_lr": start_lr, "end_lr": end_lr,
            "start_momentum": start_momentum, "end_momentum": end_momentum}


# -- scikit-learn's SGD learning-rate rules --------------------------------------------------


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
