"""fastgd.models.losses: losses, gradients and Hessian diagonals of linear models on a batch.

The NumPy reference against torch autograd and scikit-learn's loss definitions (and the
conventions at the kinks, on every backend); numerical stability; validation messages;
predictions. The backends against the reference: test_losses_backends.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from models._losses import (
    COMPILED,
    INSTALLED,
    LOSSES,
    PENALTIES,
    _call,
    _rng,
    assert_same_bits,
    make_problem,
    run_on,
)

import fastgd
from fastgd.models import losses
from fastgd.reference import models as ref

# ----------------------------------------------------- the reference against oracles ---

def _torch_objective(loss, eps, penalty, alpha, l1_ratio):
    import torch
    import torch.nn.functional as F

    def per_sample(z, y):
        if loss == "squared_error":
            return (z - y) ** 2
        if loss == "half_squared_error":
            return 0.5 * (z - y) ** 2
        if loss == "huber":
            return F.huber_loss(z, y, reduction="none", delta=eps)
        if loss == "epsilon_insensitive":
            return torch.clamp(torch.abs(z - y) - eps, min=0)
        if loss == "log_loss":
            return F.binary_cross_entropy_with_logits(z, y, reduction="none")
        if loss == "hinge":
            t = torch.where(y > 0, 1.0, -1.0).to(z.dtype)
            return torch.clamp(1 - t * z, min=0)
        return F.cross_entropy(z, y, reduction="none")

    def objective(beta, b, X, y, w):
        z = X @ beta + b
        value = (w * per_sample(z, y)).sum() / w.sum()
        if penalty == "l2":
            value = value + alpha / 2 * (beta ** 2).sum()
        elif penalty == "l1":
            value = value + alpha * beta.abs().sum()
        elif penalty == "elasticnet":
            value = value + alpha * (l1_ratio * beta.abs().sum()
                                     + (1 - l1_ratio) / 2 * (beta ** 2).sum())
        return value

    return objective


@pytest.mark.parametrize("penalty", PENALTIES)
@pytest.mark.parametrize("loss", LOSSES)
def test_reference_matches_torch_autograd(loss, penalty):
    """Loss, gradients and the exact Hessian diagonal (torch.autograd.functional.hessian)
    of the weighted objective, in float64."""
    torch = pytest.importorskip("torch")
    X, y, coef, intercept, sw = make_problem(loss, n=60, d=5, k=3)
    eps = 0.3 if loss in ("huber", "epsilon_insensitive") else None
    alpha, l1_ratio = (0.0, 0.15) if penalty is None else (0.07, 0.35)
    with fastgd.use_backend("numpy"):
        got = losses.loss_grad(loss, X, y, coef, intercept, sample_weight=sw, penalty=penalty,
                               alpha=alpha, l1_ratio=l1_ratio, epsilon=eps, hessian=True)
    objective = _torch_objective(loss, eps if eps is not None else 0.1, penalty, alpha,
                                 l1_ratio)
    Xt, wt = torch.from_numpy(X), torch.from_numpy(sw)
    yt = torch.from_numpy(y)
    beta = torch.from_numpy(coef.copy()).requires_grad_(True)
    b = torch.from_numpy(intercept.copy()).requires_grad_(True)
    value = objective(beta, b, Xt, yt, wt)
    value.backward()
    np.testing.assert_allclose(got.loss, value.item(), rtol=1e-13)
    np.testing.assert_allclose(got.grad_coef, beta.grad.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got.grad_intercept, b.grad.numpy(), rtol=1e-12, atol=1e-15)
    sizes = (coef.size, intercept.size)

    def flat(params):
        beta_, b_ = params[:sizes[0]].reshape(coef.shape), params[sizes[0]:]
        return objective(beta_, b_, Xt, yt, wt)

    params = torch.cat([torch.from_numpy(coef).reshape(-1), torch.from_numpy(intercept)])
    H = torch.autograd.functional.hessian(flat, params).numpy()
    diag = np.diag(H)
    np.testing.assert_allclose(got.hess_coef.reshape(-1), diag[:sizes[0]], rtol=1e-12,
                               atol=1e-15)
    np.testing.assert_allclose(got.hess_intercept, diag[sizes[0]:], rtol=1e-12, atol=1e-15)


def test_reference_matches_sklearn_metrics():
    """The mean losses are scikit-learn's metrics (weighted as np.average)."""
    metrics = pytest.importorskip("sklearn.metrics")
    X, y, coef, intercept, sw = make_problem("squared_error", n=200)
    z = X @ coef + intercept[0]
    with fastgd.use_backend("numpy"):
        for w in (None, sw):
            value = losses.loss_value("squared_error", X, y, coef, intercept,
                                      sample_weight=w)
            assert value == pytest.approx(metrics.mean_squared_error(y, z, sample_weight=w),
                                          rel=1e-13)
            half = losses.loss_value("half_squared_error", X, y, coef, intercept,
                                     sample_weight=w)
            assert half == pytest.approx(value / 2, rel=1e-13)
        X, y, coef, intercept, sw = make_problem("log_loss", n=200)
        z = X @ coef + intercept[0]
        p = 1 / (1 + np.exp(-z))
        for w in (None, sw):
            value = losses.loss_value("log_loss", X, y, coef, intercept, sample_weight=w)
            assert value == pytest.approx(metrics.log_loss(y, p, sample_weight=w), rel=1e-12)
        X, y, coef, intercept, sw = make_problem("hinge", n=200)
        z = X @ coef + intercept[0]
        labels = np.where(y > 0, 1, -1)
        for w in (None, sw):
            value = losses.loss_value("hinge", X, y, coef, intercept, sample_weight=w)
            assert value == pytest.approx(metrics.hinge_loss(labels, z, sample_weight=w),
                                          rel=1e-13)
        X, y, coef, intercept, sw = make_problem("softmax_cross_entropy", n=200, k=5)
        Z = X @ coef + intercept
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        for w in (None, sw):
            value = losses.loss_value("softmax_cross_entropy", X, y, coef, intercept,
                                      sample_weight=w)
            assert value == pytest.approx(metrics.log_loss(y, P, sample_weight=w,
                                                           labels=range(5)), rel=1e-12)


def test_reference_matches_sklearn_losses():
    """Per-sample derivatives against scikit-learn's loss classes (sklearn._loss: its
    gradient_hessian gives l' and the diagonal l''; the SGD losses give hinge's and the
    epsilon-insensitive subgradients, kink conventions included)."""
    sk_loss = pytest.importorskip("sklearn._loss.loss")
    rng = _rng("sklearn-losses")
    z = 3 * rng.standard_normal(50)
    y = rng.standard_normal(50)

    def ours(kind, z, y, eps=0.1):
        return ref._POINTS[ref.KINDS.index(kind)](z, y, eps)

    val, g, h = ours("half_squared_error", z, y)
    sk = sk_loss.HalfSquaredError()
    np.testing.assert_allclose(val, sk.loss(y, z), rtol=1e-14)
    G, Hs = sk.gradient_hessian(y, z)
    np.testing.assert_allclose(g, G, rtol=1e-14)
    np.testing.assert_allclose(h, Hs, rtol=1e-14)
    val, g, h = ours("huber", z, y, eps=0.7)
    sk = sk_loss.HuberLoss(delta=0.7)
    np.testing.assert_allclose(val, sk.loss(y, z), rtol=1e-14)
    G, Hs = sk.gradient_hessian(y, z)
    np.testing.assert_allclose(g, G, rtol=1e-14)
    np.testing.assert_allclose(h, Hs, rtol=1e-14)
    yb = (rng.random(50) < 0.5).astype(float)
    val, g, h = ours("log_loss", z, yb)
    sk = sk_loss.HalfBinomialLoss()
    np.testing.assert_allclose(val, sk.loss(yb, z), rtol=1e-13)
    G, Hs = sk.gradient_hessian(yb, z)
    np.testing.assert_allclose(g, G, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(h, Hs, rtol=1e-13, atol=1e-16)
    Z = 3 * rng.standard_normal((50, 4))
    labels = rng.integers(0, 4, 50)
    val, g, h = ref._softmax(Z, labels)
    sk = sk_loss.HalfMultinomialLoss(n_classes=4)
    np.testing.assert_allclose(val, sk.loss(labels.astype(float), Z), rtol=1e-13)
    G, Hs = sk.gradient_hessian(labels.astype(float), Z)
    np.testing.assert_allclose(g, G, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(h, Hs, rtol=1e-13, atol=1e-16)
    sgd = pytest.importorskip("sklearn.linear_model._sgd_fast")
    # Kinks included: margin exactly 1, |r| exactly epsilon, r = 0.
    zs = np.array([1.0, -1.0, 0.5, 2.0, -0.25, 1.5])
    ys = np.array([1.0, -1.0, 1.0, 1.0, -1.0, -1.0])
    val, g, _ = ours("hinge", zs, ys)
    hinge = sgd.Hinge(1.0)
    np.testing.assert_array_equal(val, [hinge.py_loss(a, b) for a, b in zip(zs, ys)])
    np.testing.assert_array_equal(g, [hinge.py_dloss(a, b) for a, b in zip(zs, ys)])
    zs = np.array([0.25, -0.25, 0.0, 1.0, -3.0, 0.1])
    ys = np.zeros_like(zs)
    val, g, _ = ours("epsilon_insensitive", zs, ys, eps=0.25)
    eps_ins = sgd.EpsilonInsensitive(0.25)
    np.testing.assert_allclose(val, [eps_ins.py_loss(a, b) for a, b in zip(zs, ys)],
                               rtol=1e-15)
    np.testing.assert_array_equal(g, [eps_ins.py_dloss(a, b) for a, b in zip(zs, ys)])


def test_kink_conventions_on_every_backend():
    """The branch taken exactly at a kink: hinge margin 1 -> -t; |r| = epsilon -> inside
    the tube (epsilon_insensitive: 0) and the quadratic piece (huber: l'' = 1)."""
    X = np.array([[1.0], [1.0]])
    for backend in INSTALLED:
        with fastgd.use_backend(backend):
            r = losses.loss_grad("hinge", X, np.array([1.0, 0.0]), np.array([1.0]), None,
                                 rows=np.array([0], dtype=np.int64))
            assert r.loss == 0.0 and r.grad_coef[0] == -1.0
            r = losses.loss_grad("hinge", X, np.array([1.0, 0.0]), np.array([-1.0]), None,
                                 rows=np.array([1], dtype=np.int64))
            assert r.loss == 0.0 and r.grad_coef[0] == 1.0
            r = losses.loss_grad("epsilon_insensitive", X, np.array([0.5, 0.0]),
                                 np.array([0.75]), None, epsilon=0.25,
                                 rows=np.array([0], dtype=np.int64))
            assert r.loss == 0.0 and r.grad_coef[0] == 0.0
            r = losses.loss_grad("huber", X, np.array([0.5, 0.0]), np.array([0.75]), None,
                                 epsilon=0.25, hessian=True, rows=np.array([0], dtype=np.int64))
            assert r.grad_coef[0] == 0.25 and r.hess_coef[0] == 1.0
            r = losses.loss_grad("epsilon_insensitive", X, np.zeros(2), np.zeros(1), None,
                                 epsilon=0.0)
            assert r.loss == 0.0 and r.grad_coef[0] == 0.0


# ------------------------------------------------------------- numerical stability ---

@pytest.mark.parametrize("backend", INSTALLED)
def test_huge_logits_stay_finite(backend):
    """Decision values of +-1e300 (no overflow in exp), exact limits of the losses."""
    X = np.array([[1.0], [-1.0], [1.0], [-1.0]])
    big = np.array([1e300])
    with fastgd.use_backend(backend), np.errstate(all="raise"):
        # Correct side, confident: loss and gradient 0.
        r = losses.loss_grad("log_loss", X, np.array([1.0, 0.0, 1.0, 0.0]), big, None,
                             hessian=True)
        assert r.loss == 0.0 and r.grad_coef[0] == 0.0 and r.hess_coef[0] == 0.0
        # Wrong side: loss 1e300 (finite), gradient the mean of -x*(y - p) = 1.
        r = losses.loss_grad("log_loss", X, np.array([0.0, 1.0, 0.0, 1.0]), big, None,
                             hessian=True)
        assert r.loss == 1e300 and r.grad_coef[0] == 1.0 and r.hess_coef[0] == 0.0
        for z in (40.0, 800.0, 1e10):
            r = losses.loss_grad("log_loss", X[:1], np.array([1.0]), np.array([z]), None,
                                 hessian=True)
            assert r.loss == pytest.approx(math.exp(-z), rel=1e-15, abs=0)
            assert r.grad_coef[0] == pytest.approx(-math.exp(-z), rel=1e-15, abs=0)
            assert r.hess_coef[0] == pytest.approx(math.exp(-z), rel=1e-14, abs=0)
        # Softmax with logits 1e300 apart, and huge equal logits.
        Xs = np.array([[1.0, 0.0], [0.0, 1.0]])
        W = np.array([[1e300, -1e300, 0.0], [1e300, 1e300, 1e300]])
        r = losses.loss_grad("softmax_cross_entropy", Xs, np.array([0, 2]), W, None,
                             hessian=True)
        assert np.isfinite(r.loss) and np.all(np.isfinite(r.grad_coef))
        assert np.all(np.isfinite(r.hess_coef))
        # Row 0: class 0 certain (loss 0); row 1: three equal logits (loss log 3).
        assert r.loss == pytest.approx(np.log(3) / 2, rel=1e-15)
        Wt = np.array([[30.0, 0.0], [0.0, 0.0]])
        r = losses.loss_grad("softmax_cross_entropy", Xs[:1], np.array([0]), Wt, None,
                             hessian=True)
        assert r.loss == pytest.approx(math.exp(-30.0), rel=1e-14)
        assert r.grad_coef[0, 0] == pytest.approx(-math.exp(-30.0), rel=1e-14)
        assert r.hess_coef[0, 0] == pytest.approx(math.exp(-30.0), rel=1e-13)
        # Large residuals in the other losses: finite.
        for loss in ("squared_error", "huber", "epsilon_insensitive", "hinge"):
            yy = np.array([1.0, 0.0, 1.0, -1.0]) if loss == "hinge" else np.zeros(4)
            r = losses.loss_grad(loss, X, yy, np.array([1e150]), None, hessian=True)
            assert np.isfinite(r.loss) and np.all(np.isfinite(r.grad_coef))


@pytest.mark.parametrize("backend", INSTALLED)
def test_nonfinite_inputs_propagate(backend):
    """NaN in X or coef is not checked: the loss and gradients become NaN (documented)."""
    for loss in LOSSES:
        X, y, coef, intercept, sw = make_problem(loss, n=40, d=3)
        X = X.copy()
        X[5, 1] = np.nan
        with fastgd.use_backend(backend), np.errstate(all="ignore"):
            r = losses.loss_grad(loss, X, y, coef, intercept, hessian=True)
        assert np.isnan(r.loss), loss
        assert np.isnan(r.grad_coef).any() and np.isnan(r.grad_intercept).all(), loss
    # NaN results agree between the compiled variants (NaN-aware comparison).
    X, y, coef, intercept, sw = make_problem("huber", n=40, d=3)
    y = y.copy()
    y[3] = np.nan
    results = [run_on(b, i, lambda: _call("huber", X, y, coef, intercept)) for b, i in COMPILED]
    for r in results[1:]:
        assert_same_bits(r, results[0], "NaN target")


# ----------------------------------------------------------------------- validation ---

def _valid(loss="log_loss", dtype=np.float64):
    X, y, coef, intercept, sw = make_problem(loss, dtype, n=30, d=4, k=3)
    return dict(loss=loss, X=X, y=y, coef=coef, intercept=intercept, sample_weight=sw)


def _bad_cases():
    v = _valid()
    X, y, coef, b, sw = v["X"], v["y"], v["coef"], v["intercept"], v["sample_weight"]
    s = _valid("softmax_cross_entropy")
    cases = [
        (dict(loss=3), TypeError, "loss must be a string"),
        (dict(loss="mse"), ValueError, "unknown loss 'mse'"),
        (dict(X=X.tolist()), TypeError, "X must be a numpy.ndarray, got list"),
        (dict(X=X.astype(np.int64)), TypeError, "X has dtype int64"),
        (dict(X=X[0]), ValueError, r"X must be 2-D .* got shape \(4,\)"),
        (dict(X=X[::2, ::2]), ValueError, "X must be C- or F-ordered"),
        (dict(X=X[::-1]), ValueError, "X must be C- or F-ordered"),
        (dict(X=X.astype(">f8")), TypeError, "X has non-native byte order"),
        (dict(coef=coef.astype(np.float32)), TypeError,
         "coef has dtype float32 but X has float64"),
        (dict(coef=coef[:3]), ValueError, r"log_loss takes coef of shape \(4,\)"),
        (dict(coef=np.zeros((4, 2))), ValueError, r"log_loss takes coef of shape \(4,\)"),
        (dict(intercept=np.zeros(2)), ValueError, r"intercept of shape \(1,\) or \(\)"),
        (dict(intercept=b.astype(np.float32)), TypeError, "intercept has dtype float32"),
        (dict(y=y[:5]), ValueError, r"y must have shape \(30,\)"),
        (dict(y=y.astype(np.float32)), TypeError, "y has dtype float32 but X has float64"),
        (dict(y=y.astype(np.int64)), TypeError, "y has dtype int64 but X has float64"),
        (dict(sample_weight=sw[:3]), ValueError, r"sample_weight must have shape \(30,\)"),
        (dict(sample_weight=sw.astype(np.float32)), TypeError, "sample_weight has dtype"),
        (dict(rows=np.array([0, 1], dtype=np.int32)), TypeError, "rows must be an int64"),
        (dict(rows=np.zeros((2, 2), dtype=np.int64)), ValueError, "rows must be 1-D"),
        (dict(rows=np.zeros(0, dtype=np.int64)), ValueError, "rows is empty"),
        (dict(rows=np.array([0, 30], dtype=np.int64)), ValueError,
         r"rows\[1\] = 30 is out of range for X with 30 rows"),
        (dict(rows=np.array([-1], dtype=np.int64)), ValueError, r"rows\[0\] = -1 is out"),
        (dict(penalty="l3"), ValueError, "unknown penalty 'l3'"),
        (dict(penalty=2), TypeError, "penalty must be None or one of"),
        (dict(alpha=0.1), ValueError, "alpha=0.1 has no effect with penalty=None"),
        (dict(penalty="l2", alpha=-1.0), ValueError, "alpha must be finite and >= 0"),
        (dict(penalty="l2", alpha=float("nan")), ValueError, "alpha must be finite"),
        (dict(penalty="l2", alpha="1"), TypeError, "alpha must be a real number"),
        (dict(penalty="elasticnet", alpha=1.0, l1_ratio=1.5), ValueError,
         r"l1_ratio must be in \[0, 1\]"),
        (dict(epsilon=0.1), ValueError, "epsilon applies to the huber"),
        (dict(loss="huber", y=X[:, 0].copy(), epsilon=0.0), ValueError,
         "huber takes epsilon finite and > 0"),
        (dict(loss="epsilon_insensitive", y=X[:, 0].copy(), epsilon=-1.0), ValueError,
         "epsilon_insensitive takes epsilon finite and >= 0"),
        (dict(loss="huber", y=X[:, 0].copy(), epsilon=True), TypeError,
         "epsilon must be a real number"),
        (dict(y=np.where(np.arange(30) == 7, 2.0, y)), ValueError,
         r"y\[7\] = 2.0: log_loss takes y in \[0, 1\]"),
        (dict(y=np.where(np.arange(30) == 4, np.nan, y)), ValueError,
         r"y\[4\] = nan: log_loss takes y in \[0, 1\]"),
        (dict(y=np.where(np.arange(30) == 7, -1.0, y),
              rows=np.array([3, 7], dtype=np.int64)), ValueError,
         r"y\[7\] \(rows\[1\]\) = -1.0: log_loss"),
        (dict(loss="hinge", y=np.where(np.arange(30) == 2, 0.5, 1.0)), ValueError,
         r"y\[2\] = 0.5: hinge takes labels in \{0, 1\} or \{-1, 1\}"),
        (dict(sample_weight=np.where(np.arange(30) == 9, -1.0, sw)), ValueError,
         r"sample_weight\[9\] = -1.0: weights must be finite and >= 0"),
        (dict(sample_weight=np.where(np.arange(30) == 9, np.inf, sw)), ValueError,
         r"sample_weight\[9\] = inf"),
        (dict(sample_weight=np.zeros(30)), ValueError, "sample_weight sums to 0"),
        (dict(grad_coef=np.zeros(3)), ValueError, r"grad_coef has shape \(3,\), expected"),
        (dict(grad_coef=np.zeros(4, dtype=np.float32)), TypeError, "grad_coef has dtype"),
        (dict(grad_coef=np.zeros(8)[::2]), ValueError, "grad_coef must be C-contiguous"),
        (dict(grad_intercept=np.zeros(2)), ValueError, "grad_intercept has shape"),
        (dict(intercept=None, grad_intercept=np.zeros(1)), ValueError,
         "grad_intercept given but intercept is None"),
        (dict(hess_coef=np.zeros(4)), ValueError, "hess_coef / hess_intercept given with "
                                                  "hessian=False"),
        (dict(hessian=1), TypeError, "hessian must be True or False"),
        # softmax
        (dict(s, coef=s["coef"][:, 0].copy()), ValueError,
         r"softmax_cross_entropy takes coef of shape \(n_features, n_classes\) = \(4, k\)"),
        (dict(s, intercept=np.zeros(1)), ValueError, r"intercept of shape \(3,\)"),
        (dict(s, y=s["y"].astype(np.float64)), TypeError,
         "softmax_cross_entropy takes integer class labels y of dtype int64"),
        (dict(s, y=np.where(np.arange(30) == 11, 3, s["y"])), ValueError,
         r"y\[11\] = 3 is not a class label in 0..2 \(coef has 3 columns\)"),
        (dict(s, y=np.where(np.arange(30) == 0, -1, s["y"])), ValueError,
         r"y\[0\] = -1 is not a class label"),
    ]
    return [(dict(v, **kw), exc, msg) for kw, exc, msg in cases]


BAD = _bad_cases()


@pytest.mark.parametrize("backend", INSTALLED)
@pytest.mark.parametrize("case", range(len(BAD)), ids=[c[2][:40] for c in BAD])
def test_bad_input_is_refused_before_anything_is_written(case, backend):
    args, exc, msg = BAD[case]
    args = dict(args)
    X = args["X"]
    grad_given = "grad_coef" in args
    coef = args["coef"]
    ok_shape = isinstance(coef, np.ndarray) and isinstance(X, np.ndarray)
    if not grad_given and ok_shape:
        args["grad_coef"] = np.full(coef.shape, 7.0, dtype=coef.dtype) \
            if coef.dtype in (np.float32, np.float64) else None
    with fastgd.use_backend(backend):
        with pytest.raises(exc, match=msg):
            losses.loss_grad(args.pop("loss"), args.pop("X"), args.pop("y"), args.pop("coef"),
                             args.pop("intercept"), **args)
    if not grad_given and ok_shape and args.get("grad_coef") is not None:
        assert np.all(args["grad_coef"] == 7.0), "an output was written before the error"


def test_outputs_sharing_memory_are_refused():
    X, y, coef, intercept, sw = make_problem("squared_error", n=20, d=4)
    g = np.zeros(4)
    with pytest.raises(ValueError, match="hess_coef shares memory with grad_coef"):
        losses.loss_grad("squared_error", X, y, coef, intercept, grad_coef=g, hessian=True,
                         hess_coef=g)


def test_read_only_and_strided_inputs_are_accepted():
    X, y, coef, intercept, sw = make_problem("huber", n=50, d=6)
    want = losses.loss_grad("huber", X, y, coef, intercept, sample_weight=sw)
    Xr, yr = X.copy(), y.copy()
    Xr.flags.writeable = yr.flags.writeable = False
    got = losses.loss_grad("huber", Xr, yr, coef, intercept, sample_weight=sw)
    assert_same_bits(got, want)
    # y and sample_weight as strided columns of a bigger array.
    both = np.stack([y, sw], axis=1)
    got = losses.loss_grad("huber", X, both[:, 0], coef, intercept, sample_weight=both[:, 1])
    assert_same_bits(got, want)
    with pytest.raises(ValueError, match="grad_coef is read-only"):
        g = np.zeros(6)
        g.flags.writeable = False
        losses.loss_grad("huber", X, y, coef, intercept, grad_coef=g)


# ---------------------------------------------------------------------- predictions ---

def test_decision_function_predict_and_proba():
    X, y, coef, intercept, sw = make_problem("log_loss", n=50, d=4)
    z = losses.decision_function(X, coef, intercept)
    np.testing.assert_allclose(z, X @ coef + intercept[0], rtol=1e-15)
    rows = np.array([3, 1, 3], dtype=np.int64)
    np.testing.assert_array_equal(losses.decision_function(X, coef, intercept, rows=rows),
                                  z[rows])
    np.testing.assert_array_equal(losses.predict("log_loss", X, coef, intercept),
                                  (z > 0).astype(np.int64))
    np.testing.assert_array_equal(losses.predict("squared_error", X, coef, intercept), z)
    P = losses.predict_proba("log_loss", X, coef, intercept)
    np.testing.assert_allclose(P[:, 1], 1 / (1 + np.exp(-z)), rtol=1e-14)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-15)
    Xs, ys, W, b, _ = make_problem("softmax_cross_entropy", n=50, d=4, k=3)
    Z = losses.decision_function(Xs, W, b)
    assert Z.shape == (50, 3)
    np.testing.assert_array_equal(losses.predict("softmax_cross_entropy", Xs, W, b),
                                  np.argmax(Z, axis=1))
    P = losses.predict_proba("softmax_cross_entropy", Xs, W, b)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-15)
    big = losses.predict_proba("log_loss", X[:2], np.full(4, 1e300), None)
    assert np.all(np.isfinite(big))
    with pytest.raises(ValueError, match="hinge does not model probabilities"):
        losses.predict_proba("hinge", X, coef, intercept)
    with pytest.raises(ValueError, match=r"rows\[0\] = 50 is out of range"):
        losses.decision_function(X, coef, intercept, rows=np.array([50]))
