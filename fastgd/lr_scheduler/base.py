"""The base of every learning-rate scheduler: :class:`LRScheduler` (torch's step,
``get_last_lr``, state dict and step-order checks) and the helpers the schedulers share."""

from __future__ import annotations

import copy
import types
import warnings
from collections.abc import Callable, Mapping
from numbers import Real
from typing import Any

from fastgd.optim import Optimizer

__all__ = ["LRScheduler", "EPOCH_DEPRECATION_WARNING"]


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
        optimizer.note_step()  # torch's _opt_called flag
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
