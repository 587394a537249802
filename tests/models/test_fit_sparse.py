"""fastgd.fit and the linear models on a sparse X: the same training as on X.toarray()
(every optimizer of the registry, every penalty, every loss; float64 within 1e-10), the
predictions, no densified copy, and bad sparse input refused before the model changes."""

from __future__ import annotations

import time
import tracemalloc
import warnings

import numpy as np
import pytest

import fastgd
from fastgd.models.sparse import CSR, as_csr
from fastgd.optim.registry import TABLE_OPTIMIZERS as OPTIMIZERS

sp = pytest.importorskip("scipy.sparse")

LOSSES = ("squared_error", "huber", "epsilon_insensitive", "log_loss", "hinge",
          "softmax_cross_entropy")


def _problem(loss, n=60, d=12, density=0.3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = sp.random(n, d, density=density, format="csr", random_state=seed,
                  data_rvs=rng.standard_normal, dtype=dtype)
    X.indices[:] = X.indices[::-1].copy() if X.nnz else X.indices   # unsorted columns
    X.data[:] = X.data[::-1].copy()
    beta = rng.standard_normal(d)
    z = X @ beta
    if loss == "softmax_cross_entropy":
        y = (np.digitize(z, np.quantile(z, [1 / 3, 2 / 3]))).astype(np.int64)
    elif loss in ("log_loss", "hinge"):
        y = (z > np.median(z)).astype(dtype)
    else:
        y = (z + 0.1 * rng.standard_normal(n)).astype(dtype)
    return X, y


def _assert_models_close(a, b, rtol=1e-10):
    for u, v in ((a.coef_, b.coef_), (a.intercept_, b.intercept_)):
        scale = max(float(np.max(np.abs(v))), 1e-300)
        assert float(np.max(np.abs(u - v))) <= rtol * scale, (u, v)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_optimizer_trains_on_sparse_as_on_dense(name):
    X, y = _problem("squared_error", seed=1)
    results = []
    kw = dict(optimizer=name, lr=1e-2, epochs=3, batch_size=16, random_state=0,
              sample_weight=np.linspace(0.5, 1.5, X.shape[0]))
    if OPTIMIZERS[name].closure:
        kw["batch_size"] = None
    for data in (X, X.toarray()):
        m = fastgd.LinearModel("squared_error", penalty="l2", alpha=1e-3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.fit(data, y, **kw)
        results.append(m)
    _assert_models_close(*results)
    np.testing.assert_allclose(results[0].history_.loss, results[1].history_.loss,
                               rtol=1e-10)


@pytest.mark.parametrize("penalty", [None, "l2", "l1", "elasticnet"])
@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_and_penalty_trains_on_sparse_as_on_dense(loss, penalty):
    X, y = _problem(loss, seed=2)
    alpha = 0.0 if penalty is None else 1e-2
    models = []
    for data in (X.tocoo(), X.toarray()):
        m = fastgd.LinearModel(loss, penalty=penalty, alpha=alpha)
        with pytest.warns(fastgd.ConvergenceWarning):
            m.fit(data, y, optimizer="adam", lr=0.05, epochs=3, batch_size=7,
                  random_state=1, early_stopping=True, gtol=1e-12, clip_norm=1.0)
        models.append(m)
    _assert_models_close(*models)
    np.testing.assert_allclose(models[0].history_.val_loss, models[1].history_.val_loss,
                               rtol=1e-10)
    Xt = X[:9]
    sparse_pred, dense_pred = models[0].predict(Xt), models[1].predict(Xt.toarray())
    if models[0].is_classifier:
        z = models[1].decision_function(Xt.toarray())
        agree = sparse_pred == dense_pred
        assert np.all(agree | (np.abs(z) < 1e-9).reshape(len(z), -1).any(axis=1))
    else:
        np.testing.assert_allclose(sparse_pred, dense_pred, rtol=1e-12, atol=1e-12)
    if loss in ("log_loss", "softmax_cross_entropy"):
        np.testing.assert_allclose(models[0].predict_proba(Xt),
                                   models[1].predict_proba(Xt.toarray()), rtol=1e-12)
    assert models[0].score(X, y) == pytest.approx(models[1].score(X.toarray(), y),
                                                  abs=1e-12)
    assert models[0].loss_value(X, y) == pytest.approx(models[1].loss_value(X.toarray(), y),
                                                       rel=1e-10)


@pytest.mark.parametrize("index", [np.int32, np.int64])
def test_float32_and_both_index_widths(index):
    X, y = _problem("log_loss", seed=3, dtype=np.float32)
    X = sp.csr_matrix((X.data, X.indices.astype(index), X.indptr.astype(index)),
                      shape=X.shape)
    a = fastgd.LogisticRegression().fit(X, y, optimizer="sgd", lr=0.1, epochs=2,
                                        random_state=0)
    b = fastgd.LogisticRegression().fit(X.toarray(), y, optimizer="sgd", lr=0.1, epochs=2,
                                        random_state=0)
    assert a.coef_.dtype == np.float32
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-5, atol=1e-6)


def test_the_callers_matrix_is_not_touched():
    X, y = _problem("squared_error", seed=4)
    X.indices[:] = X.indices[::-1].copy()
    before = (X.data.copy(), X.indices.copy(), X.indptr.copy())
    X.data.flags.writeable = X.indices.flags.writeable = X.indptr.flags.writeable = False
    fastgd.LinearRegression().fit(X, y, epochs=2, random_state=0)
    for a, b in zip((X.data, X.indices, X.indptr), before):
        np.testing.assert_array_equal(a, b)


def test_huge_sparse_x_is_never_densified():
    """1000 x 2**22 with 10 entries a row: dense it would take 32 GB."""
    n, d = 1000, 1 << 22
    rng = np.random.default_rng(0)
    indices = rng.integers(0, d, n * 10).astype(np.int32)
    indptr = np.arange(0, n * 10 + 1, 10, dtype=np.int32)
    X = sp.csr_matrix((rng.standard_normal(n * 10), indices, indptr), shape=(n, d))
    y = (rng.random(n) < 0.5).astype(np.float64)
    tracemalloc.start()
    t0 = time.perf_counter()
    m = fastgd.LogisticRegression().fit(X, y, optimizer="sgd", lr=0.5, epochs=1,
                                        batch_size=500, random_state=0)
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert m.coef_.shape == (d,)
    assert peak < 20 * 8 * d, peak          # a few arrays of d doubles, never n * d
    assert elapsed < 30
    assert m.predict(X[:5]).shape == (5,)


def _bad_matrices():
    X, _ = _problem("squared_error", n=20, d=6, seed=5)
    nan = X.copy()
    nan.data[3] = np.nan
    inf = X.copy()
    inf.data[0] = -np.inf
    neg = X.copy()
    neg.indices[2] = -1
    big = X.copy()
    big.indices[4] = 6
    ptr = X.copy()
    ptr.indptr[5] = ptr.indptr[6] + 1
    return [(nan, "non-finite"), (inf, "non-finite"), (neg, "column index -1"),
            (big, "column index 6"), (ptr, "decreases")]


@pytest.mark.parametrize("case", range(5))
def test_bad_sparse_input_is_refused_before_the_model_changes(case):
    X, match = _bad_matrices()[case]
    y = np.zeros(X.shape[0])
    m = fastgd.LinearRegression()
    good, _ = _problem("squared_error", n=20, d=6, seed=5)
    m.fit(good, np.ones(20), epochs=1, random_state=0)
    coef, icpt = m.coef_.copy(), m.intercept_.copy()
    with pytest.raises(ValueError, match=match):
        m.fit(X, y, epochs=1)
    np.testing.assert_array_equal(m.coef_, coef)
    np.testing.assert_array_equal(m.intercept_, icpt)
    with pytest.raises(ValueError, match=match):
        m.predict(X)


def test_mismatched_shapes_are_refused():
    X, y = _problem("squared_error", n=20, d=6, seed=6)
    m = fastgd.LinearRegression()
    with pytest.raises(ValueError, match="y must be 1-D"):
        m.fit(X, y[:-1])
    with pytest.raises(ValueError, match="sample_weight"):
        m.fit(X, y, sample_weight=np.ones(19))
    m.fit(X, y, epochs=1)
    with pytest.raises(ValueError, match="coef of shape"):
        m.predict(sp.random(3, 7, density=0.5, format="csr"))
    with pytest.raises(ValueError, match="coef of shape"):
        fastgd.models.loss_grad("squared_error", X, y, np.zeros(5), np.zeros(1))


def test_a_csr_built_by_hand_is_checked():
    X, y = _problem("squared_error", n=20, d=6, seed=7)
    csr = as_csr(X)
    m = fastgd.LinearRegression().fit(csr, y, epochs=1, random_state=0)
    ref = fastgd.LinearRegression().fit(X, y, epochs=1, random_state=0)
    np.testing.assert_array_equal(m.coef_, ref.coef_)
    bad = CSR(csr.data, np.where(csr.indices == 0, 99, csr.indices), csr.indptr, csr.shape)
    with pytest.raises(ValueError, match="column index 99"):
        fastgd.LinearRegression().fit(bad, y)
    # loss_grad trusts a CSR's values but checks the structure of every row it reads
    with pytest.raises(ValueError, match="malformed"):
        fastgd.models.loss_grad("squared_error", bad, y, np.zeros(6), np.zeros(1))
    with pytest.raises(ValueError, match="malformed"):
        fastgd.models.decision_function(bad, np.zeros(6))
