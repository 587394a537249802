r"""scikit-learn estimators trained by fastgd: :class:`GDRegressor` and :class:`GDClassifier`.

Importing this module imports scikit-learn (an optional extra: ``pip install
fastgd[sklearn]``); ``import fastgd`` alone never does.

.. code-block:: python

    from fastgd.sklearn import GDRegressor, GDClassifier
    reg = GDRegressor(optimizer="adam", lr=1e-2, batch_size=64, random_state=0).fit(X, y)
    clf = GDClassifier(loss="log_loss", optimizer="sgd", random_state=0).fit(X, labels)
    clf.predict(X), clf.predict_proba(X), clf.decision_function(X), clf.score(X, labels)

They follow :class:`sklearn.linear_model.SGDRegressor` / ``SGDClassifier`` (same parameter
names where the meaning is the same, same fitted attributes and shapes) but train with
:func:`fastgd.fit` and any of fastgd's optimizers, on mini-batches.

**Training.** ``fit`` validates the parameters and the data (scikit-learn's
``validate_data``; ``X`` becomes a C-contiguous float64 array, or stays float32 when given
float32, and the fitted ``coef_``/``intercept_`` then have that dtype), then runs
:func:`fastgd.fit` on a :class:`fastgd.LinearModel` with ``epochs=max_iter``; see
:mod:`fastgd.models.training` for the exact loop, random numbers and stopping rules.
Differences from scikit-learn's SGD estimators:

- ``loss="squared_error"`` is scikit-learn's half squared error (``r²/2``, fastgd's
  ``"half_squared_error"``); ``"huber"`` and ``"epsilon_insensitive"`` take ``epsilon``.
- The learning rate is ``lr`` (scikit-learn's ``eta0``) for the chosen ``optimizer``;
  ``schedule`` is ``"constant"`` (default), scikit-learn's ``"optimal"`` (needs
  ``penalty`` and ``alpha > 0``), ``"invscaling"`` (``power_t`` 0.25 for regression, 0.5
  for classification), ``"adaptive"``, or a callable ``opt -> scheduler``
  (:mod:`fastgd.lr_scheduler`), stepped per epoch.
- The stopping rule (``tol``, ``n_iter_no_change``) is scikit-learn's, on the epoch's mean
  training loss, or with ``early_stopping=True`` on the **loss** of the held-out
  ``validation_fraction`` (scikit-learn monitors the validation score).
- ``sample_weight`` weights the batch means (``sum(w l) / sum(w)``): the batches, hence
  the path, differ from those of repeated rows, but the fitted optimum agrees (scikit-learn
  marks its SGD estimators' sample-weight-equivalence checks as expected failures; the
  dense one passes here).
- Sparse ``X`` (any ``scipy.sparse`` format; CSR is used as it is, others converted once)
  is never densified. ``fit`` trains with :func:`fastgd.fit`, which runs the O(nnz) loops
  of :mod:`fastgd.models.sparse_training` where they apply and fastgd's exact CSR path
  otherwise: either way the model of ``X.toarray()`` (to rounding), and scikit-learn's
  ``SPARSE_INTERCEPT_DECAY`` is not applied. ``lazy=True`` lets it take the inexact loops
  too (SparseAdam for ``optimizer="adam"``, the cumulative L1 penalty). ``partial_fit``
  continues runs on the exact CSR path (a sparse ``fit`` on that path included); after a
  sparse ``fit`` that ran an O(nnz) loop, the next ``partial_fit`` starts a new run from
  fit's coefficients (``t_`` counts from it again).
  ``sklearn_compat=True`` (sparse X, ``optimizer="sgd"``, ``batch_size=1``, ``schedule``
  ``"constant"``/``"optimal"``/``"invscaling"``) runs scikit-learn's own per-sample
  algorithm instead -- its update ``-eta dloss sample_weight``, its L2 scale and
  cumulative L1 penalty, its intercept decay 0.01 on sparse input, its ``t_``,
  ``n_iter_`` and ``tol`` rule, one-vs-rest for more than two classes with both losses
  (``predict_proba`` then normalised as SGDClassifier's): with ``shuffle=False`` the fit
  equals ``SGDClassifier``/``SGDRegressor``'s (``eta0=lr``, ``learning_rate=schedule``)
  to rounding (see :mod:`fastgd._sklearn_compat`).
- ``t_`` is 1 + the number of optimizer steps (weight updates) of the run: since ``fit``
  started, accumulated over the ``partial_fit`` calls that continue it (or since the
  first ``partial_fit``); with ``batch_size=1`` it is scikit-learn's ``n_iter_ *
  n_samples + 1``.

**Streaming: partial_fit.** Each call runs one epoch over the chunk (no stopping rule, no
warning; ``n_iter_`` is 1) and **continues the run**: the optimizer's state (momentum,
Adam's moments and step count, ...), the per-step schedule (``"optimal"``,
``"invscaling"``: its step count, ``t_``, goes on), the generator and the step count are
kept between calls, with :class:`fastgd.models.PartialFit` (whose rule is exact: see
:mod:`fastgd.models.stream`). So with ``shuffle=False`` and the schedules ``"constant"``,
``"optimal"`` or ``"invscaling"``, chunks whose row counts (but the last's) are multiples
of ``batch_size`` give through ``partial_fit`` the bits of one epoch of ``fit`` over their
concatenation (``max_iter=1, tol=None``); a per-epoch schedule (``"adaptive"``, a
callable) is stepped once per call. With ``shuffle=True``, each call's rows are permuted
by the run's generator (made from ``random_state`` at the first call, advanced by every
call; for one-vs-rest one per class, from seeds spawned from it). A ``partial_fit`` after
``fit`` continues fit's run. The coefficients are taken as they are at each call (values
set in ``coef_`` are continued). ``set_params`` of a parameter that builds the run
(``optimizer``, ``lr``, ``batch_size``, ``schedule``, ``penalty``, ``alpha``,
``random_state``, ...) makes the next ``partial_fit`` start a new run from the current
coefficients. The coefficients' dtype is that of the first call's X (later chunks are
converted to it). Estimators pickle with their run: unpickled between two calls, they go
on with the bits of the one not stopped.

**warm_start.** ``fit`` with ``warm_start=True`` starts from the current ``coef_`` and
``intercept_`` (for a classifier, when the classes are the same) with a **new** optimizer
state and schedule (``t_`` restarts at 1), as scikit-learn's; without it, ``fit`` starts
from zeros. Either way ``fit`` starts a new run, which later ``partial_fit`` calls continue.

**Classification.** Labels are any values (``classes_``, sorted). Two classes: one binary
model with ``loss="log_loss"`` or ``"hinge"`` on the labels mapped to 0/1 (``classes_[1]``
is the positive class); ``coef_`` is ``(1, n_features)``. More classes: with
``log_loss``, one multinomial model (fastgd's ``softmax_cross_entropy``; scikit-learn's
SGDClassifier uses one-vs-rest instead), with ``predict_proba`` its softmax; with
``hinge``, one-vs-rest: one binary hinge model per class (each fitted on its own with a
seed spawned from ``random_state``; ``n_iter_`` is the largest of theirs), the predicted
class the one with the largest decision value. ``coef_`` is then ``(n_classes,
n_features)``. ``predict_proba`` exists only for ``log_loss``.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning as _SkConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    def _validate_data(est, *args, **kwargs):
        return est._validate_data(*args, **kwargs)

from fastgd import _sklearn_compat as _compat
from fastgd.models.linear import LinearModel
from fastgd.models.losses import decision_function
from fastgd.models.params import PENALTIES, SCHEDULES, check_estimator
from fastgd.models.sparse import as_csr, is_sparse
from fastgd.models.stream import PartialFit
from fastgd.models.training import ConvergenceWarning
from fastgd.optim.registry import lookup

__all__ = ["GDRegressor", "GDClassifier"]

_REG_LOSSES = {"squared_error": "half_squared_error", "huber": "huber",
               "epsilon_insensitive": "epsilon_insensitive"}
_CLF_LOSSES = ("log_loss", "hinge")
# the parameters a run's optimizer and model are built from: partial_fit continues the run
# while they are unchanged (set_params of another value starts a new one)
_RUN_PARAMS = ("loss", "optimizer", "lr", "batch_size", "penalty", "alpha", "l1_ratio",
               "epsilon", "fit_intercept", "shuffle", "random_state", "schedule",
               "optimizer_kwargs", "n_iter_no_change", "tol")
def _report_epoch(epoch, history, _model):
    """``verbose``'s line after each epoch (a module function: estimators pickle)."""
    print(f"-- Epoch {epoch + 1}: loss {history.loss[-1]:.6g}, lr {history.lr[-1]:.6g}")


class _BaseGD(BaseEstimator):
    """Shared parameters, validation and training loop."""

    _losses: tuple = ()
    _default_loss = ""

    def __init__(self, loss=None, *, optimizer="sgd", lr=0.01, batch_size=32, max_iter=1000,
                 tol=1e-3, n_iter_no_change=5, penalty="l2", alpha=1e-4, l1_ratio=0.15,
                 epsilon=0.1, fit_intercept=True, shuffle=True, random_state=None,
                 early_stopping=False, validation_fraction=0.1, schedule="constant",
                 optimizer_kwargs=None, warm_start=False, verbose=0, lazy=False,
                 sklearn_compat=False):
        self.loss = loss
        self.optimizer = optimizer
        self.lr = lr
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.epsilon = epsilon
        self.fit_intercept = fit_intercept
        self.shuffle = shuffle
        self.random_state = random_state
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.schedule = schedule
        self.optimizer_kwargs = optimizer_kwargs
        self.warm_start = warm_start
        self.verbose = verbose
        self.lazy = lazy
        self.sklearn_compat = sklearn_compat

    # ------------------------------------------------------------ validation

    def _validate_params(self):
        if self.loss not in self._losses:
            raise ValueError(f"The 'loss' parameter of {type(self).__name__} must be one of "
                             f"{list(self._losses)}, got {self.loss!r}")
        try:
            lookup(self.optimizer)
        except (TypeError, ValueError, KeyError) as e:
            raise ValueError(f"The 'optimizer' parameter is invalid: {e}") from None
        if self.penalty not in PENALTIES:
            raise ValueError(f"The 'penalty' parameter must be one of {list(PENALTIES)}, "
                             f"got {self.penalty!r}")
        check_estimator(self)
        if not (callable(self.schedule) or self.schedule in SCHEDULES):
            raise ValueError(f"The 'schedule' parameter must be one of {list(SCHEDULES)} "
                             f"or a callable, got {self.schedule!r}")
        if self.schedule == "optimal" and (self.penalty is None or self.alpha == 0):
            raise ValueError("schedule='optimal' needs a penalty and alpha > 0")
        if self.optimizer_kwargs is not None and not isinstance(self.optimizer_kwargs, dict):
            raise ValueError(f"The 'optimizer_kwargs' parameter must be a dict or None, got "
                             f"{self.optimizer_kwargs!r}")
        for name in ("lazy", "sklearn_compat"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"The {name!r} parameter must be True or False, got "
                                 f"{getattr(self, name)!r}")

    def _check_weights(self, sample_weight, X):
        w = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        if np.any(w < 0):
            raise ValueError("Negative values in data passed to sample_weight")
        if not np.any(w > 0):
            raise ValueError("Sample weights must contain at least one non-zero number.")
        return w

    def _dtypes(self, first):
        """float64 or float32 as X is, but the dtype of the coefficients that a
        partial_fit continues."""
        return [np.float64, np.float32] if first else self.coef_.dtype

    def _seed(self):
        rs = self.random_state
        if rs is None or isinstance(rs, numbers.Integral):
            return rs
        return int(check_random_state(rs).randint(np.iinfo(np.int32).max))

    # ------------------------------------------------------------ training

    def _model(self, loss, X, coef=None, intercept=None):
        """A fastgd LinearModel for ``loss``, continuing from (coef, intercept) if given."""
        eps = self.epsilon if loss in ("huber", "epsilon_insensitive") else None
        m = LinearModel(loss, penalty=self.penalty,
                                  alpha=self.alpha if self.penalty is not None else 0.0,
                                  l1_ratio=self.l1_ratio, epsilon=eps,
                                  fit_intercept=bool(self.fit_intercept))
        if coef is not None:
            m.coef_ = np.array(coef, dtype=X.dtype, order="C")
            if self.fit_intercept:
                m.intercept_ = np.array(intercept, dtype=X.dtype, order="C")
        return m

    def _new_run(self, model, seed) -> PartialFit:
        """The run (optimizer, schedule, generator) that trains ``model``."""
        callbacks = (_report_epoch,) if self.verbose else ()
        return PartialFit(model, optimizer=self.optimizer, lr=self.lr,
                          batch_size=self.batch_size, shuffle=bool(self.shuffle),
                          random_state=seed,
                          schedule=None if self.schedule == "constant" else self.schedule,
                          tol=self.tol, n_iter_no_change=self.n_iter_no_change,
                          callbacks=callbacks,
                          optimizer_kwargs=self.optimizer_kwargs)

    def _run(self, run, X, y, w, *, partial, tol=None):
        """``fit``'s epochs (``max_iter``, the stopping rules) or, with ``partial``, one
        epoch over (X, y) continuing the run; returns the History."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if partial:
                run.partial_fit(X, y, sample_weight=w)
                run.end_epoch()
                return run.history
            # on sparse X fit may take an O(nnz) loop: the run then has no optimizer, and
            # a later partial_fit starts a new one (see _finish)
            return run.fit_epochs(X, y, epochs=self.max_iter, sample_weight=w, tol=tol,
                                  early_stopping=bool(self.early_stopping),
                                  validation_fraction=self.validation_fraction,
                                  lazy=bool(self.lazy))

    def _runs_to_continue(self, partial, first, count):
        """The runs a partial_fit continues (None: start new ones)."""
        runs = getattr(self, "_runs", None)
        if not partial or first or runs is None or len(runs) != count:
            return None
        key = {k: getattr(self, k) for k in _RUN_PARAMS}
        try:
            same = bool(self._run_key == key)
        except (TypeError, ValueError):  # values that do not compare (arrays): changed
            same = False
        return runs if same else None

    def _keep_runs(self, runs):
        self._runs = runs
        self._run_key = {k: getattr(self, k) for k in _RUN_PARAMS}

    def _warn_convergence(self, histories, tol):
        if tol is not None and any(h.stop_reason == "epochs" for h in histories):
            warnings.warn("Maximum number of iteration reached before convergence. "
                          "Consider increasing max_iter to improve the fit.",
                          _SkConvergenceWarning, stacklevel=1)

    def _finish(self, histories, runs, *, partial):
        self.n_iter_ = 1 if partial else max(len(h) for h in histories)
        if all(run.optimizer is not None for run in runs):
            self.t_ = float(1 + max(run.n_steps for run in runs))
            self._keep_runs(runs)
        else:   # a sparse fit by fastgd.fit directly: no run for partial_fit to continue
            self.t_ = float(1 + max(h.n_steps for h in histories))
            self._runs = None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"_xfail_checks": _XFAIL}


def _as_trainable(X):
    """A sparse X as a checked CSR, once for all the fits of one call (one-vs-rest runs
    one per class); a dense X as it is."""
    return as_csr(X) if is_sparse(X) else X


def _sparse_decision(X, coef, intercept):
    """``X @ coef + intercept`` of a sparse X (coef ``(d,)`` or ``(d, k)``) by fastgd's
    CSR kernel, in X's dtype."""
    csr = as_csr(X)
    dtype = csr.dtype
    return decision_function(csr, np.ascontiguousarray(coef, dtype=dtype),
                             np.ascontiguousarray(intercept, dtype=dtype))


# scikit-learn marks check_sample_weight_equivalence_on_dense_data and _on_sparse_data as
# expected failures for its SGD estimators; both pass here (the fits converge to the same
# optimum within the checks' tolerance, and sparse X trains exactly as dense X).
_XFAIL: dict[str, str] = {}


def expected_failed_checks(estimator):
    """The scikit-learn estimator checks these estimators fail by design (as scikit-learn's
    own SGDRegressor/SGDClassifier), for ``parametrize_with_checks``'s
    ``expected_failed_checks``."""
    return dict(_XFAIL) if isinstance(estimator, _BaseGD) else {}


class GDRegressor(RegressorMixin, _BaseGD):
    r"""A linear regressor trained with any fastgd optimizer (``SGDRegressor``'s API).

    Parameters: see :mod:`fastgd.sklearn`. ``loss``: ``"squared_error"`` (``r²/2``),
    ``"huber"``, ``"epsilon_insensitive"``.

    Attributes: ``coef_`` ``(n_features,)``, ``intercept_`` ``(1,)``, ``n_iter_``, ``t_``,
    ``n_features_in_``, ``history_`` (the last run's :class:`fastgd.History`).

    It minimizes, over mini-batches, the objective of :mod:`fastgd.models`:

    .. math::
        \frac{1}{n}\sum_i \ell(x_i^\top\beta + b,\ y_i) + \alpha\Big(\rho\|\beta\|_1
        + \frac{1-\rho}{2}\|\beta\|_2^2\Big)

    with :math:`\rho` = ``l1_ratio`` for ``penalty="elasticnet"`` (1 for ``"l1"``, 0 for
    ``"l2"``).

    Example::

        from fastgd.sklearn import GDRegressor
        X = np.random.default_rng(0).normal(size=(200, 3))
        y = X @ np.array([1.0, -2.0, 0.5]) + 0.3
        reg = GDRegressor(optimizer="adam", lr=0.05, max_iter=50, tol=None, random_state=0)
        reg.fit(X, y)
        assert reg.score(X, y) > 0.99
    """

    _losses = tuple(_REG_LOSSES)

    def __init__(self, loss="squared_error", *, optimizer="sgd", lr=0.01, batch_size=32,
                 max_iter=1000, tol=1e-3, n_iter_no_change=5, penalty="l2", alpha=1e-4,
                 l1_ratio=0.15, epsilon=0.1, fit_intercept=True, shuffle=True,
                 random_state=None, early_stopping=False, validation_fraction=0.1,
                 schedule="constant", optimizer_kwargs=None, warm_start=False, verbose=0,
                 lazy=False, sklearn_compat=False):
        super().__init__(
            loss, optimizer=optimizer, lr=lr, batch_size=batch_size, max_iter=max_iter,
            tol=tol, n_iter_no_change=n_iter_no_change, penalty=penalty, alpha=alpha,
            l1_ratio=l1_ratio, epsilon=epsilon, fit_intercept=fit_intercept,
            shuffle=shuffle, random_state=random_state, early_stopping=early_stopping,
            validation_fraction=validation_fraction, schedule=schedule,
            optimizer_kwargs=optimizer_kwargs, warm_start=warm_start, verbose=verbose,
            lazy=lazy, sklearn_compat=sklearn_compat)

    def _fit(self, X, y, sample_weight, *, partial):
        self._validate_params()
        if self.sklearn_compat:
            _compat.check(self, X)
        first = not (partial and hasattr(self, "coef_"))
        X, y = _validate_data(self, X, y, reset=first, dtype=self._dtypes(first),
                              accept_sparse="csr",
                              order="C", y_numeric=True)
        y = np.ascontiguousarray(y, dtype=X.dtype)
        w = self._check_weights(sample_weight, X)
        X = _as_trainable(X)
        warm = hasattr(self, "coef_") and (partial or self.warm_start)
        if self.sklearn_compat:  # scikit-learn's SGD on sparse X: fastgd._sklearn_compat
            _compat.fit(self, X, y, w, loss=_REG_LOSSES[self.loss], targets=[y],
                        partial=partial, warm=warm, coef0=getattr(self, "coef_", None),
                        icpt0=getattr(self, "intercept_", None))
            return self
        runs = self._runs_to_continue(partial, first, 1)
        if runs is not None:   # the coefficients as they are now (set or unpickled)
            model = runs[0].model
            np.copyto(model.coef_, self.coef_)
            if self.fit_intercept:
                np.copyto(model.intercept_, self.intercept_)
        else:
            model = self._model(_REG_LOSSES[self.loss], X,
                                self.coef_ if warm else None,
                                self.intercept_ if warm else None)
            runs = [self._new_run(model, self._seed())]
        h = self._run(runs[0], X, y, w, partial=partial, tol=self.tol)
        self.coef_ = model.coef_
        self.intercept_ = (model.intercept_ if self.fit_intercept
                           else np.zeros(1, dtype=X.dtype))
        self.history_ = h
        self._finish([h], runs, partial=partial)
        if not partial:
            self._warn_convergence([h], self.tol)
        return self

    def fit(self, X: ArrayLike, y: ArrayLike,
            sample_weight: ArrayLike | None = None) -> GDRegressor:
        """Fit by :func:`fastgd.fit` for up to ``max_iter`` epochs; returns self."""
        return self._fit(X, y, sample_weight, partial=False)

    def partial_fit(self, X: ArrayLike, y: ArrayLike,
                    sample_weight: ArrayLike | None = None) -> GDRegressor:
        """One epoch on (X, y), continuing from the current coefficients; returns self."""
        return self._fit(X, y, sample_weight, partial=True)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """``X @ coef_ + intercept_``."""
        check_is_fitted(self)
        Xa: np.ndarray = _validate_data(self, X, reset=False, dtype=[np.float64, np.float32],
                                        accept_sparse="csr",
                                        order="C")
        if is_sparse(Xa):
            return _sparse_decision(Xa, self.coef_, self.intercept_)
        return Xa @ self.coef_.astype(Xa.dtype, copy=False) + self.intercept_[0]


class GDClassifier(ClassifierMixin, _BaseGD):
    r"""A linear classifier trained with any fastgd optimizer (``SGDClassifier``'s API).

    Parameters: see :mod:`fastgd.sklearn`. ``loss``: ``"log_loss"`` (binary logistic, or
    multinomial softmax for more than two classes) or ``"hinge"`` (binary, or one-vs-rest).

    Attributes: ``classes_``, ``coef_`` ``(1 or n_classes, n_features)``, ``intercept_``
    ``(1 or n_classes,)``, ``n_iter_``, ``t_``, ``n_features_in_``, ``history_`` (the last
    run's :class:`fastgd.History`; for one-vs-rest, a list of them, one per class).

    It minimizes the objective of :class:`GDRegressor` with the classification loss
    (``log_loss``: :math:`\log(1 + e^{z}) - yz`, or the softmax cross-entropy; ``hinge``:
    :math:`\max(0, 1 - tz)`, :math:`t = \pm 1`).

    Example::

        from fastgd.sklearn import GDClassifier
        X = np.random.default_rng(0).normal(size=(200, 2))
        labels = (X[:, 0] + X[:, 1] > 0).astype(int)
        clf = GDClassifier(loss="log_loss", lr=0.1, max_iter=20, tol=None, random_state=0)
        clf.fit(X, labels)
        assert clf.score(X, labels) > 0.9 and clf.predict_proba(X).shape == (200, 2)
    """

    _losses = _CLF_LOSSES

    def __init__(self, loss="log_loss", *, optimizer="sgd", lr=0.01, batch_size=32,
                 max_iter=1000, tol=1e-3, n_iter_no_change=5, penalty="l2", alpha=1e-4,
                 l1_ratio=0.15, epsilon=0.1, fit_intercept=True, shuffle=True,
                 random_state=None, early_stopping=False, validation_fraction=0.1,
                 schedule="constant", optimizer_kwargs=None, warm_start=False, verbose=0,
                 lazy=False, sklearn_compat=False):
        super().__init__(
            loss, optimizer=optimizer, lr=lr, batch_size=batch_size, max_iter=max_iter,
            tol=tol, n_iter_no_change=n_iter_no_change, penalty=penalty, alpha=alpha,
            l1_ratio=l1_ratio, epsilon=epsilon, fit_intercept=fit_intercept,
            shuffle=shuffle, random_state=random_state, early_stopping=early_stopping,
            validation_fraction=validation_fraction, schedule=schedule,
            optimizer_kwargs=optimizer_kwargs, warm_start=warm_start, verbose=verbose,
            lazy=lazy, sklearn_compat=sklearn_compat)

    def _fit(self, X, y, sample_weight, *, partial, classes=None):
        self._validate_params()
        if self.sklearn_compat:
            _compat.check(self, X)
        first = not (partial and hasattr(self, "coef_"))
        X, y = _validate_data(self, X, y, reset=first, dtype=self._dtypes(first),
                              accept_sparse="csr",
                              order="C")
        check_classification_targets(y)
        warm_ok = True
        if partial:
            if first:
                if classes is None:
                    raise ValueError("classes must be passed on the first call to "
                                     "partial_fit.")
                self.classes_ = unique_labels(classes)
            elif classes is not None and not np.array_equal(self.classes_,
                                                            unique_labels(classes)):
                raise ValueError(f"`classes={classes!r}` is not the same as on the last "
                                 f"call to partial_fit, was: {self.classes_!r}")
            if not np.all(np.isin(np.unique(y), self.classes_)):
                raise ValueError("y contains labels not in the classes given to the first "
                                 "call to partial_fit")
        else:
            classes_ = np.unique(y)
            if len(classes_) < 2:
                raise ValueError(f"The number of classes has to be greater than one; got "
                                 f"{len(classes_)} class")
            if (self.warm_start and hasattr(self, "classes_")
                    and not np.array_equal(classes_, self.classes_)):
                warm_ok = False
            self.classes_ = classes_
        w = self._check_weights(sample_weight, X)
        X = _as_trainable(X)
        k = len(self.classes_)
        idx = np.searchsorted(self.classes_, y)
        warm = hasattr(self, "coef_") and (
            partial or (self.warm_start and warm_ok)) and self.coef_.shape[0] == (
                1 if k == 2 else k)
        if self.sklearn_compat:  # scikit-learn's SGD on sparse X: fastgd._sklearn_compat
            targets = [idx == c for c in ((1,) if k == 2 else range(k))]
            _compat.fit(self, X, y, w, loss=self.loss, targets=targets, partial=partial,
                        warm=warm, coef0=getattr(self, "coef_", None),
                        icpt0=getattr(self, "intercept_", None))
            return self
        d = X.shape[1]
        ovr = k > 2 and self.loss != "log_loss"
        runs = self._runs_to_continue(partial, first, k if ovr else 1)
        if runs is not None:   # the coefficients as they are now (set or unpickled)
            for c, run in enumerate(runs):
                m = run.model
                np.copyto(m.coef_, self.coef_[c] if ovr or k == 2 else self.coef_.T)
                if self.fit_intercept:
                    np.copyto(m.intercept_, self.intercept_[c:c + 1] if ovr
                              else self.intercept_)
        if not ovr:
            if k == 2:
                loss, yy = self.loss, (idx == 1).astype(X.dtype)
                coef = self.coef_[0] if warm else None
            else:
                loss, yy = "softmax_cross_entropy", idx.astype(np.int64)
                coef = self.coef_.T if warm else None
            if runs is None:
                model = self._model(loss, X, coef, self.intercept_ if warm else None)
                if not warm and loss == "softmax_cross_entropy":
                    model.coef_ = np.zeros((d, k), dtype=X.dtype)
                    model.intercept_ = (np.zeros(k, dtype=X.dtype) if self.fit_intercept
                                        else None)
                runs = [self._new_run(model, self._seed())]
            model = runs[0].model
            h = self._run(runs[0], X, yy, w, partial=partial, tol=self.tol)
            coef_ = model.coef_.reshape(1, d) if k == 2 else np.ascontiguousarray(model.coef_.T)
            icpt_ = model.intercept_ if self.fit_intercept else np.zeros(
                1 if k == 2 else k, dtype=X.dtype)
            hists = [h]
            self.history_ = h
        else:  # hinge, one-vs-rest
            if runs is None:
                seed = self._seed()
                seeds = [None] * k if seed is None else np.random.SeedSequence(seed).spawn(k)
                runs = [self._new_run(self._model(
                    "hinge", X, self.coef_[c] if warm else None,
                    self.intercept_[c:c + 1] if warm else None), seeds[c]) for c in range(k)]
            coef_ = np.zeros((k, d), dtype=X.dtype)
            icpt_ = np.zeros(k, dtype=X.dtype)
            hists = []
            for c, run in enumerate(runs):
                hists.append(self._run(run, X, (idx == c).astype(X.dtype), w,
                                       partial=partial, tol=self.tol))
                coef_[c] = run.model.coef_
                if self.fit_intercept:
                    icpt_[c] = run.model.intercept_[0]
            self.history_ = hists
        self.coef_ = coef_
        self.intercept_ = np.ascontiguousarray(icpt_)
        self._finish(hists, runs, partial=partial)
        if not partial:
            self._warn_convergence(hists, self.tol)
        return self

    def fit(self, X: ArrayLike, y: ArrayLike,
            sample_weight: ArrayLike | None = None) -> GDClassifier:
        """Fit by :func:`fastgd.fit` for up to ``max_iter`` epochs; returns self."""
        return self._fit(X, y, sample_weight, partial=False)

    def partial_fit(self, X: ArrayLike, y: ArrayLike, classes: ArrayLike | None = None,
                    sample_weight: ArrayLike | None = None) -> GDClassifier:
        """One epoch on (X, y), continuing from the current coefficients; ``classes``
        (all the labels) is required on the first call. Returns self."""
        return self._fit(X, y, sample_weight, partial=True, classes=classes)

    def decision_function(self, X: ArrayLike) -> np.ndarray:
        """``X @ coef_.T + intercept_``: ``(n,)`` for two classes (positive:
        ``classes_[1]``), else ``(n, n_classes)``."""
        check_is_fitted(self)
        Xa: np.ndarray = _validate_data(self, X, reset=False, dtype=[np.float64, np.float32],
                                        accept_sparse="csr",
                                        order="C")
        if is_sparse(Xa):
            z = _sparse_decision(Xa, self.coef_.T, self.intercept_)
        else:
            z = Xa @ self.coef_.T.astype(Xa.dtype, copy=False) + self.intercept_
        return z[:, 0] if z.shape[1] == 1 else z

    def predict(self, X: ArrayLike) -> np.ndarray:
        """The class with the largest decision value (two classes: ``classes_[1]`` where
        the decision value is > 0)."""
        z = self.decision_function(X)
        i = (z > 0).astype(np.intp) if z.ndim == 1 else np.argmax(z, axis=1)
        return self.classes_[i]

    def _has_proba(self):
        if self.loss != "log_loss":
            raise AttributeError(f"probability estimates are not available for "
                                 f"loss={self.loss!r}")
        return True

    @available_if(_has_proba)
    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Class probabilities ``(n, n_classes)``: the sigmoid of the decision value for
        two classes, its softmax for more (``loss="log_loss"`` only)."""
        z = self.decision_function(X)
        if z.ndim == 1:
            p1 = np.empty_like(z)
            pos = z >= 0
            p1[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
            ez = np.exp(z[~pos])
            p1[~pos] = ez / (1.0 + ez)
            return np.column_stack([1.0 - p1, p1])
        if self.sklearn_compat:  # one-vs-rest, normalised as SGDClassifier does
            p = 1.0 / (1.0 + np.exp(-z))
            s = p.sum(axis=1, keepdims=True)
            return np.divide(p, s, out=np.full_like(p, 1.0 / p.shape[1]), where=s != 0)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    @available_if(_has_proba)
    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
        """``log(predict_proba(X))``."""
        return np.log(self.predict_proba(X))
