"""fastgd.fit (fastgd/models/training.py, the fused loop of fastgd/models/_fused.py) on the model
classes; the classes themselves are in test_linear.py."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from _problems import binary, multiclass, regression
from parity.optim_db import OPTIM_DB

import fastgd
from fastgd import backends, lr_scheduler, models
from fastgd.optim.registry import TABLE_OPTIMIZERS as OPTIMIZERS


def lstsq(X, y):
    A = np.hstack([X, np.ones((X.shape[0], 1))])
    sol = np.linalg.lstsq(A, y, rcond=None)[0]
    return sol[:-1], sol[-1]


@pytest.mark.parametrize("batch_size,lr,epochs", [(None, 0.1, 300), (1, 0.002, 60),
                                                  (16, 0.02, 150)])
def test_reaches_least_squares(batch_size, lr, epochs):
    X, y = regression()
    coef, b = lstsq(X, y)
    m = fastgd.LinearRegression("half_squared_error")
    schedule = None if batch_size is None else (
        lambda opt: lr_scheduler.StepLR(opt, step_size=epochs // 4, gamma=0.3))
    m.fit(X, y, lr=lr, batch_size=batch_size, epochs=epochs, random_state=0,
          schedule=schedule)
    tol = 1e-6 if batch_size is None else 2e-3
    np.testing.assert_allclose(m.coef_, coef, atol=tol)
    np.testing.assert_allclose(m.intercept_[0], b, atol=tol)
    assert m.score(X, y) > 0.99
    assert len(m.history_) == epochs


def test_logistic_matches_sklearn():
    sk = pytest.importorskip("sklearn.linear_model")
    X, y = binary()
    m = fastgd.LogisticRegression().fit(X, y, optimizer="adam", lr=0.05, batch_size=None,
                                        epochs=3000)
    ref = sk.LogisticRegression(C=1e10, solver="lbfgs", max_iter=10000, tol=1e-10).fit(X, y)
    np.testing.assert_allclose(m.coef_, ref.coef_[0], rtol=1e-2, atol=1e-2)
    np.testing.assert_allclose(m.intercept_, ref.intercept_, rtol=1e-2, atol=1e-2)
    assert m.score(X, y) > 0.85
    np.testing.assert_allclose(m.predict_proba(X), ref.predict_proba(X), atol=1e-3)


def test_softmax_matches_sklearn():
    sk = pytest.importorskip("sklearn.linear_model")
    X, y = multiclass()
    m = fastgd.SoftmaxRegression(penalty="l2", alpha=1e-2)
    m.fit(X, y, optimizer="adam", lr=0.05, batch_size=None, epochs=3000)
    assert m.coef_.shape == (4, 3) and m.n_classes_ == 3
    assert m.score(X, y) > 0.9
    # sklearn: C = 1 / (n * alpha) for the mean loss + alpha/2 ||W||^2 (its multinomial
    # objective is sum of losses + 1/(2C) ||W||^2); compare the probabilities (the
    # softmax's coefficients are defined up to a shift per feature).
    ref = sk.LogisticRegression(C=1 / (len(y) * 1e-2), max_iter=10000, tol=1e-10).fit(X, y)
    np.testing.assert_allclose(m.predict_proba(X), ref.predict_proba(X), atol=5e-3)


def test_same_seed_same_bits_other_seed_differs():
    X, y = regression()
    a = fastgd.LinearRegression().fit(X, y, lr=0.01, epochs=3, random_state=7)
    b = fastgd.LinearRegression().fit(X, y, lr=0.01, epochs=3, random_state=7)
    c = fastgd.LinearRegression().fit(X, y, lr=0.01, epochs=3, random_state=8)
    assert a.coef_.tobytes() == b.coef_.tobytes()
    assert a.intercept_.tobytes() == b.intercept_.tobytes()
    assert a.coef_.tobytes() != c.coef_.tobytes()


def manual(X, y, *, shuffle, seed, epochs=3, bs=32, lr=0.01, early=False):
    """The loop fit documents, by hand."""
    rng = np.random.default_rng(seed)
    n = len(y)
    rows_all = np.arange(n, dtype=np.int64)
    if early:
        perm = rng.permutation(n)
        n_val = math.ceil(0.1 * n)
        rows_all = np.sort(perm[n_val:]).astype(np.int64)
    coef, b = np.zeros(X.shape[1]), np.zeros(1)
    opt = fastgd.Adam([coef, b], lr=lr)
    for _ in range(epochs):
        order = rows_all[rng.permutation(len(rows_all))] if shuffle else rows_all
        for j in range(0, len(order), bs):
            r = models.loss_grad("squared_error", X, y, coef, b, rows=order[j:j + bs])
            opt.step([r.grad_coef, r.grad_intercept])
    return coef, b


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("early", [False, True])
def test_manual_loop_same_bits(shuffle, early):
    X, y = regression(n=203)
    coef, b = manual(X, y, shuffle=shuffle, seed=3, early=early)
    m = fastgd.LinearRegression().fit(X, y, optimizer="Adam", lr=0.01, epochs=3,
                                      shuffle=shuffle, random_state=3, early_stopping=early)
    assert m.coef_.tobytes() == coef.tobytes()
    assert m.intercept_.tobytes() == b.tobytes()


def test_backends_agree():
    X, y = regression(n=3000, d=7)
    out = {}
    for name in backends.available():
        with fastgd.use_backend(name):
            m = fastgd.LinearRegression().fit(X, y, optimizer="adam", lr=0.01, epochs=2,
                                              batch_size=1500, random_state=1)
            out[name] = m.coef_.copy()
    if "cython" in out and "numba" in out:
        assert out["cython"].tobytes() == out["numba"].tobytes()
    for c in out.values():
        np.testing.assert_allclose(c, next(iter(out.values())), rtol=1e-12, atol=1e-14)


def sklearn_rule(losses, tol, n_iter_no_change):
    best, count = math.inf, 0
    for e, v in enumerate(losses):
        count = count + 1 if v > best - tol else 0
        best = min(best, v)
        if count >= n_iter_no_change:
            return e + 1
    return None


def test_tol_stops_where_sklearn_rule_says():
    X, y = regression()
    full = fastgd.LinearRegression().fit(X, y, lr=0.01, epochs=60, random_state=0)
    expect = sklearn_rule(full.history_.loss, 1e-3, 3)
    assert expect is not None and expect < 60
    m = fastgd.LinearRegression().fit(X, y, lr=0.01, epochs=60, random_state=0, tol=1e-3,
                                      n_iter_no_change=3)
    assert len(m.history_) == expect
    assert m.history_.loss == full.history_.loss[:expect]
    assert m.history_.converged and m.history_.stop_reason == "tol"


def test_gtol_and_convergence_warning():
    X, y = regression(noise=0.0)
    m = fastgd.LinearRegression().fit(X, y, lr=0.1, batch_size=None, epochs=500, gtol=1e-6)
    assert m.history_.stop_reason == "gtol" and m.history_.full_grad_norm[-1] <= 1e-6
    assert len(m.history_) < 500
    with pytest.warns(fastgd.ConvergenceWarning):
        fastgd.LinearRegression().fit(X, y, lr=1e-4, epochs=3, tol=1e-9, n_iter_no_change=2)
    with pytest.warns(fastgd.ConvergenceWarning):
        fastgd.LinearRegression().fit(X, y, lr=1e-4, epochs=3, gtol=1e-9)
    assert issubclass(fastgd.ConvergenceWarning, UserWarning)


def test_divergence_raises_and_keeps_finite_params():
    X, y = regression()
    m = fastgd.LinearRegression()
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        m.fit(X * 1e3, y, lr=1e6, epochs=50, batch_size=None)
    assert np.all(np.isfinite(m.coef_)) and np.all(np.isfinite(m.intercept_))


def test_early_stopping():
    X, y = regression(n=500)
    m = fastgd.LinearRegression().fit(X, y, lr=0.01, epochs=200, tol=1e-4,
                                      early_stopping=True, validation_fraction=0.2,
                                      random_state=0)
    h = m.history_
    assert "val_loss" in h.columns and h.stop_reason == "tol" and len(h) < 200
    assert sklearn_rule(h.val_loss, 1e-4, 5) == len(h)
    # 400 training rows, batch 32: 13 steps per epoch.
    assert h.n_steps == 13 * len(h)


def test_step_lr_halves_at_the_right_epochs():
    X, y = regression()
    m = fastgd.LinearRegression().fit(
        X, y, lr=0.04, epochs=7, schedule=lambda o: lr_scheduler.StepLR(o, 3, gamma=0.5))
    assert m.history_.lr == [0.04] * 3 + [0.02] * 3 + [0.01]


def test_invscaling_per_step():
    X, y = regression(n=100)
    m = fastgd.LinearRegression().fit(X, y, lr=0.01, epochs=2, batch_size=10,
                                      schedule="invscaling", record_steps=True)
    steps = m.history_.steps
    assert len(steps) == 20
    np.testing.assert_array_equal(steps.lr, [0.01 / t ** 0.25 for t in range(1, 21)])
    c = fastgd.LogisticRegression().fit(*binary(n=100), lr=0.01, epochs=1, batch_size=10,
                                        schedule="invscaling", record_steps=True)
    np.testing.assert_array_equal(c.history_.steps.lr, [0.01 / t ** 0.5 for t in range(1, 11)])


def test_optimal_and_adaptive_and_plateau_run():
    X, y = regression()
    fastgd.LinearRegression(penalty="l2", alpha=1e-3).fit(X, y, epochs=2,
                                                          schedule="optimal")
    m = fastgd.LinearRegression().fit(X, y, lr=0.01, epochs=100, schedule="adaptive",
                                      tol=1e-3, n_iter_no_change=2)
    assert min(m.history_.lr) < 0.01
    fastgd.LinearRegression().fit(
        X, y, epochs=3, schedule=lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=0))


def test_clipping_applied():
    X, y = regression(n=64)
    for clip in [dict(clip_norm=0.5), dict(clip_value=0.1), dict(clip_norm=0.5, clip_value=0.1)]:
        coef, b = np.zeros(5), np.zeros(1)
        opt = fastgd.SGD([coef, b], lr=0.1)
        for _ in range(3):
            r = models.loss_grad("squared_error", X, y, coef, b, rows=np.arange(64))
            g = [r.grad_coef, r.grad_intercept]
            if "clip_norm" in clip:
                fastgd.clip_grad_norm_(g, clip["clip_norm"])
            if "clip_value" in clip:
                fastgd.clip_grad_value_(g, clip["clip_value"])
            opt.step(g)
        m = fastgd.LinearRegression().fit(X, y, lr=0.1, epochs=3, batch_size=None,
                                          shuffle=False, **clip)
        assert m.coef_.tobytes() == coef.tobytes()
        plain = fastgd.LinearRegression().fit(X, y, lr=0.1, epochs=3, batch_size=None,
                                              shuffle=False)
        assert plain.coef_.tobytes() != coef.tobytes()


def test_sophia_uses_hessian():
    X, y = binary()
    opt_kw = dict(update_interval=2)
    m = fastgd.LogisticRegression().fit(X, y, optimizer="sophia", lr=0.05, epochs=30,
                                        batch_size=50, random_state=0,
                                        optimizer_kwargs=opt_kw)
    assert m.score(X, y) > 0.85
    # By hand: after a step where hessian_due(), the next batch's call has hessian=True.
    rng = np.random.default_rng(0)
    coef, b = np.zeros(4), np.zeros(1)
    opt = fastgd.Sophia([coef, b], lr=0.05, **opt_kw)
    due = False
    for _ in range(30):
        order = rng.permutation(len(y)).astype(np.int64)
        for j in range(0, len(y), 50):
            r = models.loss_grad("log_loss", X, y, coef, b, rows=order[j:j + 50], hessian=due)
            if due:
                opt.update_hessian([r.hess_coef, r.hess_intercept])
            opt.step([r.grad_coef, r.grad_intercept])
            due = opt.hessian_due()
    assert m.coef_.tobytes() == coef.tobytes()


def test_callbacks_stop_and_see_history():
    X, y = regression()
    seen = []

    def cb(epoch, history, model):
        seen.append((epoch, len(history), model.coef_.copy()))
        return epoch == 2

    m = fastgd.LinearRegression().fit(X, y, epochs=10, callbacks=[cb])
    assert [s[0] for s in seen] == [0, 1, 2] and [s[1] for s in seen] == [1, 2, 3]
    assert len(m.history_) == 3 and m.history_.stop_reason == "callback"


def test_history_columns_and_steps():
    X, y = regression(n=100)
    w = np.linspace(0.5, 2, 100)
    m = fastgd.LinearRegression().fit(X, y, epochs=2, batch_size=30, sample_weight=w,
                                      record_steps=True, shuffle=False)
    h = m.history_
    assert h.columns == ("loss", "grad_norm", "lr", "time")
    assert len(h.steps) == 8 and h.steps.epoch == [0] * 4 + [1] * 4
    bw = [w[i:i + 30].sum() for i in range(0, 100, 30)]
    np.testing.assert_allclose(h.loss[0], np.dot(h.steps.loss[:4], bw) / sum(bw))
    assert h.grad_norm[1] == h.steps.grad_norm[7]


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(lr=0), ValueError, "lr"), (dict(lr="a"), TypeError, "lr"),
    (dict(batch_size=0), ValueError, "batch_size"), (dict(epochs=1.5), TypeError, "epochs"),
    (dict(optimizer="nope"), ValueError, "optimizer"), (dict(shuffle=1), TypeError, "shuffle"),
    (dict(tol=-1), ValueError, "tol"), (dict(n_iter_no_change=0), ValueError, "n_iter"),
    (dict(gtol=float("nan")), ValueError, "gtol"), (dict(clip_norm=0), ValueError, "clip_norm"),
    (dict(clip_value=-1), ValueError, "clip_value"),
    (dict(validation_fraction=1.0, early_stopping=True), ValueError, "validation_fraction"),
    (dict(schedule="bogus"), ValueError, "schedule"), (dict(schedule=3), TypeError, "schedule"),
    (dict(schedule="optimal"), ValueError, "alpha"), (dict(callbacks=[1]), TypeError, "callbacks"),
    (dict(random_state="x"), TypeError, "random_state"),
    (dict(sample_weight=-np.ones(400)), ValueError, "sample_weight"),
    (dict(optimizer_kwargs={"momentum": -1}), ValueError, "momentum"),
    (dict(optimizer_kwargs={"lr": 1}), ValueError, "lr"),
])
def test_validation_before_change(kwargs, exc, match):
    X, y = regression()
    m = fastgd.LinearRegression().fit(X, y, epochs=1)
    before = m.coef_.copy()
    with pytest.raises(exc, match=match):
        fastgd.fit(m, X, y, **kwargs)
    assert m.coef_.tobytes() == before.tobytes()


def test_validation_of_data():
    X, y = regression()
    with pytest.raises(TypeError, match="model"):
        fastgd.fit(object(), X, y)
    with pytest.raises(ValueError, match="y must be 1-D"):
        fastgd.LinearRegression().fit(X, y[:-1])
    with pytest.raises(ValueError, match="X must be 2-D"):
        fastgd.LinearRegression().fit(y, y)
    with pytest.raises(ValueError, match="0/1"):
        fastgd.LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="0 .. k-1"):
        fastgd.SoftmaxRegression().fit(X, -np.ones(len(y), dtype=np.int64))
    with pytest.raises(ValueError, match="loss"):
        fastgd.LinearModel("nope")


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_optimizer_runs(name):
    X, y = regression(n=128)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = fastgd.LinearRegression().fit(X, y, optimizer=name, lr=1e-3, epochs=3,
                                          random_state=0)
    assert len(m.history_) == 3
    assert np.all(np.isfinite(m.coef_)) and np.all(np.isfinite(m.history_.loss))


# -- found in review ------------------------------------------------------------------------

def test_batches_whose_weights_are_all_zero_are_skipped():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 3))
    y = X @ np.arange(3.0) + 1
    w = np.ones(100)
    w[::10] = 0
    m = fastgd.LinearModel()
    fastgd.fit(m, X, y, sample_weight=w, batch_size=1, epochs=1, random_state=0)
    assert np.all(np.isfinite(m.coef_))
    # the same as training on the rows with weight, in the same order
    w2 = np.zeros(100)
    w2[:50] = 0
    w2[50:] = 1
    a, b = fastgd.LinearModel(), fastgd.LinearModel()
    fastgd.fit(a, X, y, sample_weight=w2, batch_size=1, epochs=2, shuffle=False)
    fastgd.fit(b, X[50:], y[50:], batch_size=1, epochs=2, shuffle=False)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    with pytest.raises(ValueError, match="all zero|zero for every training row"):
        fastgd.fit(fastgd.LinearModel(), X, y, sample_weight=np.zeros(100))


def test_a_setup_error_leaves_the_model_as_it_was():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((50, 3))
    y = X @ np.arange(3.0)
    m = fastgd.LinearModel()
    fastgd.fit(m, X[:, :2], y, epochs=1, random_state=0)
    coef = m.coef_.copy()
    with pytest.raises(TypeError, match="must return a scheduler"):
        fastgd.fit(m, X, y, schedule=lambda opt: 5)
    np.testing.assert_array_equal(m.coef_, coef)
    unaligned = np.frombuffer(b"\0" + X.tobytes(), dtype=np.float64, count=X.size,
                              offset=1).reshape(X.shape)
    assert not unaligned.flags.aligned
    fastgd.fit(fastgd.LinearModel(), unaligned, y, epochs=1)  # copied, not refused


def test_minimize_a_scalar():
    r = fastgd.minimize(lambda x: float(x * x), np.float64(3.0), jac=lambda x: 2 * x, lr=0.1,
                        max_iter=200, tol=1e-8)
    assert r.success and r.x.shape == () and abs(float(r.x)) < 1e-8


def test_weights_zero_on_every_training_row_are_refused_before_training():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((40, 2))
    y = X @ np.ones(2)
    w = np.zeros(40)
    w[0] = 1.0  # only one row has weight: hold it out for validation
    m = fastgd.LinearModel()
    with pytest.raises(ValueError, match="training row|validation row"):
        for seed in range(50):  # some split puts row 0 in the validation set
            fastgd.fit(m, X, y, sample_weight=w, early_stopping=True,
                       validation_fraction=0.5, random_state=seed, epochs=1)


# -- the fused path: batches of an epoch in one native call ---------------------------------

FUSED_CASES = [
    ("sgd", {}, "squared_error", np.float64, False, 32),
    ("sgd", dict(momentum=0.9, nesterov=True, weight_decay=0.01), "log_loss", np.float64,
     True, 16),
    ("sgd", dict(momentum=0.5, dampening=0.3), "softmax_cross_entropy", np.float32, True, 1),
    ("adam", dict(amsgrad=True, weight_decay=0.1), "huber", np.float64, True, 64),
    ("adamw", {}, "log_loss", np.float32, False, None),
    ("adam", dict(maximize=False, betas=(0.8, 0.9)), "squared_error", np.float32, True, 7),
]


@pytest.mark.parametrize("optimizer,options,loss,dtype,weighted,batch_size", FUSED_CASES)
@pytest.mark.parametrize("early_stopping", [False, True])
def test_fused_epochs_give_the_bits_of_the_python_loop(monkeypatch, optimizer, options, loss,
                                                       dtype, weighted, batch_size,
                                                       early_stopping):
    from fastgd.models import training
    # some batches of one row weigh nothing and are skipped
    X, y, w = _fused_data(loss, dtype, weighted, n=300, d=6, seed=5, zero_every=5)
    runs = []
    native_calls = []
    run = training._Fused.run
    monkeypatch.setattr(training._Fused, "run",
                        lambda self, *a: native_calls.append(1) or run(self, *a))
    for fused in (True, False):
        monkeypatch.setattr(training, "FUSED", fused)
        m = fastgd.LinearModel(loss)
        h = fastgd.fit(m, X, y, optimizer=optimizer, lr=0.01, batch_size=batch_size,
                       epochs=3, random_state=2, sample_weight=w,
                       early_stopping=early_stopping, optimizer_kwargs=options)
        runs.append((m.coef_, m.intercept_, h.as_dict()))
    (c1, i1, h1), (c2, i2, h2) = runs
    np.testing.assert_array_equal(c1, c2)
    np.testing.assert_array_equal(i1, i2)
    for key in ("loss", "grad_norm", "lr"):
        np.testing.assert_array_equal(h1[key], h2[key])
    # the compiled backend took the native path (the first step of a run is Python's)
    assert bool(native_calls) == (fastgd.backend() == "cython")


def test_fused_divergence_restores_like_the_python_loop(monkeypatch):
    from fastgd.models import training
    rng = np.random.default_rng(6)
    X = 100 * rng.standard_normal((200, 4))
    y = X @ np.ones(4)
    coefs = []
    for fused in (True, False):
        monkeypatch.setattr(training, "FUSED", fused)
        m = fastgd.LinearModel()
        with pytest.raises(FloatingPointError, match="diverged"):
            fastgd.fit(m, X, y, lr=1.0, batch_size=8, epochs=50, random_state=0,
                       optimizer_kwargs=dict(momentum=0.9))
        coefs.append(m.coef_.copy())
    np.testing.assert_array_equal(coefs[0], coefs[1])
    assert np.all(np.isfinite(coefs[0]))


def test_an_invalid_learning_rate_from_a_callback_is_refused_on_the_fused_path_too():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((200, 3))
    y = X @ np.ones(3)

    def sabotage(epoch, history, model):
        opt_groups[0]["lr"] = -0.5

    for optimizer in ("sgd", "adam"):
        m = fastgd.LinearModel()
        opt_groups = []
        real_init = fastgd.models._fused._Fused.__init__

        def spy(self, opt, *args, real_init=real_init, opt_groups=opt_groups, **kwargs):
            opt_groups[:] = opt.param_groups
            real_init(self, opt, *args, **kwargs)

        try:
            fastgd.models._fused._Fused.__init__ = spy
            with pytest.raises(ValueError, match="Invalid learning rate: -0.5"):
                fastgd.fit(m, X, y, optimizer=optimizer, lr=0.01, epochs=3,
                           callbacks=[sabotage])
        finally:
            fastgd.models._fused._Fused.__init__ = real_init


# every optimizer of the registry as the fused update, with clipping, per-step schedules,
# Sophia's Hessian refreshes, zero-weight batches and short native calls

def _fused_variants():
    from fastgd.optim.registry import TABLE_OPTIMIZERS as OPTIMIZERS
    losses = ["squared_error", "log_loss", "softmax_cross_entropy", "huber"]
    cases, k = [], 0
    for name, spec in OPTIMIZERS.items():
        for v, variant in enumerate(OPTIM_DB[spec.name]):
            options = dict(variant)
            lr = options.pop("lr", 0.01)
            extras = [{}, dict(clip_norm=0.5), dict(clip_value=0.05, schedule="invscaling"),
                      dict(clip_norm=0.3, clip_value=0.1, batch_size=1)][k % 4]
            cases.append(pytest.param(name, lr, options, losses[k % 4],
                                      (np.float64, np.float32)[k // 4 % 2], k % 3 == 0,
                                      extras, id=f"{name}-{v}"))
            k += 1
    return cases


def _fit_outcome(monkeypatch, fused, *args, chunk=None, **kwargs):
    from fastgd.models import training
    monkeypatch.setattr(training, "FUSED", fused)
    if chunk is not None:
        monkeypatch.setattr(training._Fused, "CHUNK", chunk)
    m = fastgd.LinearModel(kwargs.pop("loss"))
    try:
        h = fastgd.fit(m, *args, **kwargs)
        outcome = (h.as_dict(), h.n_steps, h.stop_reason)
    except FloatingPointError as exc:
        outcome = str(exc)
    return m.coef_, m.intercept_, outcome


def _fused_data(loss, dtype, weighted, n=160, d=5, seed=11, zero_every=7):
    """Data for a model with ``loss``; with ``weighted``, sample weights of which every
    ``zero_every``-th is zero."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    beta = rng.standard_normal(d)
    y = {"squared_error": X @ beta, "huber": X @ beta,
         "log_loss": (X @ beta > 0).astype(np.float64),
         "softmax_cross_entropy": np.argmax(X[:, :3], axis=1)}[loss]
    y = y if loss == "softmax_cross_entropy" else y.astype(dtype)
    w = None
    if weighted:
        w = rng.uniform(0, 2, n).astype(dtype)
        w[::zero_every] = 0
    return X, y, w


@pytest.mark.filterwarnings("error::UserWarning")
@pytest.mark.parametrize("optimizer,lr,options,loss,dtype,weighted,extras", _fused_variants())
def test_fused_epochs_of_every_optimizer_give_the_bits_of_the_python_loop(
        monkeypatch, optimizer, lr, options, loss, dtype, weighted, extras):
    from fastgd.models import training
    X, y, w = _fused_data(loss, dtype, weighted)
    kwargs = dict(loss=loss, optimizer=optimizer, lr=lr, epochs=3, random_state=3,
                  sample_weight=w, optimizer_kwargs=options, batch_size=16)
    kwargs.update(extras)
    native = []
    run = training._Fused.run
    monkeypatch.setattr(training._Fused, "run",
                        lambda self, *a: native.append(1) or run(self, *a))
    expected = _fit_outcome(monkeypatch, False, X, y, **dict(kwargs))
    assert not native
    # one long native call per epoch, and calls of 5 steps (state rolled back and replayed
    # where a call stops early)
    for chunk in (None, 5):
        got = _fit_outcome(monkeypatch, True, X, y, chunk=chunk, **dict(kwargs))
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])
        if isinstance(expected[2], str):
            assert got[2] == expected[2]
        else:
            h_got, h_exp = got[2][0], expected[2][0]
            for key in ("loss", "grad_norm", "lr"):
                np.testing.assert_array_equal(h_got[key], h_exp[key], err_msg=key)
            assert got[2][1:] == expected[2][1:]
    assert bool(native) == (fastgd.backend() == "cython")


@pytest.mark.skipif(fastgd.backend() != "cython", reason="fused epochs are compiled only")
def test_fused_epochs_keep_the_optimizer_state_opt_step_would(monkeypatch):
    """The optimizer left by a fused run has the state (step counts, scalar state, buffers)
    and learning rate of the Python loop's, also after a native call stopped early."""
    from fastgd.models import training
    X, y, w = _fused_data("squared_error", np.float64, True)
    states = []
    real_init = training._Fused.__init__
    for fused in (True, False):
        monkeypatch.setattr(training, "FUSED", fused)
        monkeypatch.setattr(training._Fused, "CHUNK", 4)
        seen = []

        def spy(self, opt, *args, seen=seen, **kw):
            seen.append(opt)
            real_init(self, opt, *args, **kw)

        monkeypatch.setattr(training._Fused, "__init__", spy)
        for name in ("NAdam", "ASGD", "AdamWScheduleFree", "Sophia", "Adafactor"):
            fastgd.fit(fastgd.LinearModel(), X, y, optimizer=name, lr=0.01, epochs=2,
                       batch_size=8, random_state=1, sample_weight=w, schedule="invscaling")
        states.append([(opt.state_dict(), opt.param_groups[0]["lr"]) for opt in seen])
    for (a, lr_a), (b, lr_b) in zip(*states):
        assert lr_a == lr_b
        assert a["state"].keys() == b["state"].keys()
        for i in a["state"]:
            assert a["state"][i].keys() == b["state"][i].keys()
            for key, value in a["state"][i].items():
                np.testing.assert_array_equal(value, b["state"][i][key], err_msg=key)


@pytest.mark.skipif(fastgd.backend() != "cython", reason="fused epochs are compiled only")
def test_a_scheduler_error_after_a_step_is_raised_after_that_step(monkeypatch):
    """A per-step scheduler that raises after step k: the fused run takes k steps natively
    and raises, as the Python loop does."""
    from fastgd.models import training
    X, y, _ = _fused_data("squared_error", np.float64, False)
    results = []
    for fused in (True, False):
        monkeypatch.setattr(training, "FUSED", fused)
        calls = []
        real_step = fastgd.lr_scheduler.InvScalingLR.step

        def step(self, *a, real_step=real_step, calls=calls):
            calls.append(1)
            if len(calls) == 17:
                raise RuntimeError("scheduler failed")
            return real_step(self, *a)

        monkeypatch.setattr(fastgd.lr_scheduler.InvScalingLR, "step", step)
        m = fastgd.LinearModel()
        with pytest.raises(RuntimeError, match="scheduler failed"):
            fastgd.fit(m, X, y, optimizer="adam", lr=0.01, epochs=2, batch_size=8,
                       random_state=0, schedule="invscaling")
        results.append(m.coef_.copy())
    np.testing.assert_array_equal(results[0], results[1])


# -- a closure-driven optimizer: L-BFGS on the full batch ---------------------------------

def _lbfgs_data(rng):
    X = rng.standard_normal((300, 6))
    y = X @ rng.standard_normal(6) + 0.5 + 0.1 * rng.standard_normal(300)
    return X, y


def test_lbfgs_fit_is_one_closure_step_per_epoch(rng):
    """fit(optimizer="lbfgs", batch_size=None) gives the bits of a hand-written loop: per
    epoch one LBFGS.step whose closure evaluates loss_grad on the training rows."""
    X, y = _lbfgs_data(rng)
    model = fastgd.LinearRegression()
    history = model.fit(X, y, optimizer="lbfgs", lr=1.0, batch_size=None, epochs=3,
                        shuffle=False, optimizer_kwargs={"history_size": 4}).history_
    coef, intercept = np.zeros(6), np.zeros(1)
    opt = fastgd.LBFGS([coef, intercept], lr=1.0, history_size=4)
    rows = np.arange(300, dtype=np.int64)
    losses = []

    def closure():
        res = fastgd.models.loss_grad("squared_error", X, y, coef, intercept, rows=rows)
        return res.loss, [res.grad_coef, res.grad_intercept]

    for _ in range(3):
        losses.append(opt.step(closure))
    assert model.coef_.tobytes() == coef.tobytes()
    assert model.intercept_.tobytes() == intercept.tobytes()
    assert history.loss == losses and history.n_steps == 3


def test_lbfgs_fit_reaches_the_least_squares_solution(rng):
    X, y = _lbfgs_data(rng)
    model = fastgd.LinearRegression().fit(X, y, optimizer="LBFGS", lr=1.0, batch_size=None,
                                          epochs=3, optimizer_kwargs={
                                              "line_search_fn": "strong_wolfe",
                                              "tolerance_change": 0.0,
                                              "tolerance_grad": 1e-13})
    A = np.hstack([X, np.ones((300, 1))])
    exact = np.linalg.lstsq(A, y, rcond=None)[0]
    np.testing.assert_allclose(np.append(model.coef_, model.intercept_), exact, rtol=1e-7)


@pytest.mark.parametrize("kwargs", [{"batch_size": 32}, {"batch_size": None, "clip_norm": 1.0},
                                    {"batch_size": None, "clip_value": 1.0}])
def test_lbfgs_fit_refuses_mini_batches_and_clipping(rng, kwargs):
    X, y = _lbfgs_data(rng)
    model = fastgd.LinearRegression()
    with pytest.raises(ValueError, match="needs the full batch"):
        model.fit(X, y, optimizer="lbfgs", **kwargs)
    assert not hasattr(model, "coef_") or model.coef_ is None
    # a batch_size of the whole training set is the full batch
    model.fit(X, y, optimizer="lbfgs", lr=1.0, batch_size=300, epochs=1)
