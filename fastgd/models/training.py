r"""Training linear models by gradient descent: :func:`fit` and the model classes.

.. code-block:: python

    import numpy as np, fastgd
    X = np.random.default_rng(0).standard_normal((1000, 5)); y = X @ np.arange(5.0) + 1
    model = fastgd.LinearRegression().fit(X, y, optimizer="adam", lr=0.05, epochs=50,
                                          batch_size=32, random_state=0)
    model.coef_, model.intercept_, model.score(X, y), model.history_.loss[-1]

**The loop.** :func:`fit` minimises the model's objective (:func:`fastgd.models.loss_grad`:
the weighted mean loss over the batch plus the penalty on ``coef``) with one of fastgd's
optimizers, updating ``model.coef_`` and ``model.intercept_`` in place:

- ``batch_size=None``: batch gradient descent, one step per epoch on all (training) rows;
  ``batch_size=1``: stochastic gradient descent; otherwise mini-batches of
  ``batch_size`` rows (the last one of an epoch is smaller when ``batch_size`` does not
  divide the number of rows; a ``batch_size`` above it is one full batch). L-BFGS (a
  closure-driven optimizer) needs the full batch and no clipping: an epoch is one
  ``opt.step(closure)``, which evaluates ``loss_grad`` on the same rows as often as it needs.
- **Random numbers, exactly.** One generator ``rng = np.random.default_rng(random_state)``
  for the run. With ``early_stopping=True`` its first call is ``perm = rng.permutation(n)``:
  the validation rows are ``np.sort(perm[:n_val])``, ``n_val = ceil(validation_fraction * n)``
  (scikit-learn's ``train_test_split`` size), the training rows ``np.sort(perm[n_val:])``;
  otherwise the training rows are ``np.arange(n)``. Then at the start of every epoch, with
  ``shuffle=True``, ``order = train_rows[rng.permutation(n_train)]`` (``shuffle=False``:
  ``order = train_rows``, no call). Batch ``j`` is ``order[j * batch_size:(j + 1) *
  batch_size]`` (int64 indices passed as ``rows=``: X is never copied).
- Batches whose sample weights are all zero are skipped: no loss, no step.
- **Fused epochs.** On the compiled backend (one parameter group, no ``record_steps``),
  the batches of an epoch go to ``fastgd.backends._models.fused_batches``: native calls that each
  run up to 1024 batches -- loss kernel, clipping, Sophia's Hessian refresh, optimizer
  kernels -- without returning to Python, for any optimizer of the registry. What
  ``opt.step`` would call at each of those steps (kernels, state buffers, scalars such as
  bias corrections, flags) is planned beforehand by the optimizer's own code, and the
  state it commits (step counts, NAdam's ``mu_product``, ASGD's ``eta``/``mu``, the
  schedule-free weights, the per-step scheduler's learning rate) is committed as
  ``opt.step`` and the scheduler would; a native call that stops early (a batch of zero
  weight, a non-finite loss, a failed batch) rolls that back to the steps it took. The bits
  are those of the loop below (tested for every optimizer). A step that makes state
  buffers (an optimizer's first) runs in Python. ``fastgd.models.training.FUSED = False``
  turns fused epochs off.
- Per batch, in order: ``loss_grad`` (into two gradient buffers reused by the whole run);
  with ``clip_norm``, :func:`fastgd.clip_grad_norm_` (``max_norm=clip_norm``, 2-norm over
  ``[grad_coef, grad_intercept]``), then with ``clip_value``
  :func:`fastgd.clip_grad_value_`; ``opt.step([grad_coef, grad_intercept])`` (the
  optimizer was built as ``cls([coef_, intercept_], lr=lr, **optimizer_kwargs)``; without
  an intercept only ``[coef_]``); then the per-step scheduler (``"optimal"``,
  ``"invscaling"``), if any.
- **Sophia** (any optimizer with ``update_hessian`` and ``hessian_due``): after a step for
  which ``opt.hessian_due()`` is True, the next ``loss_grad`` call also asks for the exact
  Hessian diagonal (``hessian=True``, on that next batch, at the same parameters the step
  produced) and passes it to ``opt.update_hessian([hess_coef, hess_intercept])`` before
  that batch's step. (The official loop takes a fresh batch at the same point: this reuses
  the next batch's evaluation instead of a second call.)
- **Schedule-free optimizers** (``train``/``eval`` methods): the run calls ``opt.train()``
  first and ``opt.eval()`` at the end, so the model ends at the averaged point x; the
  losses recorded during the run are those at y, where the gradients are taken.

**Schedules.** ``schedule`` is a callable ``opt -> scheduler`` (any of
:mod:`fastgd.lr_scheduler`), stepped once per epoch after the epoch's steps:
``ReduceLROnPlateau`` and ``AdaptiveLR`` are given the epoch's monitored loss (the
validation loss with ``early_stopping=True``, else the training loss). Or one of
scikit-learn's names: ``"constant"`` (none), ``"optimal"`` (``OptimalLR(opt,
alpha=model.alpha)``; needs ``alpha > 0``), ``"invscaling"`` (``InvScalingLR(opt,
power_t)``, ``power_t`` 0.25 for regression losses as ``SGDRegressor``, 0.5 for
classification as ``SGDClassifier``) -- these two are stepped **once per optimizer
step** (scikit-learn counts updates, not epochs) -- and ``"adaptive"`` (``AdaptiveLR(opt,
n_iter_no_change=n_iter_no_change, tol=tol)``, per epoch: the learning rate is divided by
5 after ``n_iter_no_change`` epochs without improvement, and the run stops when it would
go below 1e-6, as scikit-learn's ``learning_rate='adaptive'``; ``tol``'s own stopping rule
is then replaced by it).

**Convergence** (``epochs`` is scikit-learn's ``max_iter``):

- ``tol``: scikit-learn's rule. With ``L_e`` the epoch's loss (the training loss below, or
  the validation loss with ``early_stopping=True``) and ``best`` the smallest of the
  earlier epochs', an epoch with ``L_e > best - tol`` counts as "no improvement" (any
  other epoch resets the count); the run stops after ``n_iter_no_change`` such epochs in a
  row. ``history.converged`` tells whether it stopped so.
- ``gtol``: after each epoch the gradient of the objective on all the training rows is
  computed (one more ``loss_grad`` call; recorded as ``full_grad_norm``); the run stops
  when its 2-norm is ``<= gtol``.
- When the epochs run out with ``tol`` or ``gtol`` given and not met (and no callback
  stopped the run), a :class:`ConvergenceWarning` is issued.
- **Divergence**: a non-finite batch loss raises :class:`FloatingPointError` (naming the
  epoch and step, and suggesting to scale the data or lower the learning rate). The model
  is left at the last parameters at which a batch loss was finite (the parameters before
  the step that led to the bad ones; a copy of them is kept at every step); the optimizer's
  state is not rolled back.

**History.** One row per epoch: ``loss`` (the epoch's training loss: the mean of its
batch losses weighted by each batch's row count, or its total sample weight with
``sample_weight``; each batch loss taken before that batch's step, penalty included, as
scikit-learn's epoch loss), ``grad_norm`` (the 2-norm of the **last batch's** gradient
of the epoch, before clipping), ``lr`` (the first group's learning rate used for the
epoch's last step, before the epoch's scheduler step), ``time`` (seconds since the start),
plus ``val_loss`` with ``early_stopping=True`` and ``full_grad_norm`` with ``gtol``.
With ``record_steps=True``, ``history.steps`` is a History with one row per step:
``epoch``, ``loss``, ``grad_norm`` (before clipping), ``lr`` (of that step). Also
``history.converged`` (bool), ``history.stop_reason`` (``"tol"``, ``"gtol"``,
``"adaptive"``, ``"callback"``, ``"epochs"``) and ``history.n_steps``.

**Callbacks**: ``cb(epoch, history, model)`` after each epoch (``epoch`` from 0, after the
row is recorded and the convergence checks made); returning True stops the run.

**Checkpoints.** With ``checkpoint=path``, the end of every epoch (after the callbacks)
writes the run's state to ``path`` with :func:`fastgd.save` (atomically: a crash leaves the
previous epoch's file): the model's parameters, the optimizer's state, the schedulers'
``state_dict()``, the generator's ``bit_generator.state``, the number of epochs done, the
convergence counters (best loss, epochs without improvement), the step count, whether a
Hessian refresh is due (Sophia), the copy of the parameters kept for divergence, the
validation rows and the history so far. ``resume=path`` continues such a run: with the
same model settings, data and arguments (``epochs``, ``random_state``, ``callbacks`` and
``checkpoint`` may differ; anything else is refused with a ValueError naming it, as is a
damaged file or one not written by ``fit``, before the model changes), the parameters,
optimizer, schedulers (built by ``schedule`` again, then loaded), generator, counters and
history are restored and the epochs after the saved ones run, up to ``epochs`` in all. So
``fit(..., epochs=E)`` and ``fit(..., epochs=k, checkpoint=p)`` followed by
``fit(..., epochs=E, resume=p)`` give the same bits (parameters, optimizer state,
history but its ``time``). The resumed run's generator is ``random_state`` when that is a
Generator (set to the saved state), else a new one at the saved state. A run stopped by a
convergence rule (``history.converged``) resumes to nothing more; one stopped by a
callback goes on. The ``time`` column continues from the saved run's last value.
"""

from __future__ import annotations

import math
import time
import warnings
from numbers import Integral
from typing import Any

import numpy as np

from fastgd import lr_scheduler as _lrs
from fastgd.history import History
from fastgd.io import checkpoint as _ckpt
from fastgd.io import fit_resume as _resume
from fastgd.models import losses as _models
from fastgd.models import sparse as _sparse
from fastgd.models import sparse_training as _sparse_training
from fastgd.models._fused import _Fused, _norm
from fastgd.models.clip import clip_grad_norm_, clip_grad_value_
from fastgd.models.linear import LinearModel
from fastgd.models.params import (
    SCHEDULES,
    _check_finite,
    _check_sample_weight,
    _check_X,
    _check_y,
    check,
)
from fastgd.optim.registry import lookup

__all__ = ["ConvergenceWarning", "fit", "FUSED"]

#: Run the batches of an epoch in one native call where possible (set False to compare).
FUSED = True


class ConvergenceWarning(UserWarning):
    """:func:`fit` ran out of epochs before ``tol`` or ``gtol`` was met.

    Example::

        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("error", fastgd.ConvergenceWarning)   # make it an error
    """


def _diverged(epoch, batch, n_steps, lr, loss) -> FloatingPointError:
    return FloatingPointError(
        f"fit: the loss became {loss} at epoch {epoch}, batch {batch} (step {n_steps + 1}): "
        f"training diverged. Scale the data (e.g. standardise the features) or lower the "
        f"learning rate (lr={lr}); the model was left at the last parameters with a finite "
        f"batch loss")


def _closure(first_loss: float, grads: list, evaluate: Any) -> Any:
    """The closure of an L-BFGS step: the evaluation already made at the current
    parameters first, then ``evaluate()`` (the loss; the gradients land in ``grads``)."""
    calls = []

    def closure() -> tuple[float, list]:
        calls.append(1)
        return (first_loss if len(calls) == 1 else evaluate()), grads

    return closure


def _batch_weight(w, rows) -> float:
    """The sum of a batch's sample weights in float64, added in row order."""
    return float(np.cumsum(w[rows], dtype=np.float64)[-1])


def fit(model: LinearModel, X, y, *, optimizer: Any = "sgd", lr: float = 0.01,
        batch_size: int | None = 32, epochs: int = 10, shuffle: bool = True,
        random_state: Any = None, sample_weight=None, schedule: Any = None,
        clip_norm: float | None = None, clip_value: float | None = None,
        tol: float | None = None, n_iter_no_change: int = 5, gtol: float | None = None,
        early_stopping: bool = False, validation_fraction: float = 0.1,
        callbacks: Any = (), record_steps: bool = False,
        optimizer_kwargs: dict | None = None, checkpoint: Any = None,
        resume: Any = None, lazy: bool = False, _stream: Any = None) -> History:
    r"""Train ``model`` (a :class:`LinearModel`) in place on (X, y) by (mini-)batch
    gradient descent; return the run's :class:`fastgd.History`.

    The loop, the generator's calls, the schedules, the stopping rules and the history's
    columns are described exactly in :mod:`fastgd.models.training`.

    Args:
        model: a :class:`LinearModel` (or subclass); its ``coef_``/``intercept_`` are
            created (zeros) or continued (warm start) and updated in place.
        X: ``(n_samples, n_features)`` float32/float64 (integers become float64); not
            copied. Or sparse (any ``scipy.sparse`` format, or a
            :class:`fastgd.models.sparse.CSR`): checked once, never densified, the same
            training as on ``X.toarray()`` (the guide's "Sparse data" page).
        y: targets (X's dtype), 0/1 labels (log_loss, hinge: or -1/1), int labels 0..k-1
            (softmax).
        optimizer: a registry name (any case) or an optimizer class.
        lr: the learning rate given to the optimizer (> 0).
        batch_size: rows per step (>= 1), or None for the whole training set.
        epochs: the most passes over the data (>= 1; scikit-learn's ``max_iter``).
        shuffle: a new permutation of the training rows every epoch.
        random_state: seed for ``np.random.default_rng`` (None, int, SeedSequence or a
            Generator, which is then used and advanced).
        sample_weight: ``(n_samples,)`` weights >= 0.
        schedule: None, a callable ``opt -> scheduler``, or ``"constant"``,
            ``"optimal"``, ``"invscaling"``, ``"adaptive"``.
        clip_norm: clip the gradient's 2-norm to this (> 0) before each step.
        clip_value: clip each gradient entry to ``[-clip_value, clip_value]`` (> 0).
        tol: scikit-learn's improvement tolerance (>= 0) or None.
        n_iter_no_change: epochs without improvement before stopping (>= 1).
        gtol: stop when the full training gradient's 2-norm is <= gtol (>= 0), or None.
        early_stopping: monitor the loss on ``validation_fraction`` of the rows held out.
        validation_fraction: in (0, 1).
        callbacks: callables ``cb(epoch, history, model)``; True from one stops the run.
        record_steps: also record one row per step in ``history.steps``.
        optimizer_kwargs: more arguments for the optimizer's constructor.
        checkpoint: a file (str or path-like, in an existing directory) to which the
            run's state is written, atomically, at the end of every epoch (after the
            callbacks): see "Checkpoints" in :mod:`fastgd.models.training`.
        resume: a file written by ``checkpoint=``: the run continues from it, with the
            bits of the uninterrupted run; ``epochs`` counts the epochs of the whole run.
        lazy: sparse X: also take the inexact O(nnz) loops (SparseAdam, the cumulative
            L1 penalty); see :mod:`fastgd.models.sparse_training`.
        _stream: a :class:`fastgd.models.stream.PartialFit` whose optimizer, schedulers,
            step count and epoch this call continues (its own argument; see there).

    Raises:
        TypeError, ValueError: an invalid argument (named with its value), or a
            ``resume`` file that is damaged, not written by ``fit`` or written by a run
            with other settings, before the model changes.
        FloatingPointError: a non-finite batch loss (the model keeps the last parameters
            with a finite batch loss).

    Warns:
        ConvergenceWarning: ``tol`` or ``gtol`` given and unmet when the epochs run out.

    Each step is the optimizer's update on the batch gradient of the objective
    :math:`\frac{1}{\sum_i s_i}\sum_{i \in B} s_i\,\ell(x_i^T w + b, y_i) +
    \alpha\,(\rho\|w\|_1 + \tfrac{1-\rho}{2}\|w\|_2^2)` (``s`` the sample weights,
    :math:`\rho` = ``l1_ratio``).

    Example::

        X = np.random.default_rng(0).standard_normal((1000, 5)); y = X @ np.arange(5.0) + 1
        model = fastgd.LinearRegression()
        history = fastgd.fit(model, X, y, optimizer="adam", lr=0.05, batch_size=32,
                             epochs=30, random_state=0, tol=1e-6)
        history.loss[-1], history.stop_reason, model.coef_, model.intercept_
    """
    # validate everything before the model changes
    if not isinstance(model, LinearModel):
        raise TypeError(f"model must be a fastgd.LinearModel, got {type(model).__name__}")
    model._check_settings()
    cls = lookup(optimizer)
    # Muon, SparseAdam: not rules for dense 1-D steps (L-BFGS's closure steps are, below)
    if not cls.spec.kernel_table and not cls.spec.closure:
        what = cls.spec.summary.rstrip(".")
        raise ValueError(f"fit does not train with {cls.spec.name} ({what}): it steps "
                         f"coef_ and intercept_ with dense gradients; run "
                         f"{cls.spec.name}'s steps in a loop of your own, or minimize()")
    lr = check("lr", lr)
    batch_size = check("batch_size", batch_size)
    epochs = check("epochs", epochs)
    shuffle = check("shuffle", shuffle)
    if not (random_state is None or isinstance(random_state, (Integral, np.random.Generator,
                                                               np.random.SeedSequence))) \
            or isinstance(random_state, (bool, np.bool_)):
        raise TypeError(f"random_state must be None, an int, a SeedSequence or a "
                        f"numpy Generator, got {random_state!r}")
    if isinstance(random_state, Integral):
        check("random_state", random_state)
    clip_norm = check("clip_norm", clip_norm)
    clip_value = check("clip_value", clip_value)
    tol = check("tol", tol)
    n_iter_no_change = check("n_iter_no_change", n_iter_no_change)
    gtol = check("gtol", gtol)
    early_stopping = check("early_stopping", early_stopping)
    validation_fraction = check("validation_fraction", validation_fraction)
    if callable(callbacks):
        callbacks = (callbacks,)
    try:
        callbacks = tuple(callbacks)
    except TypeError:
        raise TypeError(f"callbacks must be an iterable of callables, got "
                        f"{callbacks!r}") from None
    for cb in callbacks:
        if not callable(cb):
            raise TypeError(f"callbacks must be callables, got {cb!r}")
    record_steps = check("record_steps", record_steps)
    if optimizer_kwargs is None:
        optimizer_kwargs = {}
    if not isinstance(optimizer_kwargs, dict):
        raise TypeError(f"optimizer_kwargs must be a dict or None, got {optimizer_kwargs!r}")
    if "lr" in optimizer_kwargs:
        raise ValueError("optimizer_kwargs must not contain 'lr' (pass lr=)")
    if isinstance(schedule, str):
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be a callable or one of "
                             f"{', '.join(SCHEDULES)}, got {schedule!r}")
        if schedule == "optimal" and not model.alpha > 0:
            raise ValueError(f"schedule='optimal' needs the model's alpha > 0, got "
                             f"{model.alpha}")
    elif not (schedule is None or callable(schedule)):
        raise TypeError(f"schedule must be None, a callable opt -> scheduler or a name, "
                        f"got {schedule!r}")

    if not isinstance(lazy, (bool, np.bool_)):
        raise TypeError(f"lazy must be True or False, got {lazy!r}")
    if (_stream is None or not _stream._chunk) and (
            _sparse.is_sparse(X) or isinstance(X, _sparse.CSR)):
        # the O(nnz) loops of fastgd.models.sparse_training, where one applies (also for
        # PartialFit.fit_epochs, whose run then has no optimizer for partial_fit to carry)
        history = _sparse_training.try_fit(
            model, X, y, cls, lazy=bool(lazy), lr=lr, batch_size=batch_size, epochs=epochs,
            shuffle=shuffle, random_state=random_state, sample_weight=sample_weight,
            schedule=schedule, clip_norm=clip_norm, clip_value=clip_value, tol=tol,
            n_iter_no_change=n_iter_no_change, gtol=gtol, early_stopping=early_stopping,
            record_steps=record_steps, checkpoint=checkpoint, resume=resume,
            callbacks=callbacks, optimizer_kwargs=optimizer_kwargs)
        if history is not None:
            return history

    X = _check_X(X)
    y = _check_y(model.loss, X, y)
    _check_finite(X, y)
    w = _check_sample_weight(sample_weight, X)
    n = X.shape[0]
    loss, kw = model.loss, model._kwargs()
    if loss in ("log_loss", "hinge"):
        bad = ~((y == 0) | (y == 1) | ((y == -1) if loss == "hinge" else (y > 0) & (y < 1)))
        if np.any(bad):
            raise ValueError(f"y for {loss} must be 0/1 labels"
                             f"{' (or -1/1)' if loss == 'hinge' else ' (or in [0, 1])'}, "
                             f"got {y[np.argmax(bad)]!r}")
    if early_stopping:
        n_val = math.ceil(validation_fraction * n)
        if n_val >= n:
            raise ValueError(f"validation_fraction={validation_fraction} leaves no training "
                             f"rows of {n}")
    # A trial model for the optimizer's own validation of its arguments.
    probe = [np.zeros(1, dtype=X.dtype)]
    cls(probe, lr=lr, **optimizer_kwargs)
    settings = _resume.run_settings(model, X, w, cls, lr, batch_size, shuffle, schedule,
                                    clip_norm, clip_value, tol, n_iter_no_change, gtol,
                                    early_stopping, validation_fraction, record_steps,
                                    optimizer_kwargs)
    if checkpoint is not None:
        checkpoint = _ckpt.check_writable_path("checkpoint", checkpoint)
        _ckpt.check_saveable(optimizer_kwargs, "optimizer_kwargs")
    resumed = None
    if resume is not None:
        resumed = _resume.FitResume.read(resume, settings, epochs, random_state)

    rng = (random_state if isinstance(random_state, np.random.Generator)
           else np.random.default_rng(random_state))  # type: ignore[arg-type]
    if resumed is not None:  # the split of the run resumed (its generator is past it)
        val_rows, train_rows = resumed.rows(n)
    elif early_stopping:
        perm = rng.permutation(n)
        val_rows = np.sort(perm[:n_val]).astype(np.int64)
        train_rows = np.sort(perm[n_val:]).astype(np.int64)
    else:
        val_rows = None
        train_rows = np.arange(n, dtype=np.int64)
    n_train = train_rows.shape[0]
    identity_rows = n_train == n and bool(np.all(train_rows == np.arange(n)))
    if w is not None:
        if not np.any(w[train_rows] > 0):
            raise ValueError("sample_weight is zero for every training row: there is "
                             "nothing to fit")
        if early_stopping and not np.any(w[val_rows] > 0):
            raise ValueError("sample_weight is zero for every validation row "
                             "(early_stopping): the validation loss is undefined")
    bs = n_train if batch_size is None else min(batch_size, n_train)
    if cls.spec.closure and (bs < n_train or clip_norm is not None or clip_value is not None):
        raise ValueError(f"optimizer {cls.spec.name} evaluates the loss itself, several times "
                         f"a step, on the same rows: it needs the full batch "
                         f"(batch_size=None; got {batch_size}) and no clipping")

    # the model's parameters and the optimizer: an error while setting them up (a
    # schedule that fails, ...) leaves the model as it was
    saved = {k: getattr(model, k, None) for k in ("coef_", "intercept_", "n_classes_")}
    try:
        model._prepare(X, y)
        coef, intercept = model._fitted(), model.intercept_
        params = [coef] if intercept is None else [coef, intercept]
        opt: Any
        if _stream is not None and _stream.optimizer is not None:  # continue its run
            opt, step_sched, epoch_sched = _stream._continued(params)
        else:
            opt = cls(params, lr=lr, **optimizer_kwargs)  # Sophia's methods too
            step_sched, epoch_sched = _schedulers(schedule, opt, model, n_iter_no_change, tol)
        if hasattr(opt, "train") and hasattr(opt, "eval"):
            opt.train()
        sophia = hasattr(opt, "update_hessian") and hasattr(opt, "hessian_due")
        if checkpoint is not None:
            for sched in (step_sched, epoch_sched):
                if sched is not None:
                    _ckpt.check_saveable(_ckpt.scheduler_state(sched), "the scheduler's state")
        if resumed is not None:  # checks everything, then restores (params last)
            resumed.restore(opt, params, step_sched, epoch_sched)
    except BaseException:
        for k, v in saved.items():
            setattr(model, k, v)
        raise
    metric_sched = isinstance(epoch_sched, (_lrs.ReduceLROnPlateau, _lrs.AdaptiveLR))

    gc = np.empty_like(coef)
    gi = None if intercept is None else np.empty_like(intercept)
    grads = [gc] if gi is None else [gc, gi]
    backup = [p.copy() for p in params] if resumed is None else resumed.backup()
    hess_next = False
    fused = _Fused(opt, model, X, params, grads, clip_norm=clip_norm, clip_value=clip_value,
                   step_sched=step_sched, sophia=sophia, record_steps=record_steps,
                   enabled=FUSED and not cls.spec.closure)
    group0 = opt.param_groups[0]

    columns = ["loss", "grad_norm", "lr", "time"]
    if early_stopping:
        columns.append("val_loss")
    if gtol is not None:
        columns.append("full_grad_norm")
    history = History(tuple(columns))
    steps: Any = History(("epoch", "loss", "grad_norm", "lr")) if record_steps else None
    history.__dict__["steps"] = steps
    history.__dict__.update(converged=False, stop_reason="epochs", n_steps=0)

    best, no_improve = math.inf, 0
    t0 = time.perf_counter()
    n_steps = 0
    first_epoch = 0
    if resumed is not None:
        (first_epoch, best, no_improve, n_steps, hess_next,
         elapsed) = resumed.continue_run(history, steps, epochs)
        t0 -= elapsed
        rng = resumed.generator(rng)
    if _stream is not None:
        _stream._started(opt, step_sched, epoch_sched)
        n_steps, hess_next = _stream.n_steps, _stream.hess_next
        if _stream._chunk:  # one pass over the rows; the stream ends its epochs
            first_epoch, epochs = _stream.epoch, _stream.epoch + 1
    for epoch in range(first_epoch, epochs):
        if not shuffle:
            order = train_rows
        elif identity_rows:  # train_rows[perm] is perm
            order = rng.permutation(n_train).astype(np.int64, copy=False)
        else:
            order = train_rows[rng.permutation(n_train)]
        total = weight_sum = 0.0
        gnorm = math.nan
        if _stream is not None and _stream._chunk:
            total, weight_sum, gnorm, step_lr = _stream._totals
        n_batches = (n_train + bs - 1) // bs
        j = -1
        while j + 1 < n_batches:
            j += 1
            if fused.ok:
                while j < n_batches:
                    done, total, weight_sum, status, nonfinite, last_lr, last_norm, \
                        hess_next = fused.run(X, y, w, order, j, n_batches - j, bs, backup,
                                              total, weight_sum, hess_next)
                    n_steps += done
                    j += done
                    if last_lr is not None:
                        step_lr = last_lr
                    if not math.isnan(last_norm):
                        gnorm = last_norm
                    if nonfinite is not None:
                        raise _diverged(epoch, j, n_steps, lr, nonfinite)
                    if not done or status:
                        break  # batch j needs the Python path (no weight, or an error)
                if j >= n_batches:
                    break
            rows = order[j * bs:(j + 1) * bs]
            bw = float(rows.shape[0]) if w is None else _batch_weight(w, rows)
            if bw == 0.0:  # every weight of the batch is zero: it has no loss to follow
                continue
            if hess_next:
                res = _models.loss_grad(loss, X, y, coef, intercept, sample_weight=w,
                                        rows=rows, grad_coef=gc, grad_intercept=gi,
                                        hessian=True, **kw)
                opt.update_hessian([res.hess_coef] if gi is None
                                   else [res.hess_coef, res.hess_intercept])
                hess_next = False
            else:
                res = _models.loss_grad(loss, X, y, coef, intercept, sample_weight=w,
                                        rows=rows, grad_coef=gc, grad_intercept=gi, **kw)
            bl = res.loss
            if not math.isfinite(bl):
                for p, b in zip(params, backup):
                    np.copyto(p, b)
                raise _diverged(epoch, j, n_steps, lr, bl)
            total += bl * bw
            weight_sum += bw
            last = j == n_batches - 1
            if last or record_steps:
                sn = _norm(gc, gi)
                if last:
                    gnorm = sn
            if clip_norm is not None:
                clip_grad_norm_(grads, clip_norm)
            if clip_value is not None:
                clip_grad_value_(grads, clip_value)
            if record_steps:
                steps.append(epoch=epoch, loss=bl, grad_norm=sn, lr=group0["lr"])
            step_lr = group0["lr"]
            for p, b in zip(params, backup):
                np.copyto(b, p)
            if cls.spec.closure:  # its first evaluation is this one, then its own
                opt.step(_closure(bl, grads, lambda rows=rows: _models.loss_grad(
                    loss, X, y, coef, intercept, sample_weight=w, rows=rows, grad_coef=gc,
                    grad_intercept=gi, **kw).loss))
            else:
                opt.step(grads)
            n_steps += 1
            if step_sched is not None:
                step_sched.step()
            if sophia and opt.hessian_due():
                hess_next = True
        if _stream is not None and _stream._chunk:
            _stream._totals = (total, weight_sum, gnorm, step_lr)
            break
        epoch_loss = total / weight_sum
        row = dict(loss=epoch_loss, grad_norm=gnorm, lr=step_lr,
                   time=time.perf_counter() - t0)
        monitored = epoch_loss
        if early_stopping:
            monitored = _models.loss_value(loss, X, y, coef, intercept, sample_weight=w,
                                           rows=val_rows, **kw)
            row["val_loss"] = monitored
        full_norm = math.inf
        if gtol is not None:
            full = _models.loss_grad(loss, X, y, coef, intercept, sample_weight=w,
                                     rows=train_rows, **kw)
            full_norm = _norm(full.grad_coef, full.grad_intercept)
            row["full_grad_norm"] = full_norm
        history.append(**row)
        history.__dict__["n_steps"] = n_steps

        stop = None
        if epoch_sched is not None:
            if metric_sched:
                epoch_sched.step(monitored)
            else:
                epoch_sched.step()
            if isinstance(epoch_sched, _lrs.AdaptiveLR) and epoch_sched.should_stop:
                stop = "adaptive"
        if tol is not None and not (isinstance(schedule, str) and schedule == "adaptive"):
            if monitored > best - tol:
                no_improve += 1
            else:
                no_improve = 0
            if monitored < best:
                best = monitored
            if no_improve >= n_iter_no_change:
                stop = stop or "tol"
        if gtol is not None and full_norm <= gtol:
            stop = "gtol"
        if stop is not None:
            history.__dict__.update(converged=True, stop_reason=stop)
        for cb in callbacks:
            if cb(epoch, history, model) and stop is None:
                stop = "callback"
                history.__dict__["stop_reason"] = "callback"
        if checkpoint is not None:
            _resume.save_fit(checkpoint, opt, params, settings=settings, epoch=epoch + 1,
                           history=history, best=best, no_improve=no_improve,
                           n_steps=n_steps, hess_next=hess_next, rng=rng,
                           val_rows=val_rows, backup=backup, step_sched=step_sched,
                           epoch_sched=epoch_sched)
        if stop is not None:
            break
    else:
        if (tol is not None or gtol is not None) and not history.converged:
            warnings.warn(f"fit: {epochs} epochs ran out before "
                          f"{'tol' if gtol is None else 'gtol'} was met; raise epochs or "
                          f"check the learning rate", ConvergenceWarning, stacklevel=2)
    if hasattr(opt, "train") and hasattr(opt, "eval"):
        opt.eval()
    if _stream is not None:
        _stream._ran(n_steps, hess_next, len(history))
    history.__dict__["n_steps"] = n_steps
    return history


def _schedulers(schedule, opt, model, n_iter_no_change, tol) -> tuple[Any, Any]:
    """The run's (per-step, per-epoch) schedulers for ``schedule`` (either may be None)."""
    step_sched: Any = None
    epoch_sched: Any = None
    if isinstance(schedule, str):
        if schedule == "optimal":
            step_sched = _lrs.OptimalLR(opt, alpha=model.alpha)
        elif schedule == "invscaling":
            step_sched = _lrs.InvScalingLR(opt, power_t=0.5 if model.is_classifier else 0.25)
        elif schedule == "adaptive":
            epoch_sched = _lrs.AdaptiveLR(opt, n_iter_no_change=n_iter_no_change, tol=tol)
    elif schedule is not None:
        epoch_sched = schedule(opt)
        if not hasattr(epoch_sched, "step"):
            raise TypeError(f"schedule(opt) must return a scheduler, got {epoch_sched!r}")
    return step_sched, epoch_sched
