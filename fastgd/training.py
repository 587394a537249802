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
- **Fused epochs.** On the compiled backend (one parameter group, no ``record_steps``),
  the batches of an epoch go to ``fastgd._models.fused_batches``: native calls that each
  run up to 1024 batches -- loss kernel, clipping, Sophia's Hessian refresh, optimizer
  kernels -- without returning to Python, for any optimizer of the registry. What
  ``opt.step`` would call at each of those steps (kernels, state buffers, scalars such as
  bias corrections, flags) is planned beforehand by the optimizer's own code, and the
  state it commits (step counts, NAdam's ``mu_product``, ASGD's ``eta``/``mu``, the
  schedule-free weights, the per-step scheduler's learning rate) is committed as
  ``opt.step`` and the scheduler would; a native call that stops early (a batch of zero
  weight, a non-finite loss, a failed batch) rolls that back to the steps it took. The bits
  are those of the loop below (tested for every optimizer). A step that makes state
  buffers (an optimizer's first) runs in Python. ``fastgd.training.FUSED = False`` turns
  fused epochs off.
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
from numbers import Integral, Real
from typing import Any

import numpy as np

from fastgd import checkpoint as _ckpt
from fastgd import lr_scheduler as _lrs
from fastgd import models as _models
from fastgd._checks import STEP_FORMULAS
from fastgd.clip import clip_grad_norm_, clip_grad_value_
from fastgd.history import History

__all__ = ["ConvergenceWarning", "fit", "LinearModel", "LinearRegression",
           "LogisticRegression", "SoftmaxRegression"]

_CLASSIFICATION = ("log_loss", "hinge", "softmax_cross_entropy")
_SCHEDULE_NAMES = ("constant", "optimal", "invscaling", "adaptive")


class ConvergenceWarning(UserWarning):
    """:func:`fit` ran out of epochs before ``tol`` or ``gtol`` was met.

    Example::

        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("error", fastgd.ConvergenceWarning)   # make it an error
    """


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
    if a.dtype in (np.float32, np.float64) and a.dtype.isnative \
            and (a.flags.c_contiguous or a.flags.f_contiguous):
        from fastgd import _backend
        if _backend.active().first_nonfinite([a]) < 0:  # one pass, no temporary array
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

    Example::

        X = np.random.default_rng(0).standard_normal((500, 3)); y = X @ [1.0, -1.0, 0.5]
        model = fastgd.LinearModel("huber", penalty="l2", alpha=1e-4)
        model.fit(X, y, optimizer="sgd", lr=0.05, epochs=10, random_state=0)
        model.predict(X[:2]), model.loss_value(X, y), model.history_.loss[-1]
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

    def _fitted(self) -> np.ndarray:
        """``coef_``, or RuntimeError when the model is not fitted."""
        if self.coef_ is None:
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet; call fit first")
        return self.coef_

    def fit(self, X, y, **fit_kwargs: Any) -> LinearModel:
        """Train with :func:`fastgd.fit` (``fit_kwargs`` are its keyword arguments); sets
        ``history_`` and returns self."""
        self.history_ = fit(self, X, y, **fit_kwargs)
        return self

    def decision_function(self, X) -> np.ndarray:
        """``X @ coef_ + intercept_``: ``(n,)``, or ``(n, n_classes)`` for softmax."""
        coef = self._fitted()
        return _models.decision_function(_check_X(X).astype(coef.dtype, copy=False),
                                         coef, self.intercept_)

    def predict(self, X) -> np.ndarray:
        """Decision values (regression) or int64 labels (classification), as
        :func:`fastgd.models.predict`."""
        coef = self._fitted()
        return _models.predict(self.loss, _check_X(X).astype(coef.dtype, copy=False),
                               coef, self.intercept_)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (``log_loss``: ``(n, 2)``; softmax: ``(n, k)``)."""
        coef = self._fitted()
        return _models.predict_proba(self.loss, _check_X(X).astype(coef.dtype, copy=False),
                                     coef, self.intercept_)

    def loss_value(self, X, y, sample_weight=None) -> float:
        """The training objective (weighted mean loss + penalty) on (X, y)."""
        coef = self._fitted()
        X = _check_X(X).astype(coef.dtype, copy=False)
        return _models.loss_value(self.loss, X, _check_y(self.loss, X, y), coef,
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
    r""":class:`LinearModel` with a regression loss (default ``"squared_error"``: the mean
    of :math:`(\hat y_i - y_i)^2`, gradient :math:`\tfrac{2}{n} X^T (\hat y - y)`).

    Example::

        X = np.random.default_rng(0).standard_normal((500, 3)); y = X @ [1.0, 2.0, 3.0]
        model = fastgd.LinearRegression().fit(X, y, optimizer="sgd", lr=0.05, epochs=20)
        model.coef_, model.score(X, y)                  # close to [1, 2, 3]; R^2 near 1
    """

    def __init__(self, loss: str = "squared_error", *, penalty=None, alpha=0.0,
                 l1_ratio=0.15, epsilon=None, fit_intercept=True) -> None:
        if loss in _CLASSIFICATION:
            raise ValueError(f"LinearRegression takes a regression loss, got {loss!r}")
        super().__init__(loss, penalty=penalty, alpha=alpha, l1_ratio=l1_ratio,
                         epsilon=epsilon, fit_intercept=fit_intercept)


class LogisticRegression(LinearModel):
    r""":class:`LinearModel` with ``loss="log_loss"``: binary labels 0/1, probability
    :math:`\sigma(x^T w + b)`, loss :math:`-y\log p - (1-y)\log(1-p)` (computed stably).

    Example::

        X = np.random.default_rng(0).standard_normal((500, 2)); y = (X[:, 0] > 0) * 1.0
        model = fastgd.LogisticRegression().fit(X, y, optimizer="adam", lr=0.05, epochs=10)
        model.predict_proba(X[:3]), model.score(X, y)  # accuracy
    """

    def __init__(self, *, penalty=None, alpha=0.0, l1_ratio=0.15, fit_intercept=True) -> None:
        super().__init__("log_loss", penalty=penalty, alpha=alpha, l1_ratio=l1_ratio,
                         fit_intercept=fit_intercept)


class SoftmaxRegression(LinearModel):
    r""":class:`LinearModel` with ``loss="softmax_cross_entropy"``: integer labels
    0 .. k-1 (k = ``max(y) + 1`` at the first fit); probabilities
    :math:`\mathrm{softmax}(x^T W + b)`, loss :math:`-\log p_{y}`.

    Example::

        X = np.random.default_rng(0).standard_normal((600, 4)); y = np.argmax(X[:, :3], 1)
        model = fastgd.SoftmaxRegression().fit(X, y, optimizer="adam", lr=0.05, epochs=10)
        model.predict(X[:5]), model.score(X, y)"""

    def __init__(self, *, penalty=None, alpha=0.0, l1_ratio=0.15, fit_intercept=True) -> None:
        super().__init__("softmax_cross_entropy", penalty=penalty, alpha=alpha,
                         l1_ratio=l1_ratio, fit_intercept=fit_intercept)


# ---------------------------------------------------------------- fit

#: Run the batches of an epoch in one native call where possible (set False to compare).
FUSED = True


def _formula_value(beta: float, code: int, t: int) -> float:
    x = 1 - beta ** t
    return x ** 0.5 if code == 2 else x


class _Fused:
    """Runs batches of an epoch in one native call (fastgd._models.fused_batches) with any
    optimizer of the registry as the update.

    The optimizer's own plan (what ``opt.step`` would call: kernels, buffers, scalars and
    flags) is made in Python for each of the next steps, committing the state each step
    makes (step counts, NAdam's ``mu_product``, ...) and stepping the per-step scheduler,
    exactly as the Python loop's ``opt.step`` and ``sched.step()`` do; the native loop then
    runs the batches with those calls. When the native loop stops early (a batch of zero
    weight, a non-finite loss), that bookkeeping is rolled back and replayed for the steps
    taken. An optimizer whose plan commits nothing (SGD, Lion, LARS once their buffers
    exist) with no per-step schedule is planned once. Off without the compiled backend,
    with ``record_steps`` (per-step history rows) or with more than one parameter group.
    """

    #: the most steps per native call (bounds the tables and the replay after a stop)
    CHUNK = 1024

    def __init__(self, opt, model, X, params, grads, *, clip_norm, clip_value, step_sched,
                 sophia, record_steps):
        from fastgd import _backend
        self.ok = False
        if not FUSED or record_steps or _backend.backend() != "cython" \
                or len(opt.param_groups) != 1:
            return
        from fastgd import optim
        core = _backend.load("cython")
        self.core = core
        self.opt, self.params, self.grads = opt, params, grads
        self.group = opt.param_groups[0]
        self.plan = optim._PLANS[opt.spec.kernel]
        self.items = [(i, p, g) for i, (p, g) in enumerate(zip(params, grads))]
        self.step_sched, self.sophia = step_sched, sophia
        self.clip_norm = -1.0 if clip_norm is None else float(clip_norm)
        self.clip_value = -1.0 if clip_value is None else float(clip_value)
        # the last batch's gradient before clipping (for the history's grad_norm)
        self.last = None if clip_norm is None and clip_value is None \
            else [np.empty_like(g) for g in grads]
        self.estimates = [np.empty_like(p) for p in params] if sophia else None
        self.kind = _models._loss_kind(model.loss)
        self.a1, self.a2 = _models._penalty_weights(model.penalty, model.alpha,
                                                    model.l1_ratio)
        self.eps = _models._epsilon(model.loss, model.epsilon)
        self.f32 = X.dtype == np.float32
        self._zero_order = self._zero = None
        self.ok = True

    # -- planning the next steps as opt.step would ------------------------------------------

    def _scalars(self, kernel):
        from fastgd._checks import KERNELS
        decl = KERNELS[kernel]
        return tuple(decl.scalars.items()), tuple(decl.flags)

    def _plan_steps(self, count, hess_next, record=True):
        """Plan and commit the next ``count`` steps (fewer where a step's calls differ from
        the first's, e.g. a fresh state buffer); return (steps planned, the native calls,
        scalar table, flag table, Hessian rows, beta2 per step, lr per step, hess_next
        after them), or None when not even one step can run natively."""
        from fastgd import _backend
        opt, group, plan = self.opt, self.group, self.plan
        needed = opt._needed[0]
        kernels = _backend.active()
        layout = None
        self.formulas = None
        s_rows, f_rows, hess, beta2, lrs = [], [], [], [], []
        checked = set()
        stationary = False
        done = 0
        for r in range(count):
            try:
                opt._revalidate_groups()
                calls = plan(opt, group, self.items, needed)
            except Exception:
                if r == 0:
                    raise  # as opt.step would, before this batch's step
                break  # the steps before run natively; the next call raises
            # the calls' kernels and parameters; their state buffers are those of the
            # first step as long as no step makes new ones
            key = tuple((c.entry, tuple(map(id, c.lists[0])),
                         tuple(lst is None for lst in c.lists)) for c in calls)
            if any(type(v) is np.ndarray for c in calls for _, entries in c.updates
                   for v in entries.values()):
                if layout is None:
                    return None  # the step makes state buffers: opt.step's first steps
                break
            if layout is None:
                layout, first_calls = key, calls
                specs = [self._scalars(c.entry[:-len("_many")]) for c in calls]
                pads = [(16 - len(a), 16 - len(b)) for a, b in specs]
            elif key != layout:
                break
            if record:
                s_row, f_row = [], []
                for c, (scalar_specs, flag_names), (s_pad, f_pad) in zip(calls, specs, pads):
                    get = c.scalars.get
                    sv = [float(get(name, default)) for name, default in scalar_specs]
                    sv += [0.0] * s_pad
                    fv = [1 if get(name, False) else 0 for name in flag_names] + [0] * f_pad
                    marker = (c.entry, tuple(fv))
                    if marker not in checked:  # the buffers these flags need are there
                        c.run(kernels, check_only=True)
                        checked.add(marker)
                    s_row.append(sv)
                    f_row.append(fv)
                s_rows.append(s_row)
                f_rows.append(f_row)
                hess.append(hess_next)
                beta2.append(float(group["betas"][1]) if self.sophia else 0.0)
                lrs.append(group["lr"])
            simple = r == 0 and self.step_sched is None and not self.sophia
            stationary = simple and not any(entries for c in calls
                                            for _, entries in c.updates)
            for c in calls:
                c.commit(opt.state)
            done += 1
            if simple and not stationary and count > 1:
                formulas = self._formulas(calls, specs)
                if formulas is not None:  # the native loop counts the steps itself
                    for i in range(len(self.params)):
                        opt.state[i]["step"] += count - 1
                    opt._opt_called = True
                    if not record:
                        return count, hess_next
                    self.formulas = formulas
                    done = count
                    break
            opt._opt_called = True  # what opt.step's scheduler wrapper records
            try:
                if self.step_sched is not None:
                    self.step_sched.step()
                if self.sophia:
                    hess_next = opt.hessian_due()
            except Exception as exc:  # raised after this step, as the Python loop would
                self.pending = exc
                break
            if stationary:  # the same calls for every step: plan once
                break
        if not record:
            return done, hess_next
        if stationary:
            done = count
        invocations = []
        for c_index, c in enumerate(first_calls):
            address = self.core.kernel_address(c.entry[:-len("_many")], self.f32)
            lists = c.lists
            for t, p in enumerate(lists[0]):
                which = next(k for k, q in enumerate(self.params) if q is p)
                buffers = [None if lst is None else lst[t] for lst in lists]
                invocations.append((address, which, c_index, buffers))
        tables = (np.asarray(s_rows, dtype=np.float64).reshape(len(s_rows), -1, 16),
                  np.asarray(f_rows, dtype=np.int32).reshape(len(f_rows), -1, 16))
        return (done, invocations, *tables, np.asarray(hess, dtype=np.uint8),
                np.asarray(beta2, dtype=np.float64), lrs, hess_next)

    def _formulas(self, calls, specs):
        """For the first planned step just committed: the codes and beta positions with
        which the native loop computes each call's per-step scalars (see STEP_FORMULAS),
        and the step count of that step; None unless every call's kernel has formulas
        that give the plan's values, and the step committed nothing but step counts."""
        state = self.opt.state
        steps = {state[i].get("step") for i in range(len(self.params))}
        if len(steps) != 1:
            return None
        t = steps.pop()
        if not isinstance(t, int):
            return None
        codes = np.zeros((len(calls), 16), dtype=np.int32)
        betas = np.zeros((len(calls), 16), dtype=np.int32)
        for c_index, (c, (scalar_specs, _)) in enumerate(zip(calls, specs)):
            formulas = STEP_FORMULAS.get(c.entry[:-len("_many")])
            if formulas is None or any(set(entries) != {"step"} for _, entries in c.updates):
                return None
            names = [name for name, _ in scalar_specs]
            for name, (beta, code) in formulas.items():
                k, b = names.index(name), names.index(beta)
                value = float(c.scalars[name])
                if _formula_value(float(c.scalars[beta]), code, t) != value:
                    return None
                codes[c_index, k], betas[c_index, k] = code, b
        return codes, betas, t

    def _snapshot(self):
        state = self.opt.state
        return ([(i, {k: v for k, v in state[i].items() if not isinstance(v, np.ndarray)})
                 for i in range(len(self.params)) if i in state],
                self.group["lr"],
                None if self.step_sched is None else self.step_sched.state_dict())

    def _restore(self, snapshot):
        saved, lr, sched = snapshot
        for i, entries in saved:
            self.opt.state[i].update(entries)
        self.group["lr"] = lr
        if sched is not None:
            self.step_sched.load_state_dict(sched)

    def _zero_batches(self, order, bs, w):
        """Which batches of this epoch's order weigh nothing (fit skips them in Python)."""
        if self._zero_order is not order:
            sums = np.add.reduceat(w[order], np.arange(0, order.shape[0], bs))
            self._zero = np.flatnonzero(sums == 0)
            self._zero_order = order
        return self._zero

    # -- running ----------------------------------------------------------------------------

    def run(self, X, y, w, order, first, count, bs, backup, total, weights, hess_next):
        """Run batches from ``first`` on (at most ``count``) natively; return (batches
        done, total + loss * weight sums, weights + weight sums, status, the non-finite
        loss that stopped the run or None, lr of the last step done, gradient norm of the
        epoch's last batch if it was done (else NaN), hess_next after them).
        ``done == 0``: the next batch needs the Python path."""
        if w is not None:
            zeros = self._zero_batches(order, bs, w)
            k = np.searchsorted(zeros, first)
            if k < zeros.shape[0]:
                count = min(count, int(zeros[k]) - first)
        count = min(count, self.CHUNK)
        nothing = (0, total, weights, 0, None, None, math.nan, hess_next)
        if count <= 0:
            return nothing
        snapshot = self._snapshot()
        self.pending = None
        planned = self._plan_steps(count, hess_next)
        if planned is None:
            return nothing
        count, invocations, s_table, f_table, hess_rows, beta2, lrs, hess_after = planned
        n_batches = (order.shape[0] + bs - 1) // bs
        gc = self.grads[0]
        gi = self.grads[1] if len(self.grads) > 1 else None
        hessian = None
        if self.sophia:
            state = self.opt.state
            hessian = (self.core.kernel_address("sophia_hessian", self.f32),
                       [state[i]["hessian"] for i in range(len(self.params))],
                       self.estimates, beta2)
        done, total, weights, status, nonfinite, loss = _models_core().fused_batches(
            self.kind, X, y, self.params[0], self.params[1] if len(self.params) > 1 else None,
            w, order, first, count, bs, self.a1, self.a2, self.eps, gc, gi, backup,
            invocations, s_table, f_table, self.clip_norm, self.clip_value, self.last,
            n_batches - 1, hessian, hess_rows, self.formulas, total, weights)
        if done < count:  # roll the bookkeeping back to the steps taken
            self._restore(snapshot)
            if done:
                hess_after = self._plan_steps(done, hess_next, record=False)[1]
            else:
                hess_after = hess_next
        if self.pending is not None and done == count:
            raise self.pending
        gnorm = math.nan
        if done and first + done == n_batches:
            gnorm = _norm(*self.last) if self.last is not None else _norm(gc, gi)
        return (done, total, weights, status, loss if nonfinite else None,
                lrs[min(done, len(lrs)) - 1] if done else None, gnorm, hess_after)


def _models_core():
    from fastgd import _models as core
    return core


def _diverged(epoch, batch, n_steps, lr, loss) -> FloatingPointError:
    return FloatingPointError(
        f"fit: the loss became {loss} at epoch {epoch}, batch {batch} (step {n_steps + 1}): "
        f"training diverged. Scale the data (e.g. standardise the features) or lower the "
        f"learning rate (lr={lr}); the model was left at the last parameters with a finite "
        f"batch loss")


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
        optimizer_kwargs: dict | None = None, checkpoint: Any = None,
        resume: Any = None) -> History:
    r"""Train ``model`` (a :class:`LinearModel`) in place on (X, y) by (mini-)batch
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
        checkpoint: a file (str or path-like, in an existing directory) to which the
            run's state is written, atomically, at the end of every epoch (after the
            callbacks): see "Checkpoints" in :mod:`fastgd.training`.
        resume: a file written by ``checkpoint=``: the run continues from it, with the
            bits of the uninterrupted run; ``epochs`` counts the epochs of the whole run.

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
    settings = _run_settings(model, X, w, cls, lr, batch_size, shuffle, schedule, clip_norm,
                             clip_value, tol, n_iter_no_change, gtol, early_stopping,
                             validation_fraction, record_steps, optimizer_kwargs)
    if checkpoint is not None:
        checkpoint = _ckpt.check_writable_path("checkpoint", checkpoint)
        _ckpt.check_saveable(optimizer_kwargs, "optimizer_kwargs")
    resumed = None
    if resume is not None:
        resumed = _ckpt.FitResume.read(resume, settings, epochs, random_state)

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

    # ---- the model's parameters and the optimizer: an error while setting them up (a
    # schedule that fails, ...) leaves the model as it was
    saved = {k: getattr(model, k, None) for k in ("coef_", "intercept_", "n_classes_")}
    try:
        model._prepare(X, y)
        coef, intercept = model._fitted(), model.intercept_
        params = [coef] if intercept is None else [coef, intercept]
        opt = cls(params, lr=lr, **optimizer_kwargs)
        if hasattr(opt, "train") and hasattr(opt, "eval"):
            opt.train()
        sophia = hasattr(opt, "update_hessian") and hasattr(opt, "hessian_due")

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
                   step_sched=step_sched, sophia=sophia, record_steps=record_steps)
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
    for epoch in range(first_epoch, epochs):
        if not shuffle:
            order = train_rows
        elif identity_rows:  # train_rows[perm] is perm
            order = rng.permutation(n_train).astype(np.int64, copy=False)
        else:
            order = train_rows[rng.permutation(n_train)]
        total = weight_sum = 0.0
        gnorm = math.nan
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
            _ckpt.save_fit(checkpoint, opt, params, settings=settings, epoch=epoch + 1,
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
    return history


def _run_settings(model, X, w, cls, lr, batch_size, shuffle, schedule, clip_norm,
                  clip_value, tol, n_iter_no_change, gtol, early_stopping,
                  validation_fraction, record_steps, optimizer_kwargs) -> dict:
    """What a run resumed from a checkpoint must share with the run that wrote it (the
    model, the data's shape and dtype, every argument of :func:`fit` but ``epochs``,
    ``random_state``, ``callbacks``, ``checkpoint`` and ``resume``)."""
    return {
        "model": type(model).__name__, "loss": model.loss, "penalty": model.penalty,
        "alpha": float(model.alpha), "l1_ratio": float(model.l1_ratio),
        "epsilon": None if model.epsilon is None else float(model.epsilon),
        "fit_intercept": bool(model.fit_intercept),
        "n_samples": X.shape[0], "n_features": X.shape[1], "dtype": X.dtype.name,
        "sample_weight": w is not None, "optimizer": cls.__name__, "lr": lr,
        "batch_size": batch_size, "shuffle": shuffle,
        "schedule": schedule if isinstance(schedule, str) or schedule is None
        else "a callable", "clip_norm": clip_norm, "clip_value": clip_value, "tol": tol,
        "n_iter_no_change": n_iter_no_change, "gtol": gtol,
        "early_stopping": early_stopping, "validation_fraction": validation_fraction,
        "record_steps": record_steps, "optimizer_kwargs": dict(optimizer_kwargs),
    }
