"""fastgd.dask on dask.distributed: an in-process cluster (the same bits as the
synchronous scheduler, one task graph per full-batch epoch, the estimators), and one
multi-process LocalCluster whose worker process is killed in the middle of a fit."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

import fastgd  # noqa: E402
import fastgd.dask  # noqa: E402
from fastgd import models  # noqa: E402


class GraphCounter(distributed.diagnostics.plugin.SchedulerPlugin):
    """Counts the task graphs the scheduler receives (one per round trip of the driver)."""

    def __init__(self):
        self.graphs = 0

    def update_graph(self, scheduler, **kwargs):
        self.graphs += 1


def _fit(X, y, **kw):
    m = models.LogisticRegression(penalty="l2", alpha=1e-3)
    h = fastgd.dask.fit(m, X, y, optimizer="adam", lr=0.1, **kw)
    return m, h


def test_two_workers_give_the_sync_bits_with_one_graph_per_epoch(problem, inproc_client):
    X, y, Xd, yd = problem("binary", chunk=70)
    counter = GraphCounter()
    inproc_client.cluster.scheduler.add_plugin(counter, name="graph-counter")
    m, h = _fit(Xd, yd, epochs=25)
    assert counter.graphs == 2 + 25  # blocks persisted, blocks checked, then 1 per epoch
    assert h.round_trips == 25
    with dask.config.set(scheduler="sync"):
        ref, _ = _fit(Xd, yd, epochs=25, client=None, block_rows=None)
    np_ref, _ = _fit(X, y, epochs=25, block_rows=70)
    assert np.array_equal(m.coef_, np_ref.coef_) and np.array_equal(m.intercept_,
                                                                     np_ref.intercept_)
    seq, _ = _fit(Xd, yd, epochs=3, batch_size=16, random_state=2)
    seq_ref, _ = _fit(X, y, epochs=3, batch_size=16, random_state=2, block_rows=70)
    assert np.array_equal(seq.coef_, seq_ref.coef_)
    # early stopping: the split made where the blocks live, one graph per epoch (+1)
    before = counter.graphs
    es, h = _fit(Xd, yd, epochs=6, early_stopping=True, random_state=4)
    assert counter.graphs - before == 2 + 2 + 6 + 1  # persisted, checked, split, checked
    es_ref, h_ref = _fit(X, y, epochs=6, early_stopping=True, random_state=4, block_rows=70)
    assert np.array_equal(es.coef_, es_ref.coef_) and h.val_loss == h_ref.val_loss


def test_estimators_on_a_cluster(problem, inproc_client):
    from fastgd.dask import GDClassifier, GDRegressor
    from fastgd.sklearn import GDClassifier as SkClassifier
    from fastgd.sklearn import GDRegressor as SkRegressor
    X, y, Xd, yd = problem("multiclass", chunk=100)
    kw = dict(optimizer="adam", lr=0.1, max_iter=30, tol=None, batch_size=None,
              random_state=0)
    clf = GDClassifier(**kw).fit(Xd, yd)
    ref = SkClassifier(**kw).fit(X, y)
    np.testing.assert_allclose(clf.coef_, ref.coef_, rtol=1e-10)
    np.testing.assert_allclose(clf.intercept_, ref.intercept_, rtol=1e-10)
    pred = clf.predict(Xd)
    assert isinstance(pred, da.Array) and pred.chunks == ((100,) * 4,)
    np.testing.assert_array_equal(pred.compute(), ref.predict(X))
    np.testing.assert_allclose(clf.predict_proba(Xd).compute(), ref.predict_proba(X),
                               rtol=1e-12)
    assert clf.score(Xd, yd) == pytest.approx(ref.score(X, y), abs=1e-15)
    Xr, yr = X, X @ np.arange(4.0) + 1.0
    import pandas as pd
    dd = pytest.importorskip("dask.dataframe")
    df = dd.from_pandas(pd.DataFrame(Xr, columns=list("abcd")), npartitions=4)
    ys = dd.from_pandas(pd.Series(yr), npartitions=4)
    reg = GDRegressor(**kw).fit(df, ys)
    rref = SkRegressor(**kw).fit(Xr, yr)
    np.testing.assert_allclose(reg.coef_, rref.coef_, rtol=1e-10)
    assert reg.score(df, ys) == pytest.approx(rref.score(Xr, yr), rel=1e-12)
    part = GDRegressor(**kw).partial_fit(df, ys).partial_fit(df, ys)
    assert part.t_ == 3.0 and part.n_iter_ == 1
    hinge = GDClassifier(loss="hinge", **kw).fit(Xd, yd)  # one-vs-rest, 3 fits
    href = SkClassifier(loss="hinge", **kw).fit(X, y)
    np.testing.assert_allclose(hinge.coef_, href.coef_, rtol=1e-10)


def _kill_worker_at(epoch_to_kill, client, killed):
    def cb(epoch, history, model):
        if epoch == epoch_to_kill:
            addr = sorted(client.scheduler_info()["workers"])[0]
            pid = client.run(os.getpid, workers=[addr])[addr]
            os.kill(pid, 9)  # the worker process dies; its nanny starts a new one
            killed.append((addr, pid))
    return cb


@pytest.mark.skipif(fastgd.backend() == "numba",
                    reason="backend-independent; on Numba each new worker process compiles "
                           "the kernels again (a minute of the suite)")
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_worker_killed_mid_fit_changes_nothing(problem):
    """Multi-process: the killed worker's blocks are recomputed from their graph
    elsewhere, and the fit ends with the coefficients of an undisturbed run."""
    X, y, _Xd, _yd = problem("binary", n=800, chunk=100)
    Xd = da.from_array(X, chunks=(100, 4))
    yd = da.from_array(y, chunks=100)
    ref, _ = _fit(X, y, epochs=12, block_rows=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None, host="127.0.0.1")
        client = distributed.Client(cluster)
    try:
        killed: list = []
        m, h = _fit(Xd, yd, epochs=12, client=client,
                    callbacks=_kill_worker_at(4, client, killed))
        assert killed, "no worker was killed"
        assert killed[0][0] not in client.scheduler_info()["workers"] or \
            client.run(os.getpid)[killed[0][0]] != killed[0][1]
        assert np.array_equal(m.coef_, ref.coef_) and np.array_equal(m.intercept_,
                                                                     ref.intercept_)
        assert h.round_trips == 12
    finally:
        client.close()
        cluster.close()
