"""fastgd.models.losses with a sparse X (fastgd.models._sparse_losses and the CSR
kernels): every backend against the NumPy reference and against the dense path on
X.toarray() (every loss, dtype, index width, with and without weights, rows and each
penalty); the compiled core against Numba bit for bit (every instruction set, thread
counts); scipy's own products as an independent check; repeated and unsorted columns,
empty rows; a CSR built by hand with bad structure refused without writing anything."""

from __future__ import annotations

import numpy as np
import pytest
from models._losses import (
    COMPILED,
    DTYPES,
    INSTALLED,
    LOSSES,
    PENALTIES,
    _rng,
    assert_close,
    assert_same_bits,
    make_problem,
    run_on,
)

import fastgd
from fastgd import backends
from fastgd.models import losses
from fastgd.models.sparse import CSR, as_csr

sp = pytest.importorskip("scipy.sparse")

FIELDS = ("grad_coef", "grad_intercept", "hess_coef", "hess_intercept")


def sparse_problem(loss, dtype=np.float64, index=np.int64, n=300, d=13, k=4, seed=0,
                   density=0.3):
    """make_problem's batch with most of X zeroed, stored as CSR with unsorted columns, a
    repeated column in some rows and a few empty rows."""
    X, y, coef, intercept, sw = make_problem(loss, dtype, n=n, d=d, k=k, seed=seed)
    rng = _rng("sparse", loss, seed)
    X[rng.random(X.shape) > density] = 0
    X[::17] = 0                                     # empty rows
    coo = sp.coo_matrix(X)
    r, c, v = coo.row, coo.col, coo.data
    order = rng.permutation(r.shape[0])             # unsorted within rows
    r, c, v = r[order], c[order], v[order]
    dup = rng.random(r.shape[0]) < 0.1              # split some entries in two
    half = (v[dup] / 2).astype(dtype)
    r = np.concatenate([r, r[dup]])
    c = np.concatenate([c, c[dup]])
    rest = v.copy()
    rest[dup] = v[dup] - half
    v = np.concatenate([rest, half]).astype(dtype)
    by_row = np.argsort(r, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=n))]).astype(index)
    csr = sp.csr_matrix((v[by_row], c[by_row].astype(index), indptr), shape=(n, d))
    assert not csr.has_canonical_format
    return csr, y, coef, intercept, sw


def _call(loss, X, y, coef, intercept, **kw):
    return losses.loss_grad(loss, X, y, coef, intercept, hessian=True, **kw)


@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("loss", LOSSES)
def test_every_backend_matches_the_reference_and_the_dense_path(loss, dtype, index):
    X, y, coef, intercept, sw = sparse_problem(loss, dtype, index)
    dense = X.toarray()
    rows = _rng("rows", loss).integers(0, X.shape[0], 157)
    for i, penalty in enumerate(PENALTIES):
        kw = dict(sample_weight=sw if i % 2 else None, rows=rows if i >= 2 else None,
                  penalty=penalty, alpha=0.0 if penalty is None else 0.03, l1_ratio=0.4)
        with fastgd.use_backend("numpy"):
            want = _call(loss, X, y, coef, intercept, **kw)
            assert losses.loss_value(loss, X, y, coef, intercept, **kw) == want.loss
            on_dense = _call(loss, dense, y, coef, intercept, **kw)
        assert_close(want.loss, on_dense.loss, np.float64, "reference vs dense")
        for field in FIELDS:
            assert_close(getattr(want, field), getattr(on_dense, field), dtype, field)
        bits = None
        for backend, isa in COMPILED:
            got = run_on(backend, isa, lambda kw=kw: _call(loss, X, y, coef, intercept, **kw))
            what = f"{backend}-{isa}" if isa else backend
            assert_close(got.loss, want.loss, np.float64, f"{what} loss")
            for field in FIELDS:
                g = getattr(got, field)
                assert g.dtype == dtype and g.shape == getattr(want, field).shape
                assert_close(g, getattr(want, field), dtype, f"{what} {field}")
            value = run_on(backend, isa, lambda kw=kw: losses.loss_value(
                loss, X, y, coef, intercept, **kw))
            assert value == got.loss
            if bits is None:
                bits = got
            else:
                assert_same_bits(got, bits, f"{what} vs the first compiled variant")


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_scipy_products_agree(dtype):
    """An independent check: the half squared error's gradient is X^T (w r) / sum(w)
    and its Hessian diagonal (X*X)^T w / sum(w), by scipy's sparse products (which merge
    the repeated entries first)."""
    X, y, coef, intercept, sw = sparse_problem("half_squared_error", dtype)
    w = sw.astype(np.float64)
    Xc = X.astype(np.float64).tocsr()
    Xc.sum_duplicates()
    r = Xc @ coef.astype(np.float64) + float(intercept[0]) - y
    got = _call("half_squared_error", X, y, coef, intercept, sample_weight=sw)
    assert_close(got.loss, np.sum(w * r * r) / 2 / w.sum(), np.float64, "loss")
    assert_close(got.grad_coef, Xc.T @ (w * r) / w.sum(), dtype, "gradient")
    assert_close(got.hess_coef, Xc.multiply(Xc).T @ w / w.sum(), dtype, "Hessian")
    z = losses.decision_function(X, coef, intercept)
    assert_close(z, Xc @ coef.astype(np.float64) + float(intercept[0]), dtype, "decision")


@pytest.mark.parametrize("loss", LOSSES)
def test_decision_values_predictions_and_probabilities(loss):
    X, y, coef, intercept, sw = sparse_problem(loss, np.float64, np.int32)
    dense = X.toarray()
    rows = np.array([5, 0, 17, 5], dtype=np.int64)
    results = []
    for backend in INSTALLED:
        with fastgd.use_backend(backend):
            z = losses.decision_function(X, coef, intercept, rows=rows)
            np.testing.assert_allclose(z, losses.decision_function(dense, coef, intercept,
                                                                   rows=rows), rtol=1e-13)
            pred = losses.predict(loss, X, coef, intercept)
            want = losses.predict(loss, dense, coef, intercept)
            if pred.dtype == np.int64:
                np.testing.assert_array_equal(pred, want)
            else:
                np.testing.assert_allclose(pred, want, rtol=1e-13)
            if loss in ("log_loss", "softmax_cross_entropy"):
                np.testing.assert_allclose(losses.predict_proba(loss, X, coef, intercept),
                                           losses.predict_proba(loss, dense, coef,
                                                                intercept), rtol=1e-13)
            results.append((backend, z))
    compiled = [z for b, z in results if b != "numpy"]
    for z in compiled[1:]:
        np.testing.assert_array_equal(z, compiled[0])
    assert losses.decision_function(X, coef, None, rows=rows).shape == z.shape


def test_thread_count_does_not_change_a_bit():
    """A batch split into several chunks: 1, 2 and 3 threads give the same bits, and
    Numba (one thread) the same again."""
    if "cython" not in INSTALLED:
        pytest.skip("needs the compiled core")
    core = backends.load("cython")
    if not core.OPENMP:
        pytest.skip("the compiled core was built without OpenMP")
    from fastgd.backends import _models
    before = fastgd.get_num_threads()
    try:
        for loss in ("log_loss", "softmax_cross_entropy"):
            X, y, coef, intercept, sw = sparse_problem(loss, n=9000, d=40, k=3,
                                                       density=0.5)
            assert _models.n_chunks(X.shape[0], coef.size) > 3
            rows = _rng("threads", loss).integers(0, X.shape[0], 7000)
            for kw in (dict(sample_weight=sw), dict(rows=rows)):
                results = []
                for threads in (1, 2, 3):
                    fastgd.set_num_threads(threads)
                    with fastgd.use_backend("cython"):
                        results.append(_call(loss, X, y, coef, intercept, penalty="l2",
                                             alpha=0.01, **kw))
                        z = losses.decision_function(X, coef, intercept)
                        if threads == 1:
                            z1 = z
                        np.testing.assert_array_equal(z, z1)
                for r in results[1:]:
                    assert_same_bits(r, results[0], f"threads, {list(kw)}")
                if "numba" in INSTALLED:
                    with fastgd.use_backend("numba"):
                        assert_same_bits(_call(loss, X, y, coef, intercept, penalty="l2",
                                               alpha=0.01, **kw), results[0], "numba")
    finally:
        fastgd.set_num_threads(before)


def test_a_batch_reads_only_its_rows():
    """rows of a CSR: the same as the rows copied out; outputs given are filled."""
    X, y, coef, intercept, sw = sparse_problem("huber")
    rows = np.array([3, 3, 250, 17, 0], dtype=np.int64)
    a = _call("huber", X, y, coef, intercept, rows=rows, sample_weight=sw)
    b = _call("huber", X[rows], y[rows], coef, intercept, sample_weight=sw[rows])
    assert_close(a.grad_coef, b.grad_coef, np.float64)
    assert_close(a.hess_coef, b.hess_coef, np.float64)
    gc = np.full_like(coef, np.nan)
    r = losses.loss_grad("huber", as_csr(X), y, coef, intercept, rows=rows, grad_coef=gc,
                         sample_weight=sw)
    assert r.grad_coef is gc
    np.testing.assert_array_equal(gc, a.grad_coef)


@pytest.mark.parametrize("backend", INSTALLED)
def test_malformed_csr_is_refused_and_nothing_written(backend):
    X, y, coef, intercept, _ = sparse_problem("squared_error", n=40)
    csr = as_csr(X)
    bad_col = CSR(csr.data, csr.indices.copy(), csr.indptr, csr.shape)
    row = 5
    bad_col.indices[csr.indptr[row]] = 13
    bad_ptr = CSR(csr.data, csr.indices, csr.indptr.copy(), csr.shape)
    bad_ptr.indptr[row + 1:] += 10**6
    gc = np.full_like(coef, 7.0)
    with fastgd.use_backend(backend):
        for bad in (bad_col, bad_ptr):
            with pytest.raises(ValueError, match=f"X row {row} .*malformed"):
                losses.loss_grad("squared_error", bad, y, coef, intercept, grad_coef=gc)
            np.testing.assert_array_equal(gc, 7.0)
            with pytest.raises(ValueError, match=r"X row 5 \(rows\[1\]\)"):
                losses.decision_function(bad, coef, intercept,
                                         rows=np.array([0, 5], dtype=np.int64))
        # rows before the bad one are fine
        losses.loss_grad("squared_error", bad_col, y, coef, intercept,
                         rows=np.arange(5, dtype=np.int64))
    with pytest.raises(TypeError, match="numpy.ndarray, got list .or, sparse, a scipy.sparse"):
        losses.loss_grad("squared_error", [[1.0]], y, coef, intercept)
    with pytest.raises(TypeError, match="int32 or both int64"):
        losses.loss_grad("squared_error", CSR(csr.data, csr.indices.astype(np.int32),
                                              csr.indptr.astype(np.int64), csr.shape), y,
                         coef, intercept)
    with pytest.raises(ValueError, match="row pointers"):
        losses.loss_grad("squared_error", CSR(csr.data, csr.indices, csr.indptr,
                                              (39, 13)), y[:39], coef, intercept)


def test_mini_batches_in_a_row_leave_no_trace():
    """The compiled mini-batch kernel keeps a per-thread scratch between calls: batches of
    models of other sizes, a failed call and a zero-weight batch in between change
    nothing (the same bits as the Numba backend, which starts from zeros every call)."""
    if "numba" not in INSTALLED or "cython" not in INSTALLED:
        pytest.skip("needs both compiled backends")
    calls = []
    for loss, d, k in (("log_loss", 13, 4), ("softmax_cross_entropy", 13, 4),
                       ("softmax_cross_entropy", 40, 3), ("huber", 7, 1),
                       ("log_loss", 13, 4)):
        X, y, coef, intercept, sw = sparse_problem(loss, d=d, k=k, n=200)
        rows = _rng("trace", loss, d).integers(0, 200, 64)
        calls.append((loss, X, y, coef, intercept, dict(rows=rows, sample_weight=sw)))
        zero = sw.copy()
        zero[rows] = 0
        calls.append((loss, X, y, coef, intercept, dict(rows=rows, sample_weight=zero)))
    for backend in ("cython", "numba"):
        with fastgd.use_backend(backend):
            out = []
            for loss, X, y, coef, intercept, kw in calls:
                try:
                    out.append(losses.loss_grad(loss, X, y, coef, intercept, **kw))
                except ValueError as exc:
                    assert "sums to 0" in str(exc)
                    out.append(None)
            if backend == "cython":
                first = out
    for a, b in zip(first, out):
        if a is None:
            assert b is None
        else:
            assert_same_bits(a, b, "cython vs numba")
