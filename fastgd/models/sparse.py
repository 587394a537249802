r"""Sparse design matrices: the one place where a ``scipy.sparse`` X is recognised, checked
and brought to the compressed-row form the kernels read.

.. code-block:: python

    import scipy.sparse as sp
    from fastgd.models.sparse import as_csr, is_sparse

    X = sp.random(1000, 2**20, density=1e-4, format="coo", random_state=0)
    csr = as_csr(X)          # CSR(data, indices, indptr, shape): arrays the kernels take
    csr.data.dtype, csr.indices.dtype, csr.shape

**What is accepted.** Any ``scipy.sparse`` matrix or array (``csr``, ``csc``, ``coo``,
``lil``, ``dok``, ``bsr``, ``dia``), with float32 or float64 values (integer and boolean
values become float64) and int32 or int64 indices. Column indices may be unsorted within a
row and may repeat: a repeated ``(row, column)`` entry counts as the sum of its values, as
scipy defines it (the kernels add the products one by one, so no canonical copy is made).
Rows without entries are allowed. scipy is not a dependency of fastgd: it is imported only
when a sparse matrix is passed.

**What is done to it.** A CSR input is used as it is: its ``data``, ``indices`` and
``indptr`` arrays are read, never written, and never copied unless their dtypes must change
(float values of another dtype than asked, indices and index pointer of different integer
widths, which become int64 both). Any other format is converted once with ``tocsr()``. The
caller's matrix is never modified (scipy's ``sum_duplicates``/``sort_indices`` are not
called on it).

**What is checked**, before any model changes, each with a ValueError naming the problem:
the shape is 2-D with at least one row and one column; ``indptr`` has ``n_rows + 1``
entries, starts at 0, never decreases and ends at the number of stored values; every column
index is in ``[0, n_cols)``; every stored value is finite. The checks are vectorised
NumPy passes, O(nnz), done once per call of :func:`as_csr`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = ["CSR", "is_sparse", "as_csr"]

_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_I32, _I64 = np.dtype(np.int32), np.dtype(np.int64)


class CSR(NamedTuple):
    """A checked compressed-sparse-row matrix: the arrays the sparse kernels read.

    Row ``i`` holds the values ``data[indptr[i]:indptr[i + 1]]`` in the columns
    ``indices[indptr[i]:indptr[i + 1]]``. ``data`` is float32 or float64; ``indices`` and
    ``indptr`` share one integer dtype, int32 or int64. The arrays may be the caller's own
    (read-only use).
    """

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    shape: tuple[int, int]

    @property
    def nnz(self) -> int:
        """The number of stored values (repeated entries counted apart)."""
        return int(self.indptr[-1])

    @property
    def dtype(self) -> np.dtype:
        """The values' dtype (float32 or float64)."""
        return self.data.dtype


def is_sparse(X: Any) -> bool:
    """True when X is a ``scipy.sparse`` matrix or array (without importing scipy)."""
    return type(X).__module__.startswith("scipy.sparse") and hasattr(X, "tocsr")


def _float_dtype(X, dtype, name):
    if dtype is None:
        kind = X.dtype
        if kind == _F32 or kind == _F64:
            return np.dtype(kind)
        if kind.kind in "biu":
            return _F64
        raise TypeError(f"{name} has dtype {kind}; fastgd models take float32 or float64 "
                        f"values (pass {name}.astype(np.float64))")
    dtype = np.dtype(dtype)
    if dtype != _F32 and dtype != _F64:
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} has dtype {X.dtype}; fastgd models take real values")
    return dtype


def _index_arrays(indices, indptr):
    """The index arrays in one integer dtype (int32 kept when both are int32)."""
    for nm, a in (("indices", indices), ("indptr", indptr)):
        if a.dtype.kind not in "iu":
            raise TypeError(f"X.{nm} has dtype {a.dtype}; expected int32 or int64")
    if indices.dtype == _I32 and indptr.dtype == _I32:
        return indices, indptr
    if indices.dtype == _I64 and indptr.dtype == _I64:
        return indices, indptr
    return indices.astype(_I64), indptr.astype(_I64)


def _first_nonfinite(data: np.ndarray, chunk: int = 1 << 16) -> int:
    """The position of data's first NaN or infinity, or -1: checked a chunk at a time, so
    the temporary is ``chunk`` booleans, not one per stored value."""
    for start in range(0, data.shape[0], chunk):
        ok = np.isfinite(data[start:start + chunk])
        if not ok.all():
            return start + int(np.argmin(ok))
    return -1


def as_csr(X: Any, *, dtype: Any = None, name: str = "X") -> CSR:
    """Check a ``scipy.sparse`` matrix or array and return its :class:`CSR` arrays.

    Args:
        X: any ``scipy.sparse`` matrix or array (see the module's docstring), or a
            :class:`CSR` (its arrays checked again).
        dtype: the values' dtype, float32 or float64; None keeps X's (integers and
            booleans become float64).
        name: the argument's name in error messages.

    Returns:
        a :class:`CSR` whose arrays are X's own when X is CSR with the wanted dtypes.

    Raises:
        TypeError: X is not a scipy.sparse matrix, or has non-real values.
        ValueError: a malformed matrix: shape, index pointer, column indices out of range,
            NaN or infinite values.
    """
    if isinstance(X, CSR):
        for nm in ("data", "indices", "indptr"):
            if not isinstance(getattr(X, nm), np.ndarray):
                raise TypeError(f"{name}.{nm} must be a numpy.ndarray, got "
                                f"{type(getattr(X, nm)).__name__}")
    elif not is_sparse(X):
        raise TypeError(f"{name} must be a scipy.sparse matrix or array, got "
                        f"{type(X).__name__}")
    shape = tuple(X.shape)
    if len(shape) != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {shape}")
    n_rows, n_cols = int(shape[0]), int(shape[1])
    if n_rows == 0 or n_cols == 0:
        raise ValueError(f"{name} must have at least one row and one column, got shape "
                         f"{shape}")
    want = _float_dtype(X, dtype, name)
    if not isinstance(X, CSR) and X.format != "csr":
        X = X.tocsr()      # a new matrix: the caller's is untouched
    data, indices, indptr = X.data, X.indices, X.indptr
    indices, indptr = _index_arrays(indices, indptr)
    if indptr.ndim != 1 or indptr.shape[0] != n_rows + 1:
        raise ValueError(f"{name}.indptr must have n_rows + 1 = {n_rows + 1} entries, got "
                         f"shape {indptr.shape}")
    nnz = int(indptr[-1])
    if int(indptr[0]) != 0:
        raise ValueError(f"{name}.indptr must start at 0, got {int(indptr[0])}")
    if data.ndim != 1 or indices.ndim != 1 or data.shape[0] < nnz or indices.shape[0] < nnz:
        raise ValueError(f"{name}.indptr ends at {nnz} but {name}.data has "
                         f"{data.shape[0]} and {name}.indices {indices.shape[0]} entries")
    if n_rows > 1:
        steps = np.diff(indptr)
        if steps.min() < 0:
            row = int(np.argmax(steps < 0))
            raise ValueError(f"{name}.indptr decreases at row {row} ({int(indptr[row])} "
                             f"then {int(indptr[row + 1])})")
    if data.shape[0] != nnz:
        data = data[:nnz]
        indices = indices[:nnz]
    if nnz:
        lo, hi = int(indices.min()), int(indices.max())
        if lo < 0 or hi >= n_cols:
            bad = lo if lo < 0 else hi
            pos = int(np.argmax(indices == bad))
            row = int(np.searchsorted(indptr, pos, side="right") - 1)
            raise ValueError(f"{name} has column index {bad} in row {row}, outside "
                             f"[0, {n_cols}) for shape {shape}")
    if data.dtype != want:
        data = data.astype(want)
    pos = _first_nonfinite(data)
    if pos >= 0:
        row = int(np.searchsorted(indptr, pos, side="right") - 1)
        raise ValueError(f"{name} has a non-finite value ({data[pos]}) in row {row}, "
                         f"column {int(indices[pos])}")
    # the kernels read the three arrays as contiguous runs (a copy only for a strided view)
    data, indices, indptr = (np.ascontiguousarray(a) for a in (data, indices, indptr))
    return CSR(data, indices, indptr, (n_rows, n_cols))
