"""fastgd.sklearn's sklearn_compat=True (fastgd._sklearn_compat): SGDClassifier and
SGDRegressor reproduced on sparse X to 1e-10 (coef_, intercept_, t_, n_iter_)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
sp = pytest.importorskip("scipy.sparse")

from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import SGDClassifier, SGDRegressor  # noqa: E402

from fastgd.sklearn import GDClassifier, GDRegressor  # noqa: E402


def _data(n=70, d=20, seed=2):
    rng = np.random.default_rng(seed)
    X = sp.random(n, d, density=0.25, format="csr", random_state=seed)
    X.data *= 3
    return X, rng


def _close(gd, sk):
    scale = max(np.max(np.abs(sk.coef_)), 1e-300)
    assert np.max(np.abs(gd.coef_ - sk.coef_)) / scale < 1e-10
    np.testing.assert_allclose(gd.intercept_, sk.intercept_, rtol=1e-10, atol=1e-14)
    assert gd.t_ == sk.t_ and gd.n_iter_ == sk.n_iter_
    assert gd.coef_.shape == sk.coef_.shape and gd.intercept_.shape == sk.intercept_.shape


@pytest.mark.parametrize("loss", ["log_loss", "hinge"])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("max_iter", [1, 3])
def test_classifier_equals_sgdclassifier(loss, n_classes, max_iter):
    X, rng = _data()
    y = rng.integers(0, n_classes, X.shape[0])
    sw = rng.random(X.shape[0]) + 0.2
    for pen, sched in (("l2", "optimal"), ("elasticnet", "invscaling"), ("l1", "constant")):
        kw = dict(loss=loss, penalty=pen, alpha=1e-2, l1_ratio=0.3, max_iter=max_iter,
                  tol=None, shuffle=False)
        sk = SGDClassifier(learning_rate=sched, eta0=0.05, **kw).fit(X, y, sample_weight=sw)
        gd = GDClassifier(schedule=sched, lr=0.05, batch_size=1, sklearn_compat=True,
                          **kw).fit(X, y, sample_weight=sw)
        _close(gd, sk)
        np.testing.assert_array_equal(gd.predict(X), sk.predict(X))
        if loss == "log_loss":
            np.testing.assert_allclose(gd.predict_proba(X), sk.predict_proba(X),
                                       rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("loss", ["squared_error", "huber", "epsilon_insensitive"])
def test_regressor_equals_sgdregressor(loss):
    X, rng = _data()
    y = rng.standard_normal(X.shape[0])
    for pen, sched, it in (("l2", "invscaling", 3), ("elasticnet", "optimal", 1)):
        kw = dict(loss=loss, penalty=pen, alpha=1e-2, epsilon=0.2, max_iter=it, tol=None,
                  shuffle=False)
        sk = SGDRegressor(learning_rate=sched, eta0=0.02, **kw).fit(X, y)
        gd = GDRegressor(schedule=sched, lr=0.02, batch_size=1, sklearn_compat=True,
                         **kw).fit(X, y)
        _close(gd, sk)


def test_tol_rule_and_partial_fit():
    X, rng = _data()
    y = rng.standard_normal(X.shape[0])
    kw = dict(penalty="l2", alpha=1e-3, max_iter=200, tol=1e-3, shuffle=False, eta0=0.1)
    sk = SGDRegressor(**kw).fit(X, y)
    gd = GDRegressor(penalty="l2", alpha=1e-3, max_iter=200, tol=1e-3, shuffle=False,
                     lr=0.1, schedule="invscaling", batch_size=1, sklearn_compat=True).fit(X, y)
    assert 1 < sk.n_iter_ < 200
    _close(gd, sk)
    sk = SGDRegressor(**kw)
    gd = GDRegressor(penalty="l2", alpha=1e-3, shuffle=False, lr=0.1, schedule="invscaling",
                     batch_size=1, sklearn_compat=True)
    for _ in range(2):
        sk.partial_fit(X, y)
        gd.partial_fit(X, y)
    _close(gd, sk)
    with pytest.warns(ConvergenceWarning):
        GDRegressor(max_iter=2, tol=1e-9, batch_size=1, sklearn_compat=True).fit(X, y)


def test_compat_settings_refused():
    X, rng = _data()
    y = rng.integers(0, 2, X.shape[0])
    for kw, what in (({"batch_size": 32}, "batch_size"), ({"optimizer": "adam"}, "optimizer"),
                     ({"schedule": "adaptive"}, "schedule"),
                     ({"early_stopping": True}, "early_stopping")):
        est = GDClassifier(sklearn_compat=True, **{"batch_size": 1, **kw})
        with pytest.raises(ValueError, match=what):
            est.fit(X, y)
        assert not hasattr(est, "coef_")
    with pytest.raises(ValueError, match="dense"):
        GDClassifier(sklearn_compat=True, batch_size=1).fit(X.toarray(), y)
    with pytest.raises(ValueError, match="sklearn_compat"):
        GDClassifier(sklearn_compat=1).fit(X, y)
    with pytest.raises(ValueError, match="lazy"):
        GDClassifier(lazy="no").fit(X, y)


def test_sparse_default_path_trains():
    X, rng = _data(n=200)
    w = rng.standard_normal(X.shape[1])
    y = (X @ w > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = GDClassifier(lr=0.5, max_iter=30, random_state=0).fit(X, y)
        lazy = GDClassifier(optimizer="adam", lr=0.05, max_iter=30, lazy=True,
                            random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.85 and lazy.score(X, y) > 0.85
