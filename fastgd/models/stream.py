r"""Training on data that comes in chunks: :class:`PartialFit`.

.. code-block:: python

    import numpy as np, fastgd
    from fastgd.models import PartialFit
    run = PartialFit(fastgd.LinearRegression(), optimizer="adam", lr=0.01, batch_size=32,
                     schedule="invscaling", shuffle=False)
    for X, y in chunks:            # e.g. fastgd.io.stream.iter_chunks("big.svm", 10_000)
        run.partial_fit(X, y)      # the optimizer's state and the schedule carry on
    run.end_epoch()                # one pass done: history row, per-epoch schedule, tol
    run.model.coef_, run.optimizer.state, run.history.loss, run.n_steps

**The rule.** :meth:`PartialFit.partial_fit` runs the batches of one pass over the chunk
with the loop of :func:`fastgd.fit` (``epochs=1``), continuing the run: the optimizer
(built at the first call as ``fit`` builds it, then kept: momentum, Adam's moments and
step count, ...), the per-step schedule (``"optimal"``, ``"invscaling"``: its step count
goes on), the generator, Sophia's Hessian refresh and the step count. Nothing happens at
the end of a chunk but the batches: :meth:`PartialFit.end_epoch` closes an epoch (the
history row with the epoch's loss, the per-epoch scheduler's step, ``tol``'s rule, the
callbacks). So, with ``shuffle=False``, chunks ``X_1, ..., X_k`` whose row counts (but
the last's) are multiples of ``batch_size`` followed by ``end_epoch()`` give the bits of
one epoch of ``fastgd.fit`` over their concatenation (parameters, optimizer state,
history row but its ``time``). By default batches never straddle two chunks, so other
chunk sizes add a smaller batch at the end of each chunk; with ``carry_over=True`` the
rows past a chunk's last whole batch wait for the next chunk (or :meth:`end_epoch`), so
that chunks of any sizes give one epoch's bits. With ``shuffle=True`` the rows of each
chunk are permuted by the run's generator (``rng.permutation(len(chunk))``, one call per
chunk, the generator made once from ``random_state``): the same bits as feeding each chunk
in that order with ``shuffle=False`` (with ``carry_over=True``: the rows carried from the
last chunk, then the chunk's, permuted together, one call per chunk, and the permuted
rows copied once).

**Exceptions.** Schedule-free optimizers (``train``/``eval``) switch to their averaged
point at the end of every chunk and back at the next, so chunks match one epoch to
rounding only. The number of features, the dtype and (for softmax) the number of classes
are those of the first chunk: a chunk that differs, or a model whose ``coef_`` or
``intercept_`` were replaced by other arrays since the last chunk (changing their values
in place is fine), is refused with a ValueError before anything changes. A
FloatingPointError (divergence) ends the run: later calls raise RuntimeError.

**Checkpoints.** Between two chunks, :meth:`PartialFit.save` writes the run with
:func:`fastgd.save` (atomically; no pickle): the model's parameters, the optimizer's
state, the schedulers' ``state_dict()``, the generator's state, the counters, the open
epoch's sums and the history. :meth:`PartialFit.restore` puts it back into a new
:class:`PartialFit` built with the same model settings and arguments (``random_state``
and ``callbacks`` may differ; anything else is refused with a ValueError naming it,
before the model changes). A :class:`PartialFit` also pickles with its model,
optimizer, schedulers and generator (the optimizer keeps the model's arrays as its
parameters through the pickle). Either way, going on gives the bits of the run not
stopped.
"""

from __future__ import annotations

import math
import time
from numbers import Integral
from typing import Any

import numpy as np

from fastgd import lr_scheduler as _lrs
from fastgd.history import History
from fastgd.io import checkpoint as _ckpt
from fastgd.models.linear import LinearModel
from fastgd.models.params import (
    SCHEDULES,
    _check_finite,
    _check_sample_weight,
    _check_X,
    _check_y,
    check,
)
from fastgd.models.sparse import CSR
from fastgd.models.training import _schedulers, fit
from fastgd.optim.registry import lookup

__all__ = ["PartialFit"]


class PartialFit:
    """A :func:`fastgd.fit` run over chunks of data: :meth:`partial_fit` per chunk,
    :meth:`end_epoch` after each pass (see :mod:`fastgd.models.stream` for the exact rule).

    Args:
        model: the :class:`fastgd.LinearModel` trained in place (its ``coef_`` and
            ``intercept_`` are continued when set, as by ``fit``).
        optimizer: as for :func:`fastgd.fit`, and so are ``lr``, ``batch_size``,
            ``shuffle``, ``schedule``, ``clip_norm``, ``clip_value``,
            ``n_iter_no_change`` and ``optimizer_kwargs``.
        random_state: None, an int, a SeedSequence or a Generator: the run's generator
            (made once; a Generator is used and advanced).
        tol: scikit-learn's rule on the epochs' training losses, checked by
            :meth:`end_epoch` (which then returns True), or None.
        carry_over: keep the rows past a chunk's last whole batch (fewer than
            ``batch_size``) for the next chunk, where they come first, or for
            :meth:`end_epoch`, which runs them as the epoch's last batch: batches then
            straddle chunks, and any chunk sizes give one epoch's bits. Until then the
            model has not seen them (``pending_rows`` counts them). Default False: each
            chunk's rows are all run by its call.
        callbacks: callables ``cb(epoch, history, model)`` called by :meth:`end_epoch`;
            True from one makes it return True.

    Attributes: ``model``; ``optimizer`` (the fastgd optimizer, None before the first
    chunk); ``scheduler`` (the schedule's scheduler or None); ``history`` (one row per
    :meth:`end_epoch`: ``loss``, ``grad_norm``, ``lr``, ``time``, and ``converged``,
    ``stop_reason``); ``n_steps`` (optimizer steps so far); ``epoch`` (epochs ended).

    Example::

        rng = np.random.default_rng(0)
        X = rng.standard_normal((600, 4)); y = X @ np.arange(4.0) + 1
        run = fastgd.models.PartialFit(fastgd.LinearRegression(), optimizer="adam", lr=0.05,
                                       batch_size=20)
        for epoch in range(20):
            for i in range(0, 600, 200):
                run.partial_fit(X[i:i + 200], y[i:i + 200])
            run.end_epoch()
        assert run.model.score(X, y) > 0.99 and run.n_steps == 20 * 30
    """

    def __init__(self, model: LinearModel, *, optimizer: Any = "sgd", lr: float = 0.01,
                 batch_size: int | None = 32, shuffle: bool = True, random_state: Any = None,
                 schedule: Any = None, clip_norm: float | None = None,
                 clip_value: float | None = None, tol: float | None = None,
                 n_iter_no_change: int = 5, callbacks: Any = (),
                 optimizer_kwargs: dict | None = None, carry_over: bool = False) -> None:
        if not isinstance(model, LinearModel):
            raise TypeError(f"model must be a fastgd.LinearModel, got {type(model).__name__}")
        lookup(optimizer)
        if isinstance(random_state, (bool, np.bool_)) or not (
                random_state is None or isinstance(random_state, (
                    Integral, np.random.Generator, np.random.SeedSequence))):
            raise TypeError(f"random_state must be None, an int, a SeedSequence or a numpy "
                            f"Generator, got {random_state!r}")
        if isinstance(random_state, Integral):
            check("random_state", random_state)
        if isinstance(schedule, str) and schedule not in SCHEDULES:
            raise ValueError(f"schedule must be a callable or one of {', '.join(SCHEDULES)}, "
                             f"got {schedule!r}")
        if callable(callbacks):
            callbacks = (callbacks,)
        callbacks = tuple(callbacks)
        for cb in callbacks:
            if not callable(cb):
                raise TypeError(f"callbacks must be callables, got {cb!r}")
        if not isinstance(carry_over, (bool, np.bool_)):
            raise TypeError(f"carry_over must be a bool, got {carry_over!r}")
        self.model = model
        self.callbacks = callbacks
        self.carry_over = bool(carry_over)
        self._pending: tuple | None = None  # carried rows: (X, y, sample_weight or None)
        self._fit_args = dict(
            optimizer=optimizer, lr=check("lr", lr), batch_size=check("batch_size", batch_size),
            shuffle=check("shuffle", shuffle), schedule=schedule,
            clip_norm=check("clip_norm", clip_norm), clip_value=check("clip_value", clip_value),
            tol=check("tol", tol), n_iter_no_change=check("n_iter_no_change", n_iter_no_change),
            optimizer_kwargs=optimizer_kwargs)
        self._rng = (random_state if isinstance(random_state, np.random.Generator)
                     else np.random.default_rng(random_state))  # type: ignore[arg-type]
        self.optimizer: Any = None
        self._step_sched: Any = None
        self._epoch_sched: Any = None
        self.n_steps = 0
        self.epoch = 0
        self.hess_next = False
        self.history = History(("loss", "grad_norm", "lr", "time"))
        self.history.__dict__.update(converged=False, stop_reason=None, n_steps=0)
        self._best, self._no_improve = math.inf, 0
        self._elapsed = 0.0
        self._failed: str | None = None
        self._chunk = True
        self._totals: tuple = (0.0, 0.0, math.nan, math.nan)

    @property
    def scheduler(self) -> Any:
        """The schedule's scheduler (per step or per epoch), or None."""
        return self._step_sched if self._step_sched is not None else self._epoch_sched

    # -- fit's side of the run (fastgd.models.training.fit calls these) ---------------------

    def _continued(self, params: list) -> tuple[Any, Any, Any]:
        """The optimizer and schedulers to continue, once the model's parameters for the
        chunk are ``params``: they must be the optimizer's own arrays."""
        mine = [p for group in self.optimizer.param_groups for p in group["params"]]
        if len(mine) != len(params) or any(a is not b for a, b in zip(mine, params)):
            raise ValueError(
                "partial_fit: the model's parameters are no longer the optimizer's: the "
                "chunk has another number of features or dtype than the first "
                f"({self.optimizer.param_groups[0]['params'][0].shape}, "
                f"{self.optimizer.param_groups[0]['params'][0].dtype} coef_), a label "
                "above the first chunk's classes, or coef_/intercept_ were replaced")
        return self.optimizer, self._step_sched, self._epoch_sched

    def _started(self, opt: Any, step_sched: Any, epoch_sched: Any) -> None:
        self.optimizer, self._step_sched, self._epoch_sched = opt, step_sched, epoch_sched

    def _ran(self, n_steps: int, hess_next: bool, epochs: int) -> None:
        self.n_steps, self.hess_next = n_steps, hess_next
        if not self._chunk:
            self.epoch = epochs

    # -- the stream -------------------------------------------------------------------------

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> PartialFit:
        """Run the batches of one pass over the chunk (X, y), continuing the run; returns
        self. Arguments and errors as for :func:`fastgd.fit` (checked before the model
        changes)."""
        if self._failed is not None:
            raise RuntimeError(f"partial_fit: this run diverged ({self._failed}); start a "
                               f"new PartialFit")
        if self.carry_over and self._fit_args["batch_size"] is not None:
            return self._partial_fit_carried(X, y, sample_weight)
        self._run_rows(X, y, sample_weight, self._fit_args)
        return self

    @property
    def pending_rows(self) -> int:
        """Rows carried to the next chunk (``carry_over=True``), not run yet."""
        return 0 if self._pending is None else int(self._pending[0].shape[0])

    def _run_rows(self, X: Any, y: Any, sample_weight: Any, args: dict) -> None:
        start = time.perf_counter()
        self._chunk = True
        try:
            fit(self.model, X, y, epochs=1, random_state=self._rng,
                sample_weight=sample_weight, _stream=self, **args)
        except FloatingPointError as exc:
            self._failed = str(exc).split(". ")[0]
            raise
        finally:
            self._elapsed += time.perf_counter() - start

    def _partial_fit_carried(self, X: Any, y: Any, sample_weight: Any) -> PartialFit:
        """partial_fit with carry_over: the carried rows and the chunk's (checked first,
        as fit checks them), whole batches run, the rest carried."""
        loss = self.model.loss
        X = _check_X(X)
        y = _check_y(loss, X, y)
        _check_finite(X, y)
        w = _check_sample_weight(sample_weight, X, all_zero_ok=True)
        if self._pending is not None:
            X, y, w = _join(self._pending, (X, y, w))
        n, bs = X.shape[0], self._fit_args["batch_size"]
        rng_state = self._rng.bit_generator.state
        order = self._rng.permutation(n) if self._fit_args["shuffle"] else None
        full = n // bs * bs
        Xr, yr, wr = _rows(X, y, w, order, 0, full)
        pending = _rows(X, y, w, order, full, n) if full < n else None
        if full and (wr is None or np.any(wr > 0)):  # fit skips batches of no weight
            try:
                self._run_rows(Xr, yr, wr, dict(self._fit_args, shuffle=False))
            except FloatingPointError:
                raise
            except (ValueError, TypeError):  # refused before the model changed
                self._rng.bit_generator.state = rng_state
                raise
        self._pending = pending
        return self

    def fit_epochs(self, X: Any, y: Any, *, epochs: int, sample_weight: Any = None,
                   **fit_kwargs: Any) -> History:
        """Start the run with :func:`fastgd.fit`'s whole loop on (X, y) for up to
        ``epochs`` epochs (``fit_kwargs``: more of ``fit``'s arguments, e.g. ``tol``,
        ``early_stopping``, overriding the run's), with the run's generator; return fit's
        History. :meth:`partial_fit` then continues that run (optimizer state, schedules,
        step count). Only before the first chunk. On sparse X, where one of the O(nnz)
        loops of :mod:`fastgd.models.sparse_training` applies, ``fit`` takes it: it keeps
        no optimizer, so ``optimizer`` stays None and a later :meth:`partial_fit` starts
        the optimizer afresh from the model's coefficients."""
        if self.optimizer is not None:
            raise RuntimeError("fit_epochs starts a run: this one has started already")
        args = dict(self._fit_args, callbacks=self.callbacks)
        args.update(fit_kwargs)
        self._chunk = False
        try:
            return fit(self.model, X, y, epochs=epochs, random_state=self._rng,
                       sample_weight=sample_weight, _stream=self, **args)
        finally:
            self._chunk = True

    def end_epoch(self) -> bool:
        """Close the epoch made of the chunks since the last call: append its history row
        (``loss``: the mean of its batch losses weighted by their row counts or sample
        weights), step the per-epoch scheduler (given that loss when it monitors one:
        ``ReduceLROnPlateau``, ``"adaptive"``), apply ``tol``'s rule and call the
        callbacks. Returns True when a stopping rule or a callback says to stop (the run
        may still go on). Rows carried over (``carry_over=True``) are run first, as the
        epoch's last batch."""
        if self._pending is not None:
            X, y, w = self._pending
            self._pending = None
            if w is not None and not np.any(w > 0):  # fit skips a batch of no weight
                self._totals = self._totals[:2] + (math.nan,) + self._totals[3:]
            else:
                self._run_rows(X, y, w, dict(self._fit_args, shuffle=False))
        total, weight_sum, gnorm, step_lr = self._totals
        if weight_sum == 0.0:
            raise ValueError("end_epoch: no batch was run since the last end of an epoch "
                             "(call partial_fit with data first)")
        loss = total / weight_sum
        history = self.history
        history.append(loss=loss, grad_norm=gnorm, lr=step_lr, time=self._elapsed)
        history.__dict__["n_steps"] = self.n_steps
        self._totals = (0.0, 0.0, math.nan, math.nan)
        stop = None
        sched = self._epoch_sched
        if sched is not None:
            if isinstance(sched, (_lrs.ReduceLROnPlateau, _lrs.AdaptiveLR)):
                sched.step(loss)
            else:
                sched.step()
            if isinstance(sched, _lrs.AdaptiveLR) and sched.should_stop:
                stop = "adaptive"
        tol = self._fit_args["tol"]
        if tol is not None and self._fit_args["schedule"] != "adaptive":
            self._no_improve = self._no_improve + 1 if loss > self._best - tol else 0
            self._best = min(self._best, loss)
            if self._no_improve >= self._fit_args["n_iter_no_change"]:
                stop = stop or "tol"
        if stop is not None:
            history.__dict__.update(converged=True, stop_reason=stop)
        for cb in self.callbacks:
            if cb(self.epoch, history, self.model) and stop is None:
                stop = "callback"
                history.__dict__["stop_reason"] = "callback"
        self.epoch += 1
        return stop is not None

    # -- checkpoints ------------------------------------------------------------------------

    def _settings(self) -> dict:
        """What a restored run must share with the saved one."""
        m, a = self.model, self._fit_args
        schedule = a["schedule"]
        return {
            "model": type(m).__name__, "loss": m.loss, "penalty": m.penalty,
            "alpha": float(m.alpha), "l1_ratio": float(m.l1_ratio),
            "epsilon": None if m.epsilon is None else float(m.epsilon),
            "fit_intercept": bool(m.fit_intercept),
            "optimizer": lookup(a["optimizer"]).__name__, "lr": a["lr"],
            "batch_size": a["batch_size"], "shuffle": a["shuffle"],
            "schedule": schedule if schedule is None or isinstance(schedule, str)
            else "a callable", "clip_norm": a["clip_norm"], "clip_value": a["clip_value"],
            "tol": a["tol"], "n_iter_no_change": a["n_iter_no_change"],
            "optimizer_kwargs": dict(a["optimizer_kwargs"] or {}),
            "carry_over": self.carry_over,
        }

    def save(self, path: Any) -> None:
        """Write the run, between two chunks, to ``path`` with :func:`fastgd.save`
        (atomically); :meth:`restore` reads it back."""
        if self.optimizer is None:
            raise RuntimeError("save: the run has not started (no chunk yet)")
        scheds = {kind: None if sched is None else
                  [type(sched).__name__, _ckpt.scheduler_state(sched)]
                  for kind, sched in (("step", self._step_sched),
                                      ("epoch", self._epoch_sched))}
        h = self.history
        state = {
            "settings": self._settings(), "n_steps": self.n_steps, "epoch": self.epoch,
            "hess_next": bool(self.hess_next), "totals": [float(v) for v in self._totals],
            "best": float(self._best), "no_improve": self._no_improve,
            "elapsed": self._elapsed, "history": h.as_dict(),
            "converged": bool(h.converged), "stop_reason": h.stop_reason,
            "rng": _ckpt.generator_state(self._rng), "schedulers": scheds,
            "pending": _pending_arrays(self._pending),
        }
        _ckpt.save(path, optimizer=self.optimizer, stream=state)

    def restore(self, path: Any) -> PartialFit:
        """Continue the run saved by :meth:`save` in ``path``: this run (not started, built
        with the saved run's model settings and arguments) gets its parameters, optimizer
        and scheduler states, generator, counters and history. Returns self."""
        if self.optimizer is not None:
            raise RuntimeError("restore: this run has started; restore into a new one")
        ckpt = _ckpt.load(path)
        path = ckpt.path
        state = ckpt.extra.get("stream")
        keys = ("settings", "n_steps", "epoch", "hess_next", "totals", "best",
                "no_improve", "elapsed", "history", "converged", "stop_reason", "rng",
                "schedulers")
        if not isinstance(state, dict) or not all(k in state for k in keys) \
                or ckpt.optimizer_state is None or not ckpt._params_of_optimizer:
            raise ValueError(f"{path!r} is not a run written by PartialFit.save")
        mine = self._settings()
        for key, value in mine.items():
            if state["settings"].get(key, "(unset)") != value:
                raise ValueError(f"{path!r} was written by a run with {key}="
                                 f"{state['settings'].get(key, '(unset)')!r}; this run has "
                                 f"{key}={value!r}")
        _ckpt.check_generator_state(state["rng"], repr(path))
        m = self.model
        shapes = [(p.shape, p.dtype) for p in ckpt.params]
        if len(shapes) != (2 if m.fit_intercept else 1) or len(shapes[0][0]) != (
                2 if m.loss == "softmax_cross_entropy" else 1):
            raise ValueError(f"{path!r}: the saved parameters {shapes} are not this "
                             f"model's")
        saved = {k: getattr(m, k, None) for k in ("coef_", "intercept_", "n_classes_")}
        try:
            m.coef_ = np.zeros(*shapes[0])
            m.intercept_ = np.zeros(*shapes[1]) if m.fit_intercept else None
            if m.coef_.ndim == 2:
                m.n_classes_ = m.coef_.shape[1]
            params = [m.coef_] if m.intercept_ is None else [m.coef_, m.intercept_]
            a = self._fit_args
            opt = lookup(a["optimizer"])(params, lr=a["lr"], **(a["optimizer_kwargs"] or {}))
            step_sched, epoch_sched = _schedulers(a["schedule"], opt, m,
                                                  a["n_iter_no_change"], a["tol"])
            for kind, sched in (("step", step_sched), ("epoch", epoch_sched)):
                theirs = state["schedulers"].get(kind)
                if (None if sched is None else type(sched).__name__) != (
                        None if theirs is None else theirs[0]):
                    raise ValueError(f"{path!r}: the run's {kind} scheduler was "
                                     f"{None if theirs is None else theirs[0]}")
            ckpt.restore(optimizer=opt)
            for kind, sched in (("step", step_sched), ("epoch", epoch_sched)):
                if sched is not None:
                    sched.load_state_dict(state["schedulers"][kind][1])
        except BaseException:
            for k, v in saved.items():
                setattr(m, k, v)
            raise
        self.optimizer, self._step_sched, self._epoch_sched = opt, step_sched, epoch_sched
        self._rng = _ckpt.restore_generator(state["rng"], self._rng)
        self.n_steps, self.epoch = int(state["n_steps"]), int(state["epoch"])
        self.hess_next = bool(state["hess_next"])
        self._totals = tuple(state["totals"])
        self._best, self._no_improve = float(state["best"]), int(state["no_improve"])
        self._elapsed = float(state["elapsed"])
        self._pending = _pending_from(state.get("pending"))
        rows: dict = state["history"]
        for i in range(len(rows.get("loss", []))):
            self.history.append(**{c: v[i] for c, v in rows.items()})
        self.history.__dict__.update(converged=state["converged"],
                                     stop_reason=state["stop_reason"], n_steps=self.n_steps)
        return self

    def __repr__(self) -> str:
        return (f"PartialFit({self.model!r}, optimizer={self._fit_args['optimizer']!r}, "
                f"epoch={self.epoch}, n_steps={self.n_steps})")


def _join(a: tuple, b: tuple) -> tuple:
    """The rows of a, then those of b: (X, y, w) each (a CSR X with a CSR X; w None
    only if both are)."""
    (Xa, ya, wa), (Xb, yb, wb) = a, b
    if isinstance(Xa, CSR) != isinstance(Xb, CSR) or Xa.shape[1] != Xb.shape[1] \
            or Xa.dtype != Xb.dtype:
        def kind(X: Any) -> str:
            return f"{'sparse' if isinstance(X, CSR) else 'dense'} {X.dtype}, " \
                   f"{X.shape[1]} features"
        raise ValueError(f"partial_fit: the chunk's X ({kind(Xb)}) cannot follow the rows "
                         f"carried from the last chunk ({kind(Xa)})")
    X: Any
    if isinstance(Xa, CSR):
        it = np.promote_types(Xa.indices.dtype, Xb.indices.dtype)
        X = CSR(np.concatenate([Xa.data, Xb.data]),
                np.concatenate([Xa.indices, Xb.indices]).astype(it, copy=False),
                np.concatenate([Xa.indptr, Xb.indptr[1:] + Xa.indptr[-1]]).astype(it),
                (Xa.shape[0] + Xb.shape[0], Xa.shape[1]))
    else:
        X = np.concatenate([Xa, Xb])
    y = np.concatenate([ya, yb])
    if wa is None and wb is None:
        w = None
    else:
        w = np.concatenate([np.ones(Xa.shape[0], Xa.dtype) if wa is None else wa,
                            np.ones(Xb.shape[0], Xb.dtype) if wb is None else wb])
    return X, y, w


def _rows(X: Any, y: np.ndarray, w: np.ndarray | None, order: np.ndarray | None,
          lo: int, hi: int) -> tuple:
    """Rows lo..hi of (X, y, w), in ``order`` (None: as stored; then views)."""
    if order is None:
        if isinstance(X, CSR):
            a, b = int(X.indptr[lo]), int(X.indptr[hi])
            Xr: Any = CSR(X.data[a:b], X.indices[a:b], X.indptr[lo:hi + 1] - X.indptr[lo],
                          (hi - lo, X.shape[1]))
        else:
            Xr = X[lo:hi]
        return Xr, y[lo:hi], None if w is None else w[lo:hi]
    rows = order[lo:hi]
    if isinstance(X, CSR):
        starts, lens = X.indptr[rows], X.indptr[rows + 1] - X.indptr[rows]
        indptr = np.zeros(rows.shape[0] + 1, X.indptr.dtype)
        np.cumsum(lens, out=indptr[1:])
        take = np.repeat(starts - indptr[:-1], lens) + np.arange(int(indptr[-1]))
        Xr = CSR(X.data[take], X.indices[take], indptr, (rows.shape[0], X.shape[1]))
    else:
        Xr = X[rows]
    return Xr, y[rows], None if w is None else w[rows]


def _pending_arrays(pending: tuple | None) -> Any:
    """The carried rows as a checkpoint's arrays (None if none)."""
    if pending is None:
        return None
    X, y, w = pending
    out: dict[str, Any] = {"y": y, "w": w}
    if isinstance(X, CSR):
        out.update(data=X.data, indices=X.indices, indptr=X.indptr, shape=list(X.shape))
    else:
        out["X"] = X
    return out


def _pending_from(saved: Any) -> tuple | None:
    if saved is None:
        return None
    if "X" in saved:
        X: Any = np.asarray(saved["X"])
    else:
        X = CSR(np.asarray(saved["data"]), np.asarray(saved["indices"]),
                np.asarray(saved["indptr"]), (int(saved["shape"][0]), int(saved["shape"][1])))
    w = saved.get("w")
    return X, np.asarray(saved["y"]), None if w is None else np.asarray(w)
