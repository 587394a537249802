"""The CSR loss kernels: threads on a full batch, a mini-batch against its O(d) floor,
and CSR against the dense kernel on the same values.

    pytest bench/bench_csr_kernels.py --benchmark-json=bench/results/csr-kernels.json
    python bench/report.py bench/results/sparse.json

Groups (compare within a group, medians):

- ``full-batch``: ``loss_grad`` (softmax, 5 classes) over all 100,000 rows of a
  100,000 x 2**16 CSR matrix with ~30 stored values a row, on 1 and 2 threads (the
  chunks' partial sums are added in a fixed order: the same bits for both);
- ``mini-batch``: one 256-row batch of the same matrix with log_loss against the O(d)
  floor its dense output implies (``np.zeros`` of the gradient's size), at d = 2**20;
- ``csr-vs-dense``: a 20,000 x 2,000 matrix at 1 % density, CSR against the same values
  dense (C order), full batch, one thread.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastgd
from fastgd import backends
from fastgd.models import loss_grad
from fastgd.models.sparse import CSR

pytestmark = pytest.mark.skipif("cython" not in backends.available(),
                                reason="needs the compiled core")


def _csr(n, d, per_row, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    # Zipf-like columns: a few frequent, most rare
    cols = np.minimum((rng.pareto(1.2, n * per_row) * 50).astype(np.int64), d - 1)
    indptr = np.arange(0, n * per_row + 1, per_row, dtype=np.int64)
    return CSR(rng.standard_normal(n * per_row).astype(dtype), cols, indptr, (n, d))


@pytest.mark.parametrize("threads", [1, 2])
def bench_full_batch(benchmark, threads, fastgd_threads):
    X = _csr(100_000, 1 << 16, 30)
    y = np.random.default_rng(1).integers(0, 5, X.shape[0])
    coef, icpt = np.zeros((X.shape[1], 5)), np.zeros(5)
    gc, gi = np.empty_like(coef), np.empty_like(icpt)
    fastgd_threads(threads)
    benchmark.group = "full-batch"
    benchmark.extra_info.update(threads=threads, nnz=X.nnz)
    with fastgd.use_backend("cython"):
        benchmark.pedantic(loss_grad, args=("softmax_cross_entropy", X, y, coef, icpt),
                           kwargs=dict(grad_coef=gc, grad_intercept=gi), rounds=15,
                           warmup_rounds=2)


@pytest.mark.parametrize("side", ["csr-batch", "floor-zeros"])
def bench_mini_batch(benchmark, side):
    X = _csr(100_000, 1 << 20, 30)
    y = (np.random.default_rng(2).random(X.shape[0]) < 0.5).astype(np.float64)
    coef, icpt = np.zeros(X.shape[1]), np.zeros(1)
    gc, gi = np.empty_like(coef), np.empty_like(icpt)
    rows = np.random.default_rng(3).permutation(X.shape[0])[:256]
    benchmark.group = "mini-batch"
    benchmark.extra_info.update(side=side)
    with fastgd.use_backend("cython"):
        if side == "csr-batch":
            benchmark.pedantic(loss_grad, args=("log_loss", X, y, coef, icpt),
                               kwargs=dict(rows=rows, grad_coef=gc, grad_intercept=gi),
                               rounds=50, warmup_rounds=3)
        else:
            benchmark.pedantic(np.zeros, args=(X.shape[1],), rounds=50, warmup_rounds=3)


@pytest.mark.parametrize("layout", ["csr", "dense"])
def bench_csr_vs_dense(benchmark, layout, fastgd_threads):
    rng = np.random.default_rng(4)
    dense = rng.standard_normal((20_000, 2_000))
    dense[rng.random(dense.shape) > 0.01] = 0.0
    nz = np.nonzero(dense)
    X = dense if layout == "dense" else CSR(
        dense[nz], nz[1].astype(np.int64),
        np.concatenate([[0], np.cumsum(np.bincount(nz[0], minlength=20_000))]),
        dense.shape)
    y = (rng.random(20_000) < 0.5).astype(np.float64)
    coef, icpt = np.zeros(2_000), np.zeros(1)
    fastgd_threads(1)
    benchmark.group = "csr-vs-dense"
    benchmark.extra_info.update(layout=layout)
    with fastgd.use_backend("cython"):
        benchmark.pedantic(loss_grad, args=("log_loss", X, y, coef, icpt), rounds=15,
                           warmup_rounds=2)
