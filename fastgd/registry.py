"""The one table that describes every optimizer.

A row (:class:`OptimizerSpec`) gives the optimizer's name, the kernel that runs it, its
hyperparameters with defaults and types, the validation rules (torch's conditions and
messages, in torch's order), its state buffers and the option sets the parity tests run.
The classes in :mod:`fastgd.optim` and the tests are generated from these rows, so adding an
optimizer means: its reference formula, its C and Numba kernels, one row here.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Hyperparameter", "Rule", "StateBuffer", "OptimizerSpec", "OPTIMIZERS", "get"]


@dataclass(frozen=True)
class Hyperparameter:
    """A constructor argument stored in every parameter group.

    kind: ``"real"`` (a real number, not bool), ``"bool"`` or ``"betas"`` (two reals).
    keyword_only: a keyword-only constructor argument (as in torch).
    argument: False for a value fixed by the class (AdamW's decoupled_weight_decay): it is
    in every group, as in torch, but not a constructor argument.
    """

    name: str
    default: Any
    kind: str
    doc: str
    keyword_only: bool = False
    argument: bool = True


@dataclass(frozen=True)
class Rule:
    """A validation rule: ``ok(group)`` must hold, else ``ValueError(message.format(**group))``."""

    ok: Callable[[Mapping[str, Any]], bool]
    message: str


@dataclass(frozen=True)
class StateBuffer:
    """An array of the parameter's shape and dtype kept per parameter.

    ``when(group)`` says whether the buffer exists under the group's options; ``fill`` names
    the group hyperparameter it starts at (None: zeros); ``from_first_grad`` marks a buffer
    that the first step creates from the gradient itself (SGD's momentum buffer).
    """

    name: str
    when: Callable[[Mapping[str, Any]], bool] = lambda group: True
    fill: str | None = None
    from_first_grad: bool = False


@dataclass(frozen=True)
class OptimizerSpec:
    name: str
    kernel: str
    matches: str
    summary: str
    hyperparameters: tuple[Hyperparameter, ...]
    rules: tuple[Rule, ...]
    state: tuple[StateBuffer, ...]
    #: True: state exists from construction (torch's Adagrad); False: from the first step.
    eager_state: bool = False
    #: True: a ``step`` counter is kept in each parameter's state.
    counts_steps: bool = True
    #: Option sets the parity tests run (each merged over the defaults).
    variants: tuple[dict, ...] = field(default=({},))
    #: Real numbers kept per parameter beside the arrays (ASGD's eta and mu, NAdam's
    #: mu_product): name -> its start value, from the group's hyperparameters.
    scalar_state: Mapping[str, Callable[[Mapping[str, Any]], float]] = field(
        default_factory=dict)

    @property
    def defaults(self) -> dict[str, Any]:
        return {h.name: h.default for h in self.hyperparameters}

    @functools.cached_property
    def hyperparameter_names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hyperparameters)

    def buffers(self, group: Mapping[str, Any]) -> tuple[StateBuffer, ...]:
        """The state buffers that exist under ``group``'s options."""
        return tuple(b for b in self.state if b.when(group))


def _at_least_zero(name: str, label: str) -> Rule:
    # `not 0.0 <= x` is torch's test for most hyperparameters; it also rejects NaN.
    return Rule(lambda g, n=name: 0.0 <= g[n], "Invalid " + label + ": {" + name + "}")


def _beta(index: int) -> Rule:
    return Rule(lambda g: 0.0 <= g["betas"][index] < 1.0,
                "Invalid beta parameter at index " + str(index) + ": {betas[" + str(index) + "]}")


_LR = _at_least_zero("lr", "learning rate")
_EPS = _at_least_zero("eps", "epsilon value")
_WD = _at_least_zero("weight_decay", "weight_decay value")
_MOMENTUM = _at_least_zero("momentum", "momentum value")
# torch does not validate dampening; a NaN one is rejected here, as NaN is everywhere.
_DAMPENING_NOT_NAN = Rule(lambda g: not math.isnan(g["dampening"]),
                          "Invalid dampening value: {dampening}")


def _h(name: str, default: Any, doc: str, **options: bool) -> Hyperparameter:
    kind = "bool" if isinstance(default, bool) else "betas" if name == "betas" else "real"
    return Hyperparameter(name, default, kind, doc, **options)


_MAXIMIZE = _h("maximize", False, "maximize the objective instead of minimizing it",
               keyword_only=True)


SGD = OptimizerSpec(
    name="SGD",
    kernel="sgd",
    matches="torch.optim.SGD",
    summary="Stochastic gradient descent, with optional (Nesterov) momentum.",
    hyperparameters=(
        _h("lr", 1e-3, "learning rate"),
        _h("momentum", 0.0, "momentum factor"),
        _h("dampening", 0.0, "dampening for momentum (not applied on the first step)"),
        _h("weight_decay", 0.0, "L2 penalty added to the gradient"),
        _h("nesterov", False, "use Nesterov momentum"),
        _MAXIMIZE,
    ),
    rules=(
        _LR,
        _MOMENTUM,
        _WD,
        _DAMPENING_NOT_NAN,
        Rule(lambda g: not g["nesterov"] or (g["momentum"] > 0 and g["dampening"] == 0),
             "Nesterov momentum requires a momentum and zero dampening"),
    ),
    state=(StateBuffer("momentum_buffer", when=lambda g: g["momentum"] != 0,
                       from_first_grad=True),),
    counts_steps=False,
    variants=(
        {"lr": 0.05},
        {"lr": 0.05, "momentum": 0.9},
        {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01},
        {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1},
        {"lr": 0.05, "momentum": 0.5, "maximize": True},
        {"lr": 0.05, "weight_decay": 0.1, "maximize": True},
    ),
)

_ADAM_HYPERPARAMETERS = (
    _h("lr", 1e-3, "learning rate"),
    _h("betas", (0.9, 0.999), "decay rates of the first and second moment averages"),
    _h("eps", 1e-8, "added to the bias-corrected root of the second moment"),
    _h("weight_decay", 0.0, "weight decay: an L2 term in the gradient, or decoupled"),
    _h("amsgrad", False, "use the maximum of past second moments (AMSGrad)"),
    _MAXIMIZE,
    _h("decoupled_weight_decay", False, "decay the weights directly (AdamW) instead of L2",
       keyword_only=True),
)
_ADAM_RULES = (_LR, _EPS, _beta(0), _beta(1), _WD)
_ADAM_STATE = (
    StateBuffer("exp_avg"),
    StateBuffer("exp_avg_sq"),
    StateBuffer("max_exp_avg_sq", when=lambda g: g["amsgrad"]),
)

ADAM = OptimizerSpec(
    name="Adam",
    kernel="adam",
    matches="torch.optim.Adam",
    summary="Adam: bias-corrected moment estimates; eps after the bias correction.",
    hyperparameters=_ADAM_HYPERPARAMETERS,
    rules=_ADAM_RULES,
    state=_ADAM_STATE,
    variants=(
        {"lr": 0.01},
        {"lr": 0.01, "weight_decay": 0.05},
        {"lr": 0.01, "amsgrad": True, "betas": (0.8, 0.9)},
        {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True, "amsgrad": True},
        {"lr": 0.01, "maximize": True, "eps": 1e-3},
        {"lr": 0.01, "betas": (0.0, 0.5)},
    ),
)

ADAMW = OptimizerSpec(
    name="AdamW",
    kernel="adam",
    matches="torch.optim.AdamW",
    summary="Adam with decoupled weight decay, p <- p * (1 - lr * weight_decay).",
    hyperparameters=tuple(
        _h("weight_decay", 1e-2, h.doc) if h.name == "weight_decay"
        else _h("decoupled_weight_decay", True, h.doc, argument=False)
        if h.name == "decoupled_weight_decay"
        else h
        for h in _ADAM_HYPERPARAMETERS),
    rules=_ADAM_RULES,
    state=_ADAM_STATE,
    variants=(
        {"lr": 0.01},
        {"lr": 0.01, "weight_decay": 0.3, "amsgrad": True},
        {"lr": 0.01, "weight_decay": 0.0, "maximize": True},
    ),
)

ADAGRAD = OptimizerSpec(
    name="Adagrad",
    kernel="adagrad",
    matches="torch.optim.Adagrad",
    summary="Adagrad: per-coordinate steps scaled by the root of the summed squared gradients.",
    hyperparameters=(
        _h("lr", 1e-2, "learning rate"),
        _h("lr_decay", 0.0, "learning-rate decay: lr / (1 + (t - 1) * lr_decay)"),
        _h("weight_decay", 0.0, "L2 penalty added to the gradient"),
        _h("initial_accumulator_value", 0.0, "starting value of the sum of squares"),
        _h("eps", 1e-10, "added to the root of the sum of squares"),
        _MAXIMIZE,
    ),
    rules=(
        _LR,
        _at_least_zero("lr_decay", "lr_decay value"),
        _WD,
        _at_least_zero("initial_accumulator_value", "initial_accumulator_value value"),
        _EPS,
    ),
    state=(StateBuffer("sum", fill="initial_accumulator_value"),),
    eager_state=True,
    variants=(
        {"lr": 0.1},
        {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1},
        {"lr": 0.1, "weight_decay": 0.05, "eps": 1e-3, "maximize": True},
    ),
)

RMSPROP = OptimizerSpec(
    name="RMSprop",
    kernel="rmsprop",
    matches="torch.optim.RMSprop",
    summary="RMSprop: steps scaled by a running root mean square (eps outside the root).",
    hyperparameters=(
        _h("lr", 1e-2, "learning rate"),
        _h("alpha", 0.99, "smoothing constant of the squared-gradient average"),
        _h("eps", 1e-8, "added to the root of the average"),
        _h("weight_decay", 0.0, "L2 penalty added to the gradient"),
        _h("momentum", 0.0, "momentum factor"),
        _h("centered", False, "normalise by the estimated variance of the gradient"),
        _MAXIMIZE,
    ),
    rules=(
        _LR,
        _EPS,
        _MOMENTUM,
        _WD,
        _at_least_zero("alpha", "alpha value"),
    ),
    state=(
        StateBuffer("square_avg"),
        StateBuffer("momentum_buffer", when=lambda g: g["momentum"] > 0),
        StateBuffer("grad_avg", when=lambda g: g["centered"]),
    ),
    variants=(
        {"lr": 0.01},
        {"lr": 0.01, "momentum": 0.9},
        {"lr": 0.01, "centered": True, "alpha": 0.9},
        {"lr": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.1},
        {"lr": 0.01, "maximize": True, "alpha": 0.3, "centered": True},
    ),
)

# ---- begin registry: adam-family (Adadelta, Adamax, NAdam, RAdam) ----
# ---- end registry: adam-family ----

# ---- begin registry: torch-other (Rprop, ASGD, Adafactor) ----
# ---- end registry: torch-other ----

# ---- begin registry: optax (Lion, AdaBelief, LAMB, LARS, Yogi) ----
# ---- end registry: optax ----

# ---- begin registry: sophia-schedulefree (Sophia, SGDScheduleFree, AdamWScheduleFree) ----


def _whole_number(name: str, low: int) -> Rule:
    # A count given as a real number: finite, whole and at least `low` (NaN fails).
    return Rule(lambda g, n=name: math.isfinite(g[n]) and g[n] == math.floor(g[n])
                and g[n] >= low, "Invalid " + name + " value: {" + name + "}")


SOPHIA = OptimizerSpec(
    name="Sophia",
    kernel="sophia",
    matches="optax.contrib.sophia",
    summary="Sophia (the official SophiaG update): momentum divided by a diagonal Hessian "
            "estimate, clipped to at most lr per coordinate; the Hessian estimates come from "
            "the caller through update_hessian() (see fastgd.hessian for the estimators).",
    hyperparameters=(
        _h("lr", 1e-4, "learning rate: the largest step of a coordinate"),
        _h("betas", (0.965, 0.99), "decay rates of the momentum and of the average of the "
           "Hessian estimates"),
        _h("rho", 0.04, "scale of the Hessian estimate in the denominator (the paper's "
           "gamma)"),
        _h("weight_decay", 0.1, "decoupled weight decay, p <- p * (1 - lr * weight_decay)"),
        _h("eps", 1e-15, "added to rho * h in the denominator"),
        _h("update_interval", 10, "steps between Hessian refreshes: hessian_due() is True "
           "after every update_interval-th step (the step itself does not use it)"),
        _MAXIMIZE,
    ),
    rules=(
        _LR,
        _beta(0),
        _beta(1),
        _at_least_zero("rho", "rho value"),
        _WD,
        _EPS,
        _whole_number("update_interval", 1),
    ),
    state=(StateBuffer("exp_avg"), StateBuffer("hessian")),
    # Against optax.contrib.sophia with a zero Hessian estimate (the only setting the
    # step-only parity protocol can share): see tests/test_sophia_schedulefree_sophia.py
    # for the update with Hessian estimates.
    variants=(
        {"lr": 0.01},
        {"lr": 0.01, "weight_decay": 0.0, "betas": (0.9, 0.95)},
        {"lr": 0.01, "maximize": True, "rho": 0.1},
        {"lr": 0.02, "betas": (0.0, 0.99), "update_interval": 3, "eps": 1e-12,
         "weight_decay": 0.3},
    ),
)

_SCHEDULE_FREE_COMMON = (
    _h("warmup_steps", 0, "steps of linear learning-rate warmup: lr * (k + 1) / warmup_steps "
       "at step k (from 0)"),
    _h("r", 0.0, "polynomial weighting of the average: weight (k + 1)**r * lr_max**"
       "weight_lr_power"),
    _h("weight_lr_power", 2.0, "power of the largest learning rate so far in the averaging "
       "weights"),
    _MAXIMIZE,
    _h("train_mode", True, "whether the parameters hold y (train(), for steps) or x "
       "(eval(), for evaluation)", argument=False),
)
_SCHEDULE_FREE_RULES = (
    _whole_number("warmup_steps", 0),
    _at_least_zero("r", "r value"),
    _at_least_zero("weight_lr_power", "weight_lr_power value"),
)
_SCHEDULE_FREE_SCALARS = {"weight_sum": lambda g: 0.0, "lr_max": lambda g: 0.0}

SGD_SCHEDULE_FREE = OptimizerSpec(
    name="SGDScheduleFree",
    kernel="sgd_schedule_free",
    matches="optax.contrib.schedule_free_sgd",
    summary="Schedule-Free SGD (Defazio et al. 2024; the schedulefree package's "
            "SGDScheduleFree): gradients at y, steps on z, x the weighted average of the z; "
            "train() and eval() switch the parameters between y and x.",
    hyperparameters=(
        _h("lr", 1.0, "learning rate (after the warmup)"),
        _h("momentum", 0.9, "interpolation y = momentum * x + (1 - momentum) * z, in (0, 1)"),
        _h("weight_decay", 0.0, "L2 penalty, at y, added to the gradient"),
        *_SCHEDULE_FREE_COMMON,
    ),
    rules=(
        _LR,
        _WD,
        Rule(lambda g: 0.0 < g["momentum"] < 1.0,
             "Momentum must be between 0 and 1 exclusive: {momentum}"),
        *_SCHEDULE_FREE_RULES,
    ),
    state=(StateBuffer("z"),),
    scalar_state=_SCHEDULE_FREE_SCALARS,
    variants=(
        {"lr": 0.1},
        {"lr": 0.1, "momentum": 0.5, "weight_decay": 0.05},
        {"lr": 0.1, "warmup_steps": 5, "weight_lr_power": 1.0},
        {"lr": 0.05, "maximize": True, "weight_lr_power": 0.0, "momentum": 0.98},
    ),
)

ADAMW_SCHEDULE_FREE = OptimizerSpec(
    name="AdamWScheduleFree",
    kernel="adamw_schedule_free",
    matches="optax.contrib.schedule_free_adamw",
    summary="Schedule-Free AdamW (Defazio et al. 2024; the schedulefree package's "
            "AdamWScheduleFree): Adam-normalised gradients at y, steps on z, x the weighted "
            "average of the z; train() and eval() switch the parameters between y and x.",
    hyperparameters=(
        _h("lr", 0.0025, "learning rate (after the warmup)"),
        _h("betas", (0.9, 0.999), "interpolation y = beta1 * x + (1 - beta1) * z, in (0, 1); "
           "decay rate of the second moment"),
        _h("eps", 1e-8, "added to the bias-corrected root of the second moment"),
        _h("weight_decay", 0.0, "weight decay at y, added to the normalised gradient"),
        *_SCHEDULE_FREE_COMMON,
    ),
    rules=(
        _LR,
        Rule(lambda g: 0.0 < g["betas"][0] < 1.0,
             "Invalid beta parameter at index 0: {betas[0]}"),
        _beta(1),
        _EPS,
        _WD,
        *_SCHEDULE_FREE_RULES,
    ),
    state=(StateBuffer("z"), StateBuffer("exp_avg_sq")),
    scalar_state=_SCHEDULE_FREE_SCALARS,
    variants=(
        {"lr": 0.01},
        {"lr": 0.01, "betas": (0.5, 0.9), "weight_decay": 0.1},
        {"lr": 0.02, "warmup_steps": 8, "eps": 1e-3},
        {"lr": 0.01, "maximize": True, "weight_lr_power": 1.0, "betas": (0.95, 0.99)},
    ),
)
# ---- end registry: sophia-schedulefree ----

#: Every optimizer, by class name.
OPTIMIZERS: dict[str, OptimizerSpec] = {
    spec.name: spec for spec in globals().values() if isinstance(spec, OptimizerSpec)}


def get(name: str) -> OptimizerSpec:
    """The row of optimizer ``name`` (a class name such as ``'Adam'``)."""
    try:
        return OPTIMIZERS[name]
    except KeyError:
        raise KeyError(f"no optimizer named {name!r}; known: {', '.join(OPTIMIZERS)}") from None
