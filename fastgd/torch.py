"""fastgd's optimizers as ``torch.optim.Optimizer`` subclasses, for CPU tensors.

``opt = fastgd.torch.Adam(model.parameters(), lr=1e-3)`` is a ``torch.optim.Optimizer``:
``loss.backward(); opt.step(); opt.zero_grad()`` as with ``torch.optim.Adam``, and torch's
learning-rate schedulers, step and state-dict hooks and trainers drive it. Every optimizer
of :mod:`fastgd.optim.registry` has a class here of the same name, arguments and defaults
(those torch lacks, such as :class:`Lion` or :class:`AdamWScheduleFree`, too), except the
low-bit ones (``fastgd.AdamW8bit`` and the others in :data:`NOT_ADAPTED`), whose
block-quantized state has no torch.optim layout: they step float32 NumPy arrays.

A step reads each parameter's ``.grad`` (a parameter whose ``.grad`` is None is skipped,
with its state) and updates the parameters in place with fastgd's kernels of the active
backend, through NumPy views of the tensors' memory (no copy). The update equals that of
the fastgd optimizer of the same name on the same arrays; float64 results equal
torch.optim's to rounding, float32 ones differ from torch's CPU kernels by a few ulps
per step (torch's use fused multiply-add, fastgd's default kernels do not).

What is supported and what is refused:

- parameters: CPU, dense (strided), contiguous, float32 or float64 leaf tensors; anything
  else is a TypeError or ValueError naming the parameter (its index over all groups) when
  the parameter is added. A parameter whose storage is replaced later (``p.data = ...``,
  ``module.to(...)``) is viewed again at the next step (same dtype and shape, else an
  error).
- gradients: dense CPU tensors of the parameter's dtype and shape; a sparse gradient, one
  on another device, of another dtype or shape, or one that requires grad (a gradient
  made with ``create_graph=True``) is an error naming the parameter, raised before
  anything is modified. A non-contiguous gradient is copied first.
- hyperparameters: validated as fastgd validates them (torch's conditions and messages),
  when a group is added or loaded and, after a change by a scheduler or by hand, at the
  next step before anything is modified.
- the optimizers off the element-wise kernel table: :class:`LBFGS` (a
  :class:`ClosureOptimizer`) takes torch's ``step(closure)``, the closure required;
  :class:`Muon` steps matrices only (a ValueError for another parameter, as torch);
  :class:`SparseAdam` (a :class:`SparseGradOptimizer`) steps sparse COO gradients
  (``nn.Embedding(sparse=True)``'s) and refuses dense ones as torch does.
- state: ``opt.state[p]`` holds tensors that share memory with fastgd's state arrays
  (``step`` and the other counters as 0-d tensors, as torch keeps them), made when read;
  ``state_dict()`` has torch's layout and names, and state dicts of ``torch.optim``'s
  optimizer of the same name load here and the other way round.

Example::

    import torch, fastgd.torch
    model = torch.nn.Linear(4, 1)
    opt = fastgd.torch.Adam(model.parameters(), lr=1e-2)
    loss = model(torch.ones(8, 4)).pow(2).mean()
    loss.backward(); opt.step(); opt.zero_grad()
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import operator
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.optim.optimizer as _torch_optimizer

from fastgd._torch_state import as_arrays as _as_arrays
from fastgd._torch_state import as_tensors as _as_tensors
from fastgd._torch_state import sparse_grad as _sparse_grad
from fastgd.optim import Optimizer as _FastgdOptimizer
from fastgd.optim.registry import CLASSES as _FASTGD_CLASSES

#: The registry's optimizers with block-quantized (8/4-bit) states, which ``fastgd.torch``
#: does not offer: their state (codes, block maxima, map names) has no torch.optim
#: layout. They step float32 NumPy arrays (``fastgd.AdamW8bit``, ...).
NOT_ADAPTED = tuple(name for name, cls in _FASTGD_CLASSES.items()
                    if "lowbit_step" in cls.spec.step_functions)

__all__ = ["TorchOptimizer", "ClosureOptimizer", "SparseGradOptimizer",
           *(name for name in _FASTGD_CLASSES if name not in NOT_ADAPTED)]

_DTYPES = (torch.float32, torch.float64)
_GRAD = operator.attrgetter("grad")
_DATA_PTR = torch.Tensor.data_ptr
#: torch's hooks run around every optimizer's step (torch.optim.optimizer's
#: register_optimizer_step_pre_hook and _post_hook fill them in place).
_GLOBAL_PRE_HOOKS: Any = getattr(_torch_optimizer, "_global_optimizer_pre_hooks", {})
_GLOBAL_POST_HOOKS: Any = getattr(_torch_optimizer, "_global_optimizer_post_hooks", {})
_PROFILING = torch.autograd._profiler_enabled


def _param_problem(index: int, p: Any) -> str | None:
    """What keeps parameter ``index`` from being stepped through a NumPy view, or None."""
    if not isinstance(p, torch.Tensor):
        return f"parameter {index} is a {type(p).__name__}, not a torch.Tensor"
    if p.layout != torch.strided:
        return f"parameter {index} is a {p.layout} tensor; fastgd.torch steps dense tensors"
    if p.device.type != "cpu":
        return (f"parameter {index} is on device {p.device}; fastgd.torch steps CPU tensors "
                f"(use torch.optim on other devices)")
    if p.dtype not in _DTYPES:
        return (f"parameter {index} has dtype {p.dtype}; fastgd.torch steps float32 or "
                f"float64 tensors")
    if not p.is_contiguous():
        return (f"parameter {index} (shape {tuple(p.shape)}) is not contiguous; make it so "
                f"(p.data = p.data.contiguous()) before building the optimizer")
    if p.is_conj() or p.is_neg():
        return f"parameter {index} has a lazy conjugate or negative bit; resolve it first"
    return None


def _view(index: int, p: torch.Tensor) -> np.ndarray:
    problem = _param_problem(index, p)
    if problem is not None:
        raise (TypeError if "dtype" in problem or "torch.Tensor" in problem
               else ValueError)(problem)
    return p.detach().numpy()


def _grad_problem(index: int, p: torch.Tensor) -> str | None:
    """What is wrong with parameter ``index``'s ``.grad`` for a step, or None."""
    g = p.grad
    if g is None:
        return None
    where = f"the gradient of parameter {index}"
    if g.layout != torch.strided:
        return (f"{where} is a {g.layout} tensor; fastgd.torch steps dense gradients "
                f"(torch.optim.SparseAdam takes sparse ones)")
    if g.device.type != "cpu":
        return f"{where} is on device {g.device}; fastgd.torch steps CPU tensors"
    if g.dtype != p.dtype:
        return f"{where} has dtype {g.dtype} but the parameter has dtype {p.dtype}"
    if g.shape != p.shape:
        return (f"{where} has shape {tuple(g.shape)} but the parameter has shape "
                f"{tuple(p.shape)}")
    if g.requires_grad:
        return (f"{where} requires grad (made with create_graph=True?); fastgd.torch "
                f"cannot differentiate through a step")
    if g.is_conj() or g.is_neg():
        return f"{where} has a lazy conjugate or negative bit; resolve it first"
    return None


class TorchOptimizer(torch.optim.Optimizer):
    """Base class of the ``fastgd.torch`` optimizers: a ``torch.optim.Optimizer`` whose
    steps run the fastgd optimizer ``fastgd_class`` over NumPy views of the parameters.

    ``param_groups`` are torch's (tensors in ``params``); the fastgd optimizer's groups
    hold the views and take the hyperparameters of torch's groups at each step, so that
    schedulers and changes by hand apply at the next step.
    """

    fastgd_class: type[_FastgdOptimizer]

    def __init__(self, params: Any, **hyperparameters: Any) -> None:
        cls = self.fastgd_class
        defaults = dict(cls.spec.defaults)
        defaults.update(hyperparameters)
        # the hyperparameters checked as fastgd checks them, before any parameter (a
        # matrix: Muon steps nothing else)
        cls([np.zeros((1, 1))], **hyperparameters)
        self._names: tuple[str, ...] = cls.spec.hyperparameter_names
        self._arguments = tuple(h.name for h in cls.spec.hyperparameters if h.argument)
        self._inner: _FastgdOptimizer | None = None
        self._ptrs: list[int] = []
        # per parameter: the gradient tensor of the last step, its address and its view
        self._grad_seen: list[Any] = []
        self._grad_ptrs: list[int] = []
        self._grad_views: list[Any] = []
        super().__init__(params, defaults)

    # -- groups -----------------------------------------------------------------------

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group, as torch does (its checks first), then to the fastgd optimizer
        (its checks); a group refused by either is not added."""
        before = len(self.param_groups)
        super().add_param_group(param_group)
        try:
            group = self.param_groups[-1]
            first = len(self._ptrs)
            views = [_view(first + j, p) for j, p in enumerate(group["params"])]
            inner_group = {name: group[name] for name in self._names}
            inner_group["params"] = views
            if self._inner is None:
                self._inner = self.fastgd_class([inner_group], **{
                    name: self.defaults[name] for name in self._arguments})
            else:
                self._inner.add_param_group(inner_group)
        except BaseException:
            del self.param_groups[before:]
            raise
        self._ptrs.extend(p.data_ptr() for p in group["params"])

    def _sync(self, inner: _FastgdOptimizer) -> None:
        """Hand torch's groups' hyperparameters to the fastgd optimizer."""
        groups = self.param_groups
        inner_groups = inner.param_groups
        if len(groups) != len(inner_groups):
            raise ValueError("param_groups was changed other than by add_param_group or "
                             "load_state_dict; add groups with add_param_group")
        names = self._names
        for group, inner_group in zip(groups, inner_groups):
            if len(group["params"]) != len(inner_group["params"]):
                raise ValueError("param_groups was changed other than by add_param_group "
                                 "or load_state_dict; add groups with add_param_group")
            for name in names:
                inner_group[name] = group[name]

    def _view_again(self, inner: _FastgdOptimizer, params: list) -> None:
        """View again the parameters whose storage was replaced since the last step."""
        ptrs = [p.data_ptr() for p in params]
        index = 0
        replaced = []
        for inner_group in inner.param_groups:
            for j in range(len(inner_group["params"])):
                p = params[index]
                if ptrs[index] != self._ptrs[index]:
                    old = inner_group["params"][j]
                    view = _view(index, p)
                    if view.dtype != old.dtype or view.shape != old.shape:
                        raise ValueError(
                            f"parameter {index} was replaced by a tensor of dtype {p.dtype} "
                            f"and shape {tuple(p.shape)} (it was {old.dtype}, {old.shape}) "
                            f"after the optimizer was built; build the optimizer after "
                            f"converting or moving the model")
                    replaced.append((inner_group["params"], j, view))
                index += 1
        for plist, j, view in replaced:
            plist[j] = view
        self._ptrs = ptrs

    # -- step ---------------------------------------------------------------------------

    def _grads(self, params: list) -> list[np.ndarray | None]:
        """Each parameter's ``.grad`` as a NumPy view (None where it has none). A gradient
        tensor seen at the last step (same object, same memory) reuses its view; a new one
        is viewed (``Tensor.numpy()``, which refuses what cannot be viewed: the parameter
        is then named). Checks that no parameter's storage was replaced on the way."""
        seen, seen_ptrs, views = self._grad_seen, self._grad_ptrs, self._grad_views
        if len(seen) != len(params):
            seen[:] = views[:] = [None] * len(params)
            seen_ptrs[:] = [0] * len(params)
        ptrs = self._ptrs
        try:  # the usual case, in C loops: the gradient tensors of the last step
            tensors = list(map(_GRAD, params))
            if (len(seen) == len(params) and all(map(operator.is_, tensors, seen))
                    and list(map(_DATA_PTR, params)) == ptrs
                    and list(map(_DATA_PTR, tensors)) == seen_ptrs):
                return views  # the step only reads it
        except (TypeError, RuntimeError):  # a None gradient (or a strange one): below
            pass
        grads: list[np.ndarray | None] = [None] * len(params)
        moved = False
        try:
            for i, p in enumerate(params):
                if p.data_ptr() != ptrs[i]:
                    moved = True
                g = p.grad
                if g is None:
                    continue
                ptr = g.data_ptr()
                if g is seen[i] and ptr == seen_ptrs[i]:
                    grads[i] = views[i]
                else:
                    grads[i] = views[i] = g.numpy()
                    seen[i], seen_ptrs[i] = g, ptr
        except (TypeError, RuntimeError) as error:
            seen[:] = views[:] = [None] * len(params)
            for index, p in enumerate(params):
                problem = _grad_problem(index, p)
                if problem is not None:
                    raise (TypeError if "dtype" in problem or "device" in problem
                           else ValueError)(problem) from error
            raise
        if moved:
            assert self._inner is not None
            self._view_again(self._inner, params)
        return grads

    def zero_grad(self, set_to_none: bool = True) -> None:
        """As torch's; with ``set_to_none`` the views of the old gradients are dropped
        too (so that their memory is freed)."""
        super().zero_grad(set_to_none)
        if set_to_none:
            n = len(self._grad_seen)
            self._grad_seen[:] = self._grad_views[:] = [None] * n

    def step(self, *args: Any, **kwargs: Any) -> Any:
        """One update of every parameter with a ``.grad``; with ``closure``, that is
        called first (with gradients enabled) and its loss returned.

        The step hooks (this optimizer's and torch's global ones) run around it as
        torch.optim runs them, and under torch's profiler the step is recorded as
        ``Optimizer.step#<class>.step``; without hooks or profiler the step goes
        straight to the update (torch.optim's own wrapper of ``step`` costs several
        microseconds per step even then)."""
        if ((self._optimizer_step_pre_hooks or self._optimizer_step_post_hooks
                or _GLOBAL_PRE_HOOKS or _GLOBAL_POST_HOOKS or _PROFILING())
                and type(self).step is TorchOptimizer.step):
            return self._step_with_hooks(args, kwargs)
        return self._step(*args, **kwargs)

    # torch.optim.Optimizer wraps the ``step`` of a class without this mark in its hooks'
    # wrapper; this one runs the hooks itself (a subclass's own ``step`` is wrapped, and
    # this one then leaves the hooks to that wrapper).
    step.hooked = True  # type: ignore[attr-defined]

    def _step_with_hooks(self, args: tuple, kwargs: dict[str, Any]) -> Any:
        """The step between the pre-hooks (each may return new ``(args, kwargs)``, args
        starting with the optimizer) and the post-hooks, recorded under the profiler."""
        record = (torch.autograd.profiler.record_function(
                      f"Optimizer.step#{type(self).__name__}.step")
                  if _PROFILING() else contextlib.nullcontext())
        with record:
            args = (self, *args)
            for hook in itertools.chain(_GLOBAL_PRE_HOOKS.values(),
                                        self._optimizer_step_pre_hooks.values()):
                result = hook(self, args, kwargs)
                if result is None:
                    continue
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(f"a step pre-hook must return None or a tuple "
                                       f"(new_args, new_kwargs), but got {result}")
                args, kwargs = result
            out = TorchOptimizer._step(*args, **kwargs)
            self._optimizer_step_code()
            for hook in itertools.chain(self._optimizer_step_post_hooks.values(),
                                        _GLOBAL_POST_HOOKS.values()):
                hook(self, args, kwargs)
            return out

    def _step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        inner = self._inner
        assert inner is not None
        self._sync(inner)
        groups = self.param_groups
        params = (groups[0]["params"] if len(groups) == 1
                  else [p for group in groups for p in group["params"]])
        inner.step(self._grads(params))
        return loss

    # -- state --------------------------------------------------------------------------

    @property
    def state(self) -> defaultdict[torch.Tensor, Any]:
        """Each parameter's state: arrays as tensors sharing fastgd's memory; ``step`` a
        0-d tensor of torch's scalar dtype (float32, float64 under a float64 default
        dtype); other real numbers (ASGD's ``eta`` and ``mu``, ...) Python floats, which
        torch's load_state_dict keeps at full precision and torch's optimizers take."""
        state: defaultdict[torch.Tensor, Any] = defaultdict(dict)
        inner = self.__dict__.get("_inner")
        if inner is None:
            return state
        params = [p for group in self.param_groups for p in group["params"]]
        scalar_dtype = (torch.float64 if torch.get_default_dtype() == torch.float64
                        else torch.float32)
        for index, entries in inner.state.items():
            state[params[index]] = {
                key: (torch.tensor(float(value), dtype=scalar_dtype) if key == "step"
                      else torch.from_numpy(value) if isinstance(value, np.ndarray)
                      else value)
                for key, value in entries.items()}
        return state

    @state.setter
    def state(self, value: Any) -> None:
        if self.__dict__.get("_inner") is not None:
            self._load(self.param_groups, value)

    def _load(self, groups: list[dict[str, Any]], state: Any) -> None:
        """Load torch-layout ``groups`` (tensors in ``params``) and ``state`` (keyed by
        parameter) into the fastgd optimizer, which checks everything before replacing
        anything; then take ``groups`` as this optimizer's."""
        inner = self._inner
        assert inner is not None
        ids: dict[int, int] = {}
        saved_groups = []
        for group in groups:
            packed = {k: v for k, v in group.items() if k not in ("params", "param_names")}
            packed["params"] = list(range(len(ids), len(ids) + len(group["params"])))
            ids.update((id(p), i) for i, p in zip(packed["params"], group["params"]))
            saved_groups.append(packed)
        saved_state = {}
        for key, entries in state.items():
            if id(key) not in ids:
                raise ValueError(f"state dict has state for {key!r}, which is not a "
                                 f"parameter of the optimizer")
            saved_state[ids[id(key)]] = {
                k: np.asarray(v.detach().cpu()) if isinstance(v, torch.Tensor) else v
                for k, v in entries.items()}
        inner.load_state_dict({"state": saved_state, "param_groups": saved_groups})
        for group, inner_group in zip(groups, inner.param_groups):
            for name in self._names:
                group[name] = inner_group[name]
        self.param_groups = groups

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        torch_state = state.pop("state", {})
        groups = state.pop("param_groups", None)
        if self.__dict__.get("_inner") is None:  # unpickling, or a deep copy
            defaults = state.get("defaults", {})
            hyper = {h.name: defaults[h.name] for h in self.fastgd_class.spec.hyperparameters
                     if h.argument and h.name in defaults}
            TorchOptimizer.__init__(self, groups, **hyper)
            self._load(self.param_groups, torch_state)
        elif groups is not None:
            self._load(groups, torch_state)
        super().__setstate__(state)

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state,
                "param_groups": self.param_groups}


TorchOptimizer.step.__signature__ = inspect.signature(  # type: ignore[attr-defined]
    TorchOptimizer._step)


#: Methods of the fastgd classes for loops that run the kernels themselves.
_NOT_FORWARDED = frozenset({"spec", "hessian_call"})


def _to_numpy(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().numpy()
    if isinstance(value, (list, tuple)):
        return type(value)(map(_to_numpy, value))
    return value


def _to_torch(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    if isinstance(value, (list, tuple)):
        return type(value)(map(_to_torch, value))
    return value


def _forward(cls: type[_FastgdOptimizer], name: str) -> Callable[..., Any]:
    """Method ``name`` of the fastgd class (ASGD's ``averaged``, Sophia's
    ``update_hessian``, the schedule-free ``train`` and ``eval``, ...) on this optimizer:
    tensors in, tensors out; the groups' hyperparameters handed over before and taken
    back after (``train`` and ``eval`` change ``train_mode``)."""
    def method(self: TorchOptimizer, *args: Any, **kwargs: Any) -> Any:
        inner = self._inner
        assert inner is not None
        self._sync(inner)
        out = getattr(inner, name)(*map(_to_numpy, args),
                                   **{k: _to_numpy(v) for k, v in kwargs.items()})
        for group, inner_group in zip(self.param_groups, inner.param_groups):
            for key in self._names:
                group[key] = inner_group[key]
        return _to_torch(out)

    original = getattr(cls, name)
    method.__name__ = name
    method.__qualname__ = f"{cls.__name__}.{name}"
    method.__doc__ = ((original.__doc__ or "") + "\n\nHere on tensors: arrays in the "
                      "arguments and results are torch tensors (sharing memory).")
    return method


# -- the optimizers off the element-wise kernel table ---------------------------------------


class ClosureOptimizer(TorchOptimizer):
    """A ``fastgd.torch`` optimizer whose step evaluates the objective itself
    (``spec.closure``, as L-BFGS): ``step(closure)`` with torch's closure contract. The
    closure (required) zeroes the gradients, runs ``backward()`` and returns the loss; it
    is called with gradients enabled, as often as the step needs. The fastgd optimizer's
    closure gets ``float(loss)`` and views of the ``.grad`` tensors (None for zeros, a
    sparse gradient made dense). The step returns the first call's loss, as torch's.

    The state is global, kept under the first parameter as torch keeps it, in torch's
    types: ``d``, ``prev_flat_grad`` and the history ``old_dirs``, ``old_stps`` as
    tensors (lists of them), ``ro`` a list of 0-d tensors and ``H_diag`` a 0-d tensor of
    the parameters' dtype, ``t`` and ``prev_loss`` floats, ``func_evals`` and ``n_iter``
    ints.
    """

    _TENSORS = frozenset({"d", "prev_flat_grad", "old_dirs", "old_stps", "ro", "H_diag"})

    def __init__(self, params: Any, **hyperparameters: Any) -> None:
        # the defaults the fastgd class derives (L-BFGS's max_eval from max_iter), in
        # torch's defaults as torch puts them there
        derived = self.fastgd_class([np.zeros(1)], **hyperparameters).defaults
        super().__init__(params, **{h.name: derived[h.name]
                                    for h in self.fastgd_class.spec.hyperparameters
                                    if h.argument})

    def step(self, closure: Callable[[], Any]) -> Any:  # type: ignore[override]
        """Run the fastgd optimizer's step with ``closure`` (see the class); return the
        loss of its first call. All or nothing: when the closure raises, or a gradient
        cannot be read (an error naming the parameter), the parameters are put back and
        the state is unchanged."""
        if not callable(closure):
            raise TypeError(f"{type(self).__name__}.step needs a closure that zeroes the "
                            f"gradients, runs backward() and returns the loss, got "
                            f"{type(closure).__name__}")
        inner = self._inner
        assert inner is not None
        self._sync(inner)
        params = [p for group in self.param_groups for p in group["params"]]
        if list(map(_DATA_PTR, params)) != self._ptrs:
            self._view_again(inner, params)
        losses: list[Any] = []

        def evaluate() -> tuple[float, list[np.ndarray | None]]:
            with torch.enable_grad():
                loss = closure()
            if not losses:
                losses.append(loss)
            value = loss.detach() if isinstance(loss, torch.Tensor) else loss
            return float(value), [_dense_grad(index, p) for index, p in enumerate(params)]

        inner.step(evaluate)  # type: ignore[arg-type]  # a closure kind: step(closure)
        return losses[0]

    @property
    def state(self) -> defaultdict[torch.Tensor, Any]:
        state: defaultdict[torch.Tensor, Any] = defaultdict(dict)
        inner = self.__dict__.get("_inner")
        if inner is None:
            return state
        params = [p for group in self.param_groups for p in group["params"]]
        dtype = params[0].dtype
        for index, entries in inner.state.items():
            state[params[index]] = {
                key: _as_tensors(value, dtype) if key in self._TENSORS else value
                for key, value in entries.items()}
        return state

    @state.setter
    def state(self, value: Any) -> None:
        if self.__dict__.get("_inner") is not None:
            self._load(self.param_groups, value)

    def _load(self, groups: list[dict[str, Any]], state: Any) -> None:
        """As :meth:`TorchOptimizer._load`, the lists of tensors (and 0-d ones) of the
        state made NumPy arrays first."""
        super()._load(groups, {key: {k: _as_arrays(v) for k, v in entries.items()}
                               for key, entries in state.items()})


def _dense_grad(index: int, p: torch.Tensor) -> np.ndarray | None:
    """Parameter ``index``'s ``.grad`` as a NumPy view (None where it has none; a sparse
    gradient made dense first, as torch's L-BFGS does); an error naming the parameter for
    one that cannot be read."""
    g = p.grad
    if g is None:
        return None
    if g.layout != torch.strided:
        g = g.to_dense()
    elif (problem := _grad_problem(index, p)) is not None:
        raise (TypeError if "dtype" in problem or "device" in problem
               else ValueError)(problem)
    return g.detach().numpy()


class SparseGradOptimizer(TorchOptimizer):
    """A ``fastgd.torch`` optimizer over sparse gradients (SparseAdam): each ``.grad`` is
    a torch sparse COO tensor (``nn.Embedding(sparse=True)`` gives them), coalesced by
    torch and handed to the fastgd optimizer as ``(indices, rows)`` (its rows along the
    first dimension; for a 1-D parameter, its entries); a gradient sparse in both
    dimensions of a 2-D parameter as its entries. A dense gradient is refused, as torch
    refuses it (RuntimeError); everything is checked before anything is modified. The
    state's ``step`` is an int, as torch keeps it."""

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter with a ``.grad`` (see the class); with
        ``closure``, that is called first (with gradients enabled) and its loss
        returned."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        inner = self._inner
        assert inner is not None
        self._sync(inner)
        params = [p for group in self.param_groups for p in group["params"]]
        for p in params:
            if p.grad is not None and p.grad.layout != torch.sparse_coo:
                raise RuntimeError(f"{type(self).__name__} does not support dense "
                                   f"gradients, please consider Adam instead")
        grads = [_sparse_grad(index, p) for index, p in enumerate(params)]
        if list(map(_DATA_PTR, params)) != self._ptrs:
            self._view_again(inner, params)
        inner.step(grads)
        return loss

    @property
    def state(self) -> defaultdict[torch.Tensor, Any]:
        state = TorchOptimizer.state.fget(self)  # type: ignore[attr-defined]
        for entries in state.values():
            if "step" in entries:
                entries["step"] = int(entries["step"].item())
        return state

    @state.setter
    def state(self, value: Any) -> None:
        TorchOptimizer.state.fset(self, value)  # type: ignore[attr-defined]


def _base(cls: type[_FastgdOptimizer]) -> type[TorchOptimizer]:
    """The ``fastgd.torch`` base class for the fastgd class ``cls``: by the kind of step
    its specification declares."""
    if cls.spec.closure:
        return ClosureOptimizer
    if cls.spec.sparse_grads:
        return SparseGradOptimizer
    return TorchOptimizer


def _make(cls: type[_FastgdOptimizer]) -> type[TorchOptimizer]:
    base_class = _base(cls)
    signature = inspect.signature(cls.__init__)
    base = set(dir(_FastgdOptimizer))
    forwarded = {name: _forward(cls, name) for name in dir(cls)
                 if not name.startswith("_") and name not in base
                 and callable(getattr(cls, name)) and name not in _NOT_FORWARDED}

    def __init__(self: TorchOptimizer, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        arguments = dict(bound.arguments)
        del arguments["self"]
        params = arguments.pop("params")
        base_class.__init__(self, params, **arguments)

    __init__.__signature__ = signature  # type: ignore[attr-defined]
    __init__.__qualname__ = f"{cls.__name__}.__init__"
    doc = (f"``fastgd.{cls.__name__}`` as a ``torch.optim.Optimizer`` over CPU float32/"
           f"float64 tensors (see :mod:`fastgd.torch`): the same arguments, defaults, "
           f"validation and update." + (
               "" if base_class is TorchOptimizer else
               f" Its step and state as torch's: see :class:`{base_class.__name__}`.")
           + "\n\n" + (cls.__doc__ or ""))
    return type(cls.__name__, (base_class,),
                {"fastgd_class": cls, "__init__": __init__, "__doc__": doc,
                 "__module__": __name__, **forwarded})


_classes: dict[str, type[TorchOptimizer]] = {
    name: _make(cls) for name, cls in _FASTGD_CLASSES.items() if name not in NOT_ADAPTED}
globals().update(_classes)
