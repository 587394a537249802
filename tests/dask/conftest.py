"""Fixtures of the Dask tests: small row-chunked problems, Dask's synchronous scheduler,
an in-process cluster. Everything here is skipped when Dask (with dask.array and
distributed: the ``dask`` extra) is not installed."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

try:  # the test modules skip themselves without the dask extra
    import dask
    import dask.array as da
    import distributed
except ImportError:
    dask = da = distributed = None


def make_problem(kind: str, n: int = 400, d: int = 4, seed: int = 0):
    """(X, y) NumPy arrays: ``"regression"`` (a linear model plus noise), ``"binary"``
    (0/1 labels from a noisy linear score), ``"multiclass"`` (labels 0..2)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    beta = np.linspace(1.0, -1.0, d)
    z = X @ beta + 0.5 * rng.standard_normal(n)
    if kind == "regression":
        return X, z + 0.3
    if kind == "binary":
        return X, (z > 0).astype(np.float64)
    return X, np.digitize(z, [-0.5, 0.5]).astype(np.int64)


@pytest.fixture
def problem():
    """``problem(kind, chunk=100, ...)``: (X, y, X_dask, y_dask) with row chunks of
    ``chunk`` rows."""
    def make(kind="binary", chunk=100, **kw):
        X, y = make_problem(kind, **kw)
        return X, y, da.from_array(X, chunks=(chunk, X.shape[1])), da.from_array(
            y, chunks=chunk)
    return make


@pytest.fixture
def sync():
    """Dask's synchronous scheduler for the test."""
    with dask.config.set(scheduler="sync"):
        yield


@pytest.fixture(scope="module")
def inproc_client():
    """An in-process LocalCluster of 2 workers x 1 thread and its client."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # offline address probe
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                           processes=False, dashboard_address=None)
        client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()
