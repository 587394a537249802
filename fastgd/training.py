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
  divide the number of rows; a ``batch_size`` above it is one full batch).
- **Random numbers, exactly.** One generator ``rng = np.random.default_rng(random_state)``
  for the run. With ``early_stopping=True`` its first call is ``perm = rng.permutation(n)``:
  the validation rows are ``np.sort(perm[:n_val])``, ``n_val = ceil(validation_fraction * n)``
  (scikit-learn's ``train_test_split`` size), the training rows ``np.sort(perm[n_val:])``;
  otherwise the training rows are ``np.arange(n)``. Then at the start of every epoch, with
  ``shuffle=True``, ``order = train_rows[rng.permutation(n_train)]`` (``shuffle=False``:
  ``order = train_rows``, no call). Batch ``j`` is ``order[j * batch_size:(j + 1) *
  batch_size]`` (int64 indices passed as ``rows=``: X is never copied).
- Batches whose sample weights are all zero are skipped: no loss, no step.
- On the compiled backend, with SGD or Adam/AdamW (torch's form) and nothing to do in
  Python between batches (no clipping, per-step schedule, Sophia or ``record_steps``), the
  batches of an epoch after the run's first step go to ``fastgd._models.fused_batches``:
  one native call that runs the same kernels in the same order, so the bits are those of
  the loop below (tested); the optimizer's state (its ``step`` count included) is updated
  as ``opt.step`` would. ``fastgd.training.FUSED = False`` turns it off.
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
"""

from __future__ import annotations

import math
import time
import warnings
from numbers import Integral, Real
from typing import Any, Callable

import numpy as np

from fastgd import lr_scheduler as _lrs
from fastgd import models as _models
from fastgd.clip import clip_grad_norm_, clip_grad_value_
from fastgd.history import History

__all__ = ["ConvergenceWarning", "fit", "LinearModel", "LinearRegression",
           "LogisticRegression", "SoftmaxRegression"]

_CLASSIFICATION = ("log_loss", "hinge", "softmax_cross_entropy")
_SCHEDULE_NAMES = ("constant", "optimal", "invscaling", "adaptive")


class ConvergenceWarning(UserWarning):
    """:func:`fit` ran out of epochs before ``tol`` or ``gtol`` was met."""


# ---------------------------------------------------------------- validation helpers

def _int(name, value, low, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int{' or None' if allow_none else ''}, "
                        f"got {value!r}")
    value = int(value)
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return value


def _real(name, value, *, low=None, strict=False, allow_none=False, high=None):
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number{' or None' if allow_none else ''}, "
                        f"got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value <= low if strict else value < low):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {low}, got {value}")
    if high is not None and not value < high:
        raise ValueError(f"{name} must be < {high}, got {value}")
    return value


def _bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return bool(value)


def _check_X(X):
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.dtype.kind in "biu":
        X = X.astype(np.float64)
    elif X.dtype not in (np.float32, np.float64):
        raise TypeError(f"X must be float32 or float64 (integers become float64), got "
                        f"dtype {X.dtype}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X must have at least one row and one column, got shape {X.shape}")
    s = X.strides
    if not (X.flags.c_contiguous or X.flags.f_contiguous
            or (min(s) >= 0 and X.itemsize in s)) or not X.flags.aligned \
            or not X.dtype.isnative:
        X = np.array(X, dtype=X.dtype.newbyteorder("="), order="C", copy=True)
    return X


def _check_y(loss, X, y):
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must be 1-D with one value per row of X ({X.shape[0]}), got "
                         f"shape {y.shape}")
    if loss == "softmax_cross_entropy":
        if y.dtype.kind not in "biu":
            if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
                y = y.astype(np.int64)
            else:
                raise ValueError(f"softmax_cross_entropy takes integer class labels "
                                 f"0 .. k-1, got y of dtype {y.dtype}")
        y = y.astype(np.int64, copy=False)
        if y.min() < 0:
            raise ValueError(f"class labels must be 0 .. k-1, got {int(y.min())}")
        return y
    if y.dtype.kind not in "biuf":
        raise TypeError(f"y must be numbers, got dtype {y.dtype}")
    return y.astype(X.dtype, copy=False)


def _check_finite(X, y) -> None:
    """Training data must be finite (a NaN or an infinity would only make the first loss
    non-finite, after the model had changed): ValueError naming the first bad row."""
    bad = _first_nonfinite_row(X)
    if bad >= 0:
        raise ValueError(f"X must be finite, but row {bad} holds a NaN or an infinity")
    bad = _first_nonfinite_row(y)
    if bad >= 0:
        raise ValueError(f"y must be finite, but y[{bad}] is {y[bad]}")


def _first_nonfinite_row(a: np.ndarray) -> int:
    """The first row of ``a`` (X, or y) holding a NaN or an infinity, or -1: one pass,
    in blocks of rows, so that it needs little memory beside ``a``."""
    if a.dtype.kind != "f":
        return -1
    rows = max(1, (1 << 16) // max(1, a.size // max(1, a.shape[0])))
    for start in range(0, a.shape[0], rows):
        finite = np.isfinite(a[start:start + rows])
        if finite.ndim > 1:
            finite = finite.all(axis=tuple(range(1, finite.ndim)))
        if not finite.all():
            return start + int(np.argmin(finite))
    return -1


def _check_sample_weight(sample_weight, X):
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight)
    if w.ndim != 1 or w.shape[0] != X.shape[0]:
        raise ValueError(f"sample_weight must be 1-D with one value per row of X "
                         f"({X.shape[0]}), got shape {w.shape}")
    if w.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight must be numbers, got dtype {w.dtype}")
    w = w.astype(X.dtype, copy=False)
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("sample_weight must be finite and >= 0")
    if not np.any(w > 0):
        raise ValueError("sample_weight must not be all zero")
    return w


# ---------------------------------------------------------------- the models

class LinearModel:
    """A linear model trained by :func:`fit`: decision values ``X @ coef_ + intercept_``.

    Args:
        loss: one of :data:`fastgd.models.LOSSES` (``"squared_error"``,
            ``"half_squared_error"``, ``"huber"``, ``"epsilon_insensitive"``,
            ``"log_loss"``, ``"hinge"``, ``"softmax_cross_entropy"``).
        penalty, alpha, l1_ratio, epsilon: as :func:`fastgd.models.loss_grad` (penalty on
            ``coef_`` only).
        fit_intercept: whether the model has an intercept (else ``intercept_`` is None).

    Attributes (after a fit):
        coef_: ``(n_features,)``, or ``(n_features, n_classes)`` for softmax; X's dtype.
        intercept_: ``(1,)`` (``(n_classes,)`` for softmax), or None.
        history_: the :class:`fastgd.History` of the last fit.
        n_classes_: for softmax, the number of classes (``max(y) + 1`` at the first fit).

    The parameters are created at the first fit (zeros, X's dtype). A later fit on data of
    the same number of features (classes) and dtype continues from the current ``coef_``
    and ``intercept_`` (a warm start); otherwise they are created again.
    """

    def __init__(self, loss: str = "squared_error", *, penalty: str | None = None,
                 alpha: float = 0.0, l1_ratio: float = 0.15, epsilon: float | None = None,
                 fit_intercept: bool = True) -> None:
        self.loss = loss
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.epsilon = epsilon
        self.fit_intercept = fit_intercept
        self.coef_: np.ndarray | None = None
        self.intercept_: np.ndarray | None = None
        self.history_: History | None = None
        self._check_settings()

    def _check_settings(self):
        if self.loss not in _models.LOSSES:
            raise ValueError(f"loss must be one of {', '.join(_models.LOSSES)}, got "
                             f"{self.loss!r}")
        if self.penalty not in _models.PENALTIES:
            raise ValueError(f"penalty must be one of {_models.PENALTIES}, got "
                             f"{self.penalty!r}")
        _real("alpha", self.alpha, low=0.0)
        if self.penalty is None and self.alpha != 0:
            raise ValueError(f"alpha must be 0 without a penalty, got {self.alpha}")
        _real("l1_ratio", self.l1_ratio, low=0.0)
        if self.l1_ratio > 1:
            raise ValueError(f"l1_ratio must be in [0, 1], got {self.l1_ratio}")
        if self.epsilon is not None:
            if self.loss not in ("huber", "epsilon_insensitive"):
                raise ValueError(f"epsilon is only for huber and epsilon_insensitive, got "
                                 f"epsilon={self.epsilon!r} with loss={self.loss!r}")
            _real("epsilon", self.epsilon, low=0.0)
        _bool("fit_intercept", self.fit_intercept)

    @property
    def is_classifier(self) -> bool:
        return self.loss in _CLASSIFICATION

    def _kwargs(self):
        return dict(penalty=self.penalty, alpha=self.alpha, l1_ratio=self.l1_ratio,
                    epsilon=self.epsilon)

    def _prepare(self, X, y):
        """Create the parameters for (X, y) unless the current ones fit (warm start)."""
        d = X.shape[1]
        if self.loss == "softmax_cross_entropy":
            k = max(int(y.max()) + 1, 2)
            if self.coef_ is not None and self.coef_.ndim == 2 and self.coef_.shape[1] > k:
                k = self.coef_.shape[1]
            shape, ishape = (d, k), (k,)
        else:
            shape, ishape = (d,), (1,)
        ok = (self.coef_ is not None and self.coef_.shape == shape
              and self.coef_.dtype == X.dtype and self.coef_.flags.c_contiguous
              and self.coef_.flags.writeable)
        if self.fit_intercept:
            ok = ok and (self.intercept_ is not None and self.intercept_.shape == ishape
                         and self.intercept_.dtype == X.dtype
                         and self.intercept_.flags.c_contiguous)
        if not ok:
            self.coef_ = np.zeros(shape, dtype=X.dtype)
            self.intercept_ = np.zeros(ishape, dtype=X.dtype) if self.fit_intercept else None
        elif not self.fit_intercept:
            self.intercept_ = None
        if self.loss == "softmax_cross_entropy":
            self.n_classes_ = shape[1]

    def _fitted(self):
        if self.coef_ is None:
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet; call fit first")

    def fit(self, X, y, **fit_kwargs: Any) -> "LinearModel":
        """Train with :func:`fastgd.fit` (``fit_kwargs`` are its keyword arguments); sets
        ``history_`` and returns self."""
        self.history_ = fit(self, X, y, **fit_kwargs)
        return self

    def decision_function(self, X) -> np.ndarray:
        """``X @ coef_ + intercept_``: ``(n,)``, or ``(n, n_classes)`` for softmax."""
        self._fitted()
        return _models.decision_function(_check_X(X).astype(self.coef_.dtype, copy=False),
                                         self.coef_, self.intercept_)

    def predict(self, X) -> np.ndarray:
        """Decision values (regression) or int64 labels (classification), as
        :func:`fastgd.models.predict`."""
        self._fitted()
        return _models.predict(self.loss, _check_X(X).astype(self.coef_.dtype, copy=False),
                               self.coef_, self.intercept_)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (``log_loss``: ``(n, 2)``; softmax: ``(n, k)``)."""
        self._fitted()
        return _models.predict_proba(self.loss,
                                     _check_X(X).astype(self.coef_.dtype, copy=False),
                                     self.coef_, self.intercept_)

    def loss_value(self, X, y, sample_weight=None) -> float:
        """The training objective (weighted mean loss + penalty) on (X, y)."""
        self._fitted()
        X = _check_X(X).astype(self.coef_.dtype, copy=False)
        return _models.loss_value(self.loss, X, _check_y(self.loss, X, y), self.coef_,
                                  self.intercept_,
                                  sample_weight=_check_sample_weight(sample_weight, X),
                                  **self._kwargs())

    def score(self, X, y, sample_weight=None) -> float:
        """R² (regression losses) or accuracy (classification losses), weighted by
        ``sample_weight``, as scikit-learn's ``score``."""
        pred = self.predict(X)
        y = np.asarray(y)
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if self.is_classifier:
            t = y
            if self.loss == "hinge":
                t = (y > 0).astype(np.int64)
            return float(np.average(pred == t, weights=w))
        y = y.astype(np.float64)
        pred = pred.astype(np.float64)
        mean = np.average(y, weights=w)
        ss_res = np.average((y - pred) ** 2, weights=w)
        ss_tot = np.average((y - mean) ** 2, weights=w)
        if ss_tot == 0:
            return 1.0 if ss_res == 0 else 0.0
        return float(1 - ss_res / ss_tot)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(loss={self.loss!r}, penalty={self.penalty!r}, "
                f"alpha={self.alpha!r}, fit_intercept={self.fit_intercept!r})")


class LinearRegression(LinearModel):
    """:class:`LinearModel` with a regression loss (default ``"squared_error"``)."""

    def __init__(self, loss: str = "squared_error", *, penalty=None, alpha=0.0,
                 l1_ratio=0.15, epsilon=None, fit_intercept=True) -> None:
        if loss in _CLASSIFICATION:
            raise ValueError(f"LinearRegression takes a regression loss, got {loss!r}")
        super().__init__(loss, penalty=penalty, alpha=alpha, l1_ratio=l1_ratio,
                         epsilon=epsilon, fit_intercept=fit_intercept)


class LogisticRegression(LinearModel):
    """:class:`LinearModel` with ``loss="log_loss"``: binary labels 0/1."""

    def __init__(self, *, penalty=None, alpha=0.0, l1_ratio=0.15, fit_intercept=True) -> None:
        super().__init__("log_loss", penalty=penalty, alpha=alpha, l1_ratio=l1_ratio,
                         fit_intercept=fit_intercept)


class SoftmaxRegression(LinearModel):
    """:class:`LinearModel` with ``loss="softmax_cross_entropy"``: integer labels
    0 .. k-1 (k = ``max(y) + 1`` at the first fit)."""

    def __init__(self, *, penalty=None, alpha=0.0, l1_ratio=0.15, fit_intercept=True) -> None:
        super().__init__("softmax_cross_entropy", penalty=penalty, alpha=alpha,
                         l1_ratio=l1_ratio, fit_intercept=fit_intercept)


# ---------------------------------------------------------------- fit

#: Run the batches of an epoch in one native call where possible (set False to compare).
FUSED = True


class _Fused:
    """What fastgd._models.fused_batches needs to run batches of an epoch in one native
    call: the compiled backend, plain SGD or Adam/AdamW (torch's form) as the update, and
    nothing to do between batches in Python (no per-step schedule, clipping, recorded
    steps or Hessian refresh). Built once per fit; ``ready()`` says whether the optimizer's
    state lets the next batches run natively (it exists, one step count for both params)."""

    def __init__(self, opt, model, X, params):
        from fastgd import _backend
        self.ok = False
        name = type(opt).__name__
        group = opt.param_groups
        if not FUSED or _backend.backend() != "cython" or len(group) != 1 \
                or name not in ("SGD", "Adam", "AdamW"):
            return
        group = group[0]
        if name != "SGD" and group.get("eps_root") is not None:
            return
        self.opt, self.params, self.group, self.sgd = opt, params, group, name == "SGD"
        self.kind = _models._loss_kind(model.loss)
        self.a1, self.a2 = _models._penalty_weights(model.penalty, model.alpha,
                                                    model.l1_ratio)
        self.eps = _models._epsilon(model.loss, model.epsilon)
        core = _backend.load("cython")
        self.fn = core.kernel_address("sgd" if self.sgd else "adam",
                                      X.dtype == np.float32)
        self.ok = True

    def ready(self) -> bool:
        if not self.ok:
            return False
        state = self.opt.state
        if self.sgd:
            return self.group["momentum"] == 0 or all(
                "momentum_buffer" in state.get(i, {}) for i in range(len(self.params)))
        steps = {state.get(i, {}).get("step") for i in range(len(self.params))}
        return len(steps) == 1 and None not in steps

    def run(self, X, y, w, order, first, count, bs, grads, backup, total, weights):
        """Run batches ``first .. first + count - 1``; return (done, total + loss * weight
        sums, weights + weight sums, status, nonfinite) as fastgd._models.fused_batches
        does."""
        from fastgd import _models as core
        g, state = self.group, self.opt.state
        # the group's hyperparameters, checked as opt.step checks them (a schedule or a
        # callback may have changed them since the last step)
        self.opt._revalidate_groups()
        n = len(self.params)
        if self.sgd:
            momentum = float(g["momentum"])
            names = ("momentum_buffer",) if momentum != 0 else ()
            scalars = [float(g["lr"]), momentum, float(g["dampening"]),
                       float(g["weight_decay"])]
            flags = [int(bool(g["nesterov"])), int(bool(g["maximize"])), 0]
            kernel_state = [[state[i]["momentum_buffer"]] if names else [None]
                            for i in range(n)]
            step0 = 0
        else:
            beta1, beta2 = (float(b) for b in g["betas"])
            amsgrad = bool(g["amsgrad"])
            scalars = [float(g["lr"]), beta1, beta2, float(g["eps"]),
                       float(g["weight_decay"]), 0.0, 0.0]
            flags = [int(amsgrad), int(bool(g["decoupled_weight_decay"])),
                     int(bool(g["maximize"]))]
            kernel_state = [[state[i]["exp_avg"], state[i]["exp_avg_sq"],
                             state[i]["max_exp_avg_sq"] if amsgrad else None]
                            for i in range(n)]
            step0 = state[0]["step"]
        coef = self.params[0]
        intercept = self.params[1] if n > 1 else None
        out = core.fused_batches(
            self.kind, X, y, coef, intercept, w, order, first, count, bs, self.a1, self.a2,
            self.eps, grads[0], grads[1] if n > 1 else None, backup, 0 if self.sgd else 1,
            self.fn, kernel_state[0], kernel_state[1] if n > 1 else [],
            np.asarray(scalars, dtype=np.float64), np.asarray(flags, dtype=np.int32), step0,
            total, weights)
        if not self.sgd:
            for i in range(n):
                state[i]["step"] += out[0]
        return out



def _batch_weight(w, rows) -> float:
    """The sum of a batch's sample weights in float64, added in row order."""
    return float(np.cumsum(w[rows], dtype=np.float64)[-1])


def _norm(a, b):
    s = float(np.dot(a.ravel(), a.ravel()))
    if b is not None:
        s += float(np.dot(b, b))
    return math.sqrt(s)


def fit(model: LinearModel, X, y, *, optimizer: Any = "sgd", lr: float = 0.01,
        batch_size: int | None = 32, epochs: int = 10, shuffle: bool = True,
        random_state: Any = None, sample_weight=None, schedule: Any = None,
        clip_norm: float | None = None, clip_value: float | None = None,
        tol: float | None = None, n_iter_no_change: int = 5, gtol: float | None = None,
        early_stopping: bool = False, validation_fraction: float = 0.1,
        callbacks: Any = (), record_steps: bool = False,
        optimizer_kwargs: dict | None = None) -> History:
    """Train ``model`` (a :class:`LinearModel`) in place on (X, y) by (mini-)batch
    gradient descent; return the run's :class:`fastgd.History`.

    The loop, the generator's calls, the schedules, the stopping rules and the history's
    columns are described exactly in :mod:`fastgd.training`.

    Args:
        model: a :class:`LinearModel` (or subclass); its ``coef_``/``intercept_`` are
            created (zeros) or continued (warm start) and updated in place.
        X: ``(n_samples, n_features)`` float32/float64 (integers become float64); not
            copied.
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

    Raises:
        TypeError, ValueError: an invalid argument (named with its value), before the
            model changes.
        FloatingPointError: a non-finite batch loss (the model keeps the last parameters
            with a finite batch loss).

    Warns:
        ConvergenceWarning: ``tol`` or ``gtol`` given and unmet when the epochs run out.
    """
    from fastgd.minimize import optimizer_class

    # ---- validate everything before the model changes
    if not isinstance(model, LinearModel):
        raise TypeError(f"model must be a fastgd.LinearModel, got {type(model).__name__}")
    model._check_settings()
    cls = optimizer_class(optimizer)
    lr = _real("lr", lr, low=0.0, strict=True)
    batch_size = _int("batch_size", batch_size, 1, allow_none=True)
    epochs = _int("epochs", epochs, 1)
    shuffle = _bool("shuffle", shuffle)
    if not (random_state is None or isinstance(random_state, (Integral, np.random.Generator,
                                                               np.random.SeedSequence))) \
            or isinstance(random_state, (bool, np.bool_)):
        raise TypeError(f"random_state must be None, an int, a SeedSequence or a "
                        f"numpy Generator, got {random_state!r}")
    if isinstance(random_state, Integral) and random_state < 0:
        raise ValueError(f"random_state must be >= 0, got {random_state}")
    clip_norm = _real("clip_norm", clip_norm, low=0.0, strict=True, allow_none=True)
    clip_value = _real("clip_value", clip_value, low=0.0, strict=True, allow_none=True)
    tol = _real("tol", tol, low=0.0, allow_none=True)
    n_iter_no_change = _int("n_iter_no_change", n_iter_no_change, 1)
    gtol = _real("gtol", gtol, low=0.0, allow_none=True)
    early_stopping = _bool("early_stopping", early_stopping)
    validation_fraction = _real("validation_fraction", validation_fraction, low=0.0,
                                strict=True, high=1.0)
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
    record_steps = _bool("record_steps", record_steps)
    if optimizer_kwargs is None:
        optimizer_kwargs = {}
    if not isinstance(optimizer_kwargs, dict):
        raise TypeError(f"optimizer_kwargs must be a dict or None, got {optimizer_kwargs!r}")
    if "lr" in optimizer_kwargs:
        raise ValueError("optimizer_kwargs must not contain 'lr' (pass lr=)")
    if isinstance(schedule, str):
        if schedule not in _SCHEDULE_NAMES:
            raise ValueError(f"schedule must be a callable or one of "
                             f"{', '.join(_SCHEDULE_NAMES)}, got {schedule!r}")
        if schedule == "optimal" and not model.alpha > 0:
            raise ValueError(f"schedule='optimal' needs the model's alpha > 0, got "
                             f"{model.alpha}")
    elif not (schedule is None or callable(schedule)):
        raise TypeError(f"schedule must be None, a callable opt -> scheduler or a name, "
                        f"got {schedule!r}")

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

    rng = (random_state if isinstance(random_state, np.random.Generator)
           else np.random.default_rng(random_state))
    if early_stopping:
        perm = rng.permutation(n)
        val_rows = np.sort(perm[:n_val]).astype(np.int64)
        train_rows = np.sort(perm[n_val:]).astype(np.int64)
    else:
        val_rows = None
        train_rows = np.arange(n, dtype=np.int64)
    n_train = train_rows.shape[0]
    if w is not None:
        if not np.any(w[train_rows] > 0):
            raise ValueError("sample_weight is zero for every training row: there is "
                             "nothing to fit")
        if early_stopping and not np.any(w[val_rows] > 0):
            raise ValueError("sample_weight is zero for every validation row "
                             "(early_stopping): the validation loss is undefined")
    bs = n_train if batch_size is None else min(batch_size, n_train)

    # ---- the model's parameters and the optimizer: an error while setting them up (a
    # schedule that fails, ...) leaves the model as it was
    saved = {k: getattr(model, k, None) for k in ("coef_", "intercept_", "n_classes_")}
    try:
        model._prepare(X, y)
        coef, intercept = model.coef_, model.intercept_
        params = [coef] if intercept is None else [coef, intercept]
        opt = cls(params, lr=lr, **optimizer_kwargs)
        if hasattr(opt, "train") and hasattr(opt, "eval"):
            opt.train()
        sophia = hasattr(opt, "update_hessian") and hasattr(opt, "hessian_due")

        step_sched = epoch_sched = None
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
    except BaseException:
        for k, v in saved.items():
            setattr(model, k, v)
        raise
    metric_sched = isinstance(epoch_sched, (_lrs.ReduceLROnPlateau, _lrs.AdaptiveLR))

    gc = np.empty_like(coef)
    gi = None if intercept is None else np.empty_like(intercept)
    grads = [gc] if gi is None else [gc, gi]
    backup = [p.copy() for p in params]
    hess_next = False
    fused = _Fused(opt, model, X, params)
    fused_ok = (fused.ok and not sophia and not record_steps and step_sched is None
                and clip_norm is None and clip_value is None)
    group0 = opt.param_groups[0]

    columns = ["loss", "grad_norm", "lr", "time"]
    if early_stopping:
        columns.append("val_loss")
    if gtol is not None:
        columns.append("full_grad_norm")
    history = History(tuple(columns))
    steps = History(("epoch", "loss", "grad_norm", "lr")) if record_steps else None
    history.__dict__["steps"] = steps
    history.__dict__.update(converged=False, stop_reason="epochs", n_steps=0)

    best, no_improve = math.inf, 0
    t0 = time.perf_counter()
    n_steps = 0
    for epoch in range(epochs):
        order = train_rows[rng.permutation(n_train)] if shuffle else train_rows
        total = weight_sum = 0.0
        gnorm = math.nan
        n_batches = (n_train + bs - 1) // bs
        j = -1
        while j + 1 < n_batches:
            j += 1
            if fused_ok and fused.ready():
                done, total, weight_sum, status, nonfinite = fused.run(
                    X, y, w, order, j, n_batches - j, bs, grads, backup, total, weight_sum)
                n_steps += done
                if done and j + done == n_batches:
                    gnorm = _norm(gc, gi)
                j += done
                if nonfinite:
                    raise FloatingPointError(
                        f"fit: the loss became non-finite at epoch {epoch}, batch {j} (step "
                        f"{n_steps + 1}): training diverged. Scale the data (e.g. "
                        f"standardise the features) or lower the learning rate (lr={lr}); "
                        f"the model was left at the last parameters with a finite batch "
                        f"loss")
                if j >= n_batches:
                    step_lr = group0["lr"]
                    break
                # status: this batch needs the Python path (no weight, or an error to raise)
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
                raise FloatingPointError(
                    f"fit: the loss became {bl} at epoch {epoch}, batch {j} (step "
                    f"{n_steps + 1}): training diverged. Scale the data (e.g. standardise "
                    f"the features) or lower the learning rate (lr={lr}); the model was "
                    f"left at the last parameters with a finite batch loss")
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
            opt.step(grads)
            n_steps += 1
            if step_sched is not None:
                step_sched.step()
            if sophia and opt.hessian_due():
                hess_next = True
        epoch_loss = total / weight_sum
        row = dict(loss=epoch_loss, grad_norm=gnorm, lr=step_lr,
                   time=time.perf_counter() - t0)
        monitored = epoch_loss
        if early_stopping:
            monitored = _models.loss_value(loss, X, y, coef, intercept, sample_weight=w,
                                           rows=val_rows, **kw)
            row["val_loss"] = monitored
        full_norm = None
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
        if stop is not None:
            break
    else:
        if tol is not None or gtol is not None:
            warnings.warn(f"fit: {epochs} epochs ran out before "
                          f"{'tol' if gtol is None else 'gtol'} was met; raise epochs or "
                          f"check the learning rate", ConvergenceWarning, stacklevel=2)
    if hasattr(opt, "train") and hasattr(opt, "eval"):
        opt.eval()
    return history
