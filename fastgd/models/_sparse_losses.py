"""The sparse-X side of :mod:`fastgd.models.losses`: a CSR X recognised, and its decision
values computed by the active backend's CSR kernel.

A ``scipy.sparse`` X is checked and brought to CSR by :func:`fastgd.models.sparse.as_csr`
(O(nnz): index pointer, column range, finite values); a :class:`~fastgd.models.sparse.CSR`
is taken as it is, its arrays' dtypes and shapes checked in O(1), and the kernels check
the index pointer and the columns of every row they read (``BAD_INDEX``), so that a CSR
built by hand cannot make them read out of bounds. Its values are not checked (as a
dense X's are not, by :func:`fastgd.models.loss_grad`): NaN propagates.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastgd import backends
from fastgd.models.sparse import CSR, as_csr, is_sparse
from fastgd.reference.models import OK

__all__: list[str] = []

_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_I32, _I64 = np.dtype(np.int32), np.dtype(np.int64)


def csr_X(X: Any) -> CSR:
    """X as a :class:`CSR` the kernels can read, or TypeError/ValueError naming it."""
    if type(X) is not CSR:
        if not is_sparse(X):
            raise TypeError(f"X must be a numpy.ndarray, got {type(X).__name__} (or, "
                            f"sparse, a scipy.sparse matrix or array)")
        return as_csr(X)
    data, indices, indptr, shape = X
    for name, a in (("data", data), ("indices", indices), ("indptr", indptr)):
        if not isinstance(a, np.ndarray) or a.ndim != 1 or not a.flags.c_contiguous \
                or not a.dtype.isnative:
            raise ValueError(f"X.{name} must be a 1-D C-contiguous numpy array of native "
                             f"byte order (use fastgd.models.sparse.as_csr)")
    if data.dtype != _F32 and data.dtype != _F64:
        raise TypeError(f"X.data has dtype {data.dtype}; fastgd models take float32 or "
                        f"float64")
    if indices.dtype != indptr.dtype or indices.dtype not in (_I32, _I64):
        raise TypeError(f"X.indices and X.indptr must both be int32 or both int64, got "
                        f"{indices.dtype} and {indptr.dtype}")
    if len(shape) != 2 or shape[0] < 1 or shape[1] < 1 or indptr.shape[0] != shape[0] + 1:
        raise ValueError(f"X has shape {shape} and {indptr.shape[0]} row pointers; a CSR "
                         f"matrix has at least one row and column and n_rows + 1 pointers")
    return X


def decision(X: CSR, coef: np.ndarray, intercept: np.ndarray | None,
             rows: np.ndarray | None) -> np.ndarray:
    """``X[rows] @ coef + intercept`` of checked arguments, by the active backend's CSR
    kernel: each value summed in float64 over the row's stored entries in storage order,
    rounded once to X's dtype."""
    n = X.shape[0] if rows is None else rows.shape[0]
    out = np.empty((n,) if coef.ndim == 1 else (n, coef.shape[1]), dtype=X.dtype)
    status, pos = backends.active_models().csr_decision(
        X.data, X.indices, X.indptr, X.shape[1], coef, intercept, rows, out)
    if status != OK:
        raise bad_row(X, pos, rows)
    return out


def bad_row(X: CSR, pos: int, rows: np.ndarray | None) -> ValueError:
    """The error for a CSR row with a malformed index pointer or column index."""
    row = pos if rows is None else int(rows[pos])
    return ValueError(f"X row {row}{'' if rows is None else f' (rows[{pos}])'} is malformed: "
                      f"its index pointer is not within [0, {X.data.shape[0]}] in order, or "
                      f"a column index is outside [0, {X.shape[1]})")
