"""fastgd.lr_scheduler.sklearn: scikit-learn's rules against the expressions of its source
and against SGDRegressor itself (skipped without scikit-learn)."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
from lr_scheduler._cases import LRS, NAN, _opt_step, _optimizer

import fastgd
from fastgd import lr_scheduler as fls

# -- scikit-learn's rules ------------------------------------------------------------------


def _sklearn_optimal(alpha, t, dloss_at_typw=-1.0):
    """``_plain_sgd``'s expressions (sklearn/linear_model/_sgd_fast.pyx.tp), in NumPy."""
    typw = np.sqrt(1.0 / np.sqrt(alpha))
    initial_eta0 = typw / max(1.0, dloss_at_typw)
    optimal_init = 1.0 / (initial_eta0 * alpha)
    return float(np.float64(1.0) / (alpha * (optimal_init + np.float64(t) - 1)))


@pytest.mark.parametrize("alpha", [1e-4, 1e-2, 0.37, 1.0, 3.0])
def test_optimal_is_sklearns_expression(alpha):
    opt = _optimizer("fastgd", "SGD")
    sched = fls.OptimalLR(opt, alpha=alpha)
    assert sched.t0 == 1.0 / (np.sqrt(1.0 / np.sqrt(alpha)) * alpha)
    for t in range(1, 400):
        expected = _sklearn_optimal(alpha, t)
        assert sched.get_last_lr() == [expected] * len(LRS), t
        assert [g["lr"] for g in opt.param_groups] == [expected] * len(LRS)
        _opt_step(opt)
        sched.step()


def test_optimal_resumes_with_last_epoch_and_takes_a_loss_gradient():
    opt = _optimizer("fastgd", "SGD")
    fls.OptimalLR(opt, alpha=0.01)
    sched = fls.OptimalLR(opt, alpha=0.01, last_epoch=99)  # the 101st step next
    assert sched.get_last_lr()[0] == _sklearn_optimal(0.01, 101)
    typw = math.sqrt(1.0 / math.sqrt(0.25))
    sched = fls.OptimalLR(_optimizer("fastgd", "SGD"), alpha=0.25,
                          loss_gradient=lambda y, p: 4.0 * (y - p))
    assert sched.get_last_lr()[0] == typw / (4.0 * (1.0 + typw))
    assert sched.t0 == 1.0 / (typw / (4.0 * (1.0 + typw)) * 0.25)


@pytest.mark.parametrize("power_t", [0.5, 0.25, 1.0, 0.0, 2.5])
def test_invscaling_is_sklearns_expression(power_t):
    opt = _optimizer("fastgd", "Adam")
    sched = fls.InvScalingLR(opt, power_t=power_t)
    for t in range(1, 400):
        assert sched.get_last_lr() == [eta0 / pow(float(t), power_t) for eta0 in LRS], t
        _opt_step(opt)
        sched.step()
    fresh = _optimizer("fastgd", "Adam", lrs=(1.0, 1.0, 1.0))
    again = fls.InvScalingLR(fresh, power_t=power_t)
    fresh.load_state_dict(opt.state_dict())
    again.load_state_dict(sched.state_dict())
    for pair in [(opt, sched), (fresh, again)]:
        _opt_step(pair[0])
        pair[1].step()
    assert again.get_last_lr() == sched.get_last_lr() == [eta0 / 401.0 ** power_t
                                                          for eta0 in LRS]


def test_adaptive_divides_by_five_after_n_epochs_without_improvement():
    opt = _optimizer("fastgd", "SGD", lrs=(0.01, 1e-6, 5e-6))
    sched = fls.AdaptiveLR(opt, n_iter_no_change=2, tol=0.1)
    history = []
    for loss in [1.0,    # best 1.0
                 0.95,   # 0.95 > 1.0 - 0.1: no improvement (1); best 0.95
                 0.80,   # 0.80 <= 0.85: improvement, count 0; best 0.80
                 0.75,   # no improvement (1)
                 0.72,   # no improvement (2): divide by 5 where lr > 1e-6; count 0
                 0.70,   # (1)
                 0.60]:  # 0.60 <= 0.62: improvement
        _opt_step(opt)
        sched.step(loss)
        history.append((sched.get_last_lr(), sched.no_improvement_count, sched.best))
    assert [h[1] for h in history] == [0, 1, 0, 1, 0, 1, 0]
    assert [h[2] for h in history] == [1.0, 0.95, 0.80, 0.75, 0.72, 0.70, 0.60]
    assert history[3][0] == [0.01, 1e-6, 5e-6]
    assert history[4][0] == [0.01 / 5, 1e-6, 5e-6 / 5] and not sched.should_stop


def test_adaptive_stops_when_no_rate_is_above_1e_6_and_max_mode():
    opt = _optimizer("fastgd", "SGD", lrs=(1e-6, 2e-7, 1e-6))
    sched = fls.AdaptiveLR(opt, n_iter_no_change=1, tol=0.0)
    sched.step(1.0)
    sched.step(1.0)  # 1.0 > 1.0 - 0 is false: an improvement, as in scikit-learn
    assert sched.no_improvement_count == 0
    sched.step(1.5)  # no improvement; no rate above 1e-6 to divide
    assert sched.should_stop and sched.get_last_lr() == [1e-6, 2e-7, 1e-6]
    assert sched.no_improvement_count == 1

    opt = _optimizer("fastgd", "SGD")
    sched = fls.AdaptiveLR(opt, n_iter_no_change=1, tol=0.01, mode="max")
    sched.step(0.5)                   # -inf -> 0.5: improvement
    sched.step(0.505)                 # 0.505 < 0.51: none; divide
    assert sched.get_last_lr() == [lr / 5 for lr in LRS] and sched.best == 0.505
    sched.step(0.515)                 # 0.515 >= 0.515: improvement (sklearn's strict <)
    assert sched.no_improvement_count == 0

    with pytest.raises(ValueError, match="metrics must be a finite number, got nan"):
        sched.step(NAN)
    assert sched.no_improvement_count == 0 and sched.last_epoch == 3

    opt = _optimizer("fastgd", "SGD")
    sched = fls.AdaptiveLR(opt, n_iter_no_change=1, tol=None)
    for loss in [1.0, 2.0, 3.0]:
        sched.step(loss)
    assert sched.get_last_lr() == list(LRS) and sched.no_improvement_count == 0


@pytest.mark.parametrize("make,error,message", [
    (lambda o: fls.OptimalLR(o, alpha=0.0), ValueError, "alpha must be > 0"),
    (lambda o: fls.OptimalLR(o, alpha=NAN), ValueError, "alpha must be > 0"),
    (lambda o: fls.OptimalLR(o, alpha="1"), TypeError, "alpha must be a real number"),
    (lambda o: fls.OptimalLR(o, loss_gradient=3), TypeError, "loss_gradient must be"),
    (lambda o: fls.InvScalingLR(o, power_t=-0.5), ValueError, "power_t must be"),
    (lambda o: fls.InvScalingLR(o, power_t=math.inf), ValueError, "power_t must be"),
    (lambda o: fls.InvScalingLR(o, power_t=True), TypeError, "power_t must be a real"),
    (lambda o: fls.AdaptiveLR(o, n_iter_no_change=0), ValueError, "n_iter_no_change"),
    (lambda o: fls.AdaptiveLR(o, n_iter_no_change=2.0), TypeError, "n_iter_no_change"),
    (lambda o: fls.AdaptiveLR(o, tol=-1e-3), ValueError, "tol must be"),
    (lambda o: fls.AdaptiveLR(o, mode="least"), ValueError, "mode must be"),
    (lambda o: fls.AdaptiveLR([o]), TypeError, "list is not an Optimizer"),
])
def test_sklearn_rules_validate(make, error, message):
    opt = _optimizer("fastgd", "SGD")
    with pytest.raises(error, match=re.escape(message)):
        make(opt)
    assert [g["lr"] for g in opt.param_groups] == list(LRS)
    assert all("initial_lr" not in g for g in opt.param_groups)


def _sgd_regressor_problem():
    rng = np.random.default_rng(3)
    X = rng.uniform(-0.5, 0.5, (40, 3))
    y = X @ np.array([0.5, -1.0, 0.25]) + 0.3 + 0.05 * rng.standard_normal(40)
    return X, y


def _replay_sklearn(X, y, make_sched, epochs, alpha=0.0, epoch_loss=False):
    """scikit-learn's per-sample SGD (squared error, dense, no shuffling) with fastgd.SGD:
    one step per sample, weight decay alpha on the coefficients, the loss before each
    update summed per epoch for AdaptiveLR."""
    w, b = np.zeros(X.shape[1]), np.zeros(())
    opt = fastgd.SGD([{"params": [w], "weight_decay": alpha}, {"params": [b]}], lr=0.01)
    sched = make_sched(opt)
    n = 0
    for n in range(1, epochs + 1):  # noqa: B007 (the count of epochs run is returned)
        total = 0.0
        for x_i, y_i in zip(X, y):
            p = float(np.dot(w, x_i)) + float(b)
            total += 0.5 * (y_i - p) ** 2
            dloss = p - y_i
            opt.step([dloss * x_i, np.asarray(dloss)])
            if not epoch_loss:
                sched.step()
        if epoch_loss:
            sched.step(total / len(y))
            if sched.should_stop:
                break
    return w, float(b), n


@pytest.mark.parametrize("rule", ["invscaling", "optimal", "optimal-l2", "adaptive"])
def test_matches_sklearn_sgd_regressor(rule):
    sklearn_sgd = pytest.importorskip("sklearn.linear_model")
    from sklearn.exceptions import ConvergenceWarning
    X, y = _sgd_regressor_problem()
    epochs = 60 if rule == "adaptive" else 5
    kwargs = dict(penalty=None, max_iter=epochs, tol=None, shuffle=False, eta0=0.01)
    if rule == "invscaling":
        kwargs.update(learning_rate="invscaling", power_t=0.25)
        def make(o):
            return fls.InvScalingLR(o, power_t=0.25)
        alpha = 0.0
    elif rule.startswith("optimal"):
        kwargs.update(learning_rate="optimal", alpha=0.5)
        if rule == "optimal-l2":
            kwargs.update(penalty="l2")
        def make(o):
            return fls.OptimalLR(o, alpha=0.5)
        alpha = 0.5 if rule == "optimal-l2" else 0.0  # the weight decay
    else:
        kwargs.update(learning_rate="adaptive", tol=1e-4, n_iter_no_change=3, eta0=0.05)
        def make(o):
            return fls.AdaptiveLR(o, n_iter_no_change=3, tol=1e-4)
        alpha = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = sklearn_sgd.SGDRegressor(**kwargs).fit(X, y)
    if rule == "adaptive":
        def make_adaptive(o):
            for g in o.param_groups:
                g["lr"] = 0.05
            return make(o)
        w, b, n_iter = _replay_sklearn(X, y, make_adaptive, epochs, epoch_loss=True)
        assert n_iter == reg.n_iter_ < epochs  # it stopped where scikit-learn stopped
    else:
        w, b, _ = _replay_sklearn(X, y, make, epochs, alpha=alpha)
    # the same learning rates; the updates round differently in the last bit
    np.testing.assert_allclose(w, reg.coef_, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(b, reg.intercept_[0], rtol=1e-13, atol=1e-15)
