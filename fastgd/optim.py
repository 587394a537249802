"""Optimizer classes with torch.optim's interface, for NumPy arrays.

``opt = fastgd.Adam([w, b], lr=1e-3); opt.step([gw, gb])`` updates ``w`` and ``b`` in place.
The classes are generated from the rows of :mod:`fastgd.registry`; what differs between
optimizers beyond that table is only how a step's scalars are computed, in the ``_update_*``
functions below.

Differences from torch.optim, on purpose:

- gradients are passed to :meth:`Optimizer.step` (a list aligned with the parameters of
  all groups, in order; ``None`` skips a parameter and its state), there is no ``.grad``;
- ``state`` is keyed by the parameter's index (NumPy arrays are not hashable), the same
  index ``state_dict()`` uses; ``step`` is a Python int;
- ``state_dict()`` returns copies of the state arrays;
- every hyperparameter of every group is validated (NaN is always invalid) when a group is
  added, loaded or changed, before the next step modifies anything;
- the same array (or overlapping memory) twice among the parameters is an error.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any, ClassVar

import numpy as np

from fastgd import _backend
from fastgd.reference import bias_corrections
from fastgd.registry import OPTIMIZERS, OptimizerSpec

__all__ = ["Optimizer"] + list(OPTIMIZERS)

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _is_real(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))


def _check_param(index: int, p: Any) -> None:
    if not isinstance(p, np.ndarray):
        raise TypeError(f"optimizer can only optimize numpy arrays, but parameter {index} is "
                        f"a {type(p).__name__}")
    if p.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"parameter {index} has dtype {p.dtype}; fastgd optimizes float32 "
                        f"or float64 arrays")
    if not (p.flags.c_contiguous and p.flags.aligned):
        raise ValueError(f"parameter {index} (shape {p.shape}) is not C-contiguous; pass "
                         f"np.ascontiguousarray(p) and keep that array")
    if not p.flags.writeable:
        raise ValueError(f"parameter {index} is read-only; the optimizer updates it in place")


def _memory_span(a: np.ndarray) -> tuple[int, int]:
    start = a.__array_interface__["data"][0]
    return start, start + a.nbytes


class Optimizer:
    """Base class: parameter groups, validation, state, ``step`` and ``state_dict``."""

    spec: ClassVar[OptimizerSpec]

    def __init__(self, params: Any, **hyperparameters: Any) -> None:
        self.defaults: dict[str, Any] = dict(self.spec.defaults)
        self.defaults.update(hyperparameters)
        self._check_hyperparameters(self.defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[int, dict[str, Any]] = {}
        self._validated: list[tuple] = []
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
                if not _is_real(value):
                    raise TypeError(f"{h.name} must be a real number, got {value!r}")
            elif h.kind == "bool":
                if not isinstance(value, (bool, np.bool_)):
                    raise TypeError(f"{h.name} must be True or False, got {value!r}")
            elif h.kind == "betas":
                if (not isinstance(value, (tuple, list)) or len(value) != 2
                        or not all(_is_real(b) for b in value)):
                    raise TypeError(f"betas must be a pair of real numbers, got {value!r}")
        for rule in self.spec.rules:
            if not rule.ok(group):
                raise ValueError(rule.message.format(**group))
        for h in self.spec.hyperparameters:
            values = group[h.name] if h.kind == "betas" else (group[h.name],)
            if h.kind != "bool" and any(math.isnan(v) for v in values):
                raise ValueError(f"Invalid {h.name} value: {group[h.name]} (NaN)")

    def _snapshot(self, group: Mapping[str, Any]) -> tuple:
        """The group's hyperparameter values, to notice a change since the last check."""
        return tuple(map(group.__getitem__, self.spec.hyperparameter_names))

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
            _check_param(first + k, p)
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
        self._validated.append(self._snapshot(group))
        if self.spec.eager_state:
            for k, p in enumerate(params):
                self.state[first + k] = self._new_state(group, p)

    @staticmethod
    def _check_disjoint(existing: list[np.ndarray], new: list[np.ndarray]) -> None:
        spans = sorted((*_memory_span(p), i) for i, p in enumerate(existing + new) if p.nbytes)
        for (start, end, i), (next_start, _, j) in zip(spans, spans[1:]):
            if next_start < end:
                i, j = sorted((i, j))
                if i < len(existing) and j < len(existing):
                    continue
                raise ValueError(f"parameters {i} and {j} share memory (the same array given "
                                 f"twice, or overlapping views); each parameter must be a "
                                 f"separate array")

    # -- state ----------------------------------------------------------------------------

    def _new_state(self, group: Mapping[str, Any], p: np.ndarray) -> dict[str, Any]:
        state: dict[str, Any] = {"step": 0} if self.spec.counts_steps else {}
        self._add_missing_buffers(state, group, p)
        return state

    def _add_missing_buffers(self, state: dict, group: Mapping[str, Any], p: np.ndarray) -> None:
        """Create the buffers ``group``'s options need and ``state`` lacks, at their start."""
        for buf in self.spec.buffers(group):
            if buf.name not in state and not buf.from_first_grad:
                state[buf.name] = (np.full_like(p, group[buf.fill]) if buf.fill
                                   else np.zeros_like(p))

    def _state_for(self, index: int, group: Mapping[str, Any], p: np.ndarray) -> dict:
        state = self.state.get(index)
        if state is None:
            state = self.state[index] = self._new_state(group, p)
        else:  # an option may have been switched on since the last step
            self._add_missing_buffers(state, group, p)
        return state

    # -- step -------------------------------------------------------------------------------

    def _checked_grad(self, index: int, p: np.ndarray, g: Any) -> np.ndarray:
        """``g`` checked against its parameter; copied if the kernel could not use it as is."""
        if type(g) is not np.ndarray or g.dtype != p.dtype or g.shape != p.shape:
            g = self._converted_grad(index, p, g)
        flags = g.flags
        if not (flags.c_contiguous and flags.aligned):
            return np.array(g, order="C", copy=True)
        # The kernel writes p and the state while it reads g: an overlapping g is copied.
        # Two arrays that own their data are separate allocations unless they are the same
        # object, which spares the slower memory-bounds test in the common case.
        owns = g.base is None
        if (g is p) if owns and p.base is None else np.may_share_memory(g, p):
            return g.copy()
        state = self.state.get(index)
        if state:
            for v in state.values():
                if type(v) is np.ndarray and (
                        (v is g) if owns and v.base is None else np.may_share_memory(g, v)):
                    return g.copy()
        return g

    @staticmethod
    def _converted_grad(index: int, p: np.ndarray, g: Any) -> np.ndarray:
        """The slow path of :meth:`_checked_grad`: NumPy scalars and subclasses, or errors."""
        if not isinstance(g, np.ndarray):
            if not isinstance(g, np.generic):
                raise TypeError(f"grads[{index}] must be a numpy.ndarray or None, got "
                                f"{type(g).__name__}")
            g = np.asarray(g)  # a NumPy scalar, as arithmetic on 0-d arrays returns
        if g.dtype != p.dtype:
            raise TypeError(f"grads[{index}] has dtype {g.dtype} but its parameter has dtype "
                            f"{p.dtype}")
        if g.shape != p.shape:
            raise ValueError(f"grads[{index}] has shape {g.shape} but its parameter has shape "
                             f"{p.shape}")
        return g

    def step(self, grads: Sequence[np.ndarray | None]) -> None:
        """Apply one update. ``grads`` is aligned with the parameters of all groups, in order.

        Every gradient and every group's hyperparameters are checked before any array is
        modified; a rejected call changes nothing.
        """
        if isinstance(grads, np.ndarray) or not isinstance(grads, (list, tuple)):
            raise TypeError("grads must be a list of arrays (or None) aligned with the "
                            f"parameters, got {type(grads).__name__}")
        n_params = sum(len(g["params"]) for g in self.param_groups)
        if len(grads) != n_params:
            raise ValueError(f"step() got {len(grads)} gradients for {n_params} parameters")
        for k, group in enumerate(self.param_groups):
            snapshot = self._snapshot(group)
            if snapshot != self._validated[k]:
                self._check_hyperparameters(group)
                self._validated[k] = snapshot
        work = []
        index = 0
        checked = self._checked_grad
        for group in self.param_groups:
            params = group["params"]
            items = [(index + j, p, checked(index + j, p, g))
                     for j, (p, g) in enumerate(zip(params, grads[index:index + len(params)]))
                     if g is not None]
            index += len(params)
            work.append((group, items))
        kernels = _backend.active()
        update = _UPDATES[self.spec.kernel]
        for group, items in work:
            if items:
                update(self, kernels, group, items)

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
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a :meth:`state_dict`; everything is checked before anything is replaced.

        Groups must match in number and size; ids map to parameters by order; state arrays
        must have the parameter's shape and are cast to its dtype.
        """
        if not isinstance(state_dict, Mapping) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError("state_dict must be a dict with 'state' and 'param_groups'")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(saved_groups)} parameter groups, the "
                             f"optimizer has {len(self.param_groups)}")
        id_map: dict[Any, tuple[int, dict, np.ndarray]] = {}
        new_groups, first = [], 0
        for ours, saved in zip(self.param_groups, saved_groups):
            if len(saved["params"]) != len(ours["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't "
                                 "match the size of optimizer's group")
            group = {**self.defaults, **{k: v for k, v in saved.items() if k != "params"}}
            if isinstance(group.get("betas"), list):
                group["betas"] = tuple(group["betas"])
            self._check_hyperparameters(group)
            group["params"] = ours["params"]
            for k, (saved_id, p) in enumerate(zip(saved["params"], ours["params"])):
                id_map[saved_id] = (first + k, group, p)
            first += len(ours["params"])
            new_groups.append(group)
        new_state = {}
        for saved_id, saved_state in state_dict["state"].items():
            if saved_id not in id_map:
                raise ValueError(f"state dict has state for parameter id {saved_id!r}, which "
                                 f"is not in its param_groups")
            index, group, p = id_map[saved_id]
            new_state[index] = self._loaded_state(index, group, p, saved_state)
        for index, (_, group, p) in enumerate(id_map.values()):
            if self.spec.eager_state and index not in new_state:
                new_state[index] = self._new_state(group, p)
        self.param_groups[:] = new_groups
        self._validated = [self._snapshot(g) for g in new_groups]
        self.state = new_state

    def _loaded_state(self, index: int, group: Mapping, p: np.ndarray, saved: Mapping) -> dict:
        names = {b.name for b in self.spec.state}
        state: dict[str, Any] = {}
        for key, value in saved.items():
            if key == "step" and self.spec.counts_steps:
                step = float(np.asarray(value))
                if not (step >= 0 and step == int(step)):
                    raise ValueError(f"state of parameter {index}: step must be a "
                                     f"non-negative integer, got {value!r}")
                state["step"] = int(step)
            elif key in names:
                arr = np.asarray(value)
                if not np.issubdtype(arr.dtype, np.floating):
                    raise TypeError(f"state of parameter {index}: {key} has dtype "
                                    f"{arr.dtype}, expected floating point")
                if arr.shape != p.shape:
                    raise ValueError(f"state of parameter {index}: {key} has shape "
                                     f"{arr.shape}, but the parameter has shape {p.shape}")
                state[key] = np.array(arr, dtype=p.dtype, order="C", copy=True)
            else:
                raise ValueError(f"state of parameter {index}: unexpected entry {key!r} for "
                                 f"{self.spec.name}")
        missing = [b.name for b in self.spec.buffers(group)
                   if b.name not in state and not b.from_first_grad]
        if self.spec.counts_steps and "step" not in state:
            missing.insert(0, "step")
        if missing and state:
            raise ValueError(f"state of parameter {index} lacks {', '.join(missing)}")
        return state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for k, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {k}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        return "\n".join(lines) + "\n)"


# -- what each kernel needs per step ---------------------------------------------------------


def _buckets(items, keys):
    """Items grouped by their key (``keys[i]`` for ``items[i]``), in first-seen order: one
    native call per group. Usually every key is the same and there is one group."""
    first = keys[0]
    if all(k == first for k in keys):
        return ((first, items),)
    out: dict[Any, list] = {}
    for key, item in zip(keys, items):
        out.setdefault(key, []).append(item)
    return out.items()


def _update_sgd(opt, kernels, group, items):
    momentum = group["momentum"]
    state = opt.state
    keys = [(p.dtype, momentum != 0 and "momentum_buffer" not in state.get(i, ()))
            for i, p, _ in items]
    for (_, first_step), bucket in _buckets(items, keys):
        bufs = None
        if momentum != 0:
            bufs = [np.empty_like(p) if first_step else opt.state[i]["momentum_buffer"]
                    for i, p, _ in bucket]
        kernels.sgd_many([p for _, p, _ in bucket], [g for _, _, g in bucket], bufs,
                         lr=group["lr"], momentum=momentum, dampening=group["dampening"],
                         weight_decay=group["weight_decay"], nesterov=group["nesterov"],
                         maximize=group["maximize"], first_step=first_step)
        if bufs is not None:
            for (i, _, _), buf in zip(bucket, bufs):
                opt.state.setdefault(i, {})["momentum_buffer"] = buf


def _with_state(opt, group, items):
    """``(index, param, grad, state)`` for each item, creating what the options need."""
    required = {b.name for b in opt.spec.buffers(group) if not b.from_first_grad}
    if opt.spec.counts_steps:
        required.add("step")
    out = []
    for i, p, g in items:
        state = opt.state.get(i)
        if state is None or not required <= state.keys():
            state = opt._state_for(i, group, p)
        out.append((i, p, g, state))
    return out


def _update_adam(opt, kernels, group, items):
    beta1, beta2 = group["betas"]
    amsgrad = group["amsgrad"]
    items = _with_state(opt, group, items)
    for (_, step), bucket in _buckets(items, [(p.dtype, s["step"]) for _, p, _, s in items]):
        step += 1
        bc1, bc2_sqrt = bias_corrections(beta1, beta2, step)
        states = [s for *_, s in bucket]
        kernels.adam_many([p for _, p, _, _ in bucket], [g for _, _, g, _ in bucket],
                          [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states],
                          [s["max_exp_avg_sq"] for s in states] if amsgrad else None,
                          lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                          weight_decay=group["weight_decay"], bias_correction1=bc1,
                          bias_correction2_sqrt=bc2_sqrt, amsgrad=amsgrad,
                          decoupled_weight_decay=group["decoupled_weight_decay"],
                          maximize=group["maximize"])
        for s in states:
            s["step"] = step


def _update_adagrad(opt, kernels, group, items):
    items = _with_state(opt, group, items)
    for (_, step), bucket in _buckets(items, [(p.dtype, s["step"]) for _, p, _, s in items]):
        step += 1
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        states = [s for *_, s in bucket]
        kernels.adagrad_many([p for _, p, _, _ in bucket], [g for _, _, g, _ in bucket],
                             [s["sum"] for s in states], clr=clr, eps=group["eps"],
                             weight_decay=group["weight_decay"], maximize=group["maximize"])
        for s in states:
            s["step"] = step


def _update_rmsprop(opt, kernels, group, items):
    centered, momentum = group["centered"], group["momentum"]
    items = _with_state(opt, group, items)
    for _, bucket in _buckets(items, [p.dtype for _, p, _, _ in items]):
        states = [s for *_, s in bucket]
        kernels.rmsprop_many([p for _, p, _, _ in bucket], [g for _, _, g, _ in bucket],
                             [s["square_avg"] for s in states],
                             [s["grad_avg"] for s in states] if centered else None,
                             [s["momentum_buffer"] for s in states] if momentum > 0 else None,
                             lr=group["lr"], alpha=group["alpha"], eps=group["eps"],
                             weight_decay=group["weight_decay"], momentum=momentum,
                             centered=centered, maximize=group["maximize"])
        for s in states:
            s["step"] += 1


_UPDATES = {"sgd": _update_sgd, "adam": _update_adam, "adagrad": _update_adagrad,
            "rmsprop": _update_rmsprop}


# -- the classes, one per registry row --------------------------------------------------------


def _class_doc(spec: OptimizerSpec) -> str:
    lines = [spec.summary, "", f"Matches ``{spec.matches}``: same arguments, defaults, update "
             f"rule and validation. The update rule is written out in "
             f":func:`fastgd.reference.{spec.kernel}`.", "", "Args:",
             "    params: a list of arrays (C-contiguous float32/float64, any shape), or a "
             "list of parameter-group dicts"]
    lines += [f"    {h.name}: {h.doc} (default {h.default!r})" for h in spec.hyperparameters
              if h.argument]
    lines += ["", "State per parameter: " + ", ".join(
        (["step"] if spec.counts_steps else []) + [b.name for b in spec.state]) + ".", "",
        "Example::", "", "    w = np.zeros(3)",
        f"    opt = fastgd.{spec.name}([w], lr={spec.defaults['lr']!r})",
        "    opt.step([np.array([1.0, -2.0, 0.5])])"]
    return "\n".join(lines)


def _make_class(spec: OptimizerSpec) -> type:
    signature = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
         inspect.Parameter("params", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(h.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=h.default)
           for h in spec.hyperparameters if h.argument and not h.keyword_only]
        + [inspect.Parameter(h.name, inspect.Parameter.KEYWORD_ONLY, default=h.default)
           for h in spec.hyperparameters if h.argument and h.keyword_only])

    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        del arguments["self"]
        Optimizer.__init__(self, arguments.pop("params"), **arguments)

    __init__.__signature__ = signature
    cls = type(spec.name, (Optimizer,), {"spec": spec, "__init__": __init__,
                                         "__doc__": _class_doc(spec), "__module__": __name__})
    __init__.__qualname__ = f"{spec.name}.__init__"
    return cls


for _spec in OPTIMIZERS.values():
    globals()[_spec.name] = _make_class(_spec)
del _spec

SGD: type[Optimizer]
Adam: type[Optimizer]
AdamW: type[Optimizer]
Adagrad: type[Optimizer]
RMSprop: type[Optimizer]
