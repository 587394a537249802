"""Every optimizer, by class name: the rule modules listed once, in the README's order.

:data:`OPTIMIZERS` maps a class name to its row (:class:`~fastgd.optim.spec.OptimizerSpec`)
and :data:`CLASSES` to its class; :func:`lookup` finds a class by name in any case, which
:func:`fastgd.minimize`, :func:`fastgd.fit`, the estimators and the command line use.
Adding an optimizer adds its module to :data:`RULES` (tests/optim/test_registry.py checks
that every module in ``fastgd/optim/`` with a row is listed here).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from fastgd.optim import (
    adabelief,
    adadelta,
    adafactor,
    adagrad,
    adam,
    adamax,
    asgd,
    lamb,
    lars,
    lbfgs,
    lion,
    lowbit,
    muon,
    nadam,
    radam,
    rmsprop,
    rprop,
    schedule_free,
    sgd,
    sophia,
    sparse_adam,
    yogi,
)
from fastgd.optim.optimizer import Optimizer
from fastgd.optim.spec import OptimizerSpec

__all__ = ["RULES", "OPTIMIZERS", "TABLE_OPTIMIZERS", "CLASSES", "get", "lookup",
           "markdown_table"]

#: The modules of the update rules, each holding one or more optimizer classes.
RULES: tuple[ModuleType, ...] = (
    sgd, adam, adagrad, rmsprop, adadelta, adamax, nadam, radam, rprop, asgd, adafactor,
    lion, adabelief, lamb, lars, yogi, sophia, schedule_free, muon, sparse_adam, lbfgs,
    lowbit,
)


def _classes_of(module: ModuleType) -> list[type[Optimizer]]:
    return [value for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, Optimizer)
            and value is not Optimizer and value.__module__ == "fastgd.optim"]


#: Every optimizer class, by class name.
CLASSES: dict[str, type[Optimizer]] = {
    cls.spec.name: cls for module in RULES for cls in _classes_of(module)}
#: Every optimizer's row, by class name.
OPTIMIZERS: dict[str, OptimizerSpec] = {name: cls.spec for name, cls in CLASSES.items()}
#: The rows whose step is one kernel of the element-wise table (``spec.kernel_table``):
#: those the generic machinery runs (the cached step, fit's fused epochs, flat buffers).
TABLE_OPTIMIZERS: dict[str, OptimizerSpec] = {
    name: spec for name, spec in OPTIMIZERS.items() if spec.kernel_table}


def get(name: str) -> OptimizerSpec:
    """The row of optimizer ``name`` (a class name such as ``'Adam'``)."""
    try:
        return OPTIMIZERS[name]
    except KeyError:
        raise KeyError(f"no optimizer named {name!r}; known: {', '.join(OPTIMIZERS)}") from None


def lookup(optimizer: Any) -> type[Optimizer]:
    """The optimizer class for ``optimizer``: a registry name in any case (``"sgd"``,
    ``"Adam"``, ``"adamw"``) or an :class:`~fastgd.optim.Optimizer` subclass, returned as
    it is. ValueError names the known optimizers otherwise.

    Example::

        from fastgd.optim.registry import lookup
        assert lookup("adamw") is fastgd.AdamW and lookup(fastgd.SGD) is fastgd.SGD
    """
    if isinstance(optimizer, type) and issubclass(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str):
        name = _BY_LOWER.get(optimizer.lower())
        if name is not None:
            return CLASSES[name]
    raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)} (any case) or an "
                     f"Optimizer class, got {optimizer!r}")


_BY_LOWER = {name.lower(): name for name in OPTIMIZERS}


def markdown_table() -> str:
    """The README's table of optimizers: name, the library it matches, the constructor's
    defaults and the state kept per parameter, one row per registry entry."""
    rows = ["| optimizer | matches | defaults | state per parameter |", "|---|---|---|---|"]
    for spec in OPTIMIZERS.values():
        defaults = ", ".join(f"{h.name}={h.default!r}" for h in spec.hyperparameters
                             if h.argument)
        state = (["step"] if spec.counts_steps else []) + list(spec.scalar_state) + [
            b.name for b in spec.state] + list(spec.state_doc)
        if spec.global_state:  # kept once, in the first parameter's entry (as torch)
            state.append(", ".join(spec.global_state) + " (once, not per parameter)")
        rows.append(f"| `{spec.name}` | `{spec.matches}` | `{defaults}` | "
                    f"{', '.join(state) or '-'} |")
    return "\n".join(rows) + "\n"
