"""fastgd.sklearn's partial_fit: the run (optimizer state, schedule, generator, t_)
continues between calls, so chunks equal fit's epochs bit for bit; scikit-learn's own
SGD partial_fit as an independent check; pickles between chunks; warm_start."""

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.linear_model import SGDClassifier, SGDRegressor  # noqa: E402

from fastgd.sklearn import GDClassifier, GDRegressor  # noqa: E402

OPTIMIZERS = [("sgd", None), ("sgd", {"momentum": 0.9}), ("adam", None),
              ("adagrad", None)]
CHUNKS = [0, 48, 144, 152, 240]       # multiples of batch_size=8 but the last


def _problem(kind, n=240, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    z = X @ np.linspace(-1, 1, d)
    if kind == "regressor":
        return GDRegressor, {}, X, z + 0.3
    if kind in ("binary", "binary_hinge"):
        return (GDClassifier, {"loss": "hinge" if kind == "binary_hinge" else "log_loss"},
                X, np.where(z > 0, "yes", "no"))
    return (GDClassifier, {"loss": "hinge" if kind == "ovr" else "log_loss"}, X,
            np.digitize(z, [-0.5, 0.5]))


def _partial(est, X, y, chunks=CHUNKS, passes=1, classes=None):
    for _ in range(passes):
        for a, b in zip(chunks[:-1], chunks[1:]):
            if classes is None:
                est.partial_fit(X[a:b], y[a:b])
            else:
                est.partial_fit(X[a:b], y[a:b], classes=classes)
    return est


KINDS = ["regressor", "binary", "binary_hinge", "multinomial", "ovr"]
SCHEDULES = ["constant", "optimal", "invscaling"]
# every optimizer on every estimator kind, the schedules taking turns
CASES = [(opt, kw, kind, SCHEDULES[(i + j) % 3]) for i, (opt, kw) in enumerate(OPTIMIZERS)
         for j, kind in enumerate(KINDS)]


@pytest.mark.parametrize("optimizer,opt_kw,kind,schedule", CASES)
def test_chunks_equal_fit_epochs_bit_for_bit(kind, schedule, optimizer, opt_kw):
    cls, kw, X, y = _problem(kind)
    params = dict(kw, optimizer=optimizer, optimizer_kwargs=opt_kw, lr=0.01, batch_size=8,
                  shuffle=False, schedule=schedule, random_state=0)
    whole = cls(max_iter=2, tol=None, **params).fit(X, y)
    classes = None if cls is GDRegressor else np.unique(y)
    est = _partial(cls(**params), X, y, passes=2, classes=classes)
    np.testing.assert_array_equal(est.coef_, whole.coef_)
    np.testing.assert_array_equal(est.intercept_, whole.intercept_)
    assert est.t_ == whole.t_ == 1 + 2 * 30 and est.n_iter_ == 1


def test_regressor_partial_fit_matches_sgdregressor_invscaling():
    """scikit-learn's per-sample SGD continues its t_ (the invscaling step) between
    partial_fit calls; so does this one (batch_size=1)."""
    _, _, X, y = _problem("regressor", n=120)
    ref = SGDRegressor(learning_rate="invscaling", eta0=0.02, power_t=0.25, alpha=1e-3,
                       shuffle=False, random_state=0)
    est = GDRegressor(optimizer="sgd", lr=0.02, batch_size=1, alpha=1e-3,
                      schedule="invscaling", shuffle=False)
    for a in range(0, 120, 40):
        ref.partial_fit(X[a:a + 40], y[a:a + 40])
        est.partial_fit(X[a:a + 40], y[a:a + 40])
    assert est.t_ == ref.t_ == 121
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-10)
    np.testing.assert_allclose(est.intercept_, ref.intercept_, rtol=1e-10)


def test_classifier_partial_fit_matches_sgdclassifier_optimal():
    _, _, X, y = _problem("binary", n=120)
    ref = SGDClassifier(loss="log_loss", learning_rate="optimal", alpha=1e-2,
                        shuffle=False, random_state=0)
    est = GDClassifier(loss="log_loss", optimizer="sgd", batch_size=1, alpha=1e-2,
                       schedule="optimal", shuffle=False)
    for a in range(0, 120, 40):
        ref.partial_fit(X[a:a + 40], y[a:a + 40], classes=["no", "yes"])
        est.partial_fit(X[a:a + 40], y[a:a + 40], classes=["no", "yes"])
    assert est.t_ == ref.t_ == 121
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-10)
    np.testing.assert_allclose(est.intercept_, ref.intercept_, rtol=1e-10)


@pytest.mark.parametrize("kind", ["regressor", "ovr"])
def test_shuffle_permutes_each_call_with_the_runs_generator(kind):
    cls, kw, X, y = _problem(kind)
    classes = None if cls is GDRegressor else np.unique(y)
    params = dict(kw, optimizer="adam", lr=0.01, batch_size=8, schedule="invscaling")
    est = _partial(cls(shuffle=True, random_state=5, **params), X, y, classes=classes)
    # the same permutations, drawn by hand, fed in order
    manual = cls(shuffle=False, **params)
    if kind == "regressor":
        rngs = [np.random.default_rng(5)]
    else:
        rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(5).spawn(3)]
    perms = [[r.permutation(b - a) for a, b in zip(CHUNKS[:-1], CHUNKS[1:])] for r in rngs]
    if kind == "regressor":
        for (a, b), p in zip(zip(CHUNKS[:-1], CHUNKS[1:]), perms[0]):
            manual.partial_fit(X[a:b][p], y[a:b][p])
        np.testing.assert_array_equal(est.coef_, manual.coef_)
    else:   # one-vs-rest: one generator per class
        for c in range(3):
            one = GDClassifier(shuffle=False, **params)
            for (a, b), p in zip(zip(CHUNKS[:-1], CHUNKS[1:]), perms[c]):
                yy = np.where(y[a:b][p] == classes[c], 1, 0)
                one.partial_fit(X[a:b][p], yy, classes=[0, 1])
            np.testing.assert_array_equal(est.coef_[c], one.coef_[0])


@pytest.mark.parametrize("kind", ["regressor", "multinomial", "ovr"])
def test_pickle_between_chunks_gives_the_bits_of_the_run_not_stopped(kind):
    cls, kw, X, y = _problem(kind)
    classes = None if cls is GDRegressor else np.unique(y)
    params = dict(kw, optimizer="adam", lr=0.01, batch_size=8, schedule="invscaling",
                  random_state=2, verbose=1)
    full = _partial(cls(**params), X, y, classes=classes)
    est = _partial(cls(**params), X, y, chunks=CHUNKS[:3], classes=classes)
    est = pickle.loads(pickle.dumps(est))
    est = _partial(est, X, y, chunks=CHUNKS[2:], classes=classes)
    np.testing.assert_array_equal(est.coef_, full.coef_)
    np.testing.assert_array_equal(est.intercept_, full.intercept_)
    assert est.t_ == full.t_


def test_partial_fit_after_fit_continues_its_run():
    cls, kw, X, y = _problem("multinomial")
    params = dict(kw, optimizer="adam", lr=0.01, batch_size=8, shuffle=False,
                  schedule="invscaling", tol=None)
    three = cls(max_iter=3, **params).fit(X, y)
    est = cls(max_iter=2, **params).fit(X, y)
    est.partial_fit(X, y)
    np.testing.assert_array_equal(est.coef_, three.coef_)
    assert est.t_ == three.t_ == 1 + 90


def test_warm_start_keeps_coefficients_not_the_optimizer():
    import fastgd
    _, _, X, y = _problem("regressor")
    params = dict(optimizer="adam", lr=0.01, batch_size=8, shuffle=False, max_iter=2,
                  tol=None)
    est = GDRegressor(warm_start=True, **params).fit(X, y)
    start = (est.coef_.copy(), est.intercept_.copy())
    est.fit(X, y)
    assert est.t_ == 1 + 60                   # the schedule and t_ restart
    # the second fit: fastgd.fit from the first's coefficients with a new optimizer
    m = fastgd.LinearRegression("half_squared_error", penalty="l2", alpha=1e-4)
    m.coef_, m.intercept_ = start
    m.fit(X, y, optimizer="adam", lr=0.01, batch_size=8, epochs=2, shuffle=False,
          sample_weight=np.ones(len(y)))
    np.testing.assert_array_equal(est.coef_, m.coef_)
    four = GDRegressor(**dict(params, max_iter=4)).fit(X, y)
    assert not np.array_equal(est.coef_, four.coef_)   # Adam's moments were not kept


def test_set_coef_set_params_and_dtype_between_calls():
    _, _, X, y = _problem("regressor")
    est = GDRegressor(optimizer="adam", lr=0.01, batch_size=8, shuffle=False)
    est.partial_fit(X[:120], y[:120])
    state = est._runs[0].optimizer.state
    est.coef_ = np.zeros_like(est.coef_)      # values set by hand are continued
    est.partial_fit(X[120:], y[120:])
    assert est._runs[0].optimizer.state is state and est.t_ == 1 + 30
    assert not np.array_equal(est.coef_, 0)
    est.set_params(lr=0.02)                   # a new run from the current coefficients
    est.partial_fit(X[:120], y[:120])
    assert est._runs[0].optimizer.state is not state and est.t_ == 1 + 15
    assert est._runs[0].optimizer.param_groups[0]["lr"] == 0.02
    f32 = GDRegressor(batch_size=8).partial_fit(X[:120].astype(np.float32), y[:120])
    f32.partial_fit(X[120:], y[120:])         # float64 chunk, float32 coefficients
    assert f32.coef_.dtype == np.float32 and f32.t_ == 1 + 30
    with pytest.raises(ValueError, match="features"):
        f32.partial_fit(X[:, :3], y)


def test_adaptive_schedule_steps_once_per_call():
    _, _, X, y = _problem("regressor")
    est = GDRegressor(optimizer="sgd", lr=0.01, batch_size=8, schedule="adaptive",
                      n_iter_no_change=1, tol=10.0, shuffle=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            est.partial_fit(X, y)
    # no improvement by tol=10 in any epoch: lr / 5 after each of the 2 later epochs
    assert est._runs[0].optimizer.param_groups[0]["lr"] == pytest.approx(0.01 / 25)
    assert len(est.history_) == 3


def test_sparse_fit_then_partial_fit():
    """A sparse fit on the exact CSR path is a run partial_fit continues, as the dense one
    (equal within 1e-10); after a fit by an O(nnz) loop (plain SGD), partial_fit starts a
    new run from fit's coefficients."""
    sp = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(0)
    Xs = sp.random(300, 40, density=0.2, format="csr", random_state=1)
    y = (Xs @ rng.standard_normal(40) > 0).astype(int)
    Xd = Xs.toarray()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = GDClassifier(optimizer="adam", lr=0.05, max_iter=3, random_state=0).fit(Xs, y)
        b = GDClassifier(optimizer="adam", lr=0.05, max_iter=3, random_state=0).fit(Xd, y)
        assert a._runs is not None
        a.partial_fit(Xs, y)
        b.partial_fit(Xd, y)
        np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-10)
        assert a.t_ == b.t_ == 1 + 4 * 10
        c = GDClassifier(optimizer="sgd", lr=0.05, max_iter=3, random_state=0).fit(Xs, y)
        assert c._runs is None and c.t_ == 1 + 3 * 10
        before = c.coef_.copy()
        c.partial_fit(Xs, y)
        assert c.t_ == 1 + 10 and not np.array_equal(c.coef_, before)
