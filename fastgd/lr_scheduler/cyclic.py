"""torch.optim.lr_scheduler's periodic schedules: :class:`CosineAnnealingWarmRestarts`,
:class:`CyclicLR` and :class:`OneCycleLR` (the last two cycle the momentum, ``momentum`` or
``betas[0]``, against the learning rate)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from typing import Any

from fastgd.lr_scheduler.base import (
    LRScheduler,
    _callable_states,
    _check_optimizer,
    _group_values,
    _per_group,
)
from fastgd.optim import Optimizer

__all__ = ["CyclicLR", "CosineAnnealingWarmRestarts", "OneCycleLR"]


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
