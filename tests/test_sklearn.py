"""fastgd.sklearn: scikit-learn's estimator checks and comparisons with SGDRegressor /
SGDClassifier."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.linear_model import SGDClassifier, SGDRegressor  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from fastgd.sklearn import GDClassifier, GDRegressor, expected_failed_checks  # noqa: E402


@parametrize_with_checks([GDRegressor(), GDClassifier(),
                          GDClassifier(loss="hinge")],
                         expected_failed_checks=expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _reg(n=400, d=5, seed=0):
    X, y = make_regression(n_samples=n, n_features=d, noise=5.0, random_state=seed)
    return X, (y - y.mean()) / y.std()


def test_import_fastgd_does_not_import_sklearn():
    import os

    import fastgd
    code = "import sys, fastgd; assert 'sklearn' not in sys.modules"
    # run beside the fastgd this process imported (the installed one in CI; a checkout's
    # uncompiled source folder would shadow it if run from the checkout)
    here = os.path.dirname(os.path.dirname(os.path.abspath(fastgd.__file__)))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=here)


@pytest.mark.parametrize("loss", ["squared_error", "huber", "epsilon_insensitive"])
def test_regressor_close_to_sgdregressor(loss):
    X, y = _reg()
    # The linear-tailed losses' gradients are bounded by epsilon: per-sample steps, as
    # scikit-learn takes, move much further per epoch than batch means.
    bs, epochs = (32, 300) if loss == "squared_error" else (1, 20)
    ours = GDRegressor(loss=loss, random_state=0, max_iter=epochs, tol=None,
                       batch_size=bs).fit(X, y)
    ref = SGDRegressor(loss=loss, random_state=0, max_iter=20, tol=None).fit(X, y)
    assert ours.coef_.shape == ref.coef_.shape == (5,)
    assert ours.intercept_.shape == ref.intercept_.shape == (1,)
    assert ours.score(X, y) > ref.score(X, y) - 0.02
    if loss == "squared_error":
        np.testing.assert_allclose(ours.coef_, ref.coef_, atol=0.05)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("loss", ["log_loss", "hinge"])
def test_classifier_close_to_sgdclassifier(loss, n_classes):
    X, y = make_classification(n_samples=400, n_features=6, n_informative=4,
                               n_classes=n_classes, random_state=0)
    labels = np.array(["a", "b", "c"])[y]
    ours = GDClassifier(loss=loss, random_state=0, max_iter=50).fit(X, labels)
    ref = SGDClassifier(loss=loss, random_state=0, max_iter=50).fit(X, labels)
    np.testing.assert_array_equal(ours.classes_, ref.classes_)
    assert ours.coef_.shape == ref.coef_.shape
    assert ours.intercept_.shape == ref.intercept_.shape
    assert ours.decision_function(X).shape == ref.decision_function(X).shape
    assert ours.score(X, labels) > ref.score(X, labels) - 0.05
    assert set(ours.predict(X)) <= set(ours.classes_)
    if loss == "log_loss":
        p = ours.predict_proba(X)
        assert p.shape == (400, n_classes)
        np.testing.assert_allclose(p.sum(axis=1), 1.0)
        np.testing.assert_array_equal(ours.classes_[p.argmax(axis=1)], ours.predict(X))
    else:
        assert not hasattr(ours, "predict_proba")


@pytest.mark.parametrize("est", [GDRegressor(optimizer="adam", lr=0.05),
                                 GDClassifier(loss="hinge", batch_size=8)])
def test_same_seed_same_coef(est):
    X, y = _reg()
    if isinstance(est, GDClassifier):
        y = np.digitize(y, [-0.5, 0.5])
    a = est.set_params(random_state=3, max_iter=5, tol=None).fit(X, y).coef_.copy()
    b = est.fit(X, y).coef_
    np.testing.assert_array_equal(a, b)
    c = est.set_params(random_state=4).fit(X, y).coef_
    assert not np.array_equal(a, c)


def test_matches_fastgd_fit():
    import fastgd
    X, y = _reg()
    est = GDRegressor(optimizer="adam", lr=0.02, batch_size=16, max_iter=3, tol=None,
                      random_state=7).fit(X, y)
    m = fastgd.LinearRegression("half_squared_error", penalty="l2", alpha=1e-4)
    m.fit(X, y, optimizer="adam", lr=0.02, batch_size=16, epochs=3, random_state=7,
          sample_weight=np.ones(len(y)))
    np.testing.assert_array_equal(est.coef_, m.coef_)
    np.testing.assert_array_equal(est.intercept_, m.intercept_)
    assert est.n_iter_ == 3
    assert est.t_ == 1 + 3 * 25          # 400 rows, batches of 16


def test_warm_start_and_partial_fit_continue():
    X, y = _reg()
    one = GDRegressor(max_iter=1, tol=None, random_state=0, shuffle=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cold = one.fit(X, y).coef_.copy()
        again = one.fit(X, y).coef_.copy()
        np.testing.assert_array_equal(cold, again)          # no warm start: restarts
        one.set_params(warm_start=True)
        warm = one.fit(X, y).coef_.copy()
    two = GDRegressor(max_iter=2, tol=None, random_state=0, shuffle=False).fit(X, y)
    np.testing.assert_allclose(warm, two.coef_, rtol=1e-12)  # SGD: stateless, no shuffle

    pf = GDRegressor(random_state=0, shuffle=False)
    pf.partial_fit(X, y)
    np.testing.assert_array_equal(pf.coef_, cold)
    assert pf.n_iter_ == 1 and pf.t_ == 1 + 13
    pf.partial_fit(X, y)
    np.testing.assert_allclose(pf.coef_, two.coef_, rtol=1e-12)
    assert pf.t_ == 1 + 26

    Xc, yc = make_classification(n_samples=300, n_features=5, n_classes=3,
                                 n_informative=3, random_state=1)
    clf = GDClassifier(random_state=0)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(Xc, yc)
    for _ in range(20):
        clf.partial_fit(Xc[:150], yc[:150], classes=[0, 1, 2])
    assert clf.coef_.shape == (3, 5)
    assert clf.score(Xc, yc) > 0.6
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(Xc[:, :4], yc)


def test_sample_weight_effect():
    X, y = _reg()
    w = np.where(y > 0, 10.0, 0.1)
    kw = dict(random_state=0, max_iter=20, tol=None, loss="epsilon_insensitive")
    plain = GDRegressor(**kw).fit(X, y)
    weighted = GDRegressor(**kw).fit(X, y, sample_weight=w)
    assert not np.allclose(plain.coef_, weighted.coef_)
    ones = GDRegressor(**kw).fit(X, y, sample_weight=np.ones(len(y)))
    np.testing.assert_array_equal(plain.coef_, ones.coef_)
    # Weighting the rows of one class up moves the decision towards it.
    Xc, yc = make_classification(n_samples=300, n_features=4, random_state=2, flip_y=0.2)
    wc = np.where(yc == 1, 20.0, 1.0)
    a = GDClassifier(random_state=0, max_iter=30).fit(Xc, yc)
    b = GDClassifier(random_state=0, max_iter=30).fit(Xc, yc, sample_weight=wc)
    assert (b.predict(Xc) == 1).sum() > (a.predict(Xc) == 1).sum()
    with pytest.raises(ValueError, match="non-zero"):
        GDRegressor().fit(X, y, sample_weight=np.zeros(len(y)))


def test_float32_kept_and_validation():
    X, y = _reg()
    est = GDRegressor(max_iter=3, tol=None, random_state=0).fit(X.astype(np.float32), y)
    assert est.coef_.dtype == np.float32 and est.predict(X).dtype == np.float64
    assert GDRegressor(max_iter=3, tol=None).fit(X, y).coef_.dtype == np.float64
    for bad in [dict(loss="hinge"), dict(optimizer="nope"), dict(lr=0), dict(batch_size=0),
                dict(penalty="l3"), dict(schedule="cosine"), dict(l1_ratio=2.0),
                dict(schedule="optimal", penalty=None), dict(validation_fraction=1.0)]:
        est = GDRegressor(**bad)                       # __init__ does not validate
        with pytest.raises(ValueError):
            est.fit(X, y)
    with pytest.raises(ValueError, match="loss"):
        GDClassifier(loss="squared_error").fit(X, y > 0)


def test_schedules_early_stopping_verbose_and_optimizers(capsys):
    X, y = _reg()
    Xc, yc = make_classification(n_samples=300, n_features=4, random_state=0)
    est = GDClassifier(schedule="optimal", random_state=0, max_iter=10, tol=None)
    assert est.fit(Xc, yc).score(Xc, yc) > 0.8           # SGDClassifier's default schedule
    for schedule in ["invscaling", "adaptive",
                     lambda opt: __import__("fastgd").lr_scheduler.StepLR(opt, 2)]:
        est = GDRegressor(schedule=schedule, lr=0.05, random_state=0, max_iter=10,
                          tol=None).fit(X, y)
        assert est.score(X, y) > 0.8
    est = GDRegressor(early_stopping=True, random_state=0, verbose=1, optimizer="adamw",
                      optimizer_kwargs=dict(weight_decay=0.0)).fit(X, y)
    assert est.n_iter_ < 1000 and est.score(X, y) > 0.8
    assert "Epoch 1" in capsys.readouterr().out
    from sklearn.exceptions import ConvergenceWarning
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        GDRegressor(max_iter=1, tol=1e-12, random_state=0).fit(X, y)
    est = GDClassifier(fit_intercept=False, batch_size=None, random_state=0,
                       max_iter=20).fit(X, y > 0)
    np.testing.assert_array_equal(est.intercept_, [0.0])


# -- sparse X ------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: GDRegressor(optimizer="adam", lr=0.05, max_iter=4, tol=None, random_state=0),
    lambda: GDRegressor(loss="huber", penalty="elasticnet", max_iter=4, random_state=0),
    lambda: GDClassifier(max_iter=4, tol=None, random_state=0),              # binary
    lambda: GDClassifier(max_iter=4, tol=None, random_state=0, early_stopping=True),
    lambda: GDClassifier(loss="hinge", max_iter=4, tol=None, random_state=0),
], ids=["adam", "huber-elasticnet", "log_loss", "early-stopping", "hinge"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_sparse_x_fits_as_its_dense_form(make, n_classes):
    sp = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(n_classes)
    X = sp.random(80, 30, density=0.2, format="csc", random_state=1,
                  data_rvs=rng.standard_normal)
    z = X @ rng.standard_normal(30)
    est = make()
    if isinstance(est, GDClassifier):
        y = np.digitize(z, np.quantile(z, np.linspace(0, 1, n_classes + 1)[1:-1]))
    elif n_classes == 3:
        pytest.skip("regression has no classes")
    else:
        y = z
    w = np.linspace(0.5, 2.0, 80)
    a, b = make().fit(X, y, sample_weight=w), make().fit(X.toarray(), y, sample_weight=w)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a.intercept_, b.intercept_, rtol=1e-10, atol=1e-12)
    assert a.n_iter_ == b.n_iter_ and a.t_ == b.t_
    Xt = X.tocsr()[:10].tocoo()
    np.testing.assert_allclose(getattr(a, "decision_function", a.predict)(Xt),
                               getattr(b, "decision_function", b.predict)(Xt.toarray()),
                               rtol=1e-10, atol=1e-12)
    assert a.score(X, y) == pytest.approx(b.score(X.toarray(), y), abs=1e-12)
    if isinstance(a, GDClassifier) and a.loss == "log_loss":
        np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X.toarray()),
                                   rtol=1e-10, atol=1e-12)


def test_bad_sparse_x_is_refused_before_the_estimator_changes():
    sp = pytest.importorskip("scipy.sparse")
    X = sp.random(40, 6, density=0.5, format="csr", random_state=0)
    y = np.arange(40) % 2
    est = GDClassifier(max_iter=2, tol=None, random_state=0).fit(X, y)
    coef = est.coef_.copy()
    nan = X.copy()
    nan.data[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.fit(nan, y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples|Found input"):
        est.fit(X, y[:-1])
    with pytest.raises(ValueError, match="sample_weight"):
        est.fit(X, y, sample_weight=np.ones(39))
    np.testing.assert_array_equal(est.coef_, coef)
    with pytest.raises(ValueError, match="features"):
        est.predict(sp.random(3, 7, density=0.5, format="csr"))
