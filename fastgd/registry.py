"""The one table that describes every optimizer.

A row (:class:`OptimizerSpec`) gives the optimizer's name, the kernel that runs it, its
hyperparameters with defaults and types, the validation rules (torch's conditions and
messages, in torch's order), its state buffers and the option sets the parity tests run.
The classes in :mod:`fastgd.optim` and the tests are generated from these rows, so adding an
optimizer means: its reference formula, its C and Numba kernels, one row here.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Hyperparameter", "Rule", "StateBuffer", "OptimizerSpec", "OPTIMIZERS", "get",
           "update_rule", "class_doc"]


@dataclass(frozen=True)
class Hyperparameter:
    """A constructor argument stored in every parameter group.

    kind: ``"real"`` (a real number, not bool), ``"real_or_none"``, ``"bool"``, ``"betas"``
    (a pair of reals in [0, 1) by its rules) or ``"pair"`` (a pair checked by its own rule:
    Rprop's etas, Adafactor's eps).
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
    #: False when the update of an element depends on whole-tensor statistics (LAMB's and
    #: LARS's trust ratios, Adafactor's factored moments): stepping a flat ParamBuffer
    #: then differs from stepping the tensors one by one.
    elementwise: bool = True

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
    return Rule(lambda g: 0.0 <= g[name], "Invalid " + label + ": {" + name + "}")


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
    kind = ("bool" if isinstance(default, bool)
            else "betas" if isinstance(default, tuple) and len(default) == 2 else "real")
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


def _none_or_at_least_zero(name: str) -> Rule:
    """A hyperparameter that is None or a real number >= 0 (NaN rejected); its type is
    checked before the rules, as kind ``"real_or_none"``."""
    return Rule(lambda g: g[name] is None or 0.0 <= g[name],
                "Invalid " + name + " value: {" + name + "}")


# eps_root is not a torch.optim.Adam argument: None (the default) keeps torch's form, a
# number selects optax's (fastgd.reference.adam_eps_root). Its rule comes after torch's.
_EPS_ROOT = Hyperparameter(
    "eps_root", None, "real_or_none",
    "None: torch.optim.Adam's form, eps added to sqrt(v) / sqrt(1 - b2^t) (torch's "
    "default); a number >= 0: optax's form, m_hat / (sqrt(v_hat + eps_root) + eps) with "
    "v_hat = v / (1 - b2^t), as optax.adam (optax's default eps_root is 0.0), optax.adamw "
    "with decoupled weight decay (p - lr * (update + wd * p)), optax.amsgrad with amsgrad "
    "(maximum over the bias-corrected v_hat)",
    keyword_only=True)

_ADAM_HYPERPARAMETERS = (
    _h("lr", 1e-3, "learning rate"),
    _h("betas", (0.9, 0.999), "decay rates of the first and second moment averages"),
    _h("eps", 1e-8, "added to the bias-corrected root of the second moment"),
    _h("weight_decay", 0.0, "weight decay: an L2 term in the gradient, or decoupled"),
    _h("amsgrad", False, "use the maximum of past second moments (AMSGrad)"),
    _MAXIMIZE,
    _h("decoupled_weight_decay", False, "decay the weights directly (AdamW) instead of L2",
       keyword_only=True),
    _EPS_ROOT,
)
_ADAM_RULES = (_LR, _EPS, _beta(0), _beta(1), _WD, _none_or_at_least_zero("eps_root"))
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
    summary="RMSprop: steps scaled by a running root mean square (eps outside the root, "
            "or inside with eps_in_sqrt=True).",
    hyperparameters=(
        _h("lr", 1e-2, "learning rate"),
        _h("alpha", 0.99, "smoothing constant of the squared-gradient average"),
        _h("eps", 1e-8, "added to the root of the average"),
        _h("weight_decay", 0.0, "L2 penalty added to the gradient"),
        _h("momentum", 0.0, "momentum factor"),
        _h("centered", False, "normalise by the estimated variance of the gradient"),
        _MAXIMIZE,
        # not a torch.optim.RMSprop argument
        _h("eps_in_sqrt", False, "False: eps added outside the square root, sqrt(v) + eps "
           "(torch.optim.RMSprop, the default); True: inside, sqrt(v + eps) (optax.rmsprop's "
           "default form, with its initial_scale=0 and bias_correction=False)",
           keyword_only=True),
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
ADADELTA = OptimizerSpec(
    name="Adadelta",
    kernel="adadelta",
    matches="torch.optim.Adadelta",
    summary="Adadelta: steps scaled by the ratio of the running roots of past squared steps "
            "and squared gradients (eps inside both roots).",
    hyperparameters=(
        _h("lr", 1.0, "learning rate, scaling the step (not part of the accumulated steps)"),
        _h("rho", 0.9, "decay rate of the running averages, in [0, 1]"),
        _h("eps", 1e-6, "added inside both square roots"),
        _h("weight_decay", 0.0, "L2 penalty added to the gradient"),
        _MAXIMIZE,
    ),
    rules=(
        _LR,
        Rule(lambda g: 0.0 <= g["rho"] <= 1.0, "Invalid rho value: {rho}"),
        _EPS,
        _WD,
    ),
    state=(StateBuffer("square_avg"), StateBuffer("acc_delta")),
    variants=(
        {"lr": 1.0},
        {"lr": 0.5, "rho": 0.5, "weight_decay": 0.1},
        {"lr": 1.0, "eps": 1e-3, "maximize": True},
        {"lr": 0.3, "rho": 1.0},
        {"lr": 0.3, "rho": 0.0, "weight_decay": 0.2, "maximize": True},
    ),
)

ADAMAX = OptimizerSpec(
    name="Adamax",
    kernel="adamax",
    matches="torch.optim.Adamax",
    summary="Adamax: Adam with the running maximum of |g| (eps inside the maximum) in place "
            "of the root of the second moment.",
    hyperparameters=(
        _h("lr", 2e-3, "learning rate"),
        _h("betas", (0.9, 0.999), "decay rates of the first moment and of the maximum"),
        _h("eps", 1e-8, "added to |g| inside the maximum"),
        _h("weight_decay", 0.0, "L2 penalty added to the gradient"),
        _MAXIMIZE,
    ),
    rules=(_LR, _EPS, _beta(0), _beta(1), _WD),
    state=(StateBuffer("exp_avg"), StateBuffer("exp_inf")),
    variants=(
        {"lr": 0.01},
        {"lr": 0.01, "weight_decay": 0.05},
        {"lr": 0.01, "betas": (0.5, 0.8), "maximize": True},
        {"lr": 0.01, "eps": 1e-2},
        {"lr": 0.01, "betas": (0.0, 0.0), "weight_decay": 0.1},
    ),
)

NADAM = OptimizerSpec(
    name="NAdam",
    kernel="nadam",
    matches="torch.optim.NAdam",
    summary="NAdam: Adam with Nesterov momentum and Dozat's momentum schedule "
            "mu_t = beta1 * (1 - 0.5 * 0.96**(t * momentum_decay)).",
    hyperparameters=(
        _h("lr", 2e-3, "learning rate"),
        _h("betas", (0.9, 0.999), "decay rates of the first and second moment averages"),
        _h("eps", 1e-8, "added to the root of the bias-corrected second moment"),
        _h("weight_decay", 0.0, "weight decay: an L2 term in the gradient, or decoupled"),
        _h("momentum_decay", 4e-3, "momentum schedule decay (psi)"),
        _h("decoupled_weight_decay", False, "decay the weights directly (NAdamW) instead of "
           "L2"),
        _MAXIMIZE,
    ),
    rules=(
        _LR, _EPS, _beta(0), _beta(1), _WD,
        _at_least_zero("momentum_decay", "momentum_decay value"),
    ),
    state=(StateBuffer("exp_avg"), StateBuffer("exp_avg_sq")),
    # the product of the momentum schedule so far, kept rounded to float32 (as torch's
    # float32 tensor; see _plan_nadam)
    scalar_state={"mu_product": lambda group: 1.0},
    variants=(
        {"lr": 0.01},
        {"lr": 0.01, "weight_decay": 0.05},
        {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True},
        {"lr": 0.01, "momentum_decay": 0.3, "betas": (0.8, 0.9)},
        {"lr": 0.01, "maximize": True, "eps": 1e-3},
        {"lr": 0.01, "momentum_decay": 0.0, "betas": (0.0, 0.5)},
    ),
)

RADAM = OptimizerSpec(
    name="RAdam",
    kernel="radam",
    matches="torch.optim.RAdam",
    summary="RAdam: Adam whose adaptive step is rectified once the variance estimate is "
            "tractable (rho_t > 5), plain bias-corrected momentum before that.",
    hyperparameters=(
        _h("lr", 1e-3, "learning rate"),
        _h("betas", (0.9, 0.999), "decay rates of the first and second moment averages"),
        _h("eps", 1e-8, "added to the root of the second moment"),
        _h("weight_decay", 0.0, "weight decay: an L2 term in the gradient, or decoupled"),
        _h("decoupled_weight_decay", False, "decay the weights directly instead of L2"),
        _MAXIMIZE,
    ),
    rules=(_LR, _EPS, _beta(0), _beta(1), _WD),
    state=(StateBuffer("exp_avg"), StateBuffer("exp_avg_sq")),
    variants=(
        {"lr": 0.01},
        {"lr": 0.01, "weight_decay": 0.05},
        {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True},
        {"lr": 0.01, "betas": (0.8, 0.9), "maximize": True},
        {"lr": 0.01, "eps": 1e-3, "betas": (0.5, 0.99)},
        {"lr": 0.01, "betas": (0.9, 0.5)},  # rho_inf = 3: never rectified
    ),
)
# ---- end registry: adam-family ----

# ---- begin registry: torch-other (Rprop, ASGD, Adafactor) ----

def _pair(name: str, doc: str, default: tuple, **options: bool) -> Hyperparameter:
    return Hyperparameter(name, default, "pair", doc, **options)


def _pair_of_reals(name: str, first_may_be_none: bool = False) -> Rule:
    """A pair hyperparameter (torch's ``etas``, ``step_sizes``, Adafactor's ``eps``):
    TypeError unless it is a tuple or list of two real numbers (the first may be None
    where torch allows it). First among the rules: a wrong kind is a TypeError, before
    torch's ValueErrors."""
    from fastgd._checks import real

    def ok(group: Mapping[str, Any]) -> bool:
        value = group[name]
        what = "a pair (None or a real number, a real number)" if first_may_be_none \
            else "a pair of real numbers"
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise TypeError(f"{name} must be {what}, got {value!r}")
        for k, x in enumerate(value):
            if not (x is None and first_may_be_none and k == 0):
                real(f"{name}[{k}]", x)
        return True

    return Rule(ok, "")


def _not_nan(name: str) -> Rule:
    # torch does not validate these; NaN is rejected here, as NaN is everywhere
    return Rule(lambda g: not math.isnan(g[name]), "Invalid " + name + " value: {"
                + name + "}")


RPROP = OptimizerSpec(
    name="Rprop",
    kernel="rprop",
    matches="torch.optim.Rprop",
    summary="Rprop: per-coordinate step sizes grown or shrunk by the sign agreement of "
            "successive gradients; the step is the sign of the gradient.",
    hyperparameters=(
        _h("lr", 1e-2, "learning rate: the starting step size of every coordinate"),
        _pair("etas", "(etaminus, etaplus): step size factors when the gradient changes "
              "sign or keeps it", (0.5, 1.2)),
        _pair("step_sizes", "(minimal, maximal) step size", (1e-6, 50)),
        _MAXIMIZE,
    ),
    rules=(
        _pair_of_reals("etas"),
        _pair_of_reals("step_sizes"),
        _LR,
        Rule(lambda g: 0.0 < g["etas"][0] < 1.0 < g["etas"][1],
             "Invalid eta values: {etas[0]}, {etas[1]}"),
        # torch does not validate step_sizes; NaN is rejected here, as NaN is everywhere
        Rule(lambda g: not any(math.isnan(x) for x in g["step_sizes"]),
             "Invalid step_sizes values: {step_sizes[0]}, {step_sizes[1]}"),
    ),
    state=(StateBuffer("prev"), StateBuffer("step_size", fill="lr")),
    variants=(
        {},
        {"lr": 0.05},
        {"lr": 0.05, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.2)},
        {"lr": 0.02, "maximize": True},
        {"lr": 0.05, "etas": (0.9, 1.01), "step_sizes": (0.0, math.inf)},
        {"lr": 0.05, "step_sizes": (0.04, 0.01)},  # min > max: clamp gives the max
    ),
)

ASGD = OptimizerSpec(
    name="ASGD",
    kernel="asgd",
    matches="torch.optim.ASGD",
    summary="Averaged SGD: SGD with a decaying step size and a running average of the "
            "iterates (averaged()), from step t0 on.",
    hyperparameters=(
        _h("lr", 1e-2, "learning rate"),
        _h("lambd", 1e-4, "decay term: eta = lr / (1 + lambd * lr * t) ** alpha, and the "
           "parameter shrinks by 1 - lambd * eta each step"),
        _h("alpha", 0.75, "power of the eta decay"),
        _h("t0", 1e6, "step at which averaging starts"),
        _h("weight_decay", 0, "L2 penalty added to the gradient"),
        _h("maximize", False, "maximize the objective instead of minimizing it"),
    ),
    rules=(
        _LR,
        _WD,
        _not_nan("lambd"),
        _not_nan("alpha"),
        _not_nan("t0"),
    ),
    state=(StateBuffer("ax"),),
    scalar_state={"eta": lambda g: _asgd_start_eta(g["lr"]), "mu": lambda g: 1.0},
    variants=(
        {},
        {"lr": 0.05},
        {"lr": 0.05, "t0": 10},
        {"lr": 0.05, "t0": 5, "lambd": 0.01, "alpha": 0.5, "weight_decay": 0.1},
        {"lr": 0.05, "t0": 20, "maximize": True},
        {"lr": 0.1, "lambd": 0.0, "t0": 0},
    ),
)


def _asgd_start_eta(lr: float) -> float:
    from fastgd.reference import asgd_schedule
    return asgd_schedule(lr, 0.0, 0.0, 0.0, 0)[0]


ADAFACTOR = OptimizerSpec(
    name="Adafactor",
    elementwise=False,
    kernel="adafactor",
    matches="torch.optim.Adafactor",
    summary="Adafactor: a factored second moment (row and column means of g**2 over the "
            "last two dimensions), relative step sizes and update clipping; no momentum.",
    hyperparameters=(
        _h("lr", 1e-2, "learning rate: the cap of the relative step min(lr, 1/sqrt(t))"),
        _h("beta2_decay", -0.8, "the second-moment weight of step t is t**beta2_decay"),
        _pair("eps", "(eps1, eps2): eps1 bounds the second moment from below (None: the "
              "machine epsilon of the parameter's dtype), eps2 the parameter scale",
              (None, 1e-3)),
        _h("d", 1.0, "clipping threshold of the update's RMS"),
        _h("weight_decay", 0.0, "decoupled weight decay: p <- p * (1 - lr * weight_decay)"),
        _MAXIMIZE,
    ),
    rules=(
        _pair_of_reals("eps", first_may_be_none=True),
        Rule(lambda g: 0.0 <= g["lr"], "Learning rate should be >= 0 but is: {lr}"),
        Rule(lambda g: 0.0 >= g["beta2_decay"], "beta2_decay should be <= 0 but is: "
             "{beta2_decay}"),
        Rule(lambda g: g["eps"][0] is None or 0.0 <= g["eps"][0],
             "epsilon1 should be >= 0 but is: {eps[0]}"),
        Rule(lambda g: 0.0 <= g["eps"][1], "epsilon2 should be >= 0 but is: {eps[1]}"),
        Rule(lambda g: 1.0 <= g["d"], "Clipping threshold d should be >= 1 but is: {d}"),
        Rule(lambda g: 0.0 <= g["weight_decay"],
             "weight_decay should be >= 0 but is: {weight_decay}"),
    ),
    # per parameter: row_var and col_var (two or more dimensions) or variance (fewer),
    # made by fastgd.optim's Adafactor mixin with torch's shapes
    state=(StateBuffer("row_var"), StateBuffer("col_var"), StateBuffer("variance")),
    variants=(
        {},
        {"lr": 0.05},
        {"lr": 0.5},
        {"lr": 0.05, "weight_decay": 0.1},
        {"lr": 0.05, "maximize": True},
        {"lr": 0.05, "beta2_decay": -1.0, "d": 1.5},
        {"lr": 0.05, "eps": (1e-3, 0.1)},
        {"lr": 0.05, "eps": (1e-30, 1e-3), "d": 10.0, "beta2_decay": -0.5},
    ),
)
# ---- end registry: torch-other ----

# ---- begin registry: optax (Lion, AdaBelief, LAMB, LARS, Yogi) ----
_BETAS_RULES = (_beta(0), _beta(1))

LION = OptimizerSpec(
    name="Lion",
    kernel="lion",
    matches="optax.lion",
    summary="Lion: steps of lr * sign of a momentum mix; decoupled weight decay.",
    hyperparameters=(
        _h("lr", 1e-4, "learning rate"),
        _h("betas", (0.9, 0.99), "decay rates: beta1 mixes the step direction, beta2 the "
                                 "stored momentum"),
        _h("weight_decay", 0.0, "decoupled weight decay, p <- p * (1 - lr * weight_decay) "
                                "(optax.lion's default is 1e-3)"),
        _MAXIMIZE,
    ),
    rules=(_LR, *_BETAS_RULES, _WD),
    state=(StateBuffer("exp_avg"),),
    counts_steps=False,
    variants=(
        {"lr": 0.01},
        {"lr": 0.01, "weight_decay": 0.1},
        {"lr": 0.01, "betas": (0.5, 0.8), "weight_decay": 1e-3, "maximize": True},
        {"lr": 0.01, "betas": (0.0, 0.0)},
    ),
)

ADABELIEF = OptimizerSpec(
    name="AdaBelief",
    kernel="adabelief",
    matches="optax.adabelief",
    summary="AdaBelief: Adam with the variance of the gradient around its average "
            "(no rectification); decoupled weight decay.",
    hyperparameters=(
        _h("lr", 1e-3, "learning rate"),
        _h("betas", (0.9, 0.999), "decay rates of the first moment and of the squared "
                                  "prediction error"),
        _h("eps", 1e-16, "added to the bias-corrected root of the second moment"),
        _h("eps_root", 1e-16, "added to the second moment at every step (kept in the state)"),
        _h("weight_decay", 0.0, "decoupled weight decay, p <- p * (1 - lr * weight_decay), "
                                "as AdamW"),
        _MAXIMIZE,
    ),
    rules=(_LR, _EPS, _at_least_zero("eps_root", "eps_root value"), *_BETAS_RULES, _WD),
    state=(StateBuffer("exp_avg"), StateBuffer("exp_avg_var")),
    variants=(
        {"lr": 0.01},
        {"lr": 0.01, "weight_decay": 0.1},
        {"lr": 0.01, "betas": (0.5, 0.9), "eps": 1e-8, "eps_root": 0.0, "maximize": True},
        {"lr": 0.01, "eps": 1e-3, "eps_root": 1e-6, "weight_decay": 0.01},
    ),
)

LAMB = OptimizerSpec(
    name="LAMB",
    elementwise=False,
    kernel="lamb",
    matches="optax.lamb",
    summary="LAMB: the Adam step plus weight decay, scaled per tensor by ||p|| / ||step||.",
    hyperparameters=(
        _h("lr", 1e-3, "learning rate"),
        _h("betas", (0.9, 0.999), "decay rates of the first and second moment averages"),
        _h("eps", 1e-6, "added to the bias-corrected root of the second moment"),
        _h("weight_decay", 0.0, "weight decay added to the Adam step before the trust ratio"),
        _MAXIMIZE,
    ),
    rules=(_LR, _EPS, *_BETAS_RULES, _WD),
    state=(StateBuffer("exp_avg"), StateBuffer("exp_avg_sq")),
    variants=(
        {"lr": 0.01},
        {"lr": 0.01, "weight_decay": 0.1},
        {"lr": 0.01, "betas": (0.5, 0.9), "eps": 1e-3, "maximize": True},
        {"lr": 0.01, "weight_decay": 0.01, "maximize": True, "betas": (0.0, 0.5)},
    ),
)

LARS = OptimizerSpec(
    name="LARS",
    elementwise=False,
    kernel="lars",
    matches="optax.lars",
    summary="LARS: SGD with momentum, each tensor's step scaled by "
            "trust_coefficient * ||p|| / (||g + wd p|| + eps); lr applied before the momentum.",
    hyperparameters=(
        _h("lr", 1.0, "learning rate (applied before the momentum, as in optax and the paper)"),
        _h("momentum", 0.9, "momentum factor (0: no buffer)"),
        _h("weight_decay", 0.0, "L2 term added to the gradient before the trust ratio"),
        _h("trust_coefficient", 1e-3, "scale of the trust ratio"),
        _h("eps", 0.0, "added to the norm of the update in the trust ratio"),
        _h("nesterov", False, "use Nesterov momentum"),
        _MAXIMIZE,
    ),
    rules=(
        _LR,
        _MOMENTUM,
        _WD,
        Rule(lambda g: 0.0 < g["trust_coefficient"],
             "Invalid trust_coefficient value: {trust_coefficient}"),
        _EPS,
        Rule(lambda g: not g["nesterov"] or g["momentum"] > 0,
             "Nesterov momentum requires a momentum"),
    ),
    state=(StateBuffer("momentum_buffer", when=lambda g: g["momentum"] != 0),),
    counts_steps=False,
    variants=(
        {"lr": 0.5},
        {"lr": 0.5, "momentum": 0.0, "weight_decay": 0.1},
        {"lr": 0.5, "momentum": 0.5, "nesterov": True, "weight_decay": 0.01,
         "trust_coefficient": 0.02},
        {"lr": 0.5, "eps": 1e-3, "maximize": True, "trust_coefficient": 0.01},
    ),
)

YOGI = OptimizerSpec(
    name="Yogi",
    kernel="yogi",
    matches="optax.yogi",
    summary="Yogi: Adam with an additive second-moment update, v -= (1 - beta2) * "
            "sign(v - g^2) * g^2.",
    hyperparameters=(
        _h("lr", 1e-2, "learning rate"),
        _h("betas", (0.9, 0.999), "decay rates of the first and second moment estimates"),
        _h("eps", 1e-3, "added to the bias-corrected root of the second moment"),
        _h("initial_accumulator_value", 1e-6, "starting value of both moments (as optax)"),
        _MAXIMIZE,
    ),
    rules=(_LR, _EPS, *_BETAS_RULES,
           _at_least_zero("initial_accumulator_value", "initial_accumulator_value value")),
    state=(StateBuffer("exp_avg", fill="initial_accumulator_value"),
           StateBuffer("exp_avg_sq", fill="initial_accumulator_value")),
    variants=(
        {"lr": 0.05},
        {"lr": 0.05, "betas": (0.5, 0.9), "eps": 1e-6, "maximize": True},
        {"lr": 0.05, "initial_accumulator_value": 0.5},
    ),
)
# ---- end registry: optax ----

# ---- begin registry: sophia-schedulefree (Sophia, SGDScheduleFree, AdamWScheduleFree) ----


def _whole_number(name: str, low: int) -> Rule:
    # A count given as a real number: finite, whole and at least `low` (NaN fails).
    return Rule(lambda g: math.isfinite(g[name]) and g[name] == math.floor(g[name])
                and g[name] >= low, "Invalid " + name + " value: {" + name + "}")


SOPHIA = OptimizerSpec(
    name="Sophia",
    kernel="sophia",
    matches="paper: SophiaG, the official code of Liu et al. (2023)",
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


def markdown_table() -> str:
    """The README's table of optimizers: name, the library it matches, the constructor's
    defaults and the state kept per parameter, one row per registry entry."""
    rows = ["| optimizer | matches | defaults | state per parameter |", "|---|---|---|---|"]
    for spec in OPTIMIZERS.values():
        defaults = ", ".join(f"{h.name}={h.default!r}" for h in spec.hyperparameters
                             if h.argument)
        state = (["step"] if spec.counts_steps else []) + list(spec.scalar_state) + [
            b.name for b in spec.state]
        rows.append(f"| `{spec.name}` | `{spec.matches}` | `{defaults}` | "
                    f"{', '.join(state) or '-'} |")
    return "\n".join(rows) + "\n"


def get(name: str) -> OptimizerSpec:
    """The row of optimizer ``name`` (a class name such as ``'Adam'``)."""
    try:
        return OPTIMIZERS[name]
    except KeyError:
        raise KeyError(f"no optimizer named {name!r}; known: {', '.join(OPTIMIZERS)}") from None


def update_rule(spec: OptimizerSpec) -> str:
    """The ``.. math::`` block of the reference kernel's docstring
    (:func:`fastgd.reference.<kernel>`), dedented: the update rule that ``spec``'s optimizer
    runs, taken from the specification itself so that the class docstring cannot drift from
    it. Empty when the kernel's docstring has no math block."""
    from fastgd import reference  # reference imports nothing from here; lazy all the same

    lines = inspect.cleandoc(getattr(reference, spec.kernel).__doc__ or "").splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == ".. math::"]
    if not starts:
        return ""
    block = [lines[starts[0]].strip()]
    indent = len(lines[starts[0]]) - len(lines[starts[0]].lstrip())
    for line in lines[starts[0] + 1:]:
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        block.append(line[indent:])
    while block and not block[-1].strip():
        block.pop()
    return "\n".join(block)


def class_doc(spec: OptimizerSpec) -> str:
    """The docstring of the optimizer class generated from ``spec``: its summary, what it
    matches (``spec.matches``), the update rule in math (:func:`update_rule`), the
    constructor's arguments with their defaults, the state kept per parameter and an
    ``Example::`` block that runs with ``numpy as np`` and ``fastgd`` imported."""
    if spec.matches.startswith("torch."):
        match = (f"Matches ``{spec.matches}``: same arguments, defaults, update rule and "
                 f"validation.")
    elif spec.matches.startswith("paper: "):
        match = (f"Follows the update rule of {spec.matches[len('paper: '):]}, with "
                 f"torch-style arguments and validation.")
    else:
        match = (f"Follows ``{spec.matches}``'s update rule, with torch-style arguments and "
                 f"validation; the differences, where there are any, are in the reference's "
                 f"docstring.")
    lines = [spec.summary, "", match, ""]
    rule = update_rule(spec)
    if rule:
        lines += ["Update rule (per element; :math:`\\eta` the learning rate, :math:`g` the "
                  "gradient, :math:`p` the parameter, :math:`t` the step count):", "",
                  rule, ""]
    lines += [f"The reference implementation, with the rounding details, is "
              f":func:`fastgd.reference.{spec.kernel}`.", "", "Args:",
              "    params: a list of arrays (C-contiguous float32/float64, any shape), or a "
              "list of parameter-group dicts"]
    lines += [f"    {h.name}: {h.doc} (default {h.default!r})" for h in spec.hyperparameters
              if h.argument]
    lines += ["", "State per parameter (some entries only under the options or shapes that "
              "use them): " + ", ".join(
        (["step"] if spec.counts_steps else []) + list(spec.scalar_state)
        + [b.name for b in spec.state]) + ".", "",
        "Example::", "",
        "    w = np.array([1.0, -2.0, 0.5])",
        f"    opt = fastgd.{spec.name}([w], lr={spec.defaults['lr']!r})",
        "    for _ in range(3):",
        "        opt.step([2 * w])  # the gradient of sum(w**2); w is updated in place"]
    return "\n".join(lines)
