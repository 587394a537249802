"""Training on chunks (fastgd.models.PartialFit) and reading svmlight files.

    pytest bench/bench_stream.py --benchmark-json=bench/results/stream.json

- "chunks": one epoch of Adam (batches of 32) on 100,000 x 20 float64 rows, by
  ``fastgd.fit(epochs=1)`` and by ``PartialFit`` over chunks of 1,000 / 10,000 rows
  (same bits; the ratio is the cost of going through ``fit`` once per chunk), and
  scikit-learn's ``SGDRegressor.partial_fit`` over 1,000-row chunks as a peer;
- "svmlight": reading a 20,000-row svmlight file (100 features, ~20 nonzeros a row) whole
  with ``fastgd.io.chunks.read_svmlight``, in chunks of 5,000 rows with ``iter_chunks``,
  and with scikit-learn's ``load_svmlight_file`` (compiled) as the peer.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastgd
from fastgd.io.chunks import iter_chunks, read_svmlight
from fastgd.models import PartialFit

N, D = 100_000, 20


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, D))
    return X, X @ rng.standard_normal(D) + 0.1 * rng.standard_normal(N)


def test_fit_one_epoch(benchmark, data):
    X, y = data
    benchmark.group = "one epoch of Adam on 100,000 x 20, in chunks"

    def run():
        fastgd.fit(fastgd.LinearRegression(), X, y, optimizer="adam", lr=1e-3, epochs=1,
                   shuffle=False)
    benchmark.pedantic(run, rounds=7, iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("chunk", [1_000, 10_000])
def test_partial_fit_chunks(benchmark, data, chunk):
    X, y = data
    benchmark.group = "one epoch of Adam on 100,000 x 20, in chunks"
    benchmark.extra_info.update(chunk_rows=chunk)

    def run():
        p = PartialFit(fastgd.LinearRegression(), optimizer="adam", lr=1e-3, shuffle=False)
        for a in range(0, N, chunk):
            p.partial_fit(X[a:a + chunk], y[a:a + chunk])
        p.end_epoch()
    benchmark.pedantic(run, rounds=7, iterations=1, warmup_rounds=1)


def test_sklearn_partial_fit_chunks(benchmark, data):
    linear_model = pytest.importorskip("sklearn.linear_model")
    X, y = data
    benchmark.group = "one epoch of Adam on 100,000 x 20, in chunks"
    benchmark.extra_info.update(chunk_rows=1_000, peer="SGDRegressor (per-sample SGD)")

    def run():
        est = linear_model.SGDRegressor(learning_rate="constant", eta0=1e-3, shuffle=False)
        for a in range(0, N, 1_000):
            est.partial_fit(X[a:a + 1_000], y[a:a + 1_000])
    benchmark.pedantic(run, rounds=7, iterations=1, warmup_rounds=1)


@pytest.fixture(scope="module")
def svm_file(tmp_path_factory):
    datasets = pytest.importorskip("sklearn.datasets")
    sparse = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(1)
    A = rng.standard_normal((20_000, 100)) * (rng.random((20_000, 100)) < 0.2)
    path = tmp_path_factory.mktemp("svm") / "d.svm"
    datasets.dump_svmlight_file(sparse.csr_matrix(A), rng.integers(0, 2, 20_000), str(path))
    return str(path)


def test_read_svmlight(benchmark, svm_file):
    benchmark.group = "svmlight 20,000 x 100, ~20 nonzeros a row"
    benchmark.pedantic(lambda: read_svmlight(svm_file), rounds=5, iterations=1,
                       warmup_rounds=1)


def test_iter_svmlight_chunks(benchmark, svm_file):
    benchmark.group = "svmlight 20,000 x 100, ~20 nonzeros a row"
    benchmark.pedantic(lambda: sum(X.shape[0] for X, _ in iter_chunks(svm_file, 5_000)),
                       rounds=5, iterations=1, warmup_rounds=1)


def test_sklearn_load_svmlight_file(benchmark, svm_file):
    datasets = pytest.importorskip("sklearn.datasets")
    benchmark.group = "svmlight 20,000 x 100, ~20 nonzeros a row"
    benchmark.pedantic(lambda: datasets.load_svmlight_file(svm_file), rounds=5,
                       iterations=1, warmup_rounds=1)
