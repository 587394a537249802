"""The text-like sparse workload of bench/bench_sparse.py, built once per process.

100,000 rows x 2**20 hashed features, about 100 stored values a row: column ranks drawn
from a Zipf law (exponent 1.1, as word frequencies), mapped to columns by a fixed random
permutation (the hashing), duplicates summed, rows scaled to unit 2-norm (tf-idf-like);
labels from a hidden sparse linear model with noise (binary), or the argmax of 20 hidden
models (multiclass). The last 20% of the rows are held out for accuracy.
"""

from __future__ import annotations

import functools

import numpy as np

N_ROWS = 100_000
N_FEATURES = 2**20
NNZ_ROW = 100


@functools.lru_cache(maxsize=4)
def workload(n_rows: int = N_ROWS, n_features: int = N_FEATURES, nnz_row: int = NNZ_ROW,
             n_classes: int = 2, dtype: str = "float64", seed: int = 0):
    """(X_train, y_train, X_test, y_test): CSR matrices and integer labels."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    lens = rng.poisson(nnz_row, n_rows).clip(1, None)
    indptr = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    nnz = int(indptr[-1])
    ranks = rng.zipf(1.1, nnz) - 1
    ranks %= n_features
    cols = rng.permutation(n_features)[ranks].astype(np.int32)
    vals = rng.random(nnz) + 0.5
    X = sp.csr_matrix((vals, cols, indptr), shape=(n_rows, n_features))
    X.sum_duplicates()
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.csr_matrix(sp.diags(1.0 / norms) @ X).astype(dtype)
    X.indices = X.indices.astype(np.int32)
    X.indptr = X.indptr.astype(np.int32)
    W = rng.standard_normal((n_features, n_classes)) * (rng.random((n_features, 1)) < 0.2)
    Z = np.asarray(X @ W) + 0.05 * rng.standard_normal((n_rows, n_classes))
    if n_classes == 2:
        y = (Z[:, 0] - Z[:, 1] > 0).astype(np.int64)
    else:
        y = np.argmax(Z, axis=1).astype(np.int64)
    cut = int(0.8 * n_rows)
    return X[:cut], y[:cut], X[cut:], y[cut:]
