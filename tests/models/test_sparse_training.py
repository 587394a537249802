"""fastgd.models.sparse_training: the O(nnz) loops that fastgd.fit runs on sparse X.

Exact paths against fastgd.fit's dense path on X.toarray(); lazy Adam against
torch.optim.SparseAdam; the lazy cumulative L1 penalty against scikit-learn; the three
backends' loops against the NumPy specification; the thread count against the bits."""

from __future__ import annotations

import numpy as np
import pytest
from models._sparse_fit import fit_sparse_and_dense, rel

import fastgd
from fastgd import backends
from fastgd.models import sparse_training as st

sp = pytest.importorskip("scipy.sparse")


def _data(n=60, d=30, density=0.15, seed=1, dtype=np.float64, dup=False, empty=False,
          int64=False):
    rng = np.random.default_rng(seed)
    X = sp.random(n, d, density=density, format="csr", random_state=seed, dtype=np.float64)
    X.data = (X.data * 2 - 0.5).astype(dtype)
    X = X.astype(dtype)
    if dup:  # each row's entries twice, in reverse order the second time (unsorted)
        data, ind, ptr = [], [], [0]
        for i in range(n):
            a, b = X.indptr[i], X.indptr[i + 1]
            data += list(X.data[a:b]) + list(X.data[a:b][::-1] * 0.5)
            ind += list(X.indices[a:b]) + list(X.indices[a:b][::-1])
            ptr.append(len(data))
        X = sp.csr_matrix((np.array(data, dtype=dtype), np.array(ind, dtype=np.int32),
                           np.array(ptr, dtype=np.int32)), shape=(n, d))
    if empty:
        X = X.tolil()
        X[::7] = 0
        X = X.tocsr()
        X.eliminate_zeros()
    if int64:
        X.indices = X.indices.astype(np.int64)
        X.indptr = X.indptr.astype(np.int64)
    y01 = (rng.random(n) > 0.5).astype(dtype)
    yr = rng.standard_normal(n).astype(dtype)
    return X, y01, yr, rng




EXACT = [  # loss, penalty, alpha, schedule, batch_size, lr
    ("log_loss", "l2", 1e-2, "optimal", 1, 0.1),
    ("hinge", "l2", 1e-3, None, 4, 0.05),
    ("half_squared_error", None, 0.0, "invscaling", 7, 0.05),
    ("squared_error", "l2", 0.1, "constant", 60, 0.02),
    ("huber", "l2", 0.1, None, 1, 0.05),
    ("epsilon_insensitive", "elasticnet", 0.1, None, 3, 0.05),  # l1_ratio 0: exact
]


@pytest.mark.parametrize("loss,penalty,alpha,schedule,bs,lr", EXACT)
def test_exact_path_equals_dense_fit(loss, penalty, alpha, schedule, bs, lr):
    X, y01, yr, rng = _data(dup=bs == 4, empty=bs == 7, int64=bs == 3)
    y = y01 if loss in ("log_loss", "hinge") else yr
    sw = rng.random(X.shape[0]) * (rng.random(X.shape[0]) > 0.2)  # zeros included
    kw = dict(penalty=penalty, alpha=alpha, l1_ratio=0.0,
              epsilon=0.3 if loss in ("huber", "epsilon_insensitive") else None)
    ms, md = fastgd.LinearModel(loss, **kw), fastgd.LinearModel(loss, **kw)
    fkw = dict(optimizer="sgd", lr=lr, batch_size=bs, epochs=3, schedule=schedule,
               random_state=3, sample_weight=sw, tol=0.0)
    assert st.plan(ms, fastgd.optim.registry.lookup("sgd"), {}, False, schedule=schedule,
                   clip_norm=None, clip_value=None, gtol=None, early_stopping=False,
                   record_steps=False, checkpoint=None, resume=None) == "sgd"
    hs, hd = fit_sparse_and_dense(ms, md, X, y, **fkw)
    np.testing.assert_allclose(hs.lr, hd.lr, rtol=1e-12)
    assert np.any(ms.coef_ != 0)


def test_weight_scale_reset_and_float32():
    # lr * alpha = 0.5: the scale halves every step and is folded into v every ~30 steps
    X, y01, _, _ = _data()
    for dtype, tol in ((np.float64, 1e-10), (np.float32, 2e-4)):
        Xd = X.astype(dtype)
        ms = fastgd.LinearModel("log_loss", penalty="l2", alpha=5.0)
        md = fastgd.LinearModel("log_loss", penalty="l2", alpha=5.0)
        kw = dict(optimizer="sgd", lr=0.1, batch_size=1, epochs=2, shuffle=False)
        fastgd.fit(ms, Xd, y01, **kw)
        fastgd.fit(md, Xd.toarray(), y01, **kw)
        assert ms.coef_.dtype == dtype
        assert rel(ms.coef_, md.coef_) < tol


def test_history_without_tol_and_callbacks():
    """The loss column is recorded without tol or callbacks too, equal to the dense fit's."""
    X, y01, _, _ = _data()
    m = fastgd.LinearModel("log_loss", penalty="l2", alpha=1e-3)
    h = fastgd.fit(m, X, y01, optimizer="sgd", lr=0.1, batch_size=1, epochs=2, random_state=0)
    assert len(h) == 2 and h.n_steps == 2 * X.shape[0] and np.all(np.isnan(h.grad_norm))
    dense = fastgd.fit(fastgd.LinearModel("log_loss", penalty="l2", alpha=1e-3),
                       X.toarray(), y01, optimizer="sgd", lr=0.1, batch_size=1, epochs=2,
                       random_state=0)
    np.testing.assert_allclose(h.loss, dense.loss, rtol=1e-10)
    seen = []
    h = fastgd.fit(m, X, y01, optimizer="sgd", lr=0.1, batch_size=5, epochs=4,
                   callbacks=lambda e, hist, mod: seen.append(e) or e == 1)
    assert seen == [0, 1] and h.stop_reason == "callback" and np.all(np.isfinite(h.loss))


def test_plan_paths():
    lookup = fastgd.optim.registry.lookup
    kw = dict(schedule=None, clip_norm=None, clip_value=None, gtol=None,
              early_stopping=False, record_steps=False, checkpoint=None, resume=None)
    l1 = fastgd.LinearModel("log_loss", penalty="l1", alpha=1e-3)
    l2 = fastgd.LinearModel("log_loss", penalty="l2", alpha=1e-3)
    assert st.plan(l1, lookup("sgd"), {}, False, **kw) is None
    assert st.plan(l1, lookup("sgd"), {}, True, **kw) == "sgd_l1"
    assert st.plan(l2, lookup("sgd"), {"momentum": 0.9}, False, **kw) == "sgd_momentum"
    assert st.plan(l2, lookup("adam"), {}, False, **kw) is None
    assert st.plan(l2, lookup("adam"), {"betas": (0.8, 0.9)}, True, **kw) == "adam"
    assert st.plan(l2, lookup("adam"), {"amsgrad": True}, True, **kw) is None
    assert st.plan(l2, lookup("sgd"), {}, False, **{**kw, "clip_norm": 1.0}) is None
    soft = fastgd.LinearModel("softmax_cross_entropy", penalty="l2", alpha=1e-3)
    assert st.plan(soft, lookup("sgd"), {}, False, **kw) == "softmax"
    assert st.plan(soft, lookup("adam"), {}, True, **kw) is None


def test_lazy_argument_checked():
    X, y01, _, _ = _data()
    m = fastgd.LinearModel("log_loss")
    with pytest.raises(TypeError, match="lazy"):
        fastgd.fit(m, X, y01, lazy="yes")
    assert m.coef_ is None


def test_lazy_l1_equals_sklearn_without_intercept():
    sklearn = pytest.importorskip("sklearn.linear_model")
    X, y01, _, _ = _data(n=80)
    for pen in ("l1", "elasticnet"):
        sk = sklearn.SGDClassifier(loss="log_loss", penalty=pen, alpha=1e-2, l1_ratio=0.4,
                                   learning_rate="optimal", fit_intercept=False,
                                   max_iter=3, tol=None, shuffle=False).fit(X, y01)
        m = fastgd.LinearModel("log_loss", penalty=pen, alpha=1e-2, l1_ratio=0.4,
                               fit_intercept=False)
        fastgd.fit(m, X, y01, optimizer="sgd", batch_size=1, epochs=3, shuffle=False,
                   schedule="optimal", lazy=True)
        assert rel(m.coef_, sk.coef_[0]) < 1e-10
        assert np.array_equal(m.coef_ == 0, sk.coef_[0] == 0) and np.any(m.coef_ == 0)


def _torch_sparse_adam(X, y, bs, epochs, lr, betas, eps):
    torch = pytest.importorskip("torch")
    n, d = X.shape
    w = torch.zeros(d, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SparseAdam([w, b], lr=lr, betas=betas, eps=eps)
    for _ in range(epochs):
        for p0 in range(0, n, bs):
            Xb = X[p0:p0 + bs]
            with torch.no_grad():
                z = torch.from_numpy(Xb @ w.detach().numpy()) + b
                dl = (torch.sigmoid(z) - torch.from_numpy(y[p0:p0 + bs])) / Xb.shape[0]
            coo = Xb.tocoo()
            cols = np.unique(coo.col)
            g = np.asarray(Xb.T @ dl.numpy())[cols]
            w.grad = torch.sparse_coo_tensor(torch.from_numpy(cols[None, :]),
                                             torch.from_numpy(g), (d,),
                                             check_invariants=True)
            b.grad = torch.sparse_coo_tensor(torch.zeros((1, 1), dtype=torch.long),
                                             dl.sum().reshape(1), (1,),
                                             check_invariants=True)
            opt.step()
    return w.detach().numpy(), b.detach().numpy()


def test_lazy_adam_equals_torch_sparse_adam():
    X, y01, _, _ = _data(n=50, d=40)
    tw, tb = _torch_sparse_adam(X, y01, 8, 3, 0.05, (0.8, 0.95), 1e-7)
    m = fastgd.LinearModel("log_loss")
    fastgd.fit(m, X, y01, optimizer="adam", lr=0.05, batch_size=8, epochs=3, shuffle=False,
               lazy=True, optimizer_kwargs={"betas": (0.8, 0.95), "eps": 1e-7})
    assert rel(m.coef_, tw) < 1e-10 and rel(m.intercept_, tb) < 1e-10
    untouched = np.asarray(X.getnnz(axis=0)) == 0
    assert np.all(m.coef_[untouched] == 0)


def _spec_run(name, X, y, sw, bs, mode, sched, compat, adam=False):
    from fastgd.models.sparse import as_csr
    csr = as_csr(X)
    d = X.shape[1]
    v = np.zeros(d)
    b = np.zeros(1)
    loop = st._Loop(csr, y, sw, v, b, kind=4, mode=mode, sched=sched, compat=compat,
                    want=1, batch=bs, alpha=1e-2, l1_ratio=0.3 if mode == 2 else 0.0,
                    l2=1e-2 if mode == 1 else 0.0, lr=0.1, power_t=0.5, decay=0.5,
                    epsilon=None, adam=(0.9, 0.99, 1e-8) if adam else None)
    order = np.random.default_rng(0).permutation(X.shape[0]).astype(np.int64)
    sgd_k, adam_k, _ = st.kernels(name)
    if adam:  # the lazy Adam loop's weights sit in its state's records
        v = loop.state["w"][:-1]
    for _ in range(2):
        if adam:
            adam_k(csr.data, csr.indices, csr.indptr, y, loop.sw, order, bs, v, b, loop.state,
                   loop.st, loop.prm, loop.iprm, loop.work, loop.touched)
        else:
            sgd_k(csr.data, csr.indices, csr.indptr, y, loop.sw, order, bs, v, b, loop.q,
                  loop.st, loop.prm, loop.iprm, loop.work)
    return v * loop.st[0], b, loop.st.copy()


@pytest.mark.parametrize("name", [b for b in ("cython", "numba") if b in backends.available()])
def test_backend_loops_follow_the_specification(name):
    X, y01, _, rng = _data(dup=True)
    sw = rng.random(X.shape[0])
    for bs, mode, sched, compat, adam in ((1, 2, 1, 1, False), (5, 1, 2, 0, False),
                                          (4, 0, 0, 0, True), (3, 1, 0, 0, True)):
        want = _spec_run("numpy", X, y01, sw, bs, mode, sched, compat, adam)
        got = _spec_run(name, X, y01, sw, bs, mode, sched, compat, adam)
        assert rel(got[0], want[0]) < 1e-12 and rel(got[1], want[1]) < 1e-12
        np.testing.assert_allclose(got[2][[1, 2, 3, 4, 6, 7]], want[2][[1, 2, 3, 4, 6, 7]],
                                   rtol=1e-12)


@pytest.mark.skipif("cython" not in backends.available(), reason="compiled backend")
def test_thread_count_gives_the_same_bits(monkeypatch):
    X, y01, _, _ = _data(n=400, d=300, density=0.05)
    monkeypatch.setattr(st, "PARALLEL_MIN_NNZ", 1)
    with backends.use_backend("cython"), pytest.warns(fastgd.ConvergenceWarning):
        coefs = []
        old = fastgd.get_num_threads()
        try:
            for nt in (1, 2, 3):
                fastgd.set_num_threads(nt)
                m = fastgd.LinearModel("log_loss", penalty="l2", alpha=1e-3)
                h = fastgd.fit(m, X, y01, optimizer="sgd", lr=0.5, batch_size=16, epochs=2,
                               random_state=0, tol=0.0)
                coefs.append((m.coef_.copy(), m.intercept_.copy(), h.loss))
        finally:
            fastgd.set_num_threads(old)
    for c in coefs[1:]:
        assert np.array_equal(c[0], coefs[0][0]) and np.array_equal(c[1], coefs[0][1])
        assert c[2] == coefs[0][2]


@pytest.mark.parametrize("bs,penalty", [(1, "l2"), (6, None)])
def test_multinomial_pass_equals_dense_fit(bs, penalty):
    X, _, _, rng = _data(dup=bs == 6)
    y = rng.integers(0, 4, X.shape[0])
    kw = dict(penalty=penalty, alpha=1e-2 if penalty else 0.0)
    ms = fastgd.LinearModel("softmax_cross_entropy", **kw)
    md = fastgd.LinearModel("softmax_cross_entropy", **kw)
    fkw = dict(optimizer="sgd", lr=0.2, batch_size=bs, epochs=3, random_state=1,
               schedule="optimal" if penalty else None, tol=0.0)
    fit_sparse_and_dense(ms, md, X, y, **fkw)
    assert ms.coef_.shape == (X.shape[1], 4)


@pytest.mark.skipif("cython" not in backends.available(), reason="compiled backend")
def test_every_instruction_set_gives_the_same_bits():
    # the compiled loops are compiled once per instruction set (the multinomial loop's
    # class dimension vectorises): the same bits on each, loss history included
    X, y01, _, rng = _data(n=80, d=40, density=0.2)
    X32 = X.astype(np.float32)
    y4 = rng.integers(0, 5, X.shape[0])
    core = backends.load("cython")
    runs = [("log_loss", X, y01, "sgd", {}, dict(penalty="l2", alpha=1e-3)),
            ("log_loss", X32, y01, "sgd", {}, dict(penalty="l2", alpha=1e-3)),
            ("log_loss", X, y01, "adam", {"lazy": True}, dict(penalty="l2", alpha=1e-3)),
            ("softmax_cross_entropy", X, y4, "sgd", {}, dict(penalty="l2", alpha=1e-3)),
            ("softmax_cross_entropy", X32, y4, "sgd", {}, dict(penalty=None))]
    previous = core.isa()
    results: dict = {}
    try:
        with backends.use_backend("cython"):
            for isa, ok in core.isas().items():
                if not ok:
                    continue
                core.set_isa(isa)
                for i, (loss, Xi, yi, opt, extra, mkw) in enumerate(runs):
                    m = fastgd.LinearModel(loss, **mkw)
                    h = fastgd.fit(m, Xi, yi, optimizer=opt, lr=0.05, batch_size=3, epochs=2,
                                   random_state=0, **extra)
                    results.setdefault(i, []).append((isa, m.coef_.copy(),
                                                      m.intercept_.copy(), h.loss))
    finally:
        core.set_isa(previous)
    for i, got in results.items():
        _, coef, intercept, loss = got[0]
        assert len(got) >= 1
        for isa, c, b, h in got[1:]:
            assert np.array_equal(c, coef) and np.array_equal(b, intercept), (i, isa)
            assert h == loss, (i, isa)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backends_give_the_specifications_weights_bit_for_bit(dtype):
    # the weights of each loop (SGD with L2, lazy Adam, lazy L1, the multinomial pass) on
    # every backend are the NumPy specification's bits, float32 data included (where the
    # specification's products are float64)
    X, y01, _, rng = _data(n=70, d=35, density=0.2, dtype=dtype)
    y4 = rng.integers(0, 4, X.shape[0])
    runs = [("log_loss", y01, "sgd", {}, dict(penalty="l2", alpha=1e-3)),
            ("log_loss", y01, "adam", {"lazy": True}, dict(penalty="l2", alpha=1e-3)),
            ("log_loss", y01, "sgd", {"lazy": True}, dict(penalty="l1", alpha=1e-3)),
            ("softmax_cross_entropy", y4, "sgd", {}, dict(penalty="l2", alpha=1e-3))]
    got: dict = {}
    for name in backends.available():
        with backends.use_backend(name):
            for i, (loss, y, opt, extra, mkw) in enumerate(runs):
                m = fastgd.LinearModel(loss, **mkw)
                fastgd.fit(m, X, y, optimizer=opt, lr=0.05, batch_size=4, epochs=2,
                           random_state=0, **extra)
                assert m.coef_.dtype == dtype
                got.setdefault(i, {})[name] = (m.coef_, m.intercept_)
    for i, by_backend in got.items():
        want = by_backend["numpy"]
        for name, (coef, intercept) in by_backend.items():
            assert np.array_equal(coef, want[0]), (i, name)
            assert np.array_equal(intercept, want[1]), (i, name)
