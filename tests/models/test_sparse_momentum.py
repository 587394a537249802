"""fastgd.models.sparse_training, path "sgd_momentum": SGD with momentum or Nesterov on
sparse X in O(nnz) a step, each column's skipped steps applied in closed form.

Against fastgd.fit's dense path on X.toarray() (every backend), against torch.optim.SGD
driven by the same batches, and the three backends' loops against each other's bits."""

from __future__ import annotations

import numpy as np
import pytest
from models._sparse_fit import fit_sparse_and_dense, rel

import fastgd
from fastgd import backends
from fastgd.models import sparse_training as st

sp = pytest.importorskip("scipy.sparse")

_PLAN = dict(schedule=None, clip_norm=None, clip_value=None, gtol=None,
             early_stopping=False, record_steps=False, checkpoint=None, resume=None)


def _data(n=50, d=40, density=0.12, seed=1, dtype=np.float64):
    """A CSR matrix with a column never stored (the last) and one stored in the first and
    last rows only (so that it skips almost every step)."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, d, density=density, format="lil", random_state=seed)
    X[:, d - 1] = 0
    X[:, d - 2] = 0
    X[0, d - 2] = 1.5
    X[n - 1, d - 2] = -0.75
    X = X.tocsr()
    X.eliminate_zeros()
    X.data = X.data * 2 - 0.5
    X = X.astype(dtype)
    y01 = (rng.random(n) > 0.5).astype(dtype)
    yr = rng.standard_normal(n).astype(dtype)
    sw = rng.random(n) * (rng.random(n) > 0.25)  # zeros included
    return X, y01, yr, sw




def _model(loss, penalty, alpha, dtype, d, seed=None):
    m = fastgd.LinearModel(loss, penalty=penalty, alpha=alpha, l1_ratio=0.0,
                           epsilon=0.3 if loss in ("huber", "epsilon_insensitive") else None)
    if seed is not None:  # a warm start: the untouched columns have weights to move
        rng = np.random.default_rng(seed)
        m.coef_ = rng.standard_normal(d).astype(dtype)
        m.intercept_ = np.array([0.3], dtype=dtype)
    return m


CASES = [  # loss, penalty, alpha, momentum, dampening, nesterov, weight_decay, batch, lr
    ("log_loss", "l2", 0.05, 0.9, 0.0, False, 0.0, 1, 0.05),
    ("hinge", "l2", 0.02, 0.5, 0.3, False, 0.01, 7, 0.05),
    ("squared_error", None, 0.0, 0.9, 0.0, True, 0.0, 7, 0.01),
    ("half_squared_error", "elasticnet", 0.1, 0.95, 0.1, False, 0.0, None, 0.05),
    ("huber", "l2", 0.1, 0.7, 0.0, True, 0.02, 1, 0.05),
    ("epsilon_insensitive", None, 0.0, 0.99, 0.5, False, 0.0, 3, 0.02),
]


@pytest.mark.parametrize("loss,penalty,alpha,mu,damp,nesterov,wd,bs,lr", CASES)
def test_equals_dense_fit(any_backend, loss, penalty, alpha, mu, damp, nesterov, wd, bs,
                          lr):
    X, y01, yr, sw = _data()
    y = y01 if loss in ("log_loss", "hinge") else yr
    d = X.shape[1]
    okw = dict(momentum=mu, dampening=damp, nesterov=nesterov, weight_decay=wd)
    ms = _model(loss, penalty, alpha, np.float64, d, seed=5)
    md = _model(loss, penalty, alpha, np.float64, d, seed=5)
    assert st.plan(ms, fastgd.optim.registry.lookup("sgd"), okw, False,
                   **_PLAN) == "sgd_momentum"
    epochs = 30 if bs is None else 6
    fkw = dict(optimizer="sgd", lr=lr, batch_size=bs, epochs=epochs, random_state=3,
               sample_weight=sw, tol=0.0, optimizer_kwargs=okw)
    fit_sparse_and_dense(ms, md, X, y, **fkw)
    # the column never stored moved (L2, weight decay) or kept its start (neither)
    start = np.random.default_rng(5).standard_normal(d)
    if alpha > 0 and penalty is not None or wd > 0:
        assert abs(ms.coef_[-1]) < abs(start[-1])
    else:
        assert ms.coef_[-1] == start[-1]


def test_float32_close_to_dense(any_backend):
    X, y01, _, sw = _data(dtype=np.float32)
    okw = dict(momentum=0.9, nesterov=True)
    d = X.shape[1]
    ms = _model("log_loss", "l2", 0.05, np.float32, d, seed=2)
    md = _model("log_loss", "l2", 0.05, np.float32, d, seed=2)
    fkw = dict(optimizer="sgd", lr=0.05, batch_size=4, epochs=5, random_state=0,
               sample_weight=sw.astype(np.float32), optimizer_kwargs=okw)
    hs = fastgd.fit(ms, X, y01, **fkw)
    hd = fastgd.fit(md, X.toarray(), y01, **fkw)
    assert ms.coef_.dtype == np.float32 and ms.intercept_.dtype == np.float32
    assert rel(ms.coef_, md.coef_) < 1e-5 and rel(ms.intercept_, md.intercept_) < 1e-5
    np.testing.assert_allclose(hs.loss, hd.loss, rtol=1e-5)


@pytest.mark.parametrize("dtype,int64", [(np.float64, False), (np.float32, False),
                                         (np.float32, True)])
def test_backends_give_the_same_bits(dtype, int64):
    X, y01, _, sw = _data(n=80, d=60, dtype=dtype)
    if int64:  # the int64-index loops
        X.indices = X.indices.astype(np.int64)
        X.indptr = X.indptr.astype(np.int64)
    got = {}
    for name in backends.available():
        with backends.use_backend(name):
            for bs, nesterov, damp in ((1, True, 0.0), (9, False, 0.2)):
                m = _model("log_loss", "l2", 0.02, dtype, X.shape[1], seed=1)
                h = fastgd.fit(m, X, y01, optimizer="sgd", lr=0.1, batch_size=bs, epochs=3,
                               random_state=4, sample_weight=sw.astype(dtype),
                               optimizer_kwargs=dict(momentum=0.8, nesterov=nesterov,
                                                     dampening=damp))
                got.setdefault(name, []).append((m.coef_, m.intercept_, np.array(h.loss)))
    ref = got["numpy"]
    for name, runs in got.items():
        for a, b in zip(runs, ref):
            for x, z in zip(a, b):
                assert x.dtype == z.dtype and np.array_equal(x, z), name


@pytest.mark.parametrize("nesterov,damp,wd", [(False, 0.25, 0.01), (True, 0.0, 0.0)])
def test_equals_torch_sgd(nesterov, damp, wd):
    """torch.optim.SGD on the dense rows, the batches in order, the weighted mean log loss
    plus (alpha/2)||w||^2 by autograd."""
    torch = pytest.importorskip("torch")
    X, y01, _, sw = _data(n=40, d=30)
    alpha, lr, mu, bs, epochs = 0.05, 0.1, 0.9, 6, 4
    okw = dict(momentum=mu, dampening=damp, nesterov=nesterov, weight_decay=wd)
    m = _model("log_loss", "l2", alpha, np.float64, X.shape[1])
    fastgd.fit(m, X, y01, optimizer="sgd", lr=lr, batch_size=bs, epochs=epochs,
               shuffle=False, sample_weight=sw, optimizer_kwargs=okw)
    Xd = torch.tensor(X.toarray())
    yt, swt = torch.tensor(y01), torch.tensor(sw)
    w = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([w, b], lr=lr, **okw)
    for _ in range(epochs):
        for p0 in range(0, X.shape[0], bs):
            s = slice(p0, p0 + bs)
            if float(swt[s].sum()) == 0.0:
                continue  # fastgd.fit takes no step on a batch without weight
            z = Xd[s] @ w + b
            losses = torch.nn.functional.softplus(z) - yt[s] * z
            loss = (swt[s] * losses).sum() / swt[s].sum() + 0.5 * alpha * (w * w).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert rel(m.coef_, w.detach().numpy()) < 1e-10
    assert rel(m.intercept_, b.detach().numpy()) < 1e-10


def test_plan():
    lookup = fastgd.optim.registry.lookup
    sgd = lookup("sgd")
    l2 = fastgd.LinearModel("log_loss", penalty="l2", alpha=1e-3)
    assert st.plan(l2, sgd, {"momentum": 0.9}, False, **_PLAN) == "sgd_momentum"
    assert st.plan(l2, sgd, {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-4},
                   False, **{**_PLAN, "schedule": "constant"}) == "sgd_momentum"
    assert st.plan(l2, sgd, {"momentum": 0.0}, False, **_PLAN) == "sgd"
    # a varying learning rate, maximize, L1, softmax, clipping: the general path
    for sched in ("optimal", "invscaling", lambda opt: None):
        assert st.plan(l2, sgd, {"momentum": 0.9}, False,
                       **{**_PLAN, "schedule": sched}) is None
    assert st.plan(l2, sgd, {"momentum": 0.9, "maximize": True}, False, **_PLAN) is None
    assert st.plan(l2, sgd, {"momentum": 0.9}, False, **{**_PLAN, "clip_norm": 1.0}) is None
    l1 = fastgd.LinearModel("log_loss", penalty="l1", alpha=1e-3)
    assert st.plan(l1, sgd, {"momentum": 0.9}, True, **_PLAN) is None
    soft = fastgd.LinearModel("softmax_cross_entropy")
    assert st.plan(soft, sgd, {"momentum": 0.9}, False, **_PLAN) is None


def _spy_on_the_loop(monkeypatch) -> list:
    """A list that grows by one at each epoch run by the momentum loop."""
    called: list = []
    real = st.momentum_kernel

    def spy(name=None):
        called.append(name)
        return real(name)

    monkeypatch.setattr(st, "momentum_kernel", spy)
    return called


def test_sparse_fit_does_not_touch_every_weight_each_step(monkeypatch):
    """fastgd.fit on sparse X with momentum runs the loop, not the optimizer's dense step."""
    X, y01, _, _ = _data()
    called = _spy_on_the_loop(monkeypatch)
    m = fastgd.LinearModel("log_loss", penalty="l2", alpha=1e-3)
    h = fastgd.fit(m, X, y01, optimizer="sgd", lr=0.1, batch_size=5, epochs=2,
                   optimizer_kwargs=dict(momentum=0.9))
    assert len(called) == 2 and h.n_steps == 2 * 10 and np.all(np.isfinite(h.loss))


def test_sklearn_estimator_stops_as_on_dense_x(monkeypatch):
    """GDRegressor with momentum on sparse X: the loop's loss (the L2 term included) meets
    tol at the same epoch as the dense fit, with the same coefficients."""
    from fastgd.sklearn import GDRegressor
    X, _, yr, _ = _data(n=120, d=40)
    kw = dict(optimizer="sgd", lr=0.02, batch_size=8, max_iter=40, random_state=0,
              alpha=1e-2, optimizer_kwargs=dict(momentum=0.9, nesterov=True))
    called = _spy_on_the_loop(monkeypatch)
    a = GDRegressor(**kw).fit(X, yr)
    assert called  # the estimator's fit ran the loop
    b = GDRegressor(**kw).fit(X.toarray(), yr)
    assert a.n_iter_ == b.n_iter_ < 40
    assert rel(a.coef_, b.coef_) < 1e-10 and rel(a.intercept_, b.intercept_) < 1e-10


def test_gaps_beyond_the_table_of_low_powers():
    """A column stored in the first and last of 1,500 rows (batch 1, in order) skips 1,498
    steps: past the 1,024 tabled A^r, so the higher powers enter. Equal to the dense fit on
    every backend, with the same bits."""
    n, d = 1500, 12
    rng = np.random.default_rng(7)
    X = sp.random(n, d, density=0.2, format="lil", random_state=7)
    X[:, 0] = 0
    X[0, 0], X[n - 1, 0] = 1.0, -2.0
    X = X.tocsr()
    X.eliminate_zeros()
    y = rng.standard_normal(n)
    okw = dict(momentum=0.9, dampening=0.1, weight_decay=1e-3)
    fkw = dict(optimizer="sgd", lr=0.01, batch_size=1, epochs=2, shuffle=False,
               optimizer_kwargs=okw)
    md = _model("squared_error", "l2", 0.01, np.float64, d, seed=3)
    fastgd.fit(md, X.toarray(), y, **fkw)
    got = []
    for name in backends.available():
        with backends.use_backend(name):
            ms = _model("squared_error", "l2", 0.01, np.float64, d, seed=3)
            fastgd.fit(ms, X, y, **fkw)
        assert rel(ms.coef_, md.coef_) < 1e-10, name
        assert rel(ms.intercept_, md.intercept_) < 1e-10, name
        got.append(ms.coef_)
    assert all(np.array_equal(c, got[0]) for c in got)
