"""fastgd.models: losses, gradients and Hessian diagonals of linear models on a batch.

Every backend against the NumPy reference (every loss, dtype, order of X, with and without
weights, rows and each penalty); the compiled core against Numba bit for bit (and across
instruction sets, thread counts and memory layouts); the reference against torch autograd
and scikit-learn's loss definitions; numerical stability; validation messages.
"""

from __future__ import annotations

import math
import pathlib
import re
import shutil
import subprocess
import zlib

import numpy as np
import pytest

import fastgd
from fastgd import backends
from fastgd.models import losses
from fastgd.reference import models as ref

INSTALLED = backends.available()
LOSSES = losses.LOSSES
REGRESSION = ("squared_error", "half_squared_error", "huber", "epsilon_insensitive")
PENALTIES = (None, "l2", "l1", "elasticnet")
DTYPES = (np.float64, np.float32)


def _rng(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def make_problem(loss, dtype=np.float64, n=300, d=13, k=4, order="C", seed=0, scale=1.0):
    """X, y, coef, intercept and sample weights for ``loss``: decision values of order 1,
    continuous targets (no sample on a kink of a piecewise loss), weights in [0.2, 2)."""
    rng = _rng(loss, np.dtype(dtype).name, n, d, k, seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    if order == "F":
        X = np.asfortranarray(X)
    if loss == "softmax_cross_entropy":
        coef = (scale * rng.standard_normal((d, k)) / np.sqrt(d)).astype(dtype)
        intercept = rng.standard_normal(k).astype(dtype)
        y = rng.integers(0, k, n)
    else:
        coef = (scale * rng.standard_normal(d) / np.sqrt(d)).astype(dtype)
        intercept = rng.standard_normal(1).astype(dtype)
        z = X.astype(np.float64) @ coef.astype(np.float64) + float(intercept[0])
        if loss == "log_loss":
            y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(dtype)
        elif loss == "hinge":
            y = np.where(rng.random(n) < 1 / (1 + np.exp(-2 * z)), 1.0, -1.0).astype(dtype)
            y[::3] = np.where(y[::3] > 0, 1.0, 0.0)   # mixed label conventions: 0 and -1
        else:
            y = (z + rng.standard_normal(n)).astype(dtype)
    sw = (0.2 + 1.8 * rng.random(n)).astype(dtype)
    return X, y, coef, intercept, sw


def _tolerance(dtype):
    return dict(rtol=1e-12, atol=0) if dtype == np.float64 else dict(rtol=2e-6, atol=0)


def assert_close(got, want, dtype, what=""):
    """Relative to the largest entry of ``want`` (gradients are sums with cancellation)."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    scale = max(float(np.max(np.abs(want))) if want.size else 0.0, 1e-300)
    tol = _tolerance(dtype)["rtol"]
    err = float(np.max(np.abs(got - want))) / scale if want.size else 0.0
    assert err <= tol, f"{what}: relative error {err:.3g} > {tol:.1g}"


def assert_same_bits(a, b, what=""):
    assert a.loss == b.loss or (np.isnan(a.loss) and np.isnan(b.loss)), \
        f"{what}: loss {a.loss!r} != {b.loss!r}"
    for field in ("grad_coef", "grad_intercept", "hess_coef", "hess_intercept"):
        x, y = getattr(a, field), getattr(b, field)
        if x is None or y is None:
            assert x is None and y is None, f"{what}: {field}"
            continue
        np.testing.assert_array_equal(x, y, err_msg=f"{what}: {field}")


def _compiled_variants():
    """(backend, instruction set or None) for every compiled variant: the compiled core
    once per instruction set this CPU runs, and Numba."""
    out = []
    if "cython" in INSTALLED:
        core = backends.load("cython")
        out += [("cython", isa) for isa, ok in core.isas().items() if ok]
    if "numba" in INSTALLED:
        out.append(("numba", None))
    return out


COMPILED = _compiled_variants()


def run_on(backend, isa, fn):
    with fastgd.use_backend(backend):
        if isa is None:
            return fn()
        core = backends.load("cython")
        previous = core.isa()
        core.set_isa(isa)
        try:
            return fn()
        finally:
            core.set_isa(previous)


def _call(loss, X, y, coef, intercept, **kw):
    return losses.loss_grad(loss, X, y, coef, intercept, hessian=True, **kw)


# ------------------------------------------------------------------ backend parity ---

@pytest.mark.parametrize("penalty", PENALTIES)
@pytest.mark.parametrize("use_rows", [False, True], ids=["all-rows", "rows"])
@pytest.mark.parametrize("use_sw", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("loss", LOSSES)
def test_every_backend_matches_the_reference(loss, dtype, order, use_sw, use_rows, penalty):
    X, y, coef, intercept, sw = make_problem(loss, dtype, order=order)
    rows = _rng("rows", loss).integers(0, X.shape[0], 157) if use_rows else None
    kw = dict(sample_weight=sw if use_sw else None, rows=rows, penalty=penalty,
              alpha=0.0 if penalty is None else 0.03, l1_ratio=0.4)
    with fastgd.use_backend("numpy"):
        want = _call(loss, X, y, coef, intercept, **kw)
        assert losses.loss_value(loss, X, y, coef, intercept, **kw) == want.loss
    results = {}
    for backend, isa in COMPILED:
        got = run_on(backend, isa, lambda: _call(loss, X, y, coef, intercept, **kw))
        what = f"{backend}-{isa}" if isa else backend
        assert_close(got.loss, want.loss, np.float64, f"{what} loss")
        for field in ("grad_coef", "grad_intercept", "hess_coef", "hess_intercept"):
            g = getattr(got, field)
            assert g.dtype == dtype and g.shape == getattr(want, field).shape
            assert_close(g, getattr(want, field), dtype, f"{what} {field}")
        value = run_on(backend, isa, lambda: losses.loss_value(loss, X, y, coef, intercept,
                                                               **kw))
        assert value == got.loss, f"{what}: loss_value differs from loss_grad's loss"
        results[what] = got
    # Every compiled variant (each instruction set, and Numba) gives the same bits.
    names = list(results)
    for other in names[1:]:
        assert_same_bits(results[other], results[names[0]], f"{other} vs {names[0]}")


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("loss", LOSSES)
def test_same_bits_for_c_f_and_strided_x(loss, dtype):
    """The order of operations does not depend on X's layout: C, F, a slice of rows of an
    F-ordered array, a slice of columns of a C-ordered one, all the same bits."""
    X, y, coef, intercept, sw = make_problem(loss, dtype, n=2500, d=21)
    big_f = np.asfortranarray(np.concatenate([X, X[:7]]))
    wide_c = np.ascontiguousarray(np.concatenate([X, X[:, :5]], axis=1))
    layouts = {"C": X, "F": np.asfortranarray(X), "F-rows": big_f[:X.shape[0]],
               "C-cols": wide_c[:, :X.shape[1]]}
    assert not layouts["F-rows"].flags.f_contiguous and not layouts["C-cols"].flags.c_contiguous
    rows = _rng("strided", loss).integers(0, X.shape[0], 1100)
    for backend, isa in COMPILED:
        for kw in (dict(sample_weight=sw), dict(rows=rows)):
            results = {name: run_on(backend, isa, lambda Xl=Xl, kw=kw: _call(
                                        loss, Xl, y, coef, intercept, **kw))
                       for name, Xl in layouts.items()}
            for name in layouts:
                assert_same_bits(results[name], results["C"], f"{backend}-{isa} {name}")


@pytest.mark.parametrize("loss", LOSSES)
def test_one_row_and_one_column_views(loss):
    """X of one column or one row taken out of bigger arrays (odd strides in the size-1
    dimension), and broadcast y / weights (stride 0): the same bits as contiguous copies."""
    X, y, coef, intercept, sw = make_problem(loss, n=50, d=1, k=3)
    big_c = np.ascontiguousarray(np.concatenate([X, X, X], axis=1))
    col = big_c[:, 1:2]
    assert col.strides[0] == 3 * col.itemsize
    X2, y2, coef2, intercept2, _ = make_problem(loss, n=1, d=9, k=3, seed=1)
    big_f = np.asfortranarray(np.concatenate([X2, X2, X2], axis=0))
    row = big_f[1:2]
    assert row.strides[1] == 3 * row.itemsize
    const_w = np.broadcast_to(np.array(0.5), (50,))
    for backend in INSTALLED:
        # The compiled kernels give the same bits; NumPy's matmul may round differently for
        # a strided operand.
        same = assert_same_bits if backend != "numpy" else (
            lambda a, b, what: assert_close(a.grad_coef, b.grad_coef, np.float64, what))
        with fastgd.use_backend(backend):
            a = _call(loss, col, y, coef, intercept, sample_weight=sw)
            b = _call(loss, np.ascontiguousarray(col), y, coef, intercept, sample_weight=sw)
            same(a, b, f"{backend} one column")
            a = _call(loss, row, y2, coef2, intercept2)
            b = _call(loss, np.ascontiguousarray(row), y2, coef2, intercept2)
            same(a, b, f"{backend} one row")
            a = _call(loss, col, y, coef, intercept, sample_weight=const_w)
            b = _call(loss, col, y, coef, intercept)
            assert a.loss == pytest.approx(b.loss, rel=1e-15)
            np.testing.assert_allclose(a.grad_coef, b.grad_coef, rtol=1e-15)


@pytest.mark.parametrize("loss", LOSSES)
def test_thread_count_does_not_change_a_bit(loss):
    """A batch split into several chunks: 1, 2 and 3 threads give the same bits."""
    if "cython" not in INSTALLED:
        pytest.skip("needs the compiled core")
    core = backends.load("cython")
    if not core.OPENMP:
        pytest.skip("the compiled core was built without OpenMP")
    from fastgd.backends import _models
    X, y, coef, intercept, sw = make_problem(loss, n=9000, d=17, k=3)
    assert _models.n_chunks(X.shape[0], coef.size) > 3
    assert X.shape[0] * coef.size >= _models.PARALLEL_MIN
    rows = _rng("threads", loss).integers(0, X.shape[0], 7000)
    before = fastgd.get_num_threads()
    try:
        for Xl in (X, np.asfortranarray(X)):
            for kw in (dict(sample_weight=sw), dict(rows=rows)):
                results = []
                for threads in (1, 2, 3):
                    fastgd.set_num_threads(threads)
                    with fastgd.use_backend("cython"):
                        results.append(_call(loss, Xl, y, coef, intercept, penalty="l2",
                                             alpha=0.01, **kw))
                for r in results[1:]:
                    assert_same_bits(r, results[0], f"threads, {list(kw)}")
                if "numba" in INSTALLED:
                    with fastgd.use_backend("numba"):
                        assert_same_bits(_call(loss, Xl, y, coef, intercept, penalty="l2",
                                               alpha=0.01, **kw), results[0], "numba")
    finally:
        fastgd.set_num_threads(before)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_many_chunks_match_the_reference(loss, dtype):
    X, y, coef, intercept, sw = make_problem(loss, dtype, n=5000, d=9, k=3)
    with fastgd.use_backend("numpy"):
        want = _call(loss, X, y, coef, intercept, sample_weight=sw)
    for backend, isa in COMPILED:
        got = run_on(backend, isa, lambda: _call(loss, X, y, coef, intercept,
                                                 sample_weight=sw))
        assert_close(got.loss, want.loss, np.float64, "loss")
        for field in ("grad_coef", "grad_intercept", "hess_coef", "hess_intercept"):
            assert_close(getattr(got, field), getattr(want, field), dtype, field)


@pytest.mark.parametrize("backend", INSTALLED)
@pytest.mark.parametrize("loss", LOSSES)
def test_batch_semantics(loss, backend):
    """rows selects rows of X, y and sample_weight; unit weights are no weights; a model
    without intercept; outputs written into given arrays; intercept of shape ()."""
    X, y, coef, intercept, sw = make_problem(loss, n=400)
    rows = _rng("batch", loss).integers(0, X.shape[0], 150)
    with fastgd.use_backend(backend):
        a = _call(loss, X, y, coef, intercept, rows=rows, sample_weight=sw)
        b = _call(loss, X[rows], y[rows], coef, intercept, sample_weight=sw[rows])
        if backend == "numpy":
            assert_close(a.grad_coef, b.grad_coef, np.float64)
        else:
            assert_same_bits(a, b, "rows vs copied rows")
        ones = np.ones(X.shape[0])
        c = _call(loss, X, y, coef, intercept)
        d = _call(loss, X, y, coef, intercept, sample_weight=ones)
        assert_same_bits(c, d, "unit weights")
        # Integer weights: the mean over repeated rows.
        w = _rng("w", loss).integers(0, 4, X.shape[0]).astype(np.float64)
        w[0] = 1
        e = _call(loss, X, y, coef, intercept, sample_weight=w)
        rep = np.repeat(np.arange(X.shape[0]), w.astype(int))
        f = _call(loss, X, y, coef, intercept, rows=rep)
        assert_close(e.loss, f.loss, np.float64)
        assert_close(e.grad_coef, f.grad_coef, np.float64)
        assert_close(e.hess_coef, f.hess_coef, np.float64)
        # Without intercept: the same as a zero intercept, and no intercept outputs.
        g = _call(loss, X, y, coef, None)
        h = _call(loss, X, y, coef, np.zeros_like(intercept))
        assert g.grad_intercept is None and g.hess_intercept is None
        np.testing.assert_array_equal(g.grad_coef, h.grad_coef)
        assert g.loss == h.loss
        # Outputs into given arrays: the same arrays come back, filled.
        gc, gi = np.full_like(coef, np.nan), np.full_like(intercept, np.nan)
        hc, hi = np.full_like(coef, np.nan), np.full_like(intercept, np.nan)
        r = losses.loss_grad(loss, X, y, coef, intercept, grad_coef=gc, grad_intercept=gi,
                             hessian=True, hess_coef=hc, hess_intercept=hi)
        assert r.grad_coef is gc and r.grad_intercept is gi
        assert r.hess_coef is hc and r.hess_intercept is hi
        assert_same_bits(r, c, "given outputs")
        if loss != "softmax_cross_entropy":
            r0 = losses.loss_grad(loss, X, y, coef, intercept.reshape(()))
            assert r0.grad_intercept.shape == ()
            assert float(r0.grad_intercept) == float(c.grad_intercept[0])
        # No Hessian unless asked.
        plain = losses.loss_grad(loss, X, y, coef, intercept)
        assert plain.hess_coef is None and plain.hess_intercept is None
        np.testing.assert_array_equal(plain.grad_coef, c.grad_coef)


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


# ----------------------------------------------------------------- how it is built ---

@pytest.mark.skipif(shutil.which("objdump") is None, reason="needs objdump")
def test_no_fused_multiply_add_in_the_model_kernels():
    """FMA would change the rounding between instruction sets and against Numba."""
    mod = pytest.importorskip("fastgd.backends._models")
    disassembly = subprocess.run(["objdump", "-d", mod.__file__], capture_output=True,
                                 text=True, check=True).stdout
    if "zmm" not in disassembly:
        pytest.skip("no AVX-512 variant in this build")
    assert not re.search(r"\bvf(n?m(add|sub))\w*", disassembly)


def test_the_model_header_numbers_the_losses_as_the_python_side():
    src = pathlib.Path(__file__).resolve().parents[2] / "src" / "models" / "models.h"
    if not src.exists():
        pytest.skip("no source tree")
    codes = dict(re.findall(r"FGDM_(\w+) = (\d+)", src.read_text()))
    for i, loss in enumerate(LOSSES):
        name = "SOFTMAX" if loss == "softmax_cross_entropy" else loss.upper()
        assert int(codes[name]) == i, loss


def test_compiled_and_numba_split_batches_alike():
    """The chunks (which fix the order of the sums) are the same function of the batch
    size and the size of coef in C and in Numba."""
    if "cython" not in INSTALLED or "numba" not in INSTALLED:
        pytest.skip("needs both compiled backends")
    from fastgd.backends import _models, numba_models
    for n in (1, 1023, 1024, 1025, 5000, 65_536, 10**6, 10**8):
        for m in (1, 13, 50_000, 10**6, 10**7):
            assert _models.n_chunks(n, m) == numba_models.n_chunks(n, m), (n, m)
    assert _models.n_chunks(10**6, 1) == 64 and _models.n_chunks(2049, 5) == 3
