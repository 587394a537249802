"""The linear models trained by :func:`fastgd.fit`: :class:`LinearModel` and its
regression, logistic and softmax forms (their settings, parameters and predictions)."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastgd.history import History
from fastgd.models import losses as _models
from fastgd.models.params import (
    CLASSIFICATION,
    PENALTIES,
    _check_sample_weight,
    _check_X,
    _check_y,
    check,
)

__all__ = ["LinearModel", "LinearRegression", "LogisticRegression", "SoftmaxRegression"]


class LinearModel:
    """A linear model trained by :func:`fit`: decision values ``X @ coef_ + intercept_``.

    Args:
        loss: one of :data:`fastgd.models.LOSSES` (``"squared_error"``,
            ``"half_squared_error"``, ``"huber"``, ``"epsilon_insensitive"``,
            ``"log_loss"``, ``"hinge"``, ``"softmax_cross_entropy"``).
        penalty, alpha, l1_ratio, epsilon: as :func:`fastgd.models.loss_grad` (penalty on
            ``coef_`` only).
        fit_intercept: whether the model has an intercept (else ``intercept_`` is None).

    Attributes:
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
        if self.penalty not in PENALTIES:
            raise ValueError(f"penalty must be one of {PENALTIES}, got "
                             f"{self.penalty!r}")
        check("alpha", self.alpha)
        if self.penalty is None and self.alpha != 0:
            raise ValueError(f"alpha must be 0 without a penalty, got {self.alpha}")
        check("l1_ratio", self.l1_ratio)
        if self.epsilon is not None:
            if self.loss not in ("huber", "epsilon_insensitive"):
                raise ValueError(f"epsilon is only for huber and epsilon_insensitive, got "
                                 f"epsilon={self.epsilon!r} with loss={self.loss!r}")
            check("epsilon", self.epsilon)
        check("fit_intercept", self.fit_intercept)

    @property
    def is_classifier(self) -> bool:
        return self.loss in CLASSIFICATION

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
        from fastgd.models.training import fit  # fit takes a LinearModel: imported when called
        self.history_ = fit(self, X, y, **fit_kwargs)
        return self

    def decision_function(self, X) -> np.ndarray:
        """``X @ coef_ + intercept_``: ``(n,)``, or ``(n, n_classes)`` for softmax."""
        coef = self._fitted()
        return _models.decision_function(_check_X(X, coef.dtype),
                                         coef, self.intercept_)

    def predict(self, X) -> np.ndarray:
        """Decision values (regression) or int64 labels (classification), as
        :func:`fastgd.models.predict`."""
        coef = self._fitted()
        return _models.predict(self.loss, _check_X(X, coef.dtype),
                               coef, self.intercept_)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (``log_loss``: ``(n, 2)``; softmax: ``(n, k)``)."""
        coef = self._fitted()
        return _models.predict_proba(self.loss, _check_X(X, coef.dtype),
                                     coef, self.intercept_)

    def loss_value(self, X, y, sample_weight=None) -> float:
        """The training objective (weighted mean loss + penalty) on (X, y)."""
        coef = self._fitted()
        X = _check_X(X, coef.dtype)
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
        if loss in CLASSIFICATION:
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
