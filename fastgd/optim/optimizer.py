"""Optimizer classes with torch.optim's interface, for NumPy arrays.

``opt = fastgd.Adam([w, b], lr=1e-3); opt.step([gw, gb])`` updates ``w`` and ``b`` in place.
Each optimizer class is made by :func:`make_class` from its row and its plan, in its own
module ``fastgd/optim/<rule>.py``; this module holds what they share.

Differences from torch.optim, on purpose:

- gradients are passed to :meth:`Optimizer.step` (a list aligned with the parameters of
  all groups, in order; ``None`` skips a parameter and its state), there is no ``.grad``;
- ``state`` is keyed by the parameter's index (NumPy arrays are not hashable), the same
  index ``state_dict()`` uses; ``step`` is a Python int;
- ``state_dict()`` returns copies of the state arrays;
- every hyperparameter of every group is validated (NaN is always invalid) when a group is
  added, loaded or changed, before the next step modifies anything;
- the same array (or overlapping memory) twice among the parameters is an error;
- a step is all or nothing: every gradient, every hyperparameter and every native call of
  the step is checked before the first array is written, and the state is committed after
  the last call; a gradient that shares memory with anything the step writes is copied
  first, so the result is always that of the gradients as passed;
- ``step(grads, nonfinite="raise" | "skip")`` refuses, or drops, a step whose gradients
  hold a NaN or an infinity (and then returns whether it applied the update); by default
  they propagate as in torch and ``step`` returns None;
- ``load_state_dict`` refuses a state dict of another optimizer (but Adam's and AdamW's,
  which have the same layout).
- bfloat16 (``ml_dtypes.bfloat16``) and float16 parameters of the element-wise optimizers
  keep float32 state; each step computes in float32 and rounds once to the parameter's
  dtype, to nearest even or, with ``stochastic_rounding=True`` (and ``seed=``),
  stochastically for bfloat16 (:mod:`fastgd.reference.lowp`);
  ``state_dict()`` then has a ``rounding`` entry (the mode, the seed and the count of
  rounding steps).

An optimizer is not thread-safe: calls on one optimizer from several threads at once must
be serialised by the caller (separate optimizers in separate threads are fine).
"""


from __future__ import annotations

import inspect
from collections.abc import Callable, Hashable, Mapping, Sequence
from numbers import Real
from typing import Any, ClassVar

import numpy as np

import fastgd.optim as _settings
from fastgd import backends
from fastgd.optim import _cached_step, _lowp
from fastgd.optim._aliasing import byte_bounds, unalias
from fastgd.optim._loading import check_saved_group_keys, loaded_state
from fastgd.optim._planning import apply
from fastgd.optim.spec import OptimizerSpec, class_doc
from fastgd.reference._checks import real
from fastgd.reference._declare import FLOAT_DTYPES

__all__ = ["Optimizer", "make_class", "check_nonfinite_option"]


def _check_param(index: int, p: Any, spec: OptimizerSpec | None = None,
                 rounding: Mapping[str, Any] | None = None) -> None:
    """TypeError/ValueError naming parameter ``index`` unless ``p`` is an array the
    optimizer of ``spec`` can update in place (bfloat16 and float16 too where its step is
    element-wise; float16 not under stochastic rounding)."""
    if not isinstance(p, np.ndarray):
        raise TypeError(f"optimizer can only optimize numpy arrays, but parameter {index} is "
                        f"a {type(p).__name__}")
    if p.dtype not in FLOAT_DTYPES:
        if not _lowp.is_low_precision(p.dtype):
            raise TypeError(f"parameter {index} has dtype {p.dtype}; fastgd optimizes "
                            f"float32 or float64 arrays, and bfloat16 or float16 ones with "
                            f"the element-wise optimizers")
        if spec is not None and not spec.kernel_table:
            raise TypeError(f"parameter {index} has dtype {p.dtype}; {spec.name} optimizes "
                            f"float32 or float64 arrays (bfloat16 and float16 parameters "
                            f"take the element-wise optimizers)")
        if p.dtype == np.float16 and rounding is not None and rounding["stochastic"]:
            raise TypeError(f"parameter {index} has dtype float16; stochastic_rounding=True "
                            f"rounds bfloat16 parameters only (float16 ones round to "
                            f"nearest: pass stochastic_rounding=False, or use bfloat16)")
    if not p.flags.c_contiguous:
        raise ValueError(f"parameter {index} (shape {p.shape}) is not C-contiguous; pass "
                         f"np.ascontiguousarray(p) and keep that array")
    if not p.flags.aligned:
        raise ValueError(f"parameter {index} is not aligned in memory; pass a copy, "
                         f"np.array(p), and keep that array")
    if not p.flags.writeable:
        raise ValueError(f"parameter {index} is read-only; the optimizer updates it in place")


def check_nonfinite_option(nonfinite: Any) -> None:
    if not (isinstance(nonfinite, str) and nonfinite in ("raise", "skip")):
        raise ValueError(f"nonfinite must be None, 'raise' or 'skip', got {nonfinite!r}")


class Optimizer:
    r"""Base class of the optimizers: parameter groups, validation, state, ``step`` and
    ``state_dict``, as ``torch.optim.Optimizer``.

    Each subclass is made from a row of :data:`fastgd.optim.registry.OPTIMIZERS` (its
    arguments, defaults, validation, state and kernel); ``step(grads)`` applies
    :math:`p \leftarrow \mathrm{update}(p, g, \mathrm{state})` to every parameter with a
    gradient, all or nothing (see :meth:`step`).

    Example::

        w, b = np.zeros((3, 2)), np.zeros(2)
        opt = fastgd.SGD([{"params": [w]}, {"params": [b], "lr": 0.5}], lr=0.1,
                         momentum=0.9)
        opt.step([np.ones((3, 2)), None])           # None: b has no gradient this step
        opt.param_groups[1]["lr"], opt.state_dict()["state"][0]["momentum_buffer"]
        isinstance(opt, fastgd.Optimizer)           # True
    """

    spec: ClassVar[OptimizerSpec]
    #: The rule's plan: ``plan(opt, group, items, needed)`` -> the step's native calls.
    _plan: ClassVar[Callable[..., list]]

    def __init__(self, params: Any, *, stochastic_rounding: bool = False,
                 seed: int | None = None, **hyperparameters: Any) -> None:
        # bfloat16/float16 parameters: the rounding mode, its seed and count of steps
        self._rounding: dict[str, Any] = _lowp.check_rounding_options(stochastic_rounding,
                                                                      seed)
        self.defaults: dict[str, Any] = dict(self.spec.defaults)
        self.defaults.update(hyperparameters)
        self._check_hyperparameters(self.defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[int, dict[str, Any]] = {}
        # per group: the hyperparameters last validated, and the state entries they need
        self._validated: list[tuple] = []
        self._needed: list[frozenset[str]] = []
        # the compiled backend's cached step (see _cache_step); misses: the steps in a
        # row that took the general path
        self._fast: Any = None
        self._fast_misses = 0
        if isinstance(params, np.ndarray):
            raise TypeError("params argument given to the optimizer should be a list of "
                            "arrays or of dicts, but got a numpy.ndarray; wrap it in a list")
        if isinstance(params, (set, frozenset)):
            raise TypeError("params argument given to the optimizer should be an ordered "
                            "sequence, but got a set; use a list")
        try:
            groups = list(params)
        except TypeError:
            raise TypeError("params argument given to the optimizer should be a list of "
                            f"arrays or of dicts, but got {type(params).__name__}") from None
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], Mapping):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # -- parameter groups ---------------------------------------------------------------

    def _check_hyperparameters(self, group: Mapping[str, Any]) -> None:
        """TypeError for a value of the wrong kind, then torch's ValueErrors, in its order."""
        for h in self.spec.hyperparameters:
            value = group[h.name]
            if h.kind == "real":
                real(h.name, value)
            elif h.kind == "real_or_none":
                if value is not None:
                    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
                        raise TypeError(f"{h.name} must be None or a real number, got "
                                        f"{value!r}")
                    real(h.name, value)
            elif h.kind == "bool":
                if not isinstance(value, (bool, np.bool_)):
                    raise TypeError(f"{h.name} must be True or False, got {value!r}")
            elif h.kind in ("int", "int_or_none"):  # a count (L-BFGS's max_iter, ...)
                if not (value is None and h.kind == "int_or_none") and (
                        isinstance(value, (bool, np.bool_))
                        or not isinstance(value, (int, np.integer))):
                    raise TypeError(f"{h.name} must be an int"
                                    f"{' or None' if h.kind == 'int_or_none' else ''}, got "
                                    f"{value!r}")
            elif h.kind == "str_or_none":  # a choice by name, checked by the row's rules
                if value is not None and not isinstance(value, str):
                    raise TypeError(f"{h.name} must be None or a string, got {value!r}")
            elif h.kind == "betas":  # a pair: betas, Rprop's etas, ...
                if not isinstance(value, (tuple, list)) or len(value) != 2:
                    raise TypeError(f"{h.name} must be a pair of real numbers, got {value!r}")
                for item, default in zip(value, h.default):
                    if not (item is None and default is None):  # None where None is default
                        real(h.name, item)
        for rule in self.spec.rules:  # `not 0.0 <= x` and the like: NaN fails them too
            if not rule.ok(group):
                raise ValueError(rule.message.format(**group))

    def _snapshot(self, group: Mapping[str, Any]) -> tuple:
        """The group's hyperparameter values and their types, to notice any change since
        the last check (``True`` for ``1`` too); a list such as ``betas`` is copied, so
        that changing it in place is a change."""
        values = tuple(map(group.__getitem__, self.spec.hyperparameter_names))
        types = tuple(map(type, values))
        if any(map(list.__subclasscheck__, types)):
            values = tuple(tuple(v) if isinstance(v, list) else v for v in values)
        return types, values

    def _unchanged(self, k: int, snapshot: tuple) -> bool:
        try:
            return bool(snapshot == self._validated[k])
        except (TypeError, ValueError):  # e.g. an array put in a group: check it again
            return False

    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        """Add a group of parameters, with hyperparameters defaulting to the constructor's."""
        if not isinstance(param_group, Mapping):
            raise TypeError(f"a parameter group must be a dict, got "
                            f"{type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("a parameter group must have a 'params' entry")
        params = param_group["params"]
        if isinstance(params, np.ndarray):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError("optimizer parameters need to be organized in ordered "
                            "collections, but the ordering of a set changes between runs; "
                            "use a list")
        else:
            params = list(params)
        first = sum(len(g["params"]) for g in self.param_groups)
        for k, p in enumerate(params):
            _check_param(first + k, p, self.spec, self._rounding)
        group = dict(self.defaults)
        group.update({k: v for k, v in param_group.items() if k != "params"})
        for name in self.spec.defaults:
            if name not in group:
                raise ValueError(f"parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
        self._check_hyperparameters(group)
        existing = [p for g in self.param_groups for p in g["params"]]
        self._check_disjoint(existing, params)
        group["params"] = params
        self.param_groups.append(group)
        self._fast = None
        self._validated.append(self._snapshot(group))
        self._needed.append(self._needed_state(group))
        if self.spec.eager_state:
            for k, p in enumerate(params):
                self.state[first + k] = self._fresh_state(group, p, {})

    @staticmethod
    def _check_disjoint(existing: list[np.ndarray], new: list[np.ndarray]) -> None:
        # Sweep the byte ranges in order of start, keeping the one that reaches furthest:
        # any range starting before that end overlaps it. (Existing parameters were checked
        # when they were added, so they are disjoint among themselves.)
        spans = sorted((*byte_bounds(p), i) for i, p in enumerate(existing + new) if p.nbytes)
        furthest_end, furthest = -1, -1
        for start, end, i in spans:
            if start < furthest_end:
                a, b = sorted((furthest, i))
                raise ValueError(f"parameters {a} and {b} share memory (the same array given "
                                 f"twice, or overlapping views); each parameter must be a "
                                 f"separate array")
            if end > furthest_end:
                furthest_end, furthest = end, i

    # -- state ----------------------------------------------------------------------------

    def _needed_state(self, group: Mapping[str, Any],
                      p: np.ndarray | None = None) -> frozenset[str]:
        """The state entries every parameter of ``group`` (or ``p`` of it) has before its
        kernel runs (without ``p``, where the buffers depend on the parameter, as
        Adafactor's do: all of them; its plan asks per parameter)."""
        return frozenset([b.name for b in self.spec.buffers(group, p)
                          if not b.from_first_grad]
                         + (["step"] if self.spec.counts_steps else [])
                         + list(self.spec.scalar_state))

    def _fresh_state(self, group: Mapping[str, Any], p: np.ndarray, state: Mapping) -> dict:
        """The entries ``group``'s options need for ``p`` that ``state`` lacks, at their
        start values (SGD's momentum buffer is made by its first step instead)."""
        fresh: dict[str, Any] = {}
        if p.dtype.itemsize == 2:  # bfloat16, float16: float32 state
            p = _lowp.widened(backends.active(), p)
        if self.spec.counts_steps and "step" not in state:
            fresh["step"] = 0
        for name, start in self.spec.scalar_state.items():
            if name not in state:
                fresh[name] = float(start(group))
        for buf in self.spec.buffers(group, p):
            if buf.name not in state and not buf.from_first_grad:
                if buf.from_param:
                    fresh[buf.name] = p.copy()
                elif buf.shape is not None:
                    shape = buf.shape(p.shape)
                    fresh[buf.name] = (np.full(shape, group[buf.fill], p.dtype) if buf.fill
                                       else np.zeros(shape, p.dtype))
                else:
                    fresh[buf.name] = (np.full_like(p, group[buf.fill]) if buf.fill
                                       else np.zeros_like(p))
        return fresh

    # -- step -------------------------------------------------------------------------------

    def _checked_grad(self, index: int, p: np.ndarray, g: Any) -> np.ndarray:
        """``g`` checked against its parameter; a C-contiguous, aligned array of its dtype."""
        if type(g) is not np.ndarray or g.dtype != p.dtype or g.shape != p.shape:
            g = self._converted_grad(index, p, g)
        flags = g.flags
        if not (flags.c_contiguous and flags.aligned):
            g = np.array(g, order="C", copy=True)
        if not p.flags.writeable:
            raise ValueError(f"parameter {index} is read-only; the optimizer updates it in "
                             f"place")
        return g

    @staticmethod
    def _converted_grad(index: int, p: np.ndarray, g: Any) -> np.ndarray:
        """The slow path of :meth:`_checked_grad`: NumPy scalars and subclasses, or errors."""
        if not isinstance(g, np.ndarray):
            if not isinstance(g, np.generic):
                raise TypeError(f"grads[{index}] must be a numpy.ndarray or None, got "
                                f"{type(g).__name__}")
            g = np.asarray(g)  # a NumPy scalar, as arithmetic on 0-d arrays returns
        if g.dtype != p.dtype and not (
                _lowp.is_low_precision(p.dtype)
                and (g.dtype == np.float32 or _lowp.is_low_precision(g.dtype))):
            raise TypeError(f"grads[{index}] has dtype {g.dtype} but its parameter has dtype "
                            f"{p.dtype}")
        if g.shape != p.shape:
            raise ValueError(f"grads[{index}] has shape {g.shape} but its parameter has shape "
                             f"{p.shape}")
        return np.asarray(g)

    def _recheck_params(self, rounding: Mapping[str, Any] | None = None) -> None:
        """The checks of the constructor, again, on every parameter now in the groups: a
        clear error for a parameter replaced in ``param_groups[k]["params"]`` by something
        else than an array the optimizer can update."""
        index = 0
        for group in self.param_groups:
            for p in group["params"]:
                _check_param(index, p, self.spec, rounding or self._rounding)
                index += 1

    def _revalidate_groups(self) -> None:
        """Check every group whose hyperparameters changed since their last check (step()
        and every method that uses them before writing anything)."""
        if len(self.param_groups) != len(self._validated):
            raise ValueError("param_groups was changed other than by add_param_group or "
                             "load_state_dict; add groups with add_param_group")
        for k, group in enumerate(self.param_groups):
            snapshot = self._snapshot(group)
            if not self._unchanged(k, snapshot):
                self._check_hyperparameters(group)
                self._validated[k] = snapshot
                self._needed[k] = self._needed_state(group)

    def step(self, grads: Sequence[np.ndarray | None], *,
             nonfinite: str | None = None) -> bool | None:
        """Apply one update. ``grads`` is aligned with the parameters of all groups, in order:
        for each parameter an array of its shape and dtype (any memory layout), or None to
        leave the parameter and its state untouched.

        Everything is checked before any array is modified: a rejected call changes
        neither the parameters nor the optimizer's state (TypeError/ValueError naming the
        gradient and the problem).

        ``nonfinite`` says what a NaN or an infinity in the gradients does:

        - ``None`` (default): nothing special. It goes into the update and propagates to the
          parameters and state as in torch.optim; no gradient is scanned, so this costs
          nothing.
        - ``"raise"``: FloatingPointError naming the first gradient (its index in
          ``grads``) that holds one; nothing is modified.
        - ``"skip"``: the whole step is dropped -- parameters, state and step counts stay
          as they are, as torch.amp's GradScaler skips a step with inf/NaN gradients.

        The scan (``"raise"``, ``"skip"``) runs once every other check has passed, just
        before the first array is written; on the compiled backend it is one native pass
        over each gradient's bits, about the cost of reading it once.

        On the compiled backend, a step like the last one (same parameters, state
        arrays and gradient layout) runs from a cache of these checks, in C: the same
        results and errors, a few microseconds of overhead (see :meth:`_cache_step`).

        Returns:
            None, as torch's ``step()``; with ``nonfinite`` given, True when the update
            was applied and False when ``"skip"`` dropped it.
        """
        fast = self._fast
        if fast is not None and _settings.CACHED_STEP:
            if _cached_step.run(self, fast, grads, nonfinite):
                self._fast_misses = 0
                return None if nonfinite is None else True
            self._fast = None
        if nonfinite is not None:
            check_nonfinite_option(nonfinite)
        if not isinstance(grads, (list, tuple)):
            raise TypeError("grads must be a list of arrays (or None) aligned with the "
                            f"parameters, got {type(grads).__name__}")
        n_params = sum(len(g["params"]) for g in self.param_groups)
        if len(grads) != n_params:
            raise ValueError(f"step() got {len(grads)} gradients for {n_params} parameters")
        self._revalidate_groups()
        work = []
        index = 0
        checked = self._checked_grad
        try:
            for k, group in enumerate(self.param_groups):
                params = group["params"]
                items = [(index + j, p, checked(index + j, p, g)) for j, (p, g)
                         in enumerate(zip(params, grads[index:index + len(params)]))
                         if g is not None]
                index += len(params)
                work.append((k, group, items))
        except AttributeError:  # a parameter replaced in a group by something else
            self._recheck_params()
            raise
        kernels = backends.active()
        low: dict = {}
        if any(p.dtype.itemsize == 2 for *_, items in work for _, p, _ in items):
            work, low = _lowp.stand_in_work(self, kernels, work, nonfinite)
        unalias(self.state, work)
        plan = self._plan
        calls = [call for k, group, items in work if items
                 for call in plan(self, group, items, self._needed[k])]
        if low:
            narrowing = _lowp.route(kernels, calls, low, self._rounding)
        scanned = ([(i, g) for *_, items in work for i, _, g in items]
                   if nonfinite is not None else ())
        if not apply(calls, kernels, self.state, nonfinite, scanned,
                     lambda i: f"grads[{i}] holds a NaN or an infinity; the step was not "
                               f"applied (nonfinite='raise')"):
            return False
        if low:  # the float32 copies rounded once into their 16-bit parameters
            _lowp.narrow_back(kernels, self._rounding, narrowing)
            return None if nonfinite is None else True
        if _settings.CACHED_STEP and self.spec.kernel_table and hasattr(kernels, "FastStep"):
            if self._fast_misses % _cached_step.RETRY_EVERY < 2:
                self._cache_step(kernels, work)
            self._fast_misses += 1  # steps in a row on the general path
        return None if nonfinite is None else True

    def _cache_step(self, kernels: Any, work: list) -> None:
        """After a step of the general path, cache what the next steps can reuse
        (compiled backend): the next ``step`` then checks in C that nothing it relies on
        changed, plans only the first tensor of each native call and runs the kernels,
        a few microseconds in all. Any difference (a gradient missing or of another
        layout, a parameter or state entry replaced, ...) sends that step down the general
        path, which also rebuilds the cache; after two steps in a row on the general path,
        only two of every ``_cached_step.RETRY_EVERY`` steps try."""
        grads: list = [None] * sum(len(g["params"]) for g in self.param_groups)
        for *_, items in work:
            for index, _, g in items:
                grads[index] = g
        try:
            self._fast = _cached_step.build(self, kernels, grads)
        except Exception:  # the step is committed: whatever goes wrong here means no cache
            self._fast = None

    # -- for loops that run the steps themselves (fastgd.models' fused training loop) -----

    def plan_calls(self, group_index: int, items: list) -> list:
        """The native calls of the next step of group ``group_index`` for ``items``, a
        list of ``(index, param, grad)`` (``index`` the parameter's position over all
        groups), as :meth:`step` would make them: the groups are checked again first
        (their errors raised as :meth:`step` raises them), nothing is run or committed.

        Each call (:class:`fastgd.optim._planning.Call`) has ``kernel``, ``lists`` (the
        buffer lists in the kernel's role order), ``scalars`` and ``updates`` (the state
        entries to commit after the step), with ``run(kernels)`` and ``commit(state)``.
        """
        self._revalidate_groups()
        return self._plan(self, self.param_groups[group_index], items,
                          self._needed[group_index])

    def note_step(self) -> None:
        """Record that a step was taken (what the learning-rate schedulers' wrapper of
        :meth:`step` records, for their "scheduler stepped before the optimizer" warning),
        for a loop that runs the planned calls itself."""
        self._opt_called = True

    # -- checkpoints ------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """``{'state': {index: {...}}, 'param_groups': [{..., 'params': [indices]}]}``.

        The layout and names are torch's; arrays are copies.
        """
        groups, first = [], 0
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = list(range(first, first + len(group["params"])))
            first += len(group["params"])
            groups.append(packed)
        state = {i: {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in s.items()}
                 for i, s in self.state.items()}
        out = {"state": state, "param_groups": groups}
        if self._rounding["stochastic"] or any(
                p.dtype.itemsize == 2 for g in self.param_groups for p in g["params"]):
            out["rounding"] = dict(self._rounding)
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a :meth:`state_dict`; everything is checked before anything is replaced.

        Groups must match in number and size; ids map to parameters by order; state arrays
        must have the parameter's shape and are cast to its dtype. A group must hold this
        optimizer's hyperparameters (those torch's state dicts lack excepted: Adam's and
        AdamW's ``eps_root``, RMSprop's ``eps_in_sqrt``) and none of another optimizer's,
        and the state the entries this optimizer keeps: a state dict of another optimizer
        is refused, except one with the same layout (Adam's and AdamW's; AdamW keeps
        ``decoupled_weight_decay=True`` whatever it loads, as torch's AdamW does).
        """
        if not isinstance(state_dict, Mapping) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError("state_dict must be a dict with 'state' and 'param_groups'")
        rounding = (_lowp.check_rounding_state(state_dict["rounding"])
                    if "rounding" in state_dict else None)
        if rounding is not None:
            self._recheck_params(rounding)
        if not isinstance(state_dict["state"], Mapping):
            raise TypeError(f"state_dict['state'] must be a dict keyed by parameter id, got "
                            f"{type(state_dict['state']).__name__}")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(saved_groups)} parameter groups, the "
                             f"optimizer has {len(self.param_groups)}")
        targets: dict[Hashable, tuple[int, dict, np.ndarray]] = {}
        new_groups: list[dict[str, Any]] = []
        first = 0
        for ours, saved in zip(self.param_groups, saved_groups):
            if not isinstance(saved, Mapping) or "params" not in saved:
                raise ValueError("each saved parameter group must be a dict with 'params'")
            if len(saved["params"]) != len(ours["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't "
                                 "match the size of optimizer's group")
            check_saved_group_keys(self.spec, len(new_groups), saved)
            group = {**self.defaults, **{k: v for k, v in saved.items() if k != "params"},
                     **self.spec.fixed_on_load}
            for h in self.spec.hyperparameters:  # JSON round trips make pairs lists
                if h.kind in ("betas", "pair", "tuple") and isinstance(group.get(h.name), list):
                    group[h.name] = tuple(group[h.name])
            self._check_hyperparameters(group)
            group["params"] = ours["params"]
            for k, (saved_id, p) in enumerate(zip(saved["params"], ours["params"])):
                if not isinstance(saved_id, Hashable) or saved_id in targets:
                    raise ValueError(f"parameter id {saved_id!r} appears more than once (or is "
                                     f"not hashable) in the saved param_groups")
                targets[saved_id] = (first + k, group, p)
            first += len(ours["params"])
            new_groups.append(group)
        new_state = {}
        for saved_id, saved_state in state_dict["state"].items():
            if not isinstance(saved_id, Hashable) or saved_id not in targets:
                raise ValueError(f"state dict has state for parameter id {saved_id!r}, which "
                                 f"is not in its param_groups")
            index, group, p = targets[saved_id]
            new_state[index] = loaded_state(self.spec, index, group, p, saved_state)
        for index, group, p in targets.values():
            if self.spec.eager_state and index not in new_state:
                new_state[index] = self._fresh_state(group, p, {})
        self.param_groups[:] = new_groups
        self._validated = [self._snapshot(g) for g in new_groups]
        self._needed = [self._needed_state(g) for g in new_groups]
        self.state = new_state
        if rounding is not None:
            self._rounding = rounding
        self._fast = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickles and copies leave the cached step out (the copy builds its own), so a
        pickle names no compiled module."""
        state = self.__dict__.copy()
        state["_fast"] = None
        return state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for k, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {k}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        return "\n".join(lines) + "\n)"


def make_class(spec: OptimizerSpec, plan: Callable[..., list],
               mixins: tuple[type, ...] = ()) -> type[Optimizer]:
    """The optimizer class of ``spec``: torch-style constructor arguments from its
    hyperparameters, its docstring from :func:`~fastgd.optim.spec.class_doc`, ``plan``
    for its steps and ``mixins`` (methods such as ASGD's ``averaged``) before
    :class:`Optimizer` among its bases."""
    signature = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
         inspect.Parameter("params", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(h.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=h.default)
           for h in spec.hyperparameters if h.argument and not h.keyword_only]
        + [inspect.Parameter(h.name, inspect.Parameter.KEYWORD_ONLY, default=h.default)
           for h in spec.hyperparameters if h.argument and h.keyword_only]
        + ([inspect.Parameter("stochastic_rounding", inspect.Parameter.KEYWORD_ONLY,
                              default=False),
            inspect.Parameter("seed", inspect.Parameter.KEYWORD_ONLY, default=None)]
           if spec.kernel_table else []))

    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        del arguments["self"]
        Optimizer.__init__(self, arguments.pop("params"), **arguments)

    __init__.__signature__ = signature  # type: ignore[attr-defined]
    cls = type(spec.name, (*mixins, Optimizer),
               {"spec": spec, "_plan": staticmethod(plan), "__init__": __init__,
                "__doc__": class_doc(spec), "__module__": "fastgd.optim"})
    __init__.__qualname__ = f"{spec.name}.__init__"
    return cls
