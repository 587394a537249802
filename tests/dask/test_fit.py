"""fastgd.dask.fit on Dask's synchronous scheduler: what each mode equals, checkpoints,
closure-driven optimizers, and bad input refused before the model changes."""

from __future__ import annotations

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
pytest.importorskip("distributed")

import fastgd  # noqa: E402
import fastgd.dask  # noqa: E402
from fastgd import models  # noqa: E402

pytestmark = pytest.mark.usefixtures("sync")

CASES = [  # (model factory, problem kind, optimizer, lr, optimizer_kwargs)
    (lambda: models.LogisticRegression(penalty="l2", alpha=1e-3), "binary", "adam", 0.1, {}),
    (lambda: models.LinearModel("half_squared_error", penalty="elasticnet", alpha=1e-3),
     "regression", "sgd", 0.1, {"momentum": 0.9}),
    (lambda: models.LinearModel("huber", epsilon=0.5), "regression", "rmsprop", 0.01, {}),
    (lambda: models.LinearModel("hinge", penalty="l1", alpha=1e-3), "binary", "adagrad",
     0.1, {}),
    (lambda: models.SoftmaxRegression(penalty="l2", alpha=1e-3), "multiclass", "nadam",
     0.05, {}),
    (lambda: models.LogisticRegression(), "binary", "lion", 0.01, {}),
]


def _rel(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


@pytest.mark.parametrize("case", range(len(CASES)))
def test_full_batch_equals_the_single_process_full_batch_fit(problem, case):
    make, kind, opt, lr, okw = CASES[case]
    X, y, Xd, yd = problem(kind, chunk=70)  # 6 blocks, the last one smaller
    m, ref = make(), make()
    h = fastgd.dask.fit(m, Xd, yd, optimizer=opt, lr=lr, epochs=40, optimizer_kwargs=okw)
    href = fastgd.fit(ref, X, y, optimizer=opt, lr=lr, batch_size=None, epochs=40,
                      optimizer_kwargs=okw, random_state=0)
    assert h.round_trips == 40 and h.n_blocks == 6 and len(h) == 40
    if opt == "lion":  # sign updates: a near-zero gradient entry may flip, so compare loosely
        assert _rel(m.coef_, ref.coef_) < 1e-6
    else:
        assert _rel(m.coef_, ref.coef_) < 1e-10
        assert _rel(m.intercept_, ref.intercept_) < 1e-10
        np.testing.assert_allclose(h.loss, href.loss, rtol=1e-10)
    # bit for bit: the single-process fit told the same partition (NumPy, block_rows)
    m2 = make()
    fastgd.dask.fit(m2, X, y, optimizer=opt, lr=lr, epochs=40, optimizer_kwargs=okw,
                    block_rows=70)
    assert np.array_equal(m2.coef_, m.coef_) and np.array_equal(m2.intercept_, m.intercept_)


def test_full_batch_with_one_block_is_the_single_process_fit_bit_for_bit(problem):
    X, y, Xd, yd = problem("binary", chunk=400)
    m, ref = models.LogisticRegression(penalty="l2", alpha=1e-2), \
        models.LogisticRegression(penalty="l2", alpha=1e-2)
    fastgd.dask.fit(m, Xd, yd, optimizer="adam", lr=0.1, epochs=30, schedule="invscaling",
                    clip_norm=0.5)
    fastgd.fit(ref, X, y, optimizer="adam", lr=0.1, batch_size=None, epochs=30,
               schedule="invscaling", clip_norm=0.5, shuffle=False)
    assert np.array_equal(m.coef_, ref.coef_) and np.array_equal(m.intercept_, ref.intercept_)


def test_full_batch_with_weights_and_float32(problem):
    X, y, Xd, yd = problem("regression", chunk=100)
    w = np.random.default_rng(1).uniform(0, 2, size=X.shape[0])
    w[:100] = 0.0  # a block of zero weight takes no part
    m, ref = models.LinearRegression(), models.LinearRegression()
    fastgd.dask.fit(m, Xd, yd, sample_weight=da.from_array(w, chunks=100), optimizer="sgd",
                    lr=0.1, epochs=20)
    fastgd.fit(ref, X, y, sample_weight=w, optimizer="sgd", lr=0.1, batch_size=None,
               epochs=20)
    assert _rel(m.coef_, ref.coef_) < 1e-10
    m32 = models.LinearRegression()
    fastgd.dask.fit(m32, Xd.astype(np.float32), yd.astype(np.float32), optimizer="sgd",
                    lr=0.1, epochs=20)
    ref32 = models.LinearRegression()
    fastgd.fit(ref32, X.astype(np.float32), y.astype(np.float32), optimizer="sgd", lr=0.1,
               batch_size=None, epochs=20)
    assert m32.coef_.dtype == np.float32
    assert _rel(m32.coef_.astype(np.float64), ref32.coef_.astype(np.float64)) < 1e-5


def test_sequential_equals_fastgd_fit_in_order_and_its_own_single_process_chain(problem):
    X, y, Xd, yd = problem("binary", chunk=100)
    m, ref = models.LogisticRegression(), models.LogisticRegression()
    h = fastgd.dask.fit(m, Xd, yd, optimizer="adam", lr=0.05, batch_size=20, epochs=3,
                        shuffle=False)
    href = fastgd.fit(ref, X, y, optimizer="adam", lr=0.05, batch_size=20, epochs=3,
                      shuffle=False)
    assert np.array_equal(m.coef_, ref.coef_) and np.array_equal(m.intercept_, ref.intercept_)
    assert h.loss == href.loss and h.n_steps == href.n_steps == 60
    assert h.round_trips == 3
    # shuffled: the Dask run and the single-process run of the same seeded chain agree
    a, b = models.LogisticRegression(), models.LogisticRegression()
    fastgd.dask.fit(a, Xd, yd, optimizer="sgd", lr=0.1, batch_size=16, epochs=3,
                    random_state=7, schedule=lambda o: fastgd.lr_scheduler.StepLR(o, 1, 0.5))
    fastgd.dask.fit(b, X, y, optimizer="sgd", lr=0.1, batch_size=16, epochs=3,
                    random_state=7, block_rows=100,
                    schedule=lambda o: fastgd.lr_scheduler.StepLR(o, 1, 0.5))
    assert np.array_equal(a.coef_, b.coef_)
    assert not np.array_equal(a.coef_, m.coef_)


def test_local_sgd_is_deterministic_and_converges_near_the_optimum(problem):
    X, y, Xd, yd = problem("binary", n=2000, chunk=250)
    runs = []
    for _ in range(2):
        m = models.LogisticRegression(penalty="l2", alpha=1e-3)
        h = fastgd.dask.fit(m, Xd, yd, mode="local_sgd", optimizer="sgd", lr=1.0,
                            batch_size=25, local_steps=10, epochs=30, random_state=3)
        runs.append(m)
    assert np.array_equal(runs[0].coef_, runs[1].coef_)
    assert h.round_trips == 30 and h.n_steps == 30 * 10 * 8
    opt = models.LogisticRegression(penalty="l2", alpha=1e-3)
    fastgd.fit(opt, X, y, optimizer="adam", lr=0.05, batch_size=None, epochs=2000)
    best = opt.loss_value(X, y)
    got = runs[0].loss_value(X, y)
    assert best <= got < best + 2e-4  # full-batch GD's 300 steps at lr=0.2: 1e-2 above


@pytest.mark.filterwarnings("ignore::fastgd.ConvergenceWarning")
def test_checkpoint_and_resume_give_the_same_bits(problem, tmp_path):
    X, y, Xd, yd = problem("binary", chunk=100)
    path = tmp_path / "run.ckpt"
    full = models.LogisticRegression()
    h_full = fastgd.dask.fit(full, Xd, yd, optimizer="adam", lr=0.1, epochs=12,
                             schedule="adaptive", tol=1e-9)
    part = models.LogisticRegression()
    fastgd.dask.fit(part, Xd, yd, optimizer="adam", lr=0.1, epochs=7, schedule="adaptive",
                    tol=1e-9, checkpoint=path, checkpoint_every=3)
    assert fastgd.load(path).extra["epoch"] == 7  # the last epoch is always saved
    fresh = models.LogisticRegression()  # the driver died: a new process, a new model
    h = fastgd.dask.fit(fresh, Xd, yd, optimizer="adam", lr=0.1, epochs=12,
                        schedule="adaptive", tol=1e-9, resume=path)
    assert np.array_equal(fresh.coef_, full.coef_)
    assert h.loss == h_full.loss and len(h) == 12
    with pytest.raises(ValueError, match="lr"):
        fastgd.dask.fit(models.LogisticRegression(), Xd, yd, optimizer="adam", lr=0.2,
                        epochs=12, schedule="adaptive", tol=1e-9, resume=path)
    seq = tmp_path / "seq.ckpt"
    a = models.LogisticRegression()
    fastgd.dask.fit(a, Xd, yd, optimizer="adam", lr=0.05, batch_size=20, epochs=4,
                    random_state=1)
    b = models.LogisticRegression()
    fastgd.dask.fit(b, Xd, yd, optimizer="adam", lr=0.05, batch_size=20, epochs=2,
                    random_state=1, checkpoint=seq)
    fastgd.dask.fit(b, Xd, yd, optimizer="adam", lr=0.05, batch_size=20, epochs=4,
                    random_state=1, resume=seq)
    assert np.array_equal(a.coef_, b.coef_)


class ClosureSGD(fastgd.SGD):
    """A closure-driven optimizer for the test (the contract of an L-BFGS: ``loss =
    opt.step(closure)``, ``closure() -> (loss, grads)``): two evaluations per step, a
    plain gradient step from the second."""

    def step(self, closure):  # type: ignore[override]
        first, _ = closure()
        loss, grads = closure()
        assert loss == first
        for p, g in zip(self.param_groups[0]["params"], grads):
            p -= self.param_groups[0]["lr"] * g
        return loss


def test_a_closure_driven_optimizer_gets_one_round_trip_per_evaluation(problem):
    X, y, Xd, yd = problem("binary", chunk=100)
    m = models.LogisticRegression()
    h = fastgd.dask.fit(m, Xd, yd, optimizer=ClosureSGD, lr=0.5, epochs=15)
    assert h.round_trips == 30
    ref = models.LogisticRegression()
    fastgd.fit(ref, X, y, optimizer="sgd", lr=0.5, batch_size=None, epochs=15)
    assert _rel(m.coef_, ref.coef_) < 1e-10


LBFGS_CASES = [  # (model factory, problem kind)
    (lambda: models.LogisticRegression(penalty="l2", alpha=1e-3), "binary"),
    (lambda: models.LinearModel("half_squared_error", penalty="l2", alpha=1e-3),
     "regression"),
    (lambda: models.SoftmaxRegression(penalty="l2", alpha=1e-3), "multiclass"),
]


@pytest.mark.parametrize("line_search", [None, "strong_wolfe"])
@pytest.mark.parametrize("case", range(len(LBFGS_CASES)))
def test_lbfgs_equals_the_single_process_lbfgs_fit(problem, case, line_search):
    make, kind = LBFGS_CASES[case]
    X, y, Xd, yd = problem(kind, chunk=70)
    okw = {"line_search_fn": line_search}
    m, ref = make(), make()
    h = fastgd.dask.fit(m, Xd, yd, optimizer="lbfgs", lr=1.0, epochs=6,
                        optimizer_kwargs=okw)
    href = fastgd.fit(ref, X, y, optimizer="lbfgs", lr=1.0, batch_size=None, epochs=6,
                      optimizer_kwargs=okw)
    # one round trip per closure evaluation: more than one per epoch (the line search)
    assert len(h) == 6 and h.round_trips > 6
    assert _rel(m.coef_, ref.coef_) < 1e-10
    assert _rel(m.intercept_, ref.intercept_) < 1e-10
    np.testing.assert_allclose(h.loss, href.loss, rtol=1e-10)
    assert h.loss[-1] < h.loss[0]


def test_lbfgs_from_the_estimators_and_its_refusals(problem):
    import fastgd.sklearn
    X, y, Xd, yd = problem("binary", chunk=70)
    a = fastgd.dask.GDClassifier(optimizer="lbfgs", lr=1.0, max_iter=10, tol=None).fit(Xd, yd)
    b = fastgd.sklearn.GDClassifier(optimizer="lbfgs", lr=1.0, batch_size=None, max_iter=10,
                                    tol=None).fit(X, y)
    assert _rel(a.coef_, b.coef_) < 1e-10 and _rel(a.intercept_, b.intercept_) < 1e-10
    X, y, Xd, yd = problem("regression", chunk=70)
    a = fastgd.dask.GDRegressor(optimizer="lbfgs", lr=1.0, max_iter=10, tol=None).fit(Xd, yd)
    b = fastgd.sklearn.GDRegressor(optimizer="lbfgs", lr=1.0, batch_size=None, max_iter=10,
                                   tol=None).fit(X, y)
    assert _rel(a.coef_, b.coef_) < 1e-10 and _rel(a.intercept_, b.intercept_) < 1e-10
    m = models.LinearRegression()
    for kw in (dict(mode="sequential", batch_size=10), dict(clip_norm=1.0)):
        with pytest.raises(ValueError, match="needs mode='full_batch'"):
            fastgd.dask.fit(m, Xd, yd, optimizer="lbfgs", epochs=2, **kw)
    assert m.coef_ is None


def test_progress_line_without_tqdm(problem, capsys, monkeypatch):
    import builtins
    real = builtins.__import__

    def no_tqdm(name, *a, **k):
        if name.startswith("tqdm"):
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    _X, _y, Xd, yd = problem("binary", chunk=100)
    fastgd.dask.fit(models.LogisticRegression(), Xd, yd, lr=0.1, epochs=3, progress=True)
    err = capsys.readouterr().err
    assert "epoch 3/3" in err and "loss" in err


def _unchanged(model, before):
    return np.array_equal(model.coef_, before[0]) and np.array_equal(model.intercept_,
                                                                      before[1])


def test_bad_input_is_refused_before_the_model_changes(problem):
    X, y, Xd, yd = problem("binary", chunk=100)
    m = models.LogisticRegression()
    fastgd.dask.fit(m, Xd, yd, lr=0.1, epochs=2)
    before = (m.coef_.copy(), m.intercept_.copy())
    Xn = X.copy()
    Xn[250, 2] = np.nan
    with pytest.raises(ValueError, match=r"block 2 .*rows 200 to 299.*nan.*row 50"):
        fastgd.dask.fit(m, da.from_array(Xn, chunks=(100, 4)), yd, lr=0.1, epochs=2)
    with pytest.raises(ValueError, match="same row chunks"):
        fastgd.dask.fit(m, Xd, da.from_array(y, chunks=50), lr=0.1, epochs=2)
    Xu = Xd[Xd[:, 0] > -100]  # boolean indexing: unknown chunk sizes
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        fastgd.dask.fit(m, Xu, yd, lr=0.1, epochs=2)
    with pytest.raises(ValueError, match="not a label of log_loss"):
        fastgd.dask.fit(m, Xd, yd * 2, lr=0.1, epochs=2)
    with pytest.raises(ValueError, match="mode"):
        fastgd.dask.fit(m, Xd, yd, mode="async", epochs=2)
    with pytest.raises(ValueError, match="batch_size"):
        fastgd.dask.fit(m, Xd, yd, mode="local_sgd", epochs=2)
    with pytest.raises(ValueError, match="lr"):
        fastgd.dask.fit(m, Xd, yd, lr=-1.0, epochs=2)
    with pytest.raises(TypeError, match="y must be a dask"):
        fastgd.dask.fit(m, Xd, y, lr=0.1, epochs=2)
    assert _unchanged(m, before)
    with pytest.raises(FloatingPointError, match="diverged"):
        fastgd.dask.fit(models.LinearRegression(), Xd * 1e200, yd, lr=1e10, epochs=5)


def test_the_full_batch_optimum_is_dask_glms_and_scikit_learns(problem):
    """Against independent implementations: dask-glm's lbfgs (on the same dask arrays;
    its L2 penalty lamduh * |b|^2 / 2 on the sum of the losses is alpha = lamduh / n) and
    scikit-learn's LogisticRegression (C = 1 / (alpha n))."""
    from sklearn.linear_model import LogisticRegression as SkLogistic
    X, y, Xd, yd = problem("binary", chunk=100)
    alpha = 1e-2
    m = models.LogisticRegression(penalty="l2", alpha=alpha, fit_intercept=False)
    fastgd.dask.fit(m, Xd, yd, optimizer="sgd", lr=2.0, epochs=400,
                    optimizer_kwargs=dict(momentum=0.5))
    sk = SkLogistic(C=1 / (alpha * X.shape[0]), fit_intercept=False, tol=1e-12,
                    max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(m.coef_, sk.coef_[0], rtol=1e-6)
    glm = pytest.importorskip("dask_glm.algorithms")
    from dask_glm.families import Logistic
    b = glm.lbfgs(Xd, yd, regularizer="l2", lamduh=alpha * X.shape[0], max_iter=200,
                  tol=1e-12, family=Logistic, normalize=False)
    # (normalize=False: dask-glm's default standardises X, which moves the L2 optimum.)
    # SciPy's L-BFGS under dask-glm stops on its own relative-decrease rule (factr=1e7):
    # its point is close, and ours at least as good in loss
    np.testing.assert_allclose(m.coef_, np.asarray(b), rtol=1e-4)
    ours = m.loss_value(X, y)
    glm_model = models.LogisticRegression(penalty="l2", alpha=alpha, fit_intercept=False)
    glm_model.coef_ = np.asarray(b, dtype=np.float64)
    theirs = glm_model.loss_value(X, y)
    assert ours <= theirs + 1e-15 and theirs - ours < 1e-6 * ours


def _split(chunks, fraction, random_state):
    """The documented validation split: one seed per block drawn first from the run's
    generator, then each block's permutation."""
    seeds = np.random.default_rng(random_state).integers(0, 2**63 - 1, size=len(chunks),
                                                         dtype=np.int64)
    train, val, start = [], [], 0
    for n_b, s in zip(chunks, seeds):
        perm = np.random.default_rng(int(s)).permutation(n_b)
        k = int(np.ceil(fraction * n_b))
        val.append(start + np.sort(perm[:k]))
        train.append(start + np.sort(perm[k:]))
        start += n_b
    return np.concatenate(train), np.concatenate(val)


def test_early_stopping_equals_the_single_process_fit_on_the_training_rows(problem):
    X, y, Xd, yd = problem("binary", chunk=70)  # blocks of 70 rows, the last of 50
    kw = dict(optimizer="adam", lr=0.5, tol=1e-3, n_iter_no_change=3)
    m = models.LogisticRegression(penalty="l2", alpha=1e-3)
    h = fastgd.dask.fit(m, Xd, yd, epochs=200, early_stopping=True,
                        validation_fraction=0.2, random_state=7, **kw)
    assert h.stop_reason == "tol" and 3 < len(h) < 200
    assert h.round_trips == len(h) + 1  # the validation loss rides on the next evaluation
    train, val = _split(Xd.chunks[0], 0.2, 7)
    assert len(val) == sum(int(np.ceil(0.2 * c)) for c in Xd.chunks[0])
    ref = models.LogisticRegression(penalty="l2", alpha=1e-3)
    seen = []
    href = fastgd.fit(ref, X[train], y[train], batch_size=None, epochs=len(h),
                      callbacks=lambda e, hist, mod: seen.append(mod.loss_value(X[val],
                                                                                y[val])),
                      **dict(kw, tol=None))
    assert _rel(m.coef_, ref.coef_) < 1e-10 and _rel(m.intercept_, ref.intercept_) < 1e-10
    np.testing.assert_allclose(h.loss, href.loss, rtol=1e-10)
    np.testing.assert_allclose(h.val_loss, seen, rtol=1e-10)
    # the stop is scikit-learn's rule on the validation loss
    best, bad, stopped = np.inf, 0, None
    for e, v in enumerate(h.val_loss):
        bad = bad + 1 if v > best - 1e-3 else 0
        best = min(best, v)
        if bad >= 3 and stopped is None:
            stopped = e + 1
    assert stopped == len(h)
    # the same bits with the same partition in this process (NumPy input)
    m2 = models.LogisticRegression(penalty="l2", alpha=1e-3)
    fastgd.dask.fit(m2, X, y, epochs=200, early_stopping=True, validation_fraction=0.2,
                    random_state=7, block_rows=70, **kw)
    assert np.array_equal(m2.coef_, m.coef_)


def test_early_stopping_in_the_other_modes_and_with_lbfgs(problem, tmp_path):
    X, y, Xd, yd = problem("regression", chunk=100)
    train, val = _split(Xd.chunks[0], 0.25, 3)
    for kw, trips in ((dict(optimizer="lbfgs", lr=1.0), None),
                      (dict(optimizer="sgd", lr=0.01, batch_size=20), 2),
                      (dict(optimizer="sgd", lr=0.01, batch_size=20, mode="local_sgd",
                            local_steps=3), 2)):
        m = models.LinearRegression()
        h = fastgd.dask.fit(m, Xd, yd, epochs=5, early_stopping=True,
                            validation_fraction=0.25, random_state=3, **kw)
        assert len(h.val_loss) == 5
        assert h.val_loss[-1] == pytest.approx(m.loss_value(X[val], y[val]), rel=1e-12)
        if trips is not None:
            assert h.round_trips == trips * 5
    # the sequential chain runs on the training rows only: with shuffle=False and blocks
    # whose training rows are one batch each, it is fastgd.fit on those rows in order
    m = models.LinearRegression()
    fastgd.dask.fit(m, Xd, yd, optimizer="sgd", lr=0.01, batch_size=75, epochs=3,
                    shuffle=False, early_stopping=True, validation_fraction=0.25,
                    random_state=3)
    ref = models.LinearRegression()
    fastgd.fit(ref, X[train], y[train], optimizer="sgd", lr=0.01, batch_size=75, epochs=3,
               shuffle=False)
    assert _rel(m.coef_, ref.coef_) < 1e-12
    # checkpoint and resume keep the split
    path = tmp_path / "es.ckpt"
    a, b = models.LinearRegression(), models.LinearRegression()
    ha = fastgd.dask.fit(a, Xd, yd, optimizer="adam", lr=0.05, epochs=8, early_stopping=True,
                         random_state=5)
    fastgd.dask.fit(b, Xd, yd, optimizer="adam", lr=0.05, epochs=4, early_stopping=True,
                    random_state=5, checkpoint=path)
    hb = fastgd.dask.fit(models.LinearRegression(), Xd, yd, optimizer="adam", lr=0.05,
                         epochs=8, early_stopping=True, random_state=5, resume=path)
    assert hb.val_loss == ha.val_loss and hb.loss == ha.loss
    with pytest.raises(ValueError, match="early_stopping"):
        fastgd.dask.fit(models.LinearRegression(), Xd, yd, optimizer="adam", lr=0.05,
                        epochs=8, random_state=5, resume=path)
    # no training rows left: refused before the model changes
    c = models.LinearRegression()
    with pytest.raises(ValueError, match="leaves no training rows"):
        fastgd.dask.fit(c, Xd, yd, epochs=2, early_stopping=True, validation_fraction=0.999)
    assert c.coef_ is None


def test_early_stopping_from_the_estimators(problem):
    X, y, Xd, yd = problem("binary", chunk=100)
    clf = fastgd.dask.GDClassifier(optimizer="adam", lr=0.1, max_iter=300, tol=1e-3,
                                   early_stopping=True, validation_fraction=0.2,
                                   random_state=0).fit(Xd, yd)
    assert clf.n_iter_ < 300 and len(clf.history_.val_loss) == clf.n_iter_
    assert clf.score(Xd, yd) > 0.8
    reg = fastgd.dask.GDRegressor(optimizer="adam", lr=0.1, max_iter=300, tol=1e-4,
                                  early_stopping=True, random_state=0)
    _X, _y, Xr, yr = problem("regression", chunk=100)
    assert reg.fit(Xr, yr).n_iter_ < 300 and reg.score(Xr, yr) > 0.8


@pytest.mark.parametrize("mode, batch_size", [("full_batch", None), ("sequential", 16)])
def test_sparse_chunks_equal_their_dense_form(mode, batch_size):
    """Row chunks that are scipy.sparse matrices train as CSR (never densified), to the
    model of the same chunks dense; a NaN in one is refused naming it; predictions too."""
    sp = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(3)
    A = sp.random(240, 25, density=0.15, format="csr", random_state=4).toarray()
    y = (A @ rng.standard_normal(25) > 0).astype(np.float64)
    dense = da.from_array(A, chunks=(70, 25))
    sparse = dense.map_blocks(sp.csr_matrix, dtype=np.float64)
    yd = da.from_array(y, chunks=70)
    ms, md = models.LogisticRegression(), models.LogisticRegression()
    kw = dict(optimizer="adam", lr=0.1, epochs=4, batch_size=batch_size, mode=mode,
              random_state=0)
    fastgd.dask.fit(ms, sparse, yd, **kw)
    fastgd.dask.fit(md, dense, yd, **kw)
    assert _rel(ms.coef_, md.coef_) <= 1e-12 and not np.all(ms.coef_ == 0)
    clf = fastgd.dask.GDClassifier(optimizer="adam", lr=0.1, max_iter=3, tol=None)
    clf.fit(sparse, yd.astype(np.int64))
    np.testing.assert_array_equal(clf.predict(sparse).compute(), clf.predict(dense).compute())
    B = A.copy()
    B[100, np.flatnonzero(B[100])[0]] = np.nan
    bad = da.from_array(B, chunks=(70, 25)).map_blocks(sp.csr_matrix, dtype=np.float64)
    m = models.LogisticRegression()
    with pytest.raises(ValueError, match="non-finite value"):
        fastgd.dask.fit(m, bad, yd, **kw)
    assert m.coef_ is None
