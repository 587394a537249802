"""SparseAdam: torch.optim.SparseAdam's row, its sparse gradients, plan and step.

A gradient is sparse (a dense array is refused, as torch refuses a dense gradient):

- ``(indices, rows)``: the gradient's rows ``rows[j]`` at ``indices[j]`` (the gradient of
  ``nn.Embedding(sparse=True)`` in torch, a COO tensor with one sparse dimension); the
  whole rows are updated. For a 1-D parameter, ``rows`` is 1-D (entries).
- a ``scipy.sparse`` matrix or array of the parameter's shape (1-D and 2-D parameters): its
  stored entries are updated (torch's COO gradient of those entries); it is converted to
  COO once per step. scipy is not imported by fastgd: any object with ``tocoo()`` and
  ``shape`` is read this way.

Repeated indices are summed (torch coalesces the gradient). SparseAdam is off the kernel
table (``kernel_table=False``): each backend's ``sparse_adam_rows`` updates the touched
rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from fastgd import backends
from fastgd.optim._planning import Call, MixinBase, apply, state_or_fresh
from fastgd.optim.optimizer import Optimizer, check_nonfinite_option, make_class
from fastgd.optim.spec import BETAS_RULES, OptimizerSpec, Rule, StateBuffer, hyper
from fastgd.reference.sparse_adam import coalesce_rows, sparse_adam_scalars

SPEC = OptimizerSpec(
    name="SparseAdam",
    kernel="sparse_adam",
    matches="torch.optim.SparseAdam",
    summary="Adam on the rows (or entries) a sparse gradient touches; the rest and their "
            "moments are left as they are.",
    hyperparameters=(
        hyper("lr", 1e-3, "learning rate (> 0)"),
        hyper("betas", (0.9, 0.999), "coefficients of the running averages of the gradient "
                                     "and of its square"),
        hyper("eps", 1e-8, "term added to the denominator (> 0)"),
        hyper("maximize", False, "maximize the objective instead of minimizing it"),
    ),
    rules=(
        Rule(lambda g: 0.0 < g["lr"], "Invalid learning rate: {lr}"),
        Rule(lambda g: 0.0 < g["eps"], "Invalid epsilon value: {eps}"),
        *BETAS_RULES,
    ),
    state=(StateBuffer("exp_avg"), StateBuffer("exp_avg_sq")),
    kernel_table=False,
    sparse_grads=True,
    step_functions=("sparse_adam_rows",),
    example=(
        "emb = np.zeros((1000, 16))  # an embedding table",
        "opt = fastgd.SparseAdam([emb], lr=0.01)",
        "rows = np.ones((2, 16))",
        "opt.step([(np.array([3, 17]), rows)])  # rows 3 and 17 of the gradient",
    ),
)


class SparseGrad(NamedTuple):
    """A checked sparse gradient: sorted distinct ``indices`` (int64) into the rows of the
    parameter's 2-D ``view`` (a shape), and ``rows`` of shape ``(len(indices), view[1])``."""

    indices: np.ndarray
    rows: np.ndarray
    view: tuple[int, int]


def _index_array(index: int, indices: Any, bound: int) -> np.ndarray:
    idx = np.asarray(indices)
    if idx.ndim != 1 or not (np.issubdtype(idx.dtype, np.integer) or idx.size == 0):
        raise TypeError(f"grads[{index}]: the indices must be a 1-D array of integers, got "
                        f"{idx.dtype} of shape {idx.shape}")
    idx = idx.astype(np.int64, copy=False)
    if idx.size and (idx.min() < 0 or idx.max() >= bound):
        raise ValueError(f"grads[{index}]: an index is out of range [0, {bound}) (min "
                         f"{idx.min()}, max {idx.max()})")
    return idx


def sparse_grad(index: int, p: np.ndarray, g: Any) -> SparseGrad:
    """``g``, a sparse gradient of parameter ``index`` (see the module), checked and
    coalesced; the caller's arrays are not modified."""
    if isinstance(g, np.ndarray) or isinstance(g, np.generic):
        raise TypeError(f"grads[{index}] is a dense array: SparseAdam does not support dense "
                        f"gradients, please consider Adam instead (pass (indices, rows) or a "
                        f"scipy.sparse matrix)")
    if p.ndim == 0:
        raise ValueError(f"parameter {index} is 0-d: SparseAdam updates rows or entries of "
                         f"1-D or higher parameters")
    if hasattr(g, "tocoo") and hasattr(g, "shape"):
        shape = tuple(g.shape)
        if p.ndim > 2 or (shape != p.shape and not (p.ndim == 1 and shape in (
                (1, p.size), (p.size, 1)))):
            raise ValueError(f"grads[{index}] has shape {shape} but its parameter has shape "
                             f"{p.shape} (a scipy.sparse gradient: 1-D or 2-D parameters)")
        coo = g.tocoo()
        if coo.data.dtype != p.dtype:
            raise TypeError(f"grads[{index}] has dtype {coo.data.dtype} but its parameter has "
                            f"dtype {p.dtype}")
        coords = [np.asarray(c, dtype=np.int64) for c in coo.coords] if hasattr(
            coo, "coords") else [np.asarray(coo.row, np.int64), np.asarray(coo.col, np.int64)]
        flat = coords[-1] if len(coords) == 1 else coords[0] * shape[1] + coords[1]
        indices, rows = coalesce_rows(flat, np.array(coo.data, dtype=p.dtype).reshape(-1, 1))
        return SparseGrad(indices, np.ascontiguousarray(rows), (p.size, 1))
    if not (isinstance(g, (tuple, list)) and len(g) == 2):
        raise TypeError(f"grads[{index}] must be (indices, rows), a scipy.sparse matrix or "
                        f"None, got {type(g).__name__}")
    width = int(np.prod(p.shape[1:]))
    indices = _index_array(index, g[0], p.shape[0])
    rows = g[1]
    if not isinstance(rows, np.ndarray):
        raise TypeError(f"grads[{index}]: the rows must be a numpy.ndarray, got "
                        f"{type(rows).__name__}")
    if rows.dtype != p.dtype:
        raise TypeError(f"grads[{index}]: the rows have dtype {rows.dtype} but the parameter "
                        f"has dtype {p.dtype}")
    if rows.shape != (indices.size, *p.shape[1:]):
        raise ValueError(f"grads[{index}]: the rows have shape {rows.shape}, expected "
                         f"{(indices.size, *p.shape[1:])} ({indices.size} indices, a row of "
                         f"the parameter's shape {p.shape[1:]})")
    indices, rows = coalesce_rows(indices, rows.reshape(indices.size, width))
    rows = np.ascontiguousarray(rows)
    return SparseGrad(indices, rows, (p.shape[0], width))


class _SparseAdamCall(Call):
    """The row updates of a group's tensors at their step counts."""

    __slots__ = ()

    def run(self, kernels: Any, check_only: bool = False) -> None:
        function = kernels.sparse_adam_rows
        for check in (True,) if check_only else (True, False):  # all checked, then run
            for p, grad, m, v, scalars in zip(*self.lists):
                function(p.reshape(grad.view), m.reshape(grad.view), v.reshape(grad.view),
                         grad.indices, grad.rows, check_only=check, **scalars)


def _plan_sparse_adam(opt, group, items, needed):
    beta1, beta2 = group["betas"]
    lists: tuple[list, ...] = ([], [], [], [], [])
    updates = []
    for i, p, grad in items:
        state, fresh = state_or_fresh(opt, group, i, p, needed)
        if any(np.may_share_memory(grad.rows, a) for a in (p, state["exp_avg"],
                                                             state["exp_avg_sq"])):
            grad = grad._replace(rows=grad.rows.copy())  # read what the step writes
        step = state["step"] + 1
        scalars = {**sparse_adam_scalars(group["lr"], beta1, beta2, step),
                   "eps": group["eps"], "maximize": group["maximize"]}
        for lst, value in zip(lists, (p, grad, state["exp_avg"], state["exp_avg_sq"],
                                      scalars)):
            lst.append(value)
        updates.append((i, {**(fresh or {}), "step": step}))
    return [_SparseAdamCall("sparse_adam", lists, {}, updates)]


class _SparseAdamMethods(MixinBase):
    """SparseAdam's parameters (dense, real: torch's errors) and its step over sparse
    gradients."""

    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        params = param_group.get("params", []) if isinstance(param_group, Mapping) else []
        if not isinstance(params, (np.ndarray, list, tuple, set, frozenset)):
            try:  # an iterator: read it once, here
                params = list(params)
            except TypeError:
                params = []
            else:
                param_group = {**param_group, "params": params}
        for p in [params] if isinstance(params, np.ndarray) else params:
            if hasattr(p, "tocoo") and not isinstance(p, np.ndarray):
                raise ValueError("Sparse params: SparseAdam requires dense parameter tensors")
            if isinstance(p, np.ndarray) and np.iscomplexobj(p):
                raise ValueError("Complex params: SparseAdam does not support complex "
                                 "parameters")
        Optimizer.add_param_group(self, param_group)  # type: ignore[arg-type]

    def step(self, grads: Sequence[Any], *, nonfinite: str | None = None) -> bool | None:
        """Apply one update from sparse gradients, one per parameter of all groups in
        order: ``(indices, rows)``, a ``scipy.sparse`` matrix of the parameter's shape, or
        None (the parameter, its state and its step count are left alone). Everything is
        checked before anything is written; ``nonfinite`` as in
        :meth:`fastgd.Optimizer.step` (the gradients' stored values are scanned). Each
        parameter with a gradient counts a step, even one touching no row (as torch).
        """
        if nonfinite is not None:
            check_nonfinite_option(nonfinite)
        if not isinstance(grads, (list, tuple)):
            raise TypeError("grads must be a list of sparse gradients (or None) aligned with "
                            f"the parameters, got {type(grads).__name__}")
        n_params = sum(len(g["params"]) for g in self.param_groups)
        if len(grads) != n_params:
            raise ValueError(f"step() got {len(grads)} gradients for {n_params} parameters")
        self._revalidate_groups()
        calls, scanned, index = [], [], 0
        for k, group in enumerate(self.param_groups):
            items = []
            for p, g in zip(group["params"], grads[index:index + len(group["params"])]):
                if g is not None:
                    if not p.flags.writeable:
                        raise ValueError(f"parameter {index} is read-only; the optimizer "
                                         f"updates it in place")
                    grad = sparse_grad(index, p, g)
                    items.append((index, p, grad))
                    scanned.append((index, grad.rows))
                index += 1
            if items:
                calls += _plan_sparse_adam(self, group, items, self._needed[k])
        if not apply(calls, backends.active(), self.state, nonfinite, scanned,
                     lambda i: f"grads[{i}] holds a NaN or an infinity; the step was not "
                               f"applied (nonfinite='raise')"):
            return False
        return None if nonfinite is None else True


SparseAdam = make_class(SPEC, _plan_sparse_adam, (_SparseAdamMethods,))
