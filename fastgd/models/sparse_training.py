r"""O(nnz)-per-step training on sparse (CSR) data: the loops :func:`fastgd.fit` and the
scikit-learn estimators use when X is a ``scipy.sparse`` matrix and one of them applies.

.. code-block:: python

    import numpy as np, scipy.sparse as sp, fastgd
    X = sp.random(10000, 2**18, density=1e-4, format="csr", random_state=0)
    row_sums = np.asarray(X.sum(axis=1)).ravel()
    y = (row_sums > np.median(row_sums)).astype(float)
    model = fastgd.LinearModel("log_loss", penalty="l2", alpha=1e-5)
    fastgd.fit(model, X, y, optimizer="sgd", lr=0.1, batch_size=1, epochs=5,
               schedule="optimal", random_state=0)          # exact, O(nnz) per step
    fastgd.fit(model, X, y, optimizer="adam", lr=1e-3, batch_size=32, epochs=5,
               lazy=True)                                   # SparseAdam semantics

A dense optimizer step costs O(n_features); on text-like data (a million hashed features,
a hundred nonzeros a row) that is ten thousand times the step's gradient. These loops
touch only the batch's columns, and are what :func:`fastgd.fit` runs on sparse X
whenever they apply (otherwise it takes its general path: the sparse gradient and the
optimizer's ordinary dense step).

**Which path** (``fit(..., lazy=False)``, the default, takes only exact paths):

- ``sgd`` (no momentum, no weight decay) with no penalty or ``"l2"`` (or elastic net with
  ``l1_ratio=0``): exact, the weight scale ``w = s v``, O(nnz) a step;
- ``sgd`` with ``momentum > 0`` (any dampening, Nesterov, weight decay; not ``maximize``),
  schedule None or ``"constant"``, no penalty or ``"l2"``, not softmax: exact, each
  column's skipped steps applied in closed form when it next appears (and at each epoch's
  end), O(nnz (1 + log k)) a step (:mod:`fastgd.reference.sparse_momentum`);
- ``sgd`` with ``"l1"`` or ``"elasticnet"``: with ``lazy=True`` the cumulative L1 penalty
  (inexact), else the general path;
- ``adam`` (``betas``, ``eps`` only) with no penalty or ``"l2"``: with ``lazy=True``
  SparseAdam (inexact), else the general path;
- anything else (momentum with another schedule, ``maximize``, other optimizers,
  clipping, ``gtol``, ``early_stopping``, checkpoints, ``record_steps``, callable
  schedules): the general path (the dense step).

Losses: ``squared_error``, ``half_squared_error``, ``huber``, ``epsilon_insensitive``,
``log_loss``, ``hinge``, and ``softmax_cross_entropy`` (exact SGD path only: one
multinomial pass over coef ``(n_features, n_classes)``). Schedules:
None, ``"constant"``, ``"optimal"``, ``"invscaling"`` (stepped per optimizer step, as in
:func:`fastgd.fit`).

**Exact path (SGD, L2 or none).** The weights are kept as ``w = s * v``: the L2 term's
shrinking of every weight, ``w <- (1 - lr alpha) w``, is ``s <- (1 - lr alpha) s`` in
O(1); the step's gradient term adds to the batch's columns of ``v`` only; when ``|s|``
falls under 1e-9 (float64) or 1e-6 (float32) it is folded into ``v`` (O(n_features), rare),
and at the end of every epoch. In exact arithmetic this is the dense step
``w <- w - lr (g + alpha w)`` on the batch's weighted-mean gradient ``g`` (the step of
:func:`fastgd.fit`'s general path); in floating point it agrees to rounding (tested to
1e-10 relative in float64 against fitting ``X.toarray()``). Any batch size; mini-batches
run on :func:`fastgd.get_num_threads` threads (compiled backend), with the same bits for
any thread count (see ``src/models/sparse_sgd.h``).

**lazy=True (opt-in, inexact).**

- ``adam``: SparseAdam's semantics (:class:`torch.optim.SparseAdam`,
  :class:`fastgd.SparseAdam`): each step updates the first and second moments and the
  weights of the batch's columns only (the intercept every step); a column absent from
  a batch keeps its weight and moments frozen, where Adam would keep moving it with its
  decaying momentum. Equal to ``torch.optim.SparseAdam`` driven by the same sparse
  gradients (tested); not equal to Adam. With ``penalty="l2"`` the term ``alpha w_j`` is
  added to the gradients of the batch's columns only.
- ``sgd`` with ``"l1"``/``"elasticnet"``: scikit-learn's order -- the L2 part as a
  scale clipped at 0, then the cumulative L1 penalty of Tsuruoka et al. (2009) on the
  batch's columns: every weight is moved toward zero by the L1 penalty it is owed since
  it was last touched, never past zero. Equal to scikit-learn's ``SGDClassifier`` on the
  same rows (batch 1); not equal to the subgradient step of the dense path (weights
  reach exactly zero here).

**The loss.** Each epoch's ``loss`` in the history is the mean of its batch losses
(penalty included), as :func:`fastgd.fit` records on dense X (scikit-learn's SGD also
sums each sample's loss). One exception: lazy Adam with ``penalty="l2"`` computes it
only when ``tol`` or callbacks need it (its penalty term costs O(n_features) a step), and
the column is NaN otherwise. ``grad_norm`` is NaN (no gradient vector exists).

**scikit-learn compatibility** (:func:`sklearn_sgd`, used by
``fastgd.sklearn.GDClassifier(sklearn_compat=True)``/``GDRegressor``): scikit-learn's
``_plain_sgd`` on sparse input -- per sample, its update ``-eta dloss sample_weight``
(not the batch mean), ``dloss`` clipped to 1e12, the L2 scale clipped at 0, the
cumulative L1 penalty, the intercept's decay 0.01, its ``t`` and its ``tol`` rule.
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import numpy as np

from fastgd import _config, backends
from fastgd.history import History

__all__ = ["LOSS_CODES", "plan", "try_fit", "check_data", "fit_sparse", "sklearn_sgd", "kernels"]

#: The loss codes of the loops (those of the compiled model kernels).
LOSS_CODES = {"squared_error": 0, "half_squared_error": 1, "huber": 2,
              "epsilon_insensitive": 3, "log_loss": 4, "hinge": 5}
_SCHEDULES = {None: 0, "constant": 0, "optimal": 1, "invscaling": 2}
_SGD_DEFAULTS = {"momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False,
                 "maximize": False}
_ADAM_KEYS = ("betas", "eps")
#: The stored values a batch needs on average (batch_size x values per row) for a step to
#: run on several threads (compiled backend); smaller batches run on one. Off by default:
#: on the 2-core reference machine two threads ran every batch size slower than one
#: (5 epochs of the text benchmark's 80,000 rows: batch 32 0.67 s against 0.135 s, batch
#: 1024 0.46 against 0.18, the full batch 0.74 against 0.19), because the rows phase reads
#: and the update phase writes the same cache lines of the weights from different cores at
#: every step. Lower it on a machine where that traffic is cheaper; the bits do not change.
PARALLEL_MIN_NNZ = 1 << 62


def kernels(name: str | None = None) -> tuple[Any, Any, Any]:
    """(sgd_epoch, adam_epoch, softmax_epoch) of backend ``name`` (default: the active
    one)."""
    name = backends.backend() if name is None else name
    if name == "cython":
        from fastgd.backends import _models
        return (_models.sparse_sgd_epoch, _models.sparse_adam_epoch,
                _models.sparse_softmax_epoch)
    if name == "numba":
        from fastgd.backends import numba_sparse_sgd as numba_sparse
        return (numba_sparse.sparse_sgd_epoch, numba_sparse.sparse_adam_epoch,
                numba_sparse.sparse_softmax_epoch)
    from fastgd.reference import sparse_sgd
    return sparse_sgd.sgd_epoch, sparse_sgd.adam_epoch, sparse_sgd.softmax_epoch


def momentum_kernel(name: str | None = None) -> Any:
    """The SGD-with-momentum epoch of backend ``name`` (default: the active one)."""
    name = backends.backend() if name is None else name
    if name == "cython":
        from fastgd.backends import _models
        return _models.sparse_momentum_epoch
    if name == "numba":
        from fastgd.backends import numba_sparse_momentum
        return numba_sparse_momentum.sparse_momentum_epoch
    from fastgd.reference import sparse_momentum
    return sparse_momentum.momentum_epoch


def plan(model: Any, cls: Any, optimizer_kwargs: dict, lazy: bool, *, schedule: Any,
         clip_norm: Any, clip_value: Any, gtol: Any, early_stopping: bool,
         record_steps: bool, checkpoint: Any, resume: Any) -> str | None:
    """Which loop trains ``model`` on sparse X: ``"sgd"`` (exact weight scale),
    ``"sgd_momentum"`` (exact: SGD with momentum or Nesterov, constant learning rate,
    the skipped steps of a column applied in closed form when it next appears),
    ``"softmax"`` (exact weight scale, multinomial), ``"sgd_l1"`` (lazy cumulative L1),
    ``"adam"`` (lazy SparseAdam), or None (the general path).

    ``"sgd_momentum"``: optimizer ``"sgd"`` with ``momentum != 0`` (any ``dampening``,
    ``nesterov``, ``weight_decay``; not ``maximize``), schedule None or ``"constant"``, no
    penalty or ``"l2"`` (elastic net with ``l1_ratio=0``), a loss of :data:`LOSS_CODES`.
    Other schedules take the general path: a varying learning rate has no constant
    matrix per skipped step, and the prefix products that would replace it lose the
    precision the path promises."""
    softmax = model.loss == "softmax_cross_entropy"
    if model.loss not in LOSS_CODES and not softmax:
        return None
    if not (schedule is None or (isinstance(schedule, str) and schedule in _SCHEDULES)):
        return None
    if (clip_norm is not None or clip_value is not None or gtol is not None
            or early_stopping or record_steps or checkpoint is not None
            or resume is not None):
        return None
    from fastgd.models.losses import _penalty_weights
    a1, _ = _penalty_weights(model.penalty, model.alpha, model.l1_ratio)
    name = cls.spec.name.lower()
    if name == "sgd" and optimizer_kwargs.get("momentum", 0.0) != 0.0:
        if (softmax or a1 != 0.0 or schedule not in (None, "constant")
                or any(k not in _SGD_DEFAULTS for k in optimizer_kwargs)
                or optimizer_kwargs.get("maximize", False)):
            return None
        return "sgd_momentum"
    if name == "sgd":
        for k, v in optimizer_kwargs.items():
            if k not in _SGD_DEFAULTS or v != _SGD_DEFAULTS[k]:
                return None
        if a1 == 0.0:
            return "softmax" if softmax else "sgd"
        return "sgd_l1" if lazy and not softmax else None
    if softmax:
        return None
    if name == "adam" and lazy and schedule in (None, "constant"):
        if any(k not in _ADAM_KEYS for k in optimizer_kwargs) or a1 != 0.0:
            return None
        return "adam"
    return None


def _threshold(dtype) -> float:
    return 1e-6 if dtype == np.float32 else 1e-9


def _optimal_t0(alpha: float) -> float:
    """scikit-learn's ``optimal_init`` (see :class:`fastgd.lr_scheduler.OptimalLR`)."""
    typw = math.sqrt(1.0 / math.sqrt(alpha))
    return 1.0 / (typw * alpha)


def _sum_of_squares(a: np.ndarray, chunk: int = 1 << 16) -> float:
    """The sum of a's squares in float64, a chunk at a time (no full-size copy)."""
    flat = a.reshape(-1)
    if flat.dtype == np.float64:
        return float(np.dot(flat, flat))
    total = 0.0
    for start in range(0, flat.shape[0], chunk):
        part = flat[start:start + chunk].astype(np.float64)
        total += float(np.dot(part, part))
    return total


class _Loop:
    """The arrays of one run of the loops over a CSR matrix."""

    def __init__(self, csr, y, sw, coef, intercept, *, kind, mode, sched, compat, want,
                 batch, alpha, l1_ratio, l2, lr, power_t, decay, epsilon, adam=None,
                 mom=None):
        self.csr, self.y, self.batch = csr, y, batch
        dt = csr.data.dtype
        self.sw = np.empty(0, dtype=dt) if sw is None else sw
        self.v = coef
        self.b = np.empty(0, dtype=dt) if intercept is None else intercept
        d = coef.shape[0]
        self.q = np.zeros(d, dtype=dt) if (mode == 2 and l1_ratio > 0) else np.empty(0, dt)
        self.st = np.zeros(10)
        self.st[0] = 1.0
        self.st[1] = 1.0
        self.prm = np.zeros(15)
        t0 = _optimal_t0(alpha) if sched == 1 else 0.0
        self.prm[:9] = (alpha, l1_ratio, lr, power_t, t0, decay,
                        0.0 if epsilon is None else epsilon, _threshold(dt), l2)
        self.iprm = np.array([kind, mode, sched, compat, want, 1, 1, 0], dtype=np.int64)
        k = coef.shape[1] if coef.ndim == 2 else 1
        self.work = np.zeros(batch * k + 2 * batch + 128 + k)
        self.adam = adam
        self.mom = mom
        if adam is not None or mom is not None:
            lens = np.diff(csr.indptr)
            bound = int(min(d, batch * (int(lens.max()) if lens.size else 0))) + 1
            self.touched = np.zeros(bound, dtype=np.int64)
        if adam is not None:
            self.prm[9], self.prm[10], self.prm[11] = adam
            from fastgd.reference.sparse_sgd import adam_state
            self.state = adam_state(d, dt)
        if mom is not None:  # (mu, dampening, weight_decay, nesterov)
            from fastgd.reference.sparse_momentum import momentum_state, momentum_table
            mu, damp, wd, nesterov = mom
            self.prm[12], self.prm[13], self.prm[14] = mu, damp, wd
            self.iprm[7] = int(nesterov)
            self.pw = momentum_table(lr, mu, damp, nesterov, l2 + wd)
            self.state = momentum_state(d, dt)
            self.state["w"] = coef
            self.bm = np.zeros(1, dtype=dt)
        if want:
            self.st[5] = _sum_of_squares(coef)

    def epoch(self, order: np.ndarray, nthreads: int) -> None:
        sgd_k, adam_k, softmax_k = kernels()
        # threads synchronise twice a step: worth it only for batches with many values
        nnz_batch = float(self.batch) * float(self.csr.indptr[-1]) / max(self.csr.shape[0], 1)
        self.iprm[6] = nthreads if nnz_batch >= PARALLEL_MIN_NNZ else 1
        c = self.csr
        v = self.v
        if self.mom is not None:  # the weights as the model holds them (callbacks)
            self.state["w"] = v
            momentum_kernel()(c.data, c.indices, c.indptr, self.y, self.sw, order,
                              self.batch, self.state, self.b, self.bm, self.touched,
                              self.pw, self.st, self.prm, self.iprm, self.work)
            v[...] = self.state["w"]  # the model's weights (every column is current)
        elif v.ndim == 2:
            softmax_k(c.data, c.indices, c.indptr, self.y, self.sw, order, self.batch,
                      v, self.b, self.st, self.prm, self.iprm, self.work)
        elif self.adam is None:
            sgd_k(c.data, c.indices, c.indptr, self.y, self.sw, order, self.batch, v,
                  self.b, self.q, self.st, self.prm, self.iprm, self.work)
        else:  # the weights in the state's records: one cache line a column
            w = self.state["w"][:-1]
            w[...] = v
            adam_k(c.data, c.indices, c.indptr, self.y, self.sw, order, self.batch, w,
                   self.b, self.state, self.st, self.prm, self.iprm, self.work, self.touched)
            v[...] = w

    def fold(self) -> None:
        """w = s v with s = 1: the model's coefficients are ``v`` again."""
        s = self.st[0]
        if s != 1.0:
            np.multiply(self.v, np.float64(s), out=self.v, casting="unsafe")
            self.st[0] = 1.0
            if self.iprm[4]:
                self.st[5] = _sum_of_squares(self.v)

    def take_loss(self) -> float:
        loss = self.st[3] / self.st[4] if self.st[4] > 0 else math.nan
        self.st[3] = self.st[4] = 0.0
        return float(loss)

    def last_eta(self) -> float:
        sched, t = int(self.iprm[2]), self.st[1] - 1.0
        prm = self.prm
        if sched == 1:
            return 1.0 / (prm[0] * (prm[4] + t - 1.0))
        if sched == 2:
            return float(prm[2] / math.pow(max(t, 1.0), prm[3]))
        return float(prm[2])


def _finite(loop: _Loop) -> bool:
    return bool(np.isfinite(loop.st[0]) and np.all(np.isfinite(loop.b))
                and backends.active().first_nonfinite([loop.v]) < 0)


def fit_sparse(model: Any, csr: Any, y: np.ndarray, w: np.ndarray | None, path: str, *,
               lr: float, batch_size: int | None, epochs: int, shuffle: bool, rng: Any,
               schedule: Any, tol: float | None, n_iter_no_change: int, callbacks: tuple,
               optimizer_kwargs: dict) -> History:
    """Train ``model`` on the checked CSR matrix with the loop ``path`` of :func:`plan`
    (what :func:`fastgd.fit` runs; its arguments are checked there)."""
    from fastgd.models.losses import _penalty_weights
    n = csr.shape[0]
    if w is not None and not np.any(w > 0):
        raise ValueError("sample_weight is zero for every training row: there is "
                         "nothing to fit")
    model._prepare(_Shape(csr), y)
    coef, intercept = model._fitted(), model.intercept_
    a1, a2 = _penalty_weights(model.penalty, model.alpha, model.l1_ratio)
    sched = _SCHEDULES[schedule]
    bs = n if batch_size is None else min(batch_size, n)
    adam = None
    if path == "adam":
        b1, b2 = optimizer_kwargs.get("betas", (0.9, 0.999))
        adam = (float(b1), float(b2), float(optimizer_kwargs.get("eps", 1e-8)))
    mom = None
    if path == "sgd_momentum":
        mom = (float(optimizer_kwargs["momentum"]),
               float(optimizer_kwargs.get("dampening", 0.0)),
               float(optimizer_kwargs.get("weight_decay", 0.0)),
               bool(optimizer_kwargs.get("nesterov", False)))
    mode = 2 if path == "sgd_l1" else (1 if a2 > 0 else 0)
    l1_ratio = a1 / model.alpha if (mode == 2 and model.alpha > 0) else 0.0
    # the history's loss column, as fit's on dense X; lazy Adam's L2 term would cost
    # O(n_features) a step, so there only when tol or callbacks need it
    want = path != "adam" or a2 == 0.0 or tol is not None or bool(callbacks)
    if path == "softmax":  # the labels as values of X's dtype, for the kernel
        y = y.astype(csr.data.dtype)
    loop = _Loop(csr, y, w, coef, intercept, kind=LOSS_CODES.get(model.loss, 0), mode=mode,
                 sched=sched, compat=0, want=int(want), batch=bs, alpha=float(model.alpha),
                 l1_ratio=l1_ratio, l2=a2, lr=lr,
                 power_t=0.5 if model.is_classifier else 0.25, decay=1.0,
                 epsilon=model.epsilon, adam=adam, mom=mom)
    history = History(("loss", "grad_norm", "lr", "time"))
    history.__dict__.update(steps=None, converged=False, stop_reason="epochs", n_steps=0)
    best, no_improve = math.inf, 0
    t0 = time.perf_counter()
    nthreads = _config.get_num_threads()
    base = np.arange(n, dtype=np.int64)
    for epoch in range(epochs):
        order = rng.permutation(n).astype(np.int64, copy=False) if shuffle else base
        loop.epoch(order, nthreads)
        loop.fold()
        if not _finite(loop):
            raise FloatingPointError(
                f"fit: the weights became non-finite in epoch {epoch}: training diverged. "
                f"Scale the data or lower the learning rate (lr={lr}); the model was left "
                f"at the end of that epoch")
        loss = loop.take_loss() if want else math.nan
        history.append(loss=loss, grad_norm=math.nan, lr=loop.last_eta(),
                       time=time.perf_counter() - t0)
        history.__dict__["n_steps"] = int(loop.st[6])
        stop = None
        if tol is not None:
            if loss > best - tol:
                no_improve += 1
            else:
                no_improve = 0
            best = min(best, loss)
            if no_improve >= n_iter_no_change:
                stop = "tol"
                history.__dict__.update(converged=True, stop_reason="tol")
        for cb in callbacks:
            if cb(epoch, history, model) and stop is None:
                stop = "callback"
                history.__dict__["stop_reason"] = "callback"
        if stop is not None:
            break
    else:
        if tol is not None and not history.converged:
            from fastgd.models.training import ConvergenceWarning
            warnings.warn(f"fit: {epochs} epochs ran out before tol was met; raise epochs "
                          f"or check the learning rate", ConvergenceWarning, stacklevel=3)
    return history


def try_fit(model: Any, X: Any, y: Any, cls: Any, *, lazy: bool, lr: float,
            batch_size: int | None, epochs: int, shuffle: bool, random_state: Any,
            sample_weight: Any, schedule: Any, clip_norm: Any, clip_value: Any,
            tol: Any, n_iter_no_change: int, gtol: Any, early_stopping: bool,
            record_steps: bool, checkpoint: Any, resume: Any, callbacks: tuple,
            optimizer_kwargs: dict) -> History | None:
    """:func:`fastgd.fit` on a sparse X (its arguments already checked) with the loop
    :func:`plan` chooses, or None when none applies."""
    path = plan(model, cls, optimizer_kwargs, lazy, schedule=schedule, clip_norm=clip_norm,
                clip_value=clip_value, gtol=gtol, early_stopping=early_stopping,
                record_steps=record_steps, checkpoint=checkpoint, resume=resume)
    if path is None:
        return None
    csr, y, w = check_data(model, X, y, sample_weight)
    cls([np.zeros(1, dtype=csr.data.dtype)], lr=lr, **optimizer_kwargs)
    rng = (random_state if isinstance(random_state, np.random.Generator)
           else np.random.default_rng(random_state))
    return fit_sparse(model, csr, y, w, path, lr=lr, batch_size=batch_size, epochs=epochs,
                      shuffle=shuffle, rng=rng, schedule=schedule, tol=tol,
                      n_iter_no_change=n_iter_no_change, callbacks=callbacks,
                      optimizer_kwargs=optimizer_kwargs)


def check_data(model: Any, X: Any, y: Any, sample_weight: Any) -> tuple:
    """(csr, y, w): a sparse X brought to CSR (:func:`fastgd.models.sparse.as_csr`), y
    and the sample weights checked as :func:`fastgd.fit` checks them for dense X."""
    from fastgd.models.params import _check_sample_weight, _check_y
    from fastgd.models.sparse import as_csr
    csr = as_csr(X)
    shape = _Shape(csr)
    y = _check_y(model.loss, shape, y)
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        bad = int(np.argmin(np.isfinite(y)))
        raise ValueError(f"y must be finite, but y[{bad}] is {y[bad]}")
    loss = model.loss
    if loss in ("log_loss", "hinge"):
        bad = ~((y == 0) | (y == 1) | ((y == -1) if loss == "hinge" else (y > 0) & (y < 1)))
        if np.any(bad):
            raise ValueError(f"y for {loss} must be 0/1 labels"
                             f"{' (or -1/1)' if loss == 'hinge' else ' (or in [0, 1])'}, "
                             f"got {y[np.argmax(bad)]!r}")
    w = _check_sample_weight(sample_weight, shape)
    return csr, np.ascontiguousarray(y), w


class _Shape:
    """What :meth:`LinearModel._prepare` reads of X: its shape and dtype."""

    def __init__(self, csr):
        self.shape = csr.shape
        self.dtype = csr.data.dtype


def sklearn_sgd(csr: Any, y: np.ndarray, sw: np.ndarray | None, coef: np.ndarray,
                intercept: np.ndarray | None, *, loss: str, penalty: str | None,
                alpha: float, l1_ratio: float, epsilon: float | None, eta0: float,
                power_t: float, schedule: str, max_iter: int, tol: float | None,
                n_iter_no_change: int, shuffle: bool, rng: Any, t_start: float = 1.0,
                intercept_decay: float = 0.01) -> tuple[int, float]:
    """scikit-learn's ``_plain_sgd`` (one binary or regression problem, batch 1) on a CSR
    matrix, updating ``coef`` and ``intercept`` in place; returns ``(n_iter, t)``.

    ``y`` holds 0/1 labels (classification) or targets; the update of each sample is
    ``-eta dloss sample_weight``, ``dloss`` clipped to 1e12; ``penalty`` ``"l2"`` scales
    the weights by ``max(0, 1 - eta alpha)``, ``"l1"``/``"elasticnet"`` apply the
    cumulative penalty; the intercept moves by ``update * intercept_decay``. ``tol``:
    scikit-learn's rule on the epoch's mean objective (loss plus penalty per sample).
    With ``shuffle=True`` the order is ``rng.permutation`` (not scikit-learn's generator).
    """
    if penalty == "l2":
        rho, mode = 0.0, 2
    elif penalty == "l1":
        rho, mode = 1.0, 2
    elif penalty == "elasticnet":
        rho, mode = float(l1_ratio), 2
    else:
        rho, mode = 0.0, 0
    n = csr.shape[0]
    want = tol is not None
    loop = _Loop(csr, y, sw, coef, intercept, kind=LOSS_CODES[loss], mode=mode,
                 sched=_SCHEDULES[schedule], compat=1, want=int(want), batch=1,
                 alpha=float(alpha), l1_ratio=rho, l2=0.0, lr=float(eta0),
                 power_t=float(power_t), decay=float(intercept_decay), epsilon=epsilon)
    loop.st[1] = float(t_start)
    best = math.inf
    no_improve = 0
    base = np.arange(n, dtype=np.int64)
    n_iter = 0
    for _ in range(max_iter):
        order = rng.permutation(n).astype(np.int64, copy=False) if shuffle else base
        loop.epoch(order, 1)
        n_iter += 1
        if not _finite(loop):
            raise ValueError(f"Floating-point under-/overflow occurred at epoch "
                             f"#{n_iter}. Scaling input data with StandardScaler or "
                             f"MinMaxScaler might help.")
        if want:
            obj = loop.take_loss()
            if obj > best - tol:  # type: ignore[operator]
                no_improve += 1
            else:
                no_improve = 0
            best = min(best, obj)
            if no_improve >= n_iter_no_change:
                break
    loop.fold()
    return n_iter, float(loop.st[1])
