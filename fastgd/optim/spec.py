"""What describes an optimizer: its row (:class:`OptimizerSpec`) and the rules rows share.

A row gives the optimizer's name, the kernel that runs it, its hyperparameters with
defaults and types, the validation rules (torch's conditions and messages, in torch's
order) and its state. Each optimizer's row lives in its own module, ``fastgd/optim/<rule>.py``,
beside its plan; :mod:`fastgd.optim.registry` collects them. The class docstrings are made
here from the rows and from the reference kernels' ``.. math::`` blocks.
"""
from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fastgd.reference._checks import real
from fastgd.reference._declare import KERNELS  # full: importing fastgd.reference fills it

__all__ = ["Hyperparameter", "Rule", "StateBuffer", "OptimizerSpec", "update_rule", "class_doc",
           "LR", "EPS", "WD", "MOMENTUM", "MAXIMIZE", "BETAS_RULES", "hyper", "at_least_zero",
           "beta_rule", "pair", "pair_of_reals", "not_nan", "whole_number"]


@dataclass(frozen=True)
class Hyperparameter:
    """A constructor argument stored in every parameter group.

    kind: ``"real"`` (a real number, not bool), ``"real_or_none"``, ``"bool"``, ``"betas"``
    (a pair of reals in [0, 1) by its rules), ``"pair"`` (a pair checked by its own rule:
    Rprop's etas, Adafactor's eps), ``"int"`` / ``"int_or_none"`` (a count: L-BFGS's
    max_iter, max_eval) or ``"str_or_none"`` (a choice by name: L-BFGS's line_search_fn).
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
    """An array kept per parameter, of the parameter's dtype.

    Whether it exists under a group's options is not said here: the state holds exactly the
    buffers the row's kernel needs (its ``needed``, :mod:`fastgd.reference._declare`) under
    the group's options (see :meth:`OptimizerSpec.buffers`). ``fill`` names the group
    hyperparameter it starts at (None: zeros); ``from_first_grad`` marks a buffer that the
    first step creates from the gradient itself (SGD's momentum buffer); ``shape`` gives its
    shape from the parameter's (None: the parameter's shape, the array made like the
    parameter); ``role`` is the kernel's name for it where that is not ``name`` (Adagrad's
    ``sum`` is the kernel's ``state_sum``); ``from_param`` makes it start as a copy of the
    parameter instead of zeros (the schedule-free iterate z).
    """

    name: str
    fill: str | None = None
    from_first_grad: bool = False
    shape: Callable[[tuple[int, ...]], tuple[int, ...]] | None = None
    role: str | None = None
    from_param: bool = False


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
    #: Real numbers kept per parameter beside the arrays (ASGD's eta and mu, NAdam's
    #: mu_product): name -> its start value, from the group's hyperparameters.
    scalar_state: Mapping[str, Callable[[Mapping[str, Any]], float]] = field(
        default_factory=dict)
    #: False when the update of an element depends on whole-tensor statistics (LAMB's and
    #: LARS's trust ratios, Adafactor's factored moments): stepping a flat ParamBuffer
    #: then differs from stepping the tensors one by one.
    elementwise: bool = True
    #: Hyperparameters that torch.optim's state dicts (torch 2.13) lack: a group loaded from
    #: torch keeps their defaults (torch's form of the update).
    optional_on_load: frozenset[str] = frozenset()
    #: Values the class fixes whatever a loaded group says, as torch.optim.AdamW.__setstate__
    #: does (a state dict of Adam loaded into AdamW gives AdamW's update).
    fixed_on_load: Mapping[str, Any] = field(default_factory=dict)
    #: True when the plan of one tensor depends on the group's other tensors or on the
    #: tensor's number of dimensions (Adafactor: factored moments for ndim >= 2, and eps
    #: resolved from the group's first parameter): the cached step keeps such tensors in
    #: separate native calls and gives up on groups of mixed dtypes.
    plan_by_ndim: bool = False
    #: The kernel's scalars and flags that depend on the parameter rather than on the
    #: group (Adafactor: ``factored`` for two or more dimensions), over the group's
    #: hyperparameters when the state's buffers are chosen (:meth:`buffers`). Every other
    #: option that decides a buffer is a hyperparameter of the kernel's scalar's name.
    parameter_scalars: Callable[[np.ndarray], Mapping[str, Any]] | None = None
    #: False for an optimizer whose step is not one element-wise kernel of the table
    #: (:data:`fastgd.reference._declare.KERNELS`): Muon's matrix iteration, SparseAdam's
    #: rows, L-BFGS's flat-vector work. ``kernel`` then names only its reference function
    #: (the specification, and the docstring's math); the class brings its own native calls
    #: (:attr:`step_functions`), there is no ``<kernel>_many`` and no cached step, and the
    #: state holds every buffer.
    kernel_table: bool = True
    #: The functions each backend module provides for an optimizer off the kernel table
    #: (``fastgd.backends.numpy.<name>``, ``numba_optim``'s, ``_core``'s), each specified
    #: by the function of that name in ``fastgd.reference``.
    step_functions: tuple[str, ...] = ()
    #: The class docstring's ``Example::`` lines, where the generic one (a 1-D array and
    #: its dense gradient) does not apply.
    example: tuple[str, ...] = ()
    #: The kind of step. False: ``step(grads)``. True: ``step(closure)`` evaluates the
    #: objective itself, as often as it needs, and works on the flat vector of all
    #: parameters (L-BFGS; off the kernel table, no fused training loop).
    closure: bool = False
    #: State kept once for the whole optimizer rather than per parameter (torch keeps it
    #: in the first parameter's state, and so does ``state_dict()``).
    global_state: tuple[str, ...] = ()
    #: The gradient is sparse: ``(indices, rows)`` or a ``scipy.sparse`` matrix, never a
    #: dense array (SparseAdam).
    sparse_grads: bool = False
    #: Per-parameter state entries kept outside ``state`` (the buffer table), listed in
    #: the docs: the low-bit optimizers' codes, block maxima and format fields.
    state_doc: tuple[str, ...] = ()

    @property
    def defaults(self) -> dict[str, Any]:
        return {h.name: h.default for h in self.hyperparameters}

    @functools.cached_property
    def hyperparameter_names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hyperparameters)

    @functools.cached_property
    def _buffer_roles(self) -> tuple[tuple[StateBuffer, int], ...]:
        """Each state buffer with its index among the kernel's roles."""
        roles = KERNELS[self.kernel].roles
        missing = [b.role or b.name for b in self.state if (b.role or b.name) not in roles]
        if missing:
            raise TypeError(f"{self.name}: state buffers {missing} are not buffers of the "
                            f"{self.kernel} kernel ({', '.join(roles[2:])})")
        return tuple((b, roles.index(b.role or b.name)) for b in self.state)

    def buffers(self, group: Mapping[str, Any],
                p: np.ndarray | None = None) -> tuple[StateBuffer, ...]:
        """The state buffers a parameter ``p`` of ``group`` holds: those the kernel needs
        (its ``needed``) under the group's hyperparameters, taken as the kernel's scalars
        and flags of the same names, with :attr:`parameter_scalars` of ``p`` over them.
        Without ``p``, where the buffers depend on the parameter: every buffer."""
        if not self.kernel_table:
            return self.state
        if self.parameter_scalars is not None:
            if p is None:
                return self.state
            group = {**group, **self.parameter_scalars(p)}
        needed = KERNELS[self.kernel].needed_roles(group)
        return tuple(b for b, r in self._buffer_roles if needed[r])


def at_least_zero(name: str, label: str) -> Rule:
    """The rule ``0 <= group[name]``, with torch's message ``Invalid <label>: <value>``.

    ``not 0.0 <= x`` is torch's test for most hyperparameters; it also rejects NaN."""
    return Rule(lambda g: 0.0 <= g[name], "Invalid " + label + ": {" + name + "}")


def beta_rule(index: int) -> Rule:
    """The rule ``0 <= betas[index] < 1``, with torch's message ``Invalid beta parameter
    at index <index>: <value>``."""
    return Rule(lambda g: 0.0 <= g["betas"][index] < 1.0,
                "Invalid beta parameter at index " + str(index) + ": {betas[" + str(index) + "]}")


#: torch's rule for ``lr``, at least 0, with its message (``Invalid learning rate: -0.1``).
LR = at_least_zero("lr", "learning rate")
#: torch's rule for ``eps``, at least 0.
EPS = at_least_zero("eps", "epsilon value")
#: torch's rule for ``weight_decay``, at least 0.
WD = at_least_zero("weight_decay", "weight_decay value")
#: torch's rule for ``momentum``, at least 0.
MOMENTUM = at_least_zero("momentum", "momentum value")
# torch does not validate dampening; a NaN one is rejected here, as NaN is everywhere.


def hyper(name: str, default: Any, doc: str, **options: bool) -> Hyperparameter:
    """A hyperparameter whose kind follows from its default: ``bool`` for a bool,
    ``betas`` for a pair, ``real`` otherwise; ``options`` are :class:`Hyperparameter`'s
    flags (``keyword_only=True``, ...)."""
    kind = ("bool" if isinstance(default, bool)
            else "betas" if isinstance(default, tuple) and len(default) == 2 else "real")
    return Hyperparameter(name, default, kind, doc, **options)


#: The ``maximize`` flag every optimizer has (keyword-only, default False).
MAXIMIZE = hyper("maximize", False, "maximize the objective instead of minimizing it",
               keyword_only=True)


def pair(name: str, doc: str, default: tuple, **options: bool) -> Hyperparameter:
    """A hyperparameter of kind ``pair`` (two values, such as Rprop's ``etas``); checked
    by :func:`pair_of_reals`."""
    return Hyperparameter(name, default, "pair", doc, **options)


def pair_of_reals(name: str, first_may_be_none: bool = False) -> Rule:
    """A pair hyperparameter (torch's ``etas``, ``step_sizes``, Adafactor's ``eps``):
    TypeError unless it is a tuple or list of two real numbers (the first may be None
    where torch allows it). First among the rules: a wrong kind is a TypeError, before
    torch's ValueErrors."""
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


def not_nan(name: str) -> Rule:
    """The rule ``group[name]`` is not NaN, for hyperparameters torch does not validate
    (NaN is rejected here, as it is everywhere)."""
    return Rule(lambda g: not math.isnan(g[name]), "Invalid " + name + " value: {"
                + name + "}")


#: torch's rules for ``betas``, each in [0, 1).
BETAS_RULES = (beta_rule(0), beta_rule(1))


def whole_number(name: str, low: int) -> Rule:
    """The rule for a count given as a real number: finite, whole and at least ``low``
    (NaN fails)."""
    return Rule(lambda g: math.isfinite(g[name]) and g[name] == math.floor(g[name])
                and g[name] >= low, "Invalid " + name + " value: {" + name + "}")


def update_rule(spec: OptimizerSpec) -> str:
    """The math block of the reference kernel's docstring
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
    if spec.closure:
        lines += ["``loss = opt.step(closure)``: ``closure()`` evaluates the objective at the "
                  "current values of the parameter arrays (which the optimizer changes in "
                  "place between calls, as often as it needs) and returns ``(loss, grads)``: "
                  "a real number and a list of gradients aligned with the parameters (arrays "
                  "of their shapes and dtypes; None counts as zeros). ``step`` returns the "
                  "loss of its first evaluation. If the closure raises or returns something "
                  "malformed, the parameters are put back and the state is unchanged.", ""]
    if rule and spec.closure:
        lines += ["Search direction (the two-loop recursion over the stored pairs; "
                  ":math:`g` the gradient of all parameters as one flat vector):", "",
                  rule, ""]
    elif rule:
        lines += ["Update rule (per element; :math:`\\eta` the learning rate, :math:`g` the "
                  "gradient, :math:`p` the parameter, :math:`t` the step count):", "",
                  rule, ""]
    lines += [f"The reference implementation, with the rounding details, is "
              f":func:`fastgd.reference.{spec.kernel}`.", "", "Args:",
              "    params: a list of arrays (C-contiguous float32/float64"
              + (", or bfloat16/float16 with float32 state" if spec.kernel_table else "")
              + ", any shape), or a list of parameter-group dicts"]
    lines += [f"    {h.name}: {h.doc} (default {h.default!r})" for h in spec.hyperparameters
              if h.argument]
    if spec.kernel_table:
        lines += ["    stochastic_rounding: round bfloat16 parameters stochastically (unbiased) "
                  "instead of to nearest even (default False): a 16-bit parameter is stepped "
                  "in float32 and rounded once per step (:mod:`fastgd.reference.lowp`)",
                  "    seed: the stochastic rounding's random numbers (default None: drawn "
                  "from the operating system; kept in ``state_dict()['rounding']``)"]
    if spec.closure:
        lines += ["", "State (once, in the first parameter's entry, as torch keeps it): "
                  + ", ".join(spec.global_state) + ".", "",
                  "Example::", "",
                  "    w = np.array([1.0, -2.0, 0.5])",
                  "    def closure():  # the objective and its gradients at the current w",
                  "        return float(w @ w), [2 * w]",
                  f"    opt = fastgd.{spec.name}([w])",
                  "    loss = opt.step(closure)  # w is updated in place; loss at the start",
                  "    assert loss == 5.25 and float(w @ w) < 1e-12"]
        return "\n".join(lines)
    lines += ["", "State per parameter (some entries only under the options or shapes that "
              "use them): " + ", ".join(
        (["step"] if spec.counts_steps else []) + list(spec.scalar_state)
        + [b.name for b in spec.state] + list(spec.state_doc)) + ".", "",
        "Example::", ""]
    lines += [f"    {line}" for line in spec.example] or [
        "    w = np.array([1.0, -2.0, 0.5])",
        f"    opt = fastgd.{spec.name}([w], lr={spec.defaults['lr']!r})",
        "    for _ in range(3):",
        "        opt.step([2 * w])  # the gradient of sum(w**2); w is updated in place"]
    return "\n".join(lines)
