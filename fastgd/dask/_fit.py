r"""``fastgd.dask.fit``: the driver of a data-parallel fit over row blocks.

The parameters and the optimizer's state live on the driver (this process); the blocks
stay where they were persisted. Three modes:

- ``"full_batch"`` (``batch_size=None``): per epoch, ONE round trip -- every block
  computes its weighted mean loss and gradient (penalty included) with
  :func:`fastgd.models.loss_grad` where it lives; the driver folds them in block order,
  :math:`\sum_b (W_b/W)\,g_b`, and takes the optimizer step. A closure-driven optimizer
  (``opt.step(closure)``, ``closure() -> (loss, grads)``, such as an L-BFGS) gets one
  round trip per closure evaluation.
- ``"sequential"``: per epoch one chain of mini-batch steps over the blocks in a seeded
  order (the model and the optimizer's state travel to the data; one round trip).
- ``"local_sgd"``: per round every block runs ``local_steps`` mini-batch steps from the
  shared parameters with a fresh optimizer; the driver averages the parameters weighted
  by the blocks' weights (federated averaging; one round trip).
"""

from __future__ import annotations

import inspect
import math
import sys
import time
import warnings
from typing import Any

import numpy as np

from fastgd import lr_scheduler as _lrs
from fastgd.dask import _blocks
from fastgd.dask._data import Blocks, as_blocks
from fastgd.history import History
from fastgd.io import checkpoint as _ckpt
from fastgd.models import ConvergenceWarning, LinearModel, clip_grad_norm_, clip_grad_value_
from fastgd.models.params import SCHEDULES, check
from fastgd.optim.registry import lookup

__all__ = ["fit", "MODES"]

#: The fitting modes.
MODES = ("full_batch", "sequential", "local_sgd")

_REGRESSION = ("squared_error", "half_squared_error", "huber", "epsilon_insensitive")


class _Progress:
    """A bar of epochs: tqdm's when tqdm is installed, else one line on stderr rewritten
    after each epoch (``epoch 12/100  loss 0.693147  3.1 it/s``)."""

    def __init__(self, total: int, first: int) -> None:
        self.total, self.t0, self.done = total, time.perf_counter(), first
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self.bar = None
        else:
            self.bar = tqdm(total=total, initial=first, unit="epoch", desc="fastgd.dask")

    def update(self, loss: float) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.6g}", refresh=False)
            self.bar.update(1)
            return
        rate = self.done / max(time.perf_counter() - self.t0, 1e-9)
        sys.stderr.write(f"\rfastgd.dask: epoch {self.done}/{self.total}  loss {loss:.6g}  "
                         f"{rate:.3g} it/s")
        sys.stderr.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        else:
            sys.stderr.write("\n")


def _norm(grads: list) -> float:
    s = 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        for g in grads:
            if g is not None:
                s += float(np.dot(g.ravel(), g.ravel()))
    return math.sqrt(s)


def _closure_driven(opt: Any) -> bool:
    """Whether ``opt.step`` takes a closure (``loss = opt.step(closure)``)."""
    try:
        first = next(iter(inspect.signature(opt.step).parameters))
    except (StopIteration, TypeError, ValueError):
        return False
    return first == "closure"


def _prepare(model: LinearModel, d: int, k: int, dtype: Any) -> list:
    """The model's parameters for d features (k classes for softmax) in ``dtype``: the
    current ones when they fit (a warm start), else zeros."""
    if model.loss == "softmax_cross_entropy":
        if model.coef_ is not None and model.coef_.ndim == 2 and model.coef_.shape[1] > k:
            k = model.coef_.shape[1]
        shape: tuple = (d, k)
        ishape: tuple = (k,)
    else:
        shape, ishape = (d,), (1,)
    c, i = model.coef_, model.intercept_
    ok = (c is not None and c.shape == shape and c.dtype == dtype and c.flags.c_contiguous
          and c.flags.writeable)
    if model.fit_intercept:
        ok = ok and i is not None and i.shape == ishape and i.dtype == dtype
    if not ok:
        model.coef_ = np.zeros(shape, dtype=dtype)
        model.intercept_ = np.zeros(ishape, dtype=dtype) if model.fit_intercept else None
    elif not model.fit_intercept:
        model.intercept_ = None
    if model.loss == "softmax_cross_entropy":
        model.n_classes_ = shape[1]
    p = [model.coef_]
    return p if model.intercept_ is None else p + [model.intercept_]


def _target(loss: str) -> str:
    return ("regression" if loss in _REGRESSION
            else "index" if loss == "softmax_cross_entropy" else loss)


def _check_blocks(blocks: Blocks, loss: str) -> tuple[int, int]:
    """(n_features, number of classes or 0) after checking every block's data; a
    ValueError names the first bad block before anything is fitted."""
    infos = blocks.info()
    d, top, start = -1, -1, 0
    for b, (rows, nf, _w, problem, mx, _v) in enumerate(infos):
        if problem is not None:
            raise ValueError(f"block {b} of the data (rows {start} to {start + rows - 1}): "
                             f"{problem}")
        if d < 0:
            d = nf
        elif nf != d:
            raise ValueError(f"block {b} has {nf} features, block 0 has {d}")
        top = max(top, mx)
        start += rows
    if not any(w > 0 for _r, _n, w, _p, _m, _v in infos):
        raise ValueError("the data has no rows of positive weight: there is nothing to fit")
    return d, (max(top + 1, 2) if loss == "softmax_cross_entropy" else 0)


def _check_split(blocks: Blocks, fraction: float) -> None:
    """A ValueError when the validation split leaves no training or no validation rows
    of positive weight."""
    infos = blocks.info()
    if not any(i[2] > 0 for i in infos):
        raise ValueError(f"validation_fraction={fraction} leaves no training rows of "
                         f"positive weight")
    if not any(i[5] > 0 for i in infos):
        raise ValueError("the validation rows (early_stopping) weigh nothing: the "
                         "validation loss is undefined")


def _settings(model, cls, lr, mode, batch_size, shuffle, schedule, clip_norm, clip_value,
              tol, n_iter_no_change, local_steps, optimizer_kwargs, blocks, d) -> dict:
    return {"model": type(model).__name__, "loss": model.loss, "penalty": model.penalty,
            "alpha": float(model.alpha), "l1_ratio": float(model.l1_ratio),
            "epsilon": None if model.epsilon is None else float(model.epsilon),
            "fit_intercept": bool(model.fit_intercept), "optimizer": cls.__name__,
            "lr": lr, "mode": mode, "batch_size": batch_size, "shuffle": shuffle,
            "schedule": schedule if schedule is None or isinstance(schedule, str)
            else "a callable", "clip_norm": clip_norm, "clip_value": clip_value,
            "tol": tol, "n_iter_no_change": n_iter_no_change, "local_steps": local_steps,
            "optimizer_kwargs": dict(optimizer_kwargs), "chunks": list(blocks.chunks),
            "n_features": d, "dtype": blocks.dtype.name}


def fit(model: LinearModel, X: Any, y: Any, *, optimizer: Any = "sgd", lr: float = 0.01,
        mode: str | None = None, batch_size: int | None = None, epochs: int = 10,
        shuffle: bool = True, random_state: Any = None, sample_weight: Any = None,
        schedule: Any = None, clip_norm: float | None = None,
        clip_value: float | None = None, tol: float | None = None,
        n_iter_no_change: int = 5, early_stopping: bool = False,
        validation_fraction: float = 0.1, local_steps: int = 10, callbacks: Any = (),
        optimizer_kwargs: dict | None = None, checkpoint: Any = None,
        checkpoint_every: int = 1, resume: Any = None, progress: bool = False,
        client: Any = None, block_rows: int | None = None,
        _target_kind: str | None = None, _classes: Any = None) -> History:
    r"""Train ``model`` (a :class:`fastgd.LinearModel`) in place on row-chunked data and
    return the run's :class:`fastgd.History` (one row per epoch or round: ``loss``,
    ``grad_norm``, ``lr``, ``time``, and ``val_loss`` with ``early_stopping``; plus
    ``history.round_trips`` (the driver's waits for results during the epochs),
    ``n_blocks``, ``converged``, ``stop_reason``, ``n_steps``).

    Args:
        model: its ``coef_``/``intercept_`` are created (zeros) or continued (warm start).
        X, y, sample_weight: dask arrays with the same row chunks (or dask dataframes /
            series; or NumPy arrays, split into blocks of ``block_rows`` rows and run in
            this process). y in the loss's form, as :func:`fastgd.fit`.
        mode: ``"full_batch"``, ``"sequential"`` or ``"local_sgd"``; None:
            ``"full_batch"`` when ``batch_size`` is None, else ``"sequential"``.
        batch_size: rows per mini-batch step (the mini-batch modes).
        epochs: epochs (full batch: optimizer steps; local_sgd: rounds).
        local_steps: local_sgd's steps per block and round (its ``k``).
        shuffle: sequential: a seeded permutation of the blocks and of each block's rows
            every epoch; local_sgd: the batches' rows drawn at random.
        random_state: seed of the run's ``np.random.default_rng``.
        schedule, clip_norm, clip_value, tol, n_iter_no_change, callbacks, optimizer_kwargs:
            as :func:`fastgd.fit` (the per-step schedules ``"optimal"`` and
            ``"invscaling"`` only in full-batch mode).
        early_stopping, validation_fraction: hold out ``validation_fraction`` of the
            rows of every block and monitor their loss (``tol``, ``n_iter_no_change``,
            the metric schedules) instead of the training loss. The run's generator
            first draws one seed per block, ``rng.integers(0, 2**63 - 1, size=B)``;
            block b's validation rows are ``np.sort(perm[:ceil(validation_fraction *
            n_b)])`` with ``perm = np.random.default_rng(seed_b).permutation(n_b)``, its
            training rows the others (nothing is copied). Full batch: the validation loss
            at the end of an epoch comes with the next epoch's evaluation (one round
            trip per epoch, one more at the end); the other modes and closure-driven
            optimizers: one more round trip per epoch.
        checkpoint, checkpoint_every: write the run's state with :func:`fastgd.save`
            every ``checkpoint_every`` epochs (and at the last); ``resume``: continue a
            run from such a file (same settings and chunks; else a ValueError).
        progress: show a bar of epochs (tqdm when installed).
        client: a ``distributed.Client``; None: the current client if there is one, else
            the blocks are computed and run in this process.
        block_rows: the block size for NumPy input.
    """
    cls = lookup(optimizer)
    lr = check("lr", lr)
    if mode is None:
        mode = "full_batch" if batch_size is None else "sequential"
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    bs: Any = batch_size
    if mode == "full_batch":
        if batch_size is not None:
            raise ValueError(f"mode='full_batch' takes batch_size=None, got {batch_size!r}")
    else:
        bs = check("batch_size", batch_size)
        if bs is None:
            raise ValueError(f"mode={mode!r} needs a batch_size")
    epochs = check("epochs", epochs)
    shuffle = check("shuffle", shuffle)
    clip_norm = check("clip_norm", clip_norm)
    clip_value = check("clip_value", clip_value)
    tol = check("tol", tol)
    n_iter_no_change = check("n_iter_no_change", n_iter_no_change)
    early_stopping = check("early_stopping", early_stopping)
    validation_fraction = check("validation_fraction", validation_fraction)
    for name, v in (("local_steps", local_steps), ("checkpoint_every", checkpoint_every)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    callbacks = (callbacks,) if callable(callbacks) else tuple(callbacks)
    for cb in callbacks:
        if not callable(cb):
            raise TypeError(f"callbacks must be callables, got {cb!r}")
    optimizer_kwargs = {} if optimizer_kwargs is None else optimizer_kwargs
    if not isinstance(optimizer_kwargs, dict) or "lr" in optimizer_kwargs:
        raise ValueError(f"optimizer_kwargs must be a dict without 'lr', got "
                         f"{optimizer_kwargs!r}")
    if isinstance(schedule, str):
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be a callable or one of {', '.join(SCHEDULES)}, "
                             f"got {schedule!r}")
        if schedule in ("optimal", "invscaling") and mode != "full_batch":
            raise ValueError(f"schedule={schedule!r} is stepped per optimizer step: "
                             f"mode='full_batch' only")
        if schedule == "optimal" and not model.alpha > 0:
            raise ValueError(f"schedule='optimal' needs the model's alpha > 0, got "
                             f"{model.alpha}")
    elif not (schedule is None or callable(schedule)):
        raise TypeError(f"schedule must be None, a callable or a name, got {schedule!r}")
    probe = cls([np.zeros(1)], lr=lr, **optimizer_kwargs)  # the optimizer's own checks
    if _closure_driven(probe) and (mode != "full_batch" or clip_norm is not None
                                   or clip_value is not None):
        raise ValueError(f"optimizer {cls.__name__} evaluates the objective itself, several "
                         f"times a step, at points of its choosing: it needs "
                         f"mode='full_batch' (batch_size=None; got mode={mode!r}) and no "
                         f"clipping (got clip_norm={clip_norm!r}, clip_value={clip_value!r})")
    if checkpoint is not None:
        checkpoint = _ckpt.check_writable_path("checkpoint", checkpoint)
    resumed = None if resume is None else _ckpt.load(resume)

    blocks = as_blocks(X, y, sample_weight, target=_target_kind or _target(model.loss),
                       classes=_classes, client=client, block_rows=block_rows)
    d, k = _check_blocks(blocks, model.loss)
    settings = _settings(model, cls, lr, mode, bs, shuffle, schedule, clip_norm,
                         clip_value, tol, n_iter_no_change, local_steps, optimizer_kwargs,
                         blocks, d)
    rng = np.random.default_rng(random_state)
    split_seeds = None
    if early_stopping:
        settings.update(early_stopping=True, validation_fraction=float(validation_fraction))
        split_seeds = _seeds(rng, len(blocks))
        if resumed is not None and resumed.extra.get("split_seeds") is not None:
            split_seeds = [int(v) for v in resumed.extra["split_seeds"]]
        blocks = blocks.derive(_blocks.split_block, float(validation_fraction),
                               seeds=split_seeds)
        _check_split(blocks, validation_fraction)
    if resumed is not None:
        saved = resumed.extra.get("settings")
        if not isinstance(saved, dict) or resumed.extra.get("writer") != "fastgd.dask.fit":
            raise ValueError(f"resume={resume!r} was not written by fastgd.dask.fit")
        for key in list(settings) + ["early_stopping", "validation_fraction"]:
            if saved.get(key) != settings.get(key):
                raise ValueError(f"resume={resume!r}: the saved run has {key}="
                                 f"{saved.get(key)!r}, this one {settings.get(key)!r}")

    before = {a: getattr(model, a, None) for a in ("coef_", "intercept_", "n_classes_")}
    try:
        params = _prepare(model, d, k, blocks.dtype)
        opt: Any = cls(params, lr=lr, **optimizer_kwargs)
        sf = hasattr(opt, "train") and hasattr(opt, "eval")
        if sf:
            opt.train()
        step_sched: Any = None
        epoch_sched: Any = None
        if schedule == "optimal":
            step_sched = _lrs.OptimalLR(opt, alpha=model.alpha)
        elif schedule == "invscaling":
            step_sched = _lrs.InvScalingLR(opt, power_t=0.5 if model.is_classifier else 0.25)
        elif schedule == "adaptive":
            epoch_sched = _lrs.AdaptiveLR(opt, n_iter_no_change=n_iter_no_change, tol=tol)
        elif callable(schedule):
            epoch_sched = schedule(opt)
        history = History(("loss", "grad_norm", "lr", "time")
                          + (("val_loss",) if early_stopping else ()))
        best, no_improve, n_steps, first, elapsed = math.inf, 0, 0, 0, 0.0
        if resumed is not None:
            ex = resumed.extra
            resumed.restore(optimizer=opt)
            for sched, key in ((step_sched, "step_sched"), (epoch_sched, "epoch_sched")):
                if sched is not None and ex.get(key) is not None:
                    sched.load_state_dict(ex[key])
            rng = _ckpt.restore_generator(ex["rng"], rng)
            for row in zip(*(ex["history"][c] for c in history.columns)):
                history.append(**dict(zip(history.columns, row)))
            best, no_improve = float(ex["best"]), int(ex["no_improve"])
            n_steps, first = int(ex["n_steps"]), int(ex["epoch"])
            elapsed = history.time[-1] if len(history) else 0.0
            history.__dict__.update(converged=ex["converged"], stop_reason=ex["stop_reason"])
    except BaseException:
        for attr, val in before.items():
            setattr(model, attr, val)
        raise

    history.__dict__.setdefault("converged", False)
    history.__dict__.setdefault("stop_reason", "epochs")
    history.__dict__.update(n_blocks=len(blocks), n_steps=n_steps)
    kw = dict(penalty=model.penalty, alpha=model.alpha, l1_ratio=model.l1_ratio,
              epsilon=model.epsilon)
    spec = dict(cls=cls, lr=lr, optimizer_kwargs=optimizer_kwargs, loss=model.loss, kw=kw,
                batch_size=bs, shuffle=shuffle, clip_norm=clip_norm,
                clip_value=clip_value, local_steps=int(local_steps))
    metric_sched = isinstance(epoch_sched, (_lrs.ReduceLROnPlateau, _lrs.AdaptiveLR))
    group0 = opt.param_groups[0]
    closure = mode == "full_batch" and _closure_driven(opt)
    sophia = hasattr(opt, "update_hessian") and hasattr(opt, "hessian_due")
    hess_next = bool(resumed.extra.get("hess_next", False)) if resumed is not None else False
    bar = _Progress(epochs, first) if progress else None
    blocks.round_trips = 0
    t0 = time.perf_counter() - elapsed
    done = history.converged and resumed is not None

    def evaluate(hessian: bool = False, validation: bool = False) -> tuple:
        """(loss, weight, grads, hessians, validation loss or NaN): one round trip."""
        icpt = params[1] if len(params) > 1 else None
        parts = blocks.map(_blocks.block_loss_grad, model.loss, params[0], icpt, kw, hessian,
                           validation)
        val = _blocks.combine_validation(parts, 6) if validation else math.nan
        return _blocks.combine(parts, blocks.dtype) + (val,)

    def validation_loss() -> float:
        icpt = params[1] if len(params) > 1 else None
        parts = blocks.map(_blocks.block_val_loss, model.loss, params[0], icpt, kw)
        return _blocks.combine_validation(parts)

    pending: Any = None  # full batch with early stopping: the next epoch's evaluation

    try:
        for epoch in range(first, epochs):
            if done:
                break
            step_lr = group0["lr"]
            if mode == "full_batch" and closure:
                last: list = [math.nan]
                epoch_loss = float(opt.step(_closure(evaluate, last, epoch, lr)))
                gnorm = last[0]
                n_steps += 1
            elif mode == "full_batch":
                if pending is None:
                    pending = evaluate(hess_next)
                epoch_loss, _w, grads, hess, _v = pending
                pending = None
                if not math.isfinite(epoch_loss):
                    raise FloatingPointError(_diverged(epoch, epoch_loss, lr))
                grads = [g for g in grads if g is not None]
                if hess_next:
                    opt.update_hessian([h for h in hess if h is not None])
                    hess_next = False
                gnorm = _norm(grads)
                if clip_norm is not None:
                    clip_grad_norm_(grads, clip_norm)
                if clip_value is not None:
                    clip_grad_value_(grads, clip_value)
                opt.step(grads)
                n_steps += 1
                if step_sched is not None:
                    step_sched.step()
                if sophia and opt.hessian_due():
                    hess_next = True
            elif mode == "sequential":
                epoch_loss, gnorm, steps = _sequential_epoch(blocks, params, opt, spec, rng,
                                                             shuffle)
                n_steps += steps
            else:
                epoch_loss, gnorm = _local_round(blocks, params, opt, spec, rng)
                n_steps += int(local_steps) * len(blocks)
            monitored = epoch_loss
            entry: dict = dict(loss=epoch_loss, grad_norm=gnorm, lr=step_lr)
            if early_stopping:
                if mode == "full_batch" and not closure and epoch + 1 < epochs:
                    pending = evaluate(hess_next, True)
                    monitored = pending[4]
                else:
                    monitored = validation_loss()
                entry["val_loss"] = monitored
            history.append(**entry, time=time.perf_counter() - t0)
            history.__dict__["n_steps"] = n_steps
            stop = None
            if epoch_sched is not None:
                with warnings.catch_warnings():
                    # the mini-batch modes step copies of the optimizer on the workers
                    warnings.filterwarnings("ignore", "Detected call of", UserWarning)
                    epoch_sched.step(monitored) if metric_sched else epoch_sched.step()
                if isinstance(epoch_sched, _lrs.AdaptiveLR) and epoch_sched.should_stop:
                    stop = "adaptive"
            if tol is not None and schedule != "adaptive":
                no_improve = no_improve + 1 if monitored > best - tol else 0
                best = min(best, monitored)
                if no_improve >= n_iter_no_change:
                    stop = stop or "tol"
            if stop is not None:
                history.__dict__.update(converged=True, stop_reason=stop)
            for cb in callbacks:
                if cb(epoch, history, model) and stop is None:
                    stop = "callback"
                    history.__dict__["stop_reason"] = "callback"
            if bar is not None:
                bar.update(epoch_loss)
            if checkpoint is not None and ((epoch + 1) % checkpoint_every == 0
                                           or stop is not None or epoch + 1 == epochs):
                _ckpt.save(checkpoint, optimizer=opt, writer="fastgd.dask.fit",
                           settings=settings, epoch=epoch + 1, best=best,
                           no_improve=no_improve, n_steps=n_steps, hess_next=hess_next,
                           split_seeds=split_seeds,
                           rng=_ckpt.generator_state(rng), history=history.as_dict(),
                           converged=bool(history.converged),
                           stop_reason=history.stop_reason,
                           step_sched=None if step_sched is None else
                           _ckpt.scheduler_state(step_sched),
                           epoch_sched=None if epoch_sched is None else
                           _ckpt.scheduler_state(epoch_sched))
            if stop is not None:
                break
        else:
            if tol is not None and not history.converged:
                warnings.warn(f"fastgd.dask.fit: {epochs} epochs ran out before tol was "
                              f"met; raise epochs or check the learning rate",
                              ConvergenceWarning, stacklevel=2)
    finally:
        if bar is not None:
            bar.close()
    if sf:
        opt.eval()
    history.__dict__["round_trips"] = blocks.round_trips
    model.history_ = history
    return history


def _closure(evaluate: Any, last: list, epoch: int, lr: float) -> Any:
    """The closure a closure-driven optimizer calls: one evaluation (one round trip) at
    the current parameters, ``(loss, grads)``; the gradient's 2-norm goes to ``last``."""
    def closure() -> tuple:
        loss, _w, grads, _h, _v = evaluate()
        if not math.isfinite(loss):
            raise FloatingPointError(_diverged(epoch, loss, lr))
        last[0] = _norm(grads)
        return loss, [g for g in grads if g is not None]
    return closure


def _diverged(epoch: int, loss: float, lr: float) -> str:
    return (f"fastgd.dask.fit: the loss became {loss} at epoch {epoch}: training diverged. "
            f"Scale the data or lower the learning rate (lr={lr}); the model was left at "
            f"the last parameters with a finite loss")


def _seeds(rng: np.random.Generator, n: int) -> list:
    return [int(s) for s in rng.integers(0, 2**63 - 1, size=n, dtype=np.int64)]


def _sequential_epoch(blocks: Blocks, params: list, opt: Any, spec: dict,
                      rng: np.random.Generator, shuffle: bool) -> tuple:
    """One chain over the blocks (seeded order); the driver's parameters and optimizer
    then hold where it ended. Returns (epoch loss, last gradient norm (NaN), steps)."""
    nb = len(blocks)
    order = [int(b) for b in (rng.permutation(nb) if shuffle else range(nb))]
    seeds = _seeds(rng, nb) if shuffle else [None] * nb
    spec = dict(spec, lr=opt.param_groups[0]["lr"])
    state = ([p.copy() for p in params], opt.state_dict(), 0.0, 0.0, 0)
    new, opt_state, total, wsum, steps = blocks.chain(_blocks.sequential_block, state,
                                                      order, spec, seeds)
    if not math.isfinite(total):
        raise FloatingPointError(_diverged(-1, total, spec["lr"]))
    if opt_state is not None:
        opt.load_state_dict(opt_state)
    for p, q in zip(params, new):
        np.copyto(p, q)
    return total / wsum, math.nan, steps


def _local_round(blocks: Blocks, params: list, opt: Any, spec: dict,
                 rng: np.random.Generator) -> tuple:
    """One local-SGD round: local steps on every block, then the weighted average of the
    blocks' parameters (folded in block order). Returns (mean local loss, the 2-norm of
    the parameters' change)."""
    spec = dict(spec, lr=opt.param_groups[0]["lr"])
    seeds = _seeds(rng, len(blocks))
    parts = blocks.map(_blocks.local_block, [p.copy() for p in params], spec, seeds=seeds)
    total = sum(p[0] for p in parts)
    acc: list = [None] * len(params)
    loss = 0.0
    for wb, ps, lb in parts:
        if wb == 0.0:
            continue
        f = wb / total
        loss += f * lb
        for j, q in enumerate(ps):
            t = q.astype(np.float64) * f
            acc[j] = t if acc[j] is None else acc[j] + t
    change = _norm([a - p for a, p in zip(acc, params)])
    for p, a in zip(params, acc):
        np.copyto(p, a.astype(p.dtype))
    return loss, change
