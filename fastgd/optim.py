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

An optimizer is not thread-safe: calls on one optimizer from several threads at once must
be serialised by the caller (separate optimizers in separate threads are fine).
"""

from __future__ import annotations

import bisect
import inspect
import itertools
from collections.abc import Hashable, Mapping, Sequence
from numbers import Real
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from fastgd import _backend
from fastgd._checks import FLOAT_DTYPES, real
from fastgd.reference import bias_corrections
from fastgd.registry import OPTIMIZERS, OptimizerSpec, class_doc

__all__ = ["Optimizer"] + list(OPTIMIZERS)


def _check_param(index: int, p: Any) -> None:
    if not isinstance(p, np.ndarray):
        raise TypeError(f"optimizer can only optimize numpy arrays, but parameter {index} is "
                        f"a {type(p).__name__}")
    if p.dtype not in FLOAT_DTYPES:
        raise TypeError(f"parameter {index} has dtype {p.dtype}; fastgd optimizes float32 "
                        f"or float64 arrays")
    if not p.flags.c_contiguous:
        raise ValueError(f"parameter {index} (shape {p.shape}) is not C-contiguous; pass "
                         f"np.ascontiguousarray(p) and keep that array")
    if not p.flags.aligned:
        raise ValueError(f"parameter {index} is not aligned in memory; pass a copy, "
                         f"np.array(p), and keep that array")
    if not p.flags.writeable:
        raise ValueError(f"parameter {index} is read-only; the optimizer updates it in place")



def _check_nonfinite_option(nonfinite: Any) -> None:
    if not (isinstance(nonfinite, str) and nonfinite in ("raise", "skip")):
        raise ValueError(f"nonfinite must be None, 'raise' or 'skip', got {nonfinite!r}")


def _owner_key(a: np.ndarray) -> int | None:
    """An id shared by every array over the same NumPy-owned memory, or None when NumPy
    does not own it (or ``a`` is a view of a view NumPy could not collapse)."""
    base = a.base
    if base is None:
        return id(a)
    if type(base) is np.ndarray and base.base is None:
        return id(base)
    return None


_byte_bounds = np.lib.array_utils.byte_bounds


def _owners_apart(grads: list, written: list) -> bool:
    """True in the usual case, decided quickly: every gradient owns its memory, every
    written array is the NumPy array owning its memory or a view of one, and no written
    array is a gradient or a view of one. False means "look closer", not "overlap"."""
    owners = set()
    for g in grads:
        if g.base is not None:
            return False
        owners.add(id(g))
    for w in written:
        base = w.base
        if base is None:
            if id(w) in owners:
                return False
        elif type(base) is not np.ndarray or base.base is not None or id(base) in owners:
            return False
    return True


def _overlapping_by_bounds(grads: list, written: list) -> set[int]:
    """Indices of the ``grads`` whose byte range meets that of any ``written`` array."""
    bounds = _byte_bounds
    spans = sorted(bounds(w) for w in written if w.size)
    starts = [lo for lo, _ in spans]
    ends_so_far = list(itertools.accumulate((hi for _, hi in spans), max))
    overlapping = set()
    for k, g in enumerate(grads):
        if not g.size:
            continue
        lo, hi = bounds(g)
        j = bisect.bisect_left(starts, hi)  # spans starting before g ends
        if j and ends_so_far[j - 1] > lo:   # ... one of which ends after g starts
            overlapping.add(k)
    return overlapping


class Optimizer:
    r"""Base class of the optimizers: parameter groups, validation, state, ``step`` and
    ``state_dict``, as ``torch.optim.Optimizer``.

    Each subclass is generated from a row of :data:`fastgd.registry.OPTIMIZERS` (its
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

    def __init__(self, params: Any, **hyperparameters: Any) -> None:
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
        spans = sorted((*_byte_bounds(p), i) for i, p in enumerate(existing + new) if p.nbytes)
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

    def _needed_state(self, group: Mapping[str, Any]) -> frozenset[str]:
        """The state entries every parameter of ``group`` has before its kernel runs."""
        return frozenset([b.name for b in self.spec.buffers(group) if not b.from_first_grad]
                         + (["step"] if self.spec.counts_steps else [])
                         + list(self.spec.scalar_state))

    def _fresh_state(self, group: Mapping[str, Any], p: np.ndarray, state: Mapping) -> dict:
        """The entries ``group``'s options need that ``state`` lacks, at their start values
        (SGD's momentum buffer is made by its first step instead)."""
        fresh: dict[str, Any] = {}
        if self.spec.counts_steps and "step" not in state:
            fresh["step"] = 0
        for name, start in self.spec.scalar_state.items():
            if name not in state:
                fresh[name] = float(start(group))
        for buf in self.spec.buffers(group):
            if buf.name not in state and not buf.from_first_grad:
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
        if g.dtype != p.dtype:
            raise TypeError(f"grads[{index}] has dtype {g.dtype} but its parameter has dtype "
                            f"{p.dtype}")
        if g.shape != p.shape:
            raise ValueError(f"grads[{index}] has shape {g.shape} but its parameter has shape "
                             f"{p.shape}")
        return np.asarray(g)

    def _unaliased(self, work: list) -> None:
        """Copy every gradient that shares memory with an array the step writes (any
        parameter that gets a gradient, or its state), so that the kernels, which read the
        gradients while they write, see the gradients as passed.

        Fast path: when every array involved is either the NumPy array that owns its
        memory or a view of one, two arrays can overlap only if they have the same owner,
        so only those pairs are compared (usually none: gradients are fresh arrays).
        Otherwise (memory NumPy does not own: np.frombuffer, memmap, other libraries'
        buffers) the byte ranges of all the arrays are sorted and swept.
        """
        grads = [g for *_, items in work for _, _, g in items]
        written = [p for *_, items in work for _, p, _ in items]
        state = self.state
        for *_, items in work:
            for index, _, _ in items:
                entries = state.get(index)
                if entries:
                    written += [v for v in entries.values() if isinstance(v, np.ndarray)]
        if _owners_apart(grads, written):
            return
        grad_keys = list(map(_owner_key, grads))
        written_keys = list(map(_owner_key, written))
        if None in grad_keys or None in written_keys:
            overlapping = _overlapping_by_bounds(grads, written)
        else:
            shared = set(grad_keys).intersection(written_keys)
            if not shared:  # the usual case: no gradient shares an owner with a write
                return
            by_owner: dict[int | None, list] = {}
            for w, key in zip(written, written_keys):
                if key in shared:
                    by_owner.setdefault(key, []).append(w)
            overlapping = {k for k, (g, key) in enumerate(zip(grads, grad_keys))
                           if g.size and any(np.may_share_memory(g, w)
                                             for w in by_owner.get(key, ()))}
        if not overlapping:
            return
        k = 0
        for *_, items in work:
            for j, (index, p, g) in enumerate(items):
                if k in overlapping:
                    items[j] = (index, p, g.copy())
                k += 1

    def _recheck_params(self) -> None:
        """The checks of the constructor, again, on every parameter now in the groups: a
        clear error for a parameter replaced in ``param_groups[k]["params"]`` by something
        else than an array the optimizer can update."""
        index = 0
        for group in self.param_groups:
            for p in group["params"]:
                _check_param(index, p)
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
        if fast is not None and CACHED_STEP:
            if fast.run(self, grads, nonfinite):
                self._fast_misses = 0
                return None if nonfinite is None else True
            self._fast = None
        if nonfinite is not None:
            _check_nonfinite_option(nonfinite)
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
        self._unaliased(work)
        plan = _PLANS[self.spec.kernel]
        calls = [call for k, group, items in work if items
                 for call in plan(self, group, items, self._needed[k])]
        kernels = _backend.active()
        # a lone call checks everything before it writes anything; with a scan to come,
        # every call is checked first, so that a bad call is reported whatever the values
        if len(calls) > 1 or (nonfinite is not None and calls):
            for call in calls:
                call.run(kernels, check_only=True)
        if nonfinite is not None:
            checked_grads = [(i, g) for *_, items in work for i, _, g in items]
            bad = kernels.first_nonfinite([g for _, g in checked_grads])
            if bad >= 0:
                if nonfinite == "skip":
                    return False
                raise FloatingPointError(
                    f"grads[{checked_grads[bad][0]}] holds a NaN or an infinity; the step "
                    f"was not applied (nonfinite='raise')")
        for call in calls:
            call.run(kernels)
        for call in calls:
            call.commit(self.state)
        if CACHED_STEP and hasattr(kernels, "FastStep"):
            if self._fast_misses % _FAST_RETRY < 2:
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
        only two of every ``_FAST_RETRY`` steps try."""
        grads: list = [None] * sum(len(g["params"]) for g in self.param_groups)
        for *_, items in work:
            for index, _, g in items:
                grads[index] = g
        try:
            self._fast = kernels.FastStep.build(self, _PLANS[self.spec.kernel], grads)
        except Exception:  # the step is committed: whatever goes wrong here means no cache
            self._fast = None

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
        must have the parameter's shape and are cast to its dtype. A group must hold this
        optimizer's hyperparameters (those torch's state dicts lack excepted: Adam's and
        AdamW's ``eps_root``, RMSprop's ``eps_in_sqrt``) and none of another optimizer's,
        and the state the entries this optimizer keeps: a state dict of another optimizer
        is refused, except one with the same layout (Adam's and AdamW's; AdamW keeps
        ``decoupled_weight_decay=True`` whatever it loads, as torch's AdamW does).
        """
        if not isinstance(state_dict, Mapping) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError("state_dict must be a dict with 'state' and 'param_groups'")
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
            self._check_saved_group_keys(len(new_groups), saved)
            group = {**self.defaults, **{k: v for k, v in saved.items() if k != "params"},
                     **_FIXED_ON_LOAD.get(self.spec.name, {})}
            for h in self.spec.hyperparameters:  # JSON round trips make pairs lists
                if h.kind in ("betas", "pair") and isinstance(group.get(h.name), list):
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
            new_state[index] = self._loaded_state(index, group, p, saved_state)
        for index, group, p in targets.values():
            if self.spec.eager_state and index not in new_state:
                new_state[index] = self._fresh_state(group, p, {})
        self.param_groups[:] = new_groups
        self._validated = [self._snapshot(g) for g in new_groups]
        self._needed = [self._needed_state(g) for g in new_groups]
        self.state = new_state
        self._fast = None

    def _check_saved_group_keys(self, k: int, saved: Mapping) -> None:
        """A saved group of another optimizer is refused: it must hold every hyperparameter
        of this one (but those torch's state dicts lack, which keep their defaults) and no
        hyperparameter of another optimizer of the registry that this one lacks."""
        ours = self.spec.hyperparameter_names
        optional = _OPTIONAL_ON_LOAD.get(self.spec.name, frozenset())
        missing = [h for h in ours if h not in saved and h not in optional]
        foreign = sorted(key for key in saved if isinstance(key, str)
                         and key in _ALL_HYPERPARAMETERS and key not in ours)
        if missing or foreign:
            what = (f"lacks {', '.join(missing)}" if missing else
                    f"has {', '.join(foreign)}, which {self.spec.name} does not take")
            raise ValueError(f"saved parameter group {k} {what}: not a state dict of "
                             f"{self.spec.name} (of another optimizer?)")

    def _loaded_state(self, index: int, group: Mapping, p: np.ndarray, saved: Any) -> dict:
        if not isinstance(saved, Mapping):
            raise TypeError(f"state of parameter {index} must be a dict, got "
                            f"{type(saved).__name__}")
        names = {b.name for b in self.spec.state}
        state: dict[str, Any] = {}
        for key, value in saved.items():
            if key == "step" and self.spec.counts_steps:
                state["step"] = _loaded_step(index, value)
            elif key in self.spec.scalar_state:
                state[key] = _loaded_real(index, key, value)
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
        missing += [name for name in self.spec.scalar_state if name not in state]
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



#: Every hyperparameter name of the registry: a saved group holding one its optimizer does
#: not take comes from another optimizer.
_ALL_HYPERPARAMETERS = frozenset(h for spec in OPTIMIZERS.values()
                                 for h in spec.hyperparameter_names)
#: fastgd's options that torch.optim's state dicts (torch 2.13) lack: a group loaded from
#: torch keeps their defaults (torch's form of the update).
_OPTIONAL_ON_LOAD = {"Adam": frozenset({"eps_root"}), "AdamW": frozenset({"eps_root"}),
                     "RMSprop": frozenset({"eps_in_sqrt"})}

#: Values a class fixes whatever the loaded group says, as torch.optim.AdamW.__setstate__
#: does (a state dict of Adam loaded into AdamW gives AdamW's update).
_FIXED_ON_LOAD = {"AdamW": {"decoupled_weight_decay": True}}


def _loaded_step(index: int, value: Any) -> int:
    """A saved step count: a whole number >= 0 (a 0-d array, as torch saves it, is fine)."""
    arr = np.asarray(value)
    if arr.shape != () or not (np.issubdtype(arr.dtype, np.integer)
                               or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"state of parameter {index}: step must be a number, got {value!r}")
    step = float(arr)
    if not (0 <= step < 2**53 and step == int(step)):
        raise ValueError(f"state of parameter {index}: step must be a non-negative integer, "
                         f"got {value!r}")
    return int(step)


def _loaded_real(index: int, key: str, value: Any) -> float:
    """A saved real-valued state entry (a number, or a 0-d array as torch saves it)."""
    arr = np.asarray(value)
    if arr.shape != () or not (np.issubdtype(arr.dtype, np.integer)
                               or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"state of parameter {index}: {key} must be a real number, got "
                        f"{value!r}")
    return float(arr)


# -- what each kernel needs per step ---------------------------------------------------------


#: Cache each optimizer's step on the compiled backend (set False to compare).
CACHED_STEP = True
#: After repeated fallbacks of the cached step, rebuild it only every this many steps.
_FAST_RETRY = 64


class _Call:
    """One native call of a step (a kernel over a bucket of tensors), and the state entries
    it commits once every call of the step has run."""

    __slots__ = ("entry", "lists", "scalars", "updates")

    def __init__(self, kernel: str, lists: tuple, scalars: dict, updates: list) -> None:
        self.entry = f"{kernel}_many"
        self.lists, self.scalars, self.updates = lists, scalars, updates

    def run(self, kernels: Any, check_only: bool = False) -> None:
        if check_only:
            getattr(kernels, self.entry)(*self.lists, check_only=True, **self.scalars)
        else:
            getattr(kernels, self.entry)(*self.lists, **self.scalars)

    def commit(self, state: dict) -> None:
        for index, entries in self.updates:
            state.setdefault(index, {}).update(entries)


def _state_of(opt, index: int) -> dict | None:
    """The state of parameter ``index``, checked while planning (before anything is
    written): the step commits into it with ``dict.update``."""
    state = opt.state.get(index)
    if state is not None and type(state) is not dict:
        raise TypeError(f"state of parameter {index} must be a dict, got "
                        f"{type(state).__name__}")
    return state


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


def _plan_sgd(opt, group, items, needed):
    momentum = group["momentum"]
    keys = [(p.dtype, momentum != 0 and "momentum_buffer" not in (_state_of(opt, i) or ()))
            for i, p, _ in items]
    calls = []
    for (_, first_step), bucket in _buckets(items, keys):
        bufs, updates = None, []
        if momentum != 0:
            bufs = [np.empty_like(p) if first_step else opt.state[i]["momentum_buffer"]
                    for i, p, _ in bucket]
            if first_step:
                updates = [(i, {"momentum_buffer": b}) for (i, _, _), b in zip(bucket, bufs)]
        lists = ([p for _, p, _ in bucket], [g for _, _, g in bucket], bufs)
        calls.append(_Call("sgd", lists, dict(
            lr=group["lr"], momentum=momentum, dampening=group["dampening"],
            weight_decay=group["weight_decay"], nesterov=group["nesterov"],
            maximize=group["maximize"], first_step=first_step), updates))
    return calls


def _stepwise(opt, group, items, needed, by_step):
    """Plan the calls of an optimizer that counts steps. Each bucket holds the tensors of
    one dtype at one step count; ``by_step(bucket_states, step)`` gives the kernel name,
    buffer lists (after params and grads) and scalars for that bucket at its new step.
    Entries the options need and the state lacks are made here and committed with the
    new step count. ``needed``: the entries each state must have before its call."""
    stated = []
    append = stated.append
    state_get = opt.state.get
    for i, p, g in items:
        state = state_get(i)
        if type(state) is dict and needed <= state.keys():  # the usual case
            append((i, p, g, state, None))
            continue
        state = _state_of(opt, i)
        fresh = opt._fresh_state(group, p, state or {})
        append((i, p, g, {**(state or {}), **fresh}, fresh))
    calls = []
    keys = [(p.dtype, s["step"]) for _, p, _, s, _ in stated]
    for (_, step), bucket in _buckets(stated, keys):
        states = [s for _, _, _, s, _ in bucket]
        kernel, buffers, scalars = by_step(states, step + 1)
        lists = ([p for _, p, _, _, _ in bucket], [g for _, _, g, _, _ in bucket], *buffers)
        updates = [(i, {**fresh, "step": step + 1} if fresh else {"step": step + 1})
                   for i, _, _, _, fresh in bucket]
        calls.append(_Call(kernel, lists, scalars, updates))
    return calls


def _plan_adam(opt, group, items, needed):
    beta1, beta2 = group["betas"]
    amsgrad = group["amsgrad"]
    eps_root = group["eps_root"]  # None: torch's form; a number: optax's

    def by_step(states, step):
        buffers = ([s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states],
                   [s["max_exp_avg_sq"] for s in states] if amsgrad else None)
        if eps_root is not None:
            return "adam_eps_root", buffers, dict(
                lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"], eps_root=eps_root,
                weight_decay=group["weight_decay"], bias_correction1=1 - float(beta1) ** step,
                bias_correction2=1 - float(beta2) ** step, amsgrad=amsgrad,
                decoupled_weight_decay=group["decoupled_weight_decay"],
                maximize=group["maximize"])
        bc1, bc2_sqrt = bias_corrections(beta1, beta2, step)
        return "adam", buffers, dict(
            lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
            weight_decay=group["weight_decay"], bias_correction1=bc1,
            bias_correction2_sqrt=bc2_sqrt, amsgrad=amsgrad,
            decoupled_weight_decay=group["decoupled_weight_decay"], maximize=group["maximize"])

    return _stepwise(opt, group, items, needed, by_step)


def _plan_adagrad(opt, group, items, needed):
    def by_step(states, step):
        clr = float(group["lr"]) / (1 + (step - 1) * float(group["lr_decay"]))
        return "adagrad", ([s["sum"] for s in states],), dict(
            clr=clr, eps=group["eps"], weight_decay=group["weight_decay"],
            maximize=group["maximize"])

    return _stepwise(opt, group, items, needed, by_step)


def _plan_rmsprop(opt, group, items, needed):
    centered, momentum = group["centered"], group["momentum"]

    def by_step(states, step):
        buffers = ([s["square_avg"] for s in states],
                   [s["grad_avg"] for s in states] if centered else None,
                   [s["momentum_buffer"] for s in states] if momentum > 0 else None)
        kernel = "rmsprop_eps_in_sqrt" if group["eps_in_sqrt"] else "rmsprop"
        return kernel, buffers, dict(
            lr=group["lr"], alpha=group["alpha"], eps=group["eps"],
            weight_decay=group["weight_decay"], momentum=momentum, centered=centered,
            maximize=group["maximize"])

    return _stepwise(opt, group, items, needed, by_step)


# ---- begin plans: adam-family (Adadelta, Adamax, NAdam, RAdam) ----
def _plan_adadelta(opt, group, items, needed):
    def by_step(states, step):
        return "adadelta", ([s["square_avg"] for s in states],
                            [s["acc_delta"] for s in states]), dict(
            lr=group["lr"], rho=group["rho"], eps=group["eps"],
            weight_decay=group["weight_decay"], maximize=group["maximize"])

    return _stepwise(opt, group, items, needed, by_step)


def _plan_adamax(opt, group, items, needed):
    beta1, beta2 = group["betas"]

    def by_step(states, step):
        return "adamax", ([s["exp_avg"] for s in states], [s["exp_inf"] for s in states]), dict(
            lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
            weight_decay=group["weight_decay"], bias_correction1=1 - float(beta1) ** step,
            maximize=group["maximize"])

    return _stepwise(opt, group, items, needed, by_step)


def _float32_product(product: float, factor: float) -> float:
    """``product * factor`` as torch computes ``mu_product *= mu`` on its float32 tensor:
    both rounded to float32, multiplied in float32 (checked against torch over thousands of
    steps)."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        return float(np.float32(product) * np.float32(factor))


def _plan_nadam(opt, group, items, needed):
    # torch keeps mu_product in a float32 tensor (torch's "scalar dtype": float32 unless
    # torch's default dtype is float64) and reads it back as a Python float: the product is
    # rounded to float32 here after every step, which reproduces torch's value exactly.
    # What fastgd cannot follow: under torch.set_default_dtype(torch.float64) torch keeps
    # the product in float64, and torch's load_state_dict casts it to the parameter's
    # dtype (float64 for float64 parameters) before it goes on multiplying. There the
    # product differs by its accumulated float32 rounding (relative 2e-7 after 60 steps,
    # measured) and the parameters by at most 7e-10 absolute in the tests, which allow
    # 1e-8 (tests/test_adam_family_torch.py).
    beta1, beta2 = (float(b) for b in group["betas"])
    psi = float(group["momentum_decay"])
    start = opt.spec.scalar_state["mu_product"](group)

    def by_step(states, step):
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * psi)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * psi)))
        product = _float32_product(states[0]["mu_product"], mu)
        return "nadam", ([s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states]), dict(
            lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
            weight_decay=group["weight_decay"], bias_correction2=1 - beta2 ** step, mu=mu,
            mu_next=mu_next, mu_product=product,
            decoupled_weight_decay=group["decoupled_weight_decay"], maximize=group["maximize"])

    # one call per value of mu_product too (they differ only after the schedule changed
    # while some parameters had no gradient, or after loading such a state)
    products = [((_state_of(opt, i) or {}).get("mu_product", start)) for i, _, _ in items]
    calls = []
    for _, bucket in _buckets(items, products):
        for call in _stepwise(opt, group, bucket, needed, by_step):
            for _, entries in call.updates:
                entries["mu_product"] = call.scalars["mu_product"]
            calls.append(call)
    return calls


def _radam_rectification(beta2: float, step: int) -> tuple[bool, float]:
    """Whether RAdam's step ``step`` is rectified (rho_t > 5) and its rectification term,
    in float64 as torch computes them."""
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * (beta2 ** step) / (1 - beta2 ** step)
    if not rho_t > 5.0:
        return False, 0.0
    return True, ((rho_t - 4) * (rho_t - 2) * rho_inf
                  / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5


def _plan_radam(opt, group, items, needed):
    beta1, beta2 = (float(b) for b in group["betas"])

    def by_step(states, step):
        rectified, rectification = _radam_rectification(beta2, step)
        return "radam", ([s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states]), dict(
            lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
            weight_decay=group["weight_decay"], bias_correction1=1 - beta1 ** step,
            bias_correction2_sqrt=(1 - beta2 ** step) ** 0.5, rectification=rectification,
            rectified=rectified, decoupled_weight_decay=group["decoupled_weight_decay"],
            maximize=group["maximize"])

    return _stepwise(opt, group, items, needed, by_step)
# ---- end plans: adam-family ----

# ---- begin plans: torch-other (Rprop, ASGD, Adafactor) ----
def _plan_rprop(opt, group, items, needed):
    etaminus, etaplus = group["etas"]
    step_size_min, step_size_max = group["step_sizes"]

    def by_step(states, step):
        return "rprop", ([s["prev"] for s in states], [s["step_size"] for s in states]), dict(
            etaminus=etaminus, etaplus=etaplus, step_size_min=step_size_min,
            step_size_max=step_size_max, maximize=group["maximize"])

    return _stepwise(opt, group, items, needed, by_step)


def _plan_asgd(opt, group, items, needed):
    from fastgd.reference import asgd_schedule

    lr, lambd, alpha, t0 = (group[k] for k in ("lr", "lambd", "alpha", "t0"))
    stated = []
    for i, p, g in items:
        state = _state_of(opt, i)
        fresh = None
        if state is None or not needed <= state.keys():
            fresh = opt._fresh_state(group, p, state or {})
            state = {**(state or {}), **fresh}
        stated.append((i, p, g, state, fresh))
    # one call per dtype, step count and (eta, mu): parameters that skipped steps, or
    # joined later, have their own
    keys = [(p.dtype, s["step"], s["eta"], s["mu"]) for _, p, _, s, _ in stated]
    calls = []
    for (_, step, eta, mu), bucket in _buckets(stated, keys):
        new_eta, new_mu = asgd_schedule(lr, lambd, alpha, t0, step + 1)
        after = {"step": step + 1, "eta": new_eta, "mu": new_mu}
        lists = ([p for _, p, _, _, _ in bucket], [g for _, _, g, _, _ in bucket],
                 [s["ax"] for _, _, _, s, _ in bucket])
        updates = [(i, {**fresh, **after} if fresh else after)
                   for i, _, _, _, fresh in bucket]
        calls.append(_Call("asgd", lists, dict(
            eta=eta, lambd=lambd, mu=mu, weight_decay=group["weight_decay"],
            maximize=group["maximize"]), updates))
    return calls


def _plan_adafactor(opt, group, items, needed):
    from fastgd.reference import adafactor_schedule

    eps1, eps2 = group["eps"]
    if eps1 is None:
        # torch resolves None once per group and step, from the first parameter with a
        # gradient, and uses it for the group's other parameters too
        eps1 = float(np.finfo(items[0][1].dtype).eps)
    options = dict(lr=group["lr"], eps1=eps1, eps2=eps2, d=group["d"],
                   weight_decay=group["weight_decay"], maximize=group["maximize"])

    def planner(factored):
        def by_step(states, step):
            rho, one_minus_beta2 = adafactor_schedule(group["lr"], group["beta2_decay"], step)
            if factored:
                buffers = ([s["row_var"] for s in states], [s["col_var"] for s in states],
                           None)
            else:
                buffers = (None, None, [s["variance"] for s in states])
            return "adafactor", buffers, dict(
                options, rho=rho, one_minus_beta2=one_minus_beta2, factored=factored)
        return by_step

    calls = []
    for factored in (True, False):
        part = [item for item in items if (item[1].ndim >= 2) == factored]
        if part:
            calls += _stepwise(opt, group, part, _adafactor_needed(factored),
                               planner(factored))
    return calls
# ---- end plans: torch-other ----

# ---- begin plans: optax (Lion, AdaBelief, LAMB, LARS, Yogi) ----
def _stepless(opt, group, items, needed, kernel, names, scalars):
    """Plan the calls of an optimizer that keeps state buffers but no step count (Lion,
    LARS): one call per dtype over the state entries ``names``; entries the options need
    and the state lacks are made here and committed after the step."""
    stated = []
    for i, p, g in items:
        state = _state_of(opt, i)
        fresh = None
        if state is None or not needed <= state.keys():
            fresh = opt._fresh_state(group, p, state or {})
            state = {**(state or {}), **fresh}
        stated.append((i, p, g, state, fresh))
    calls = []
    for _, bucket in _buckets(stated, [p.dtype for _, p, _, _, _ in stated]):
        states = [s for _, _, _, s, _ in bucket]
        buffers = [[s[name] for s in states] if name else None for name in names]
        lists = ([p for _, p, _, _, _ in bucket], [g for _, _, g, _, _ in bucket], *buffers)
        updates = [(i, fresh) for i, _, _, _, fresh in bucket if fresh]
        calls.append(_Call(kernel, lists, dict(scalars), updates))
    return calls


def _plan_lion(opt, group, items, needed):
    beta1, beta2 = group["betas"]
    return _stepless(opt, group, items, needed, "lion", ("exp_avg",), dict(
        lr=group["lr"], beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"],
        maximize=group["maximize"]))


def _plan_lars(opt, group, items, needed):
    momentum = group["momentum"]
    return _stepless(opt, group, items, needed, "lars",
                     ("momentum_buffer" if momentum != 0 else None,), dict(
                         lr=group["lr"], momentum=momentum,
                         weight_decay=group["weight_decay"],
                         trust_coefficient=group["trust_coefficient"], eps=group["eps"],
                         nesterov=group["nesterov"], maximize=group["maximize"]))


def _bias_corrections_optax(beta1: float, beta2: float, step: int) -> tuple[float, float]:
    """optax's ``1 - b1**t`` and ``1 - b2**t`` (the moments are divided by them), float64."""
    beta1, beta2 = float(beta1), float(beta2)
    return 1 - beta1**step, 1 - beta2**step


def _adam_like_plan(kernel, state_names, extra):
    """The plan of an Adam-like optax optimizer: two moments, a step count, bias corrections
    and the group scalars named in ``extra``."""

    def plan(opt, group, items, needed):
        beta1, beta2 = group["betas"]

        def by_step(states, step):
            bc1, bc2 = _bias_corrections_optax(beta1, beta2, step)
            buffers = tuple([s[name] for s in states] for name in state_names)
            return kernel, buffers, dict(
                lr=group["lr"], beta1=beta1, beta2=beta2, bias_correction1=bc1,
                bias_correction2=bc2, maximize=group["maximize"],
                **{name: group[name] for name in extra})

        return _stepwise(opt, group, items, needed, by_step)

    return plan


_plan_adabelief = _adam_like_plan("adabelief", ("exp_avg", "exp_avg_var"),
                                  ("eps", "eps_root", "weight_decay"))
_plan_lamb = _adam_like_plan("lamb", ("exp_avg", "exp_avg_sq"), ("eps", "weight_decay"))
_plan_yogi = _adam_like_plan("yogi", ("exp_avg", "exp_avg_sq"), ("eps",))
# ---- end plans: optax ----

# ---- begin plans: sophia-schedulefree (Sophia, SGDScheduleFree, AdamWScheduleFree) ----

def _plan_sophia(opt, group, items, needed):
    def by_step(states, step):
        buffers = ([s["exp_avg"] for s in states], [s["hessian"] for s in states])
        return "sophia", buffers, dict(
            lr=group["lr"], beta1=group["betas"][0], rho=group["rho"], eps=group["eps"],
            weight_decay=group["weight_decay"], maximize=group["maximize"])

    return _stepwise(opt, group, items, needed, by_step)


def _schedule_free_weights(group, state) -> tuple[float, float, float, float]:
    """The schedulefree package's per-step numbers for a parameter at step k =
    ``state["step"]`` (from 0), in float64: the scheduled learning rate, the averaging
    weight c_{k+1}, and the new lr_max and weight_sum."""
    k = state["step"]
    warmup = float(group["warmup_steps"])
    lr = float(group["lr"]) * ((k + 1) / warmup if k < warmup else 1.0)
    lr_max = max(lr, state["lr_max"])
    try:
        weight = (k + 1) ** float(group["r"]) * lr_max ** float(group["weight_lr_power"])
    except OverflowError:
        raise ValueError(f"the averaging weight (k + 1)**r * lr_max**weight_lr_power "
                         f"overflows at step {k + 1} (r={group['r']}, lr_max={lr_max}, "
                         f"weight_lr_power={group['weight_lr_power']})") from None
    weight_sum = state["weight_sum"] + weight
    try:
        ckp1 = weight / weight_sum
    except ZeroDivisionError:  # every weight so far is 0 (lr = 0)
        ckp1 = 0.0
    return lr, ckp1, lr_max, weight_sum


def _plan_schedule_free(opt, group, items, needed, kernel):
    if not group["train_mode"]:
        raise RuntimeError(f"{type(opt).__name__}.step() called in eval mode: the parameters "
                           f"hold the averaged point x; call train() before the steps and "
                           f"eval() before evaluating")
    adamw = kernel == "adamw_schedule_free"
    planned = []
    for i, p, g in items:
        state = _state_of(opt, i)
        fresh = None
        if state is None or not needed <= state.keys():
            fresh = opt._fresh_state(group, p, state or {})
            if "z" in fresh:
                fresh["z"] = p.copy()  # z starts at the parameter: x = y = z
            state = {**(state or {}), **fresh}
        lr, ckp1, lr_max, weight_sum = _schedule_free_weights(group, state)
        update = {**(fresh or {}), "step": state["step"] + 1, "lr_max": lr_max,
                  "weight_sum": weight_sum}
        planned.append(((i, p, g, state, update), (p.dtype, state["step"], lr, ckp1)))
    calls = []
    for (_, step, lr, ckp1), bucket in _buckets([x for x, _ in planned],
                                                [key for _, key in planned]):
        lists = ([p for _, p, _, _, _ in bucket], [g for _, _, g, _, _ in bucket],
                 [s["z"] for _, _, _, s, _ in bucket])
        updates = [(i, update) for i, _, _, _, update in bucket]
        if adamw:
            beta1, beta2 = group["betas"]
            calls.append(_Call(kernel, (*lists, [s["exp_avg_sq"] for _, _, _, s, _ in bucket]),
                               dict(lr=lr, beta1=beta1, beta2=beta2, eps=group["eps"],
                                    weight_decay=group["weight_decay"], ckp1=ckp1,
                                    bias_correction2=1 - float(beta2) ** (step + 1),
                                    maximize=group["maximize"]), updates))
        else:
            calls.append(_Call(kernel, lists, dict(
                lr=lr, momentum=group["momentum"], weight_decay=group["weight_decay"],
                ckp1=ckp1, maximize=group["maximize"]), updates))
    return calls


def _plan_sgd_schedule_free(opt, group, items, needed):
    return _plan_schedule_free(opt, group, items, needed, "sgd_schedule_free")


def _plan_adamw_schedule_free(opt, group, items, needed):
    return _plan_schedule_free(opt, group, items, needed, "adamw_schedule_free")
# ---- end plans: sophia-schedulefree ----

#: Methods some optimizers add to the base class (ASGD's averages, Sophia's Hessian
#: estimates, ...): class name -> mixin classes, put before Optimizer among the bases.
_MIXINS: dict[str, tuple[type, ...]] = {}

# ---- begin mixins: adam-family ----
# ---- end mixins: adam-family ----
# ---- begin mixins: torch-other ----
class _MixinBase:
    """What the optimizers' mixins use of :class:`Optimizer` (annotations only, for the
    type checker: nothing here exists at run time, so nothing shadows Optimizer's own)."""

    param_groups: list[dict[str, Any]]
    state: dict[int, dict[str, Any]]
    _needed: list[Any]

    if TYPE_CHECKING:
        def _revalidate_groups(self) -> None: ...

        def _fresh_state(self, group: Mapping[str, Any], p: np.ndarray,
                         state: Mapping[str, Any]) -> dict[str, Any]: ...


class _ASGDAverages(_MixinBase):
    """ASGD's averaged parameters."""

    def averaged(self) -> list[np.ndarray]:
        """The averaged parameters (torch's ``ax`` state), one array per parameter, aligned
        with the parameters of all groups in order: new arrays (copies), which later steps
        do not change. A parameter with no average yet (no step has had a gradient for
        it) gives a copy of itself: its first step makes ``ax`` the parameter.

        Averaging starts after step ``t0``; until then the average follows the
        parameter. Evaluate a model with the averages, e.g.::

            for p, a in zip(params, opt.averaged()):
                p_eval[...] = a
        """
        out = []
        index = 0
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state.get(index)
                ax = state.get("ax") if isinstance(state, dict) else None
                out.append(np.array(p if ax is None else ax, dtype=p.dtype, order="C",
                                    copy=True))
                index += 1
        return out


_MIXINS["ASGD"] = (_ASGDAverages,)


def _adafactor_needed(factored: bool) -> frozenset[str]:
    return frozenset(("step", "row_var", "col_var") if factored else ("step", "variance"))


def _adafactor_shapes(p: np.ndarray) -> dict[str, tuple[int, ...]]:
    """Adafactor's state arrays of ``p`` and their shapes, as torch makes them."""
    if p.ndim >= 2:
        return {"row_var": p.shape[:-1] + (1,), "col_var": p.shape[:-2] + (1, p.shape[-1])}
    return {"variance": p.shape}


class _AdafactorState:
    """Adafactor's state depends on each parameter's shape (torch's): ``row_var`` of shape
    (..., rows, 1) and ``col_var`` of shape (..., 1, cols) for a parameter of two or more
    dimensions, ``variance`` of its shape otherwise; all start at zero."""

    def _fresh_state(self, group: Mapping[str, Any], p: np.ndarray, state: Mapping) -> dict:
        fresh: dict[str, Any] = {}
        if "step" not in state:
            fresh["step"] = 0
        for name, shape in _adafactor_shapes(p).items():
            if name not in state:
                fresh[name] = np.zeros(shape, dtype=p.dtype)
        return fresh

    def _loaded_state(self, index: int, group: Mapping, p: np.ndarray, saved: Any) -> dict:
        if not isinstance(saved, Mapping):
            raise TypeError(f"state of parameter {index} must be a dict, got "
                            f"{type(saved).__name__}")
        shapes = _adafactor_shapes(p)
        state: dict[str, Any] = {}
        for key, value in saved.items():
            if key == "step":
                state["step"] = _loaded_step(index, value)
            elif key in shapes:
                arr = np.asarray(value)
                if not np.issubdtype(arr.dtype, np.floating):
                    raise TypeError(f"state of parameter {index}: {key} has dtype "
                                    f"{arr.dtype}, expected floating point")
                if arr.shape != shapes[key]:
                    raise ValueError(f"state of parameter {index}: {key} has shape "
                                     f"{arr.shape}, expected {shapes[key]} for a parameter "
                                     f"of shape {p.shape}")
                state[key] = np.array(arr, dtype=p.dtype, order="C", copy=True)
            else:
                raise ValueError(f"state of parameter {index}: unexpected entry {key!r} for "
                                 f"Adafactor with a parameter of shape {p.shape} (its state "
                                 f"is step, {', '.join(shapes)})")
        missing = [name for name in ("step", *shapes) if name not in state]
        if missing and state:
            raise ValueError(f"state of parameter {index} lacks {', '.join(missing)}")
        return state


_MIXINS["Adafactor"] = (_AdafactorState,)
# ---- end mixins: torch-other ----
# ---- begin mixins: optax ----
# ---- end mixins: optax ----
# ---- begin mixins: sophia-schedulefree ----


class _SophiaMixin(_MixinBase):
    """Sophia's Hessian estimates: :meth:`update_hessian` and :meth:`hessian_due`.

    The step divides the momentum by ``rho * h + eps``, where ``h`` is the moving average
    of the diagonal Hessian estimates given to :meth:`update_hessian`; until the first
    estimate ``h`` is 0 and the steps are ``lr * sign(m)``. The official training loop
    refreshes ``h`` every ``update_interval`` steps, right after the step and on the same
    batch::

        from fastgd import hessian

        opt = fastgd.Sophia(params, lr=3e-4, rho=0.05, weight_decay=0.2)
        rng = np.random.default_rng(0)
        for batch in batches:
            opt.step(grads_of(batch))
            if opt.hessian_due():  # after steps update_interval, 2 * update_interval, ...
                opt.update_hessian(hessian.gauss_newton_bartlett(
                    logits_of(batch), lambda labels: grads_of(batch, labels), rng))

    ``grads_of(batch, labels)``: the gradients of the mean cross-entropy on the batch with
    those labels instead of the batch's own (the official code: ``update_hessian()``
    after a backward pass on labels sampled from the model).
    """

    def update_hessian(self, estimates, *, nonfinite: str | None = None) -> bool | None:
        """``h <- beta2 * h + (1 - beta2) * estimate`` for each parameter, ``beta2`` its
        group's ``betas[1]`` (the official SophiaG's ``update_hessian``, there with
        ``estimate = g * g``).

        ``estimates`` is a list aligned with the parameters of all groups, in order: for
        each, an array of the parameter's shape and dtype (a diagonal Hessian estimate:
        :func:`fastgd.hessian.gauss_newton_bartlett` or :func:`fastgd.hessian.hutchinson`),
        or None to leave its average alone. A parameter without state yet gets it (zero
        momentum and average, step 0), as in the official code. Everything is checked
        before any state changes.

        ``nonfinite`` treats a NaN or an infinity in the estimates as :meth:`step` does in
        the gradients: None lets it into the averages, ``"raise"`` raises
        FloatingPointError naming the estimate, ``"skip"`` drops the whole update. Returns
        None; with ``nonfinite`` given, True when the averages were updated and False when
        ``"skip"`` dropped the update.
        """
        if nonfinite is not None:
            _check_nonfinite_option(nonfinite)
        if not isinstance(estimates, (list, tuple)):
            raise TypeError("estimates must be a list of arrays (or None) aligned with the "
                            f"parameters, got {type(estimates).__name__}")
        n_params = sum(len(g["params"]) for g in self.param_groups)
        if len(estimates) != n_params:
            raise ValueError(f"update_hessian() got {len(estimates)} estimates for {n_params} "
                             f"parameters")
        self._revalidate_groups()
        work, index = [], 0
        for k, group in enumerate(self.param_groups):
            for p in group["params"]:
                e = estimates[index]
                if e is not None:
                    e = _checked_estimate(index, p, e)
                    state = _state_of(self, index)
                    fresh = None
                    if state is None or not self._needed[k] <= state.keys():
                        fresh = self._fresh_state(group, p, state or {})
                        state = {**(state or {}), **fresh}
                    work.append((group, p.dtype, index, state["hessian"], e, fresh))
                index += 1
        overlapping = _overlapping_by_bounds([e for *_, e, _ in work],
                                             [h for *_, h, _, _ in work])
        for k in overlapping:  # read an estimate that is some average as it was passed
            group, dtype, index, h, e, fresh = work[k]
            work[k] = (group, dtype, index, h, e.copy(), fresh)
        keys = [(id(group), dtype) for group, dtype, *_ in work]
        calls = []
        for _, bucket in (_buckets(work, keys) if work else ()):
            group = bucket[0][0]
            calls.append(_Call("sophia_hessian", ([h for *_, h, _, _ in bucket],
                                                  [e for *_, e, _ in bucket]),
                               dict(beta2=group["betas"][1]),
                               [(i, fresh) for _, _, i, _, _, fresh in bucket if fresh]))
        kernels = _backend.active()
        if len(calls) > 1 or (nonfinite is not None and calls):
            for call in calls:
                call.run(kernels, check_only=True)
        if nonfinite is not None:
            bad = kernels.first_nonfinite([e for *_, e, _ in work])
            if bad >= 0:
                if nonfinite == "skip":
                    return False
                raise FloatingPointError(
                    f"estimates[{work[bad][2]}] holds a NaN or an infinity; the Hessian "
                    f"averages were not updated (nonfinite='raise')")
        for call in calls:
            call.run(kernels)
        for call in calls:
            call.commit(self.state)
        return None if nonfinite is None else True

    def hessian_due(self) -> bool:
        """Whether the Hessian average should be refreshed now, after a step: True when the
        latest step of some group (the largest step count among its parameters) is a
        positive multiple of its ``update_interval``, i.e. after steps ``update_interval``,
        ``2 * update_interval``, ... as in the official training loop. (The paper refreshes
        before steps 1, k + 1, 2k + 1, ...; optax after them: call :meth:`update_hessian`
        on your own schedule for those.)"""
        self._revalidate_groups()
        index = 0
        for group in self.param_groups:
            steps = [self.state[i].get("step", 0)
                     for i in range(index, index + len(group["params"])) if i in self.state]
            index += len(group["params"])
            latest = max(steps, default=0)
            if latest > 0 and latest % group["update_interval"] == 0:
                return True
        return False


def _checked_estimate(index: int, p: np.ndarray, e) -> np.ndarray:
    """A Hessian estimate checked against its parameter: C-contiguous, aligned, its dtype."""
    if not isinstance(e, (np.ndarray, np.generic)):
        raise TypeError(f"estimates[{index}] must be a numpy.ndarray or None, got "
                        f"{type(e).__name__}")
    e = np.asarray(e)
    if e.dtype != p.dtype:
        raise TypeError(f"estimates[{index}] has dtype {e.dtype} but its parameter has dtype "
                        f"{p.dtype}")
    if e.shape != p.shape:
        raise ValueError(f"estimates[{index}] has shape {e.shape} but its parameter has shape "
                         f"{p.shape}")
    if not (e.flags.c_contiguous and e.flags.aligned):
        e = np.array(e, order="C", copy=True)
    return e


def _torch_lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> None:
    """``start <- torch.lerp(start, end, weight)`` in place, the weight rounded to the
    dtype: ``start + w * (end - start)`` when ``|w| < 0.5``, else
    ``end - (end - start) * (1 - w)`` (torch tests ``|w|``: eval()'s weight is negative)."""
    T = start.dtype.type
    w = T(weight)
    with np.errstate(all="ignore"):
        if abs(w) < 0.5:
            start += w * (end - start)
        else:
            start[...] = end - (end - start) * (T(1) - w)


class _ScheduleFreeMixin(_MixinBase):
    """train() / eval() of the schedule-free optimizers, as in the schedulefree package.

    The optimizer keeps z (the SGD/Adam iterate) in its state; x is the weighted average
    of the z so far and y = beta * x + (1 - beta) * z, beta being ``momentum`` (SGD) or
    ``betas[0]`` (AdamW). In train mode (the mode a new optimizer starts in) the
    parameters hold y, where the gradients are taken; :meth:`eval` sets them to x, the
    point to evaluate, test and checkpoint; :meth:`train` sets them back to y. ``step()``
    in eval mode raises RuntimeError. The mode is each group's ``train_mode`` entry (saved
    by ``state_dict()``).
    """

    def train(self) -> None:
        """Parameters to y (for the steps): ``p <- lerp(x, z, 1 - beta)``; no-op in train
        mode."""
        self._switch_mode(True)

    def eval(self) -> None:
        """Parameters to x (for evaluation): ``p <- lerp(y, z, 1 - 1/beta)``; no-op in eval
        mode."""
        self._switch_mode(False)

    def _switch_mode(self, train: bool) -> None:
        self._revalidate_groups()
        moves, index = [], 0
        for group in self.param_groups:
            beta = float(group["betas"][0] if "betas" in group else group["momentum"])
            for p in group["params"]:
                state = self.state.get(index)
                if group["train_mode"] != train and state is not None and "z" in state:
                    z = state["z"]
                    if not isinstance(z, np.ndarray) or z.shape != p.shape \
                            or z.dtype != p.dtype:
                        raise ValueError(f"state of parameter {index}: z must be an array "
                                         f"of the parameter's shape {p.shape} and dtype "
                                         f"{p.dtype}")
                    if not p.flags.writeable:
                        raise ValueError(f"parameter {index} is read-only; the optimizer "
                                         f"updates it in place")
                    moves.append((p, z, 1 - beta if train else 1 - 1 / beta))
                index += 1
        for p, z, weight in moves:
            _torch_lerp_(p, z, weight)
        for group in self.param_groups:
            group["train_mode"] = train


_MIXINS["Sophia"] = (_SophiaMixin,)
_MIXINS["SGDScheduleFree"] = (_ScheduleFreeMixin,)
_MIXINS["AdamWScheduleFree"] = (_ScheduleFreeMixin,)
# ---- end mixins: sophia-schedulefree ----

_PLANS = {kernel[len("_plan_"):]: plan for kernel, plan in globals().items()
          if kernel.startswith("_plan_")}


# -- the classes, one per registry row --------------------------------------------------------


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

    __init__.__signature__ = signature  # type: ignore[attr-defined]
    cls = type(spec.name, (*_MIXINS.get(spec.name, ()), Optimizer),
               {"spec": spec, "__init__": __init__, "__doc__": class_doc(spec),
                "__module__": __name__})
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
# ---- begin class names: adam-family ----
Adadelta: type[Optimizer]
Adamax: type[Optimizer]
NAdam: type[Optimizer]
RAdam: type[Optimizer]
# ---- end class names: adam-family ----
# ---- begin class names: torch-other ----
Rprop: type[Optimizer]
ASGD: type[Optimizer]
Adafactor: type[Optimizer]
# ---- end class names: torch-other ----
# ---- begin class names: optax ----
Lion: type[Optimizer]
AdaBelief: type[Optimizer]
LAMB: type[Optimizer]
LARS: type[Optimizer]
Yogi: type[Optimizer]
# ---- end class names: optax ----
# ---- begin class names: sophia-schedulefree ----
Sophia: type[Optimizer]
SGDScheduleFree: type[Optimizer]
AdamWScheduleFree: type[Optimizer]
# ---- end class names: sophia-schedulefree ----
