"""``sklearn_compat=True`` of :class:`fastgd.sklearn.GDClassifier` and ``GDRegressor``:
scikit-learn's ``SGDClassifier``/``SGDRegressor`` reproduced on sparse X
(:func:`fastgd.models.sparse_training.sklearn_sgd`: per sample, scikit-learn's update,
penalty, schedules, intercept decay 0.01, ``t_``, ``n_iter_`` and ``tol`` rule;
one-vs-rest for more than two classes, with both losses).

Requirements, checked with a ValueError naming the parameter: X sparse,
``optimizer="sgd"`` without ``optimizer_kwargs``, ``batch_size=1``, ``schedule`` one of
``"constant"``, ``"optimal"``, ``"invscaling"``, ``early_stopping=False``. With
``shuffle=False`` the fit equals scikit-learn's to rounding; with ``shuffle=True`` the
rows are shuffled by fastgd's generator, not scikit-learn's.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from fastgd.models import sparse_training as _st
from fastgd.models.linear import LinearModel
from fastgd.models.sparse import is_sparse

__all__ = ["check", "fit"]

_COMPAT_SCHEDULES = ("constant", "optimal", "invscaling")


def check(est: Any, X: Any) -> None:
    """ValueError unless ``est``'s settings and X admit scikit-learn's algorithm."""
    if not is_sparse(X):
        raise ValueError("sklearn_compat=True reproduces scikit-learn's SGD on sparse X "
                         "(its intercept decay 0.01 applies to sparse input only); got a "
                         "dense X: use sklearn_compat=False")
    if not (isinstance(est.optimizer, str) and est.optimizer.lower() == "sgd"):
        raise ValueError(f"sklearn_compat=True needs optimizer='sgd', got {est.optimizer!r}")
    if est.optimizer_kwargs:
        raise ValueError(f"sklearn_compat=True takes no optimizer_kwargs, got "
                         f"{est.optimizer_kwargs!r}")
    if est.batch_size != 1:
        raise ValueError(f"sklearn_compat=True needs batch_size=1, got {est.batch_size!r}")
    if not isinstance(est.schedule, str) or est.schedule not in _COMPAT_SCHEDULES:
        raise ValueError(f"sklearn_compat=True needs schedule in {list(_COMPAT_SCHEDULES)}, "
                         f"got {est.schedule!r}")
    if est.early_stopping:
        raise ValueError("sklearn_compat=True does not take early_stopping=True")


def fit(est: Any, X: Any, y: np.ndarray, w: np.ndarray, *, loss: str, targets: list,
        partial: bool, warm: bool, coef0: Any, icpt0: Any) -> None:
    """Fit ``est`` (settings checked by :func:`check`; X, y, w validated) on one binary
    or regression problem per entry of ``targets`` (0/1 labels or targets), one-vs-rest;
    sets ``coef_``, ``intercept_``, ``n_iter_``, ``t_``."""
    csr, _, _ = _st.check_data(LinearModel("half_squared_error"), X, targets[0], None)
    d = csr.shape[1]
    k = len(targets)
    dt = csr.data.dtype
    coef = np.zeros((k, d), dtype=dt)
    icpt = np.zeros(k, dtype=dt)
    if warm:
        coef[:] = coef0
        icpt[:] = icpt0
    t_start = float(est.t_) if (partial and hasattr(est, "t_")) else 1.0
    is_clf = loss in ("log_loss", "hinge")
    rng = np.random.default_rng(est._seed())
    n_iter = 0
    for c in range(k):
        yc = np.ascontiguousarray(targets[c], dtype=dt)
        cc = np.ascontiguousarray(coef[c])
        ic = np.ascontiguousarray(icpt[c:c + 1])
        it, _ = _st.sklearn_sgd(
            csr, yc, w, cc, ic if est.fit_intercept else None, loss=loss,
            penalty=est.penalty, alpha=float(est.alpha), l1_ratio=float(est.l1_ratio),
            epsilon=float(est.epsilon), eta0=float(est.lr),
            power_t=0.5 if is_clf else 0.25, schedule=est.schedule,
            max_iter=1 if partial else int(est.max_iter),
            tol=None if partial else est.tol, n_iter_no_change=int(est.n_iter_no_change),
            shuffle=bool(est.shuffle), rng=rng, t_start=t_start)
        coef[c] = cc
        icpt[c] = ic[0] if est.fit_intercept else 0.0
        n_iter = max(n_iter, it)
    est.coef_ = coef if is_clf else coef[0]
    est.intercept_ = icpt
    est.n_iter_ = n_iter
    est.t_ = t_start + n_iter * csr.shape[0]
    est.history_ = None
    if not partial and est.tol is not None and n_iter == int(est.max_iter):
        from sklearn.exceptions import ConvergenceWarning
        warnings.warn("Maximum number of iteration reached before convergence. Consider "
                      "increasing max_iter to improve the fit.", ConvergenceWarning,
                      stacklevel=3)
