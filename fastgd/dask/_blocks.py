"""What runs where a block of rows lives: making a block, its loss and gradient, a chain of
mini-batch steps on it, local steps from a shared point. Plain NumPy and fastgd's public
model API (:func:`fastgd.models.loss_grad`, the optimizer classes); nothing here imports
Dask, so any engine that can map a function over blocks and bring back small results
(Dask, Spark's ``mapPartitions``, Ray tasks) can run these functions.

Every function is pure: the same inputs give the same bits, wherever and however often it
runs (a block recomputed after a worker is lost gives the same numbers).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from fastgd.models import loss_grad, loss_value
from fastgd.models.sparse import CSR, as_csr, is_sparse

__all__ = ["Block", "make_block", "block_loss_grad", "combine", "sequential_block",
           "local_block", "block_info", "split_block", "block_val_loss",
           "combine_validation"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class Block(NamedTuple):
    """One block of rows, ready for the kernels: ``X`` C-contiguous float32/float64 (or,
    from a ``scipy.sparse`` chunk, its checked :class:`fastgd.models.sparse.CSR`),
    ``y`` the targets in the form the loss takes (X's dtype; int64 class indices for
    softmax), ``w`` the sample weights (X's dtype) or None, ``weight`` their sum in
    float64 (the row count without weights), ``problem`` a description of invalid data in
    the block (None when it is valid; the driver raises it before the model changes).
    With a validation split (:func:`split_block`): ``rows`` the training rows (sorted
    int64 indices; None: all rows), ``val_rows`` the validation rows, ``weight`` and
    ``val_weight`` their weights.

    Unpickling a block (a block sent to another worker) makes its arrays aligned and
    C-contiguous again, once: buffers received over the network may start at any byte."""
    X: Any  # np.ndarray, or a CSR
    y: np.ndarray
    w: np.ndarray | None
    weight: float
    problem: str | None
    rows: np.ndarray | None = None
    val_rows: np.ndarray | None = None
    val_weight: float = 0.0

    def __reduce__(self):
        return (_rebuild, tuple(self))


def _aligned(a: Any) -> Any:
    return None if a is None else np.require(a, requirements=("A", "C"))


def _rebuild(X, y, w, weight, problem, rows=None, val_rows=None, val_weight=0.0) -> Block:
    return Block(X if isinstance(X, CSR) else _aligned(X), _aligned(y), _aligned(w), weight,
                 problem, _aligned(rows), _aligned(val_rows), val_weight)


def _weight(w: np.ndarray | None, rows: np.ndarray) -> float:
    """The weight of some rows in float64: their count, or their weights' sum."""
    return float(rows.shape[0]) if w is None else float(np.sum(w[rows], dtype=np.float64))


def split_block(block: Block, fraction: float, seed: Any) -> Block:
    """The block with a validation split: with ``perm =
    np.random.default_rng(seed).permutation(n)`` (n the block's rows), the validation rows
    are ``np.sort(perm[:ceil(fraction * n)])`` and the training rows the others, sorted
    (as :func:`fastgd.fit` splits its rows, per block). X, y and the weights are not
    copied."""
    n = block.X.shape[0] if len(block.X.shape) == 2 else 0
    n_val = math.ceil(fraction * n)
    perm = np.random.default_rng(seed).permutation(n)
    val = np.sort(perm[:n_val]).astype(np.int64)
    train = np.sort(perm[n_val:]).astype(np.int64)
    if block.problem is not None:
        return block._replace(rows=train, val_rows=val)
    return block._replace(weight=_weight(block.w, train), rows=train, val_rows=val,
                          val_weight=_weight(block.w, val))


def make_block(X: Any, y: Any, w: Any, target: str, classes: Any, dtype: Any) -> Block:
    """A :class:`Block` from one chunk of X, y (and weights). ``target``: ``"regression"``
    (y becomes X's dtype), ``"log_loss"`` / ``"hinge"`` (y already 0/1 labels, X's
    dtype), ``"index"`` (int labels 0 .. k-1), ``"ovr:c"`` (y is 1.0 where it equals
    ``classes[c]``, else 0.0), ``"multinomial"`` (y becomes the int64 index into
    ``classes``, sorted)."""
    problem = None
    if is_sparse(X):  # a scipy.sparse chunk: checked and kept as CSR (never densified)
        try:
            X = as_csr(X, dtype=dtype, name="X's block")
        except ValueError as exc:
            problem = str(exc)
            X = CSR(np.zeros(0, dtype), np.zeros(0, np.int64),
                    np.zeros(X.shape[0] + 1, np.int64), (X.shape[0], X.shape[1]))
    else:
        X = np.require(np.asarray(X), dtype=dtype, requirements=("A", "C"))
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if len(X.shape) != 2 or y.ndim != 1 or y.shape[0] != X.shape[0]:
        return Block(X, y, None, 0.0, f"X's block has shape {X.shape} and y's {y.shape}")
    # a finite sum has no NaN or infinity under it; only otherwise is every entry looked at
    if (not isinstance(X, CSR) and X.size
            and not math.isfinite(float(np.sum(X, dtype=np.float64)))):
        bad = ~np.isfinite(X)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            problem = f"X holds {X[r, c]} (non-finite) at row {r} of the block, column {c}"
    if target.startswith("ovr:") or target == "multinomial":
        idx = np.searchsorted(classes, y)
        idx = np.minimum(idx, len(classes) - 1)
        unknown = classes[idx] != y
        if problem is None and unknown.any():
            problem = f"y holds {y[np.argmax(unknown)]!r}, which is not one of the classes"
        yy = (np.ascontiguousarray(idx, dtype=np.int64) if target == "multinomial"
              else (idx == int(target[4:])).astype(dtype))
    elif target == "index":  # softmax_cross_entropy's labels 0 .. k-1
        yy = np.asarray(y)
        ok = yy.dtype.kind in "iu" or (yy.dtype.kind == "f" and bool(np.all(
            np.isfinite(yy) & (yy == np.round(yy)))))
        if ok and yy.size and yy.min() < 0:
            ok = False
        if problem is None and not ok:
            problem = "y must hold integer class labels 0 .. k-1 for softmax_cross_entropy"
        yy = np.ascontiguousarray(yy, dtype=np.int64) if ok else np.zeros(len(yy), np.int64)
    else:
        yy = np.require(y, dtype=dtype, requirements=("A", "C"))
        bad_y = ~np.isfinite(yy)
        if target in ("log_loss", "hinge"):
            bad_y |= ~((yy == 0) | (yy == 1) | ((yy == -1) if target == "hinge"
                                                 else (yy > 0) & (yy < 1)))
        if problem is None and bad_y.any():
            problem = (f"y holds {yy[np.argmax(bad_y)]} at row {int(np.argmax(bad_y))} of "
                       f"the block (non-finite, or not a label of {target})")
    ww = None
    weight = float(X.shape[0])
    if w is not None:
        ww = np.require(np.asarray(w), dtype=dtype, requirements=("A", "C"))
        if ww.shape != (X.shape[0],):
            return Block(X, yy, None, 0.0, f"sample_weight's block has shape {ww.shape}, "
                                           f"X's {X.shape}")
        bad_w = ~(np.isfinite(ww) & (ww >= 0))
        if problem is None and bad_w.any():
            problem = (f"sample_weight holds {ww[np.argmax(bad_w)]} at row "
                       f"{int(np.argmax(bad_w))} of the block (weights must be finite "
                       f"and >= 0)")
        weight = float(np.sum(ww, dtype=np.float64))
    return Block(X, yy, ww, weight, problem)


def block_info(block: Block) -> tuple:
    """What the driver checks of a block: (rows, n_features, weight, problem, max label,
    validation weight)."""
    top = int(block.y.max()) if block.y.dtype.kind == "i" and block.y.size else -1
    return (block.X.shape[0], block.X.shape[1] if len(block.X.shape) == 2 else -1, block.weight,
            block.problem, top, block.val_weight)


def block_loss_grad(block: Block, loss: str, coef: np.ndarray, intercept: np.ndarray | None,
                    kw: dict, hessian: bool = False, validation: bool = False) -> tuple:
    """The block's weight and :func:`fastgd.models.loss_grad` on its (training) rows at
    (coef, intercept), penalty included: ``(weight, loss, grad_coef, grad_intercept,
    hess_coef, hess_intercept)``; a block of zero weight gives ``(0.0, 0.0, None, ...)``.
    With ``validation``, :func:`block_val_loss`'s two values follow."""
    val = block_val_loss(block, loss, coef, intercept, kw) if validation else ()
    if block.weight == 0.0:
        return (0.0, 0.0, None, None, None, None) + val
    r = loss_grad(loss, block.X, block.y, _aligned(coef), _aligned(intercept),
                  sample_weight=block.w, rows=block.rows, hessian=hessian, **kw)
    return (block.weight, r.loss, r.grad_coef, r.grad_intercept, r.hess_coef,
            r.hess_intercept) + val


def block_val_loss(block: Block, loss: str, coef: np.ndarray, intercept: np.ndarray | None,
                   kw: dict) -> tuple:
    """``(validation weight, loss)``: :func:`fastgd.models.loss_value` (penalty included)
    on the block's validation rows; ``(0.0, 0.0)`` when they weigh nothing."""
    if block.val_weight == 0.0 or block.val_rows is None:
        return (0.0, 0.0)
    return (block.val_weight, loss_value(loss, block.X, block.y, _aligned(coef),
                                         _aligned(intercept), sample_weight=block.w,
                                         rows=block.val_rows, **kw))


def combine_validation(parts: list, at: int = 0) -> float:
    r"""The validation loss over all blocks, :math:`\sum_b (V_b / V)\,l_b` folded in block
    order, from the ``(V_b, l_b)`` pairs at position ``at`` of each part."""
    total = 0.0
    for p in parts:
        total += p[at]
    out = 0.0
    for p in parts:
        if p[at] != 0.0:
            out += (p[at] / total) * p[at + 1]
    return out


def combine(parts: list, dtype: Any) -> tuple:
    r"""The objective over all blocks from their :func:`block_loss_grad` results, folded
    in block order (so the bits do not depend on where or when each block ran):
    :math:`W = \sum_b W_b` and each quantity :math:`\sum_b (W_b / W)\,q_b`, in float64,
    rounded once to ``dtype``. With one block this is that block's result exactly.
    Returns ``(loss, weight, [grad_coef, grad_intercept], [hess_coef, hess_intercept])``
    (the intercept entries None without an intercept; the Hessian list None unless the
    parts have it)."""
    total = 0.0
    for p in parts:
        total += p[0]
    loss = 0.0
    acc: list = [None, None, None, None]
    first = True
    for p in parts:
        if p[0] == 0.0:
            continue
        f = p[0] / total
        if first:
            loss = f * p[1]
        else:
            loss += f * p[1]
        for k in range(4):
            a = p[2 + k]
            if a is None:
                continue
            term = a.astype(np.float64) * f
            acc[k] = term if first else acc[k] + term
        first = False
    out = [None if a is None else a.astype(dtype) for a in acc]
    hess = None if out[2] is None else [out[2], out[3]]
    return loss, total, [out[0], out[1]], hess


def _make_optimizer(spec: dict, params: list, state: Any):
    opt = spec["cls"](params, lr=spec["lr"], **spec["optimizer_kwargs"])
    if state is not None:
        opt.load_state_dict(state)
    if hasattr(opt, "train") and hasattr(opt, "eval"):
        opt.train()
    return opt


def _step(opt: Any, grads: list, spec: dict) -> None:
    from fastgd.models import clip_grad_norm_, clip_grad_value_
    if spec["clip_norm"] is not None:
        clip_grad_norm_(grads, spec["clip_norm"])
    if spec["clip_value"] is not None:
        clip_grad_value_(grads, spec["clip_value"])
    opt.step(grads)


def _params(coef: np.ndarray, intercept: np.ndarray | None) -> list:
    c = np.array(coef, copy=True, order="C")
    return [c] if intercept is None else [c, np.array(intercept, copy=True, order="C")]


def _batch_step(block: Block, spec: dict, opt: Any, params: list, rows: np.ndarray,
                where: str) -> tuple | None:
    """One optimizer step on the block's ``rows``: ``(loss x batch weight, batch weight)``,
    or None (no step) when the rows weigh nothing. A non-finite loss raises
    FloatingPointError naming ``where`` the run diverged."""
    bw = (float(rows.shape[0]) if block.w is None
          else float(np.cumsum(block.w[rows], dtype=np.float64)[-1]))
    if bw == 0.0:
        return None
    icpt = params[1] if len(params) > 1 else None
    r = loss_grad(spec["loss"], block.X, block.y, params[0], icpt, sample_weight=block.w,
                  rows=rows, **spec["kw"])
    if not math.isfinite(r.loss):
        raise FloatingPointError(f"the loss became {r.loss} {where}: training diverged; "
                                 f"lower the learning rate")
    grads = [r.grad_coef] if icpt is None else [r.grad_coef, r.grad_intercept]
    _step(opt, grads, spec)
    return (r.loss * bw, bw)


def sequential_block(state: tuple, block: Block, spec: dict, seed: Any) -> tuple:
    """One pass of mini-batch steps over a block, continuing a chain. ``state`` is
    ``(params, optimizer state_dict or None, loss total, weight total, steps)``; the
    rows are taken in the order ``np.random.default_rng(seed).permutation(n)``
    (``spec["shuffle"]``; else in order), in batches of ``spec["batch_size"]``, as
    :func:`fastgd.fit`'s epoch loop does for one epoch, carrying the optimizer's state.
    Returns the next state."""
    params, opt_state, total, wsum, steps = state
    params = [np.array(p, copy=True, order="C") for p in params]
    if block.weight == 0.0:
        return (params, opt_state, total, wsum, steps)
    n = block.X.shape[0] if block.rows is None else block.rows.shape[0]
    opt = _make_optimizer(spec, params, opt_state)
    order = (np.random.default_rng(seed).permutation(n).astype(np.int64) if spec["shuffle"]
             else np.arange(n, dtype=np.int64))
    if block.rows is not None:
        order = block.rows[order]
    bs = spec["batch_size"]
    for j in range(0, n, bs):
        done = _batch_step(block, spec, opt, params, order[j:j + bs],
                           f"at step {steps + 1}")
        if done is not None:
            total += done[0]
            wsum += done[1]
            steps += 1
    return (params, opt.state_dict(), total, wsum, steps)


def local_block(block: Block, params: list, spec: dict, seed: Any) -> tuple:
    """``spec["local_steps"]`` mini-batch steps on one block from ``params`` with a fresh
    optimizer (batches of ``spec["batch_size"]`` rows taken in the order of successive
    permutations drawn from ``np.random.default_rng(seed)``). Returns ``(weight, params,
    mean batch loss)``; a block of zero weight returns ``(0.0, None, 0.0)``."""
    if block.weight == 0.0:
        return (0.0, None, 0.0)
    params = [np.array(p, copy=True, order="C") for p in params]
    opt = _make_optimizer(spec, params, None)
    rng = np.random.default_rng(seed)
    base = block.rows
    n = block.X.shape[0] if base is None else base.shape[0]
    bs = min(spec["batch_size"], n)
    order = rng.permutation(n).astype(np.int64)
    pos = 0
    total = wsum = 0.0
    for _ in range(spec["local_steps"]):
        if pos + bs > n:
            order, pos = rng.permutation(n).astype(np.int64), 0
        rows = order[pos:pos + bs] if base is None else base[order[pos:pos + bs]]
        pos += bs
        done = _batch_step(block, spec, opt, params, rows, "in a local step")
        if done is not None:
            total += done[0]
            wsum += done[1]
    if hasattr(opt, "train") and hasattr(opt, "eval"):
        opt.eval()
    return (block.weight, params, total / wsum if wsum else 0.0)
