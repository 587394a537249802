r"""Data files read whole or in chunks of rows: svmlight/libsvm text and ``scipy.sparse``
``.npz`` (sparse, as CSR), and the command line's CSV, ``.npy`` and ``.npz`` (dense).

.. code-block:: python

    from fastgd.io.chunks import iter_chunks, read_svmlight
    X, y = read_svmlight("train.svm")                  # scipy.sparse CSR, float64 labels
    for X, y in iter_chunks("train.svm", 10_000):      # never more than 10,000 rows held
        ...                                            # e.g. PartialFit.partial_fit(X, y)

**svmlight / libsvm** (``.svm``, ``.svmlight``, ``.libsvm``): one sample a line,
``<label> [qid:<n>] <index>:<value> ...`` with an optional ``# comment``; blank and
comment lines are skipped, ``qid`` is ignored. Indices are integers, strictly increasing
on a line; ``zero_based="auto"`` (scikit-learn's rule for ``load_svmlight_file``) takes
them as one-based (shifted down by one) unless some index in the file is 0. The number of
features is ``n_features`` or the largest index + 1. Labels and values must be finite.
``read_svmlight`` gives what ``sklearn.datasets.load_svmlight_file`` gives (the same CSR
arrays, float64, sorted indices; an explicit ``i:0`` is kept as a stored zero).

**scipy.sparse .npz** (``scipy.sparse.save_npz``): a CSR matrix (other formats are
converted when read whole; streamed, only CSR); the target is the array ``y`` of the same
archive (``np.savez(path, y=y, **members)`` or added later), or with ``target`` a column
of the matrix (its index), taken out of the features.

**Chunks.** :func:`iter_chunks` yields ``(X, y)`` of ``chunk_rows`` rows (the last may be
shorter) and holds no more than one chunk: svmlight and CSV files are read line by line,
``.npy`` arrays through ``np.load(mmap_mode="r")``, ``.npz`` members (dense ``X``/``y`` or
the CSR arrays) by reading their bytes in order from the archive. svmlight files are
scanned once first (:func:`scan_svmlight`: rows, features, indexing) so that every chunk
has the same number of columns. Every error is a :class:`fastgd.io.data.DataError`
(a ValueError) naming the file and the line (text files) or the row.
"""

from __future__ import annotations

import csv
import importlib
import math
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from fastgd.io.data import DataError, _column_index, _float_column, _target_column

__all__ = ["SVMLIGHT_SUFFIXES", "SvmlightInfo", "scan_svmlight", "read_svmlight",
           "iter_svmlight", "read_sparse_npz", "is_sparse_npz", "iter_chunks"]

SVMLIGHT_SUFFIXES = (".svm", ".svmlight", ".libsvm")


def _scipy_sparse(path: str) -> Any:
    try:  # imported by name: scipy is needed for sparse files only
        return importlib.import_module("scipy.sparse")
    except ImportError:  # pragma: no cover - scipy is installed with the sparse support
        raise DataError(f"{path}: reading sparse data needs scipy (pip install scipy)") \
            from None


def _open_text(path: str) -> Any:
    try:
        return open(path, encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a data file") from None
    except OSError as exc:
        raise DataError(f"{path}: {exc.strerror or exc}") from None


# -- svmlight ---------------------------------------------------------------------------------

def _parse_line(line: str, path: str, number: int) -> tuple[float, list[int], list[float]] | None:
    """(label, indices as written, values) of one line; None for a blank/comment line."""
    body = line.split("#", 1)[0].split()
    if not body:
        return None
    where = f"{path}, line {number}"
    try:
        label = float(body[0])
    except ValueError:
        raise DataError(f"{where}: the label {body[0]!r} is not a number") from None
    if not math.isfinite(label):
        raise DataError(f"{where}: the label {body[0]!r} is not finite")
    indices: list[int] = []
    values: list[float] = []
    for token in body[1:]:
        key, sep, value = token.partition(":")
        if not sep or not key or not value or ":" in value:
            raise DataError(f"{where}: {token!r} is not <index>:<value>")
        if key == "qid":
            continue
        try:
            index = int(key)
        except ValueError:
            raise DataError(f"{where}: the index {key!r} is not an integer") from None
        try:
            v = float(value)
        except ValueError:
            raise DataError(f"{where}: the value {value!r} (index {index}) is not a number") \
                from None
        if not math.isfinite(v):
            raise DataError(f"{where}: the value {value!r} (index {index}) is not finite")
        if index < 0:
            raise DataError(f"{where}: negative index {index}")
        if indices and index <= indices[-1]:
            raise DataError(f"{where}: index {index} after {indices[-1]} (the indices of a "
                            f"line must be increasing, each once)")
        indices.append(index)
        values.append(v)
    return label, indices, values


def _lines(path: str) -> Iterator[tuple[int, float, list[int], list[float]]]:
    """(line number, label, indices, values) of each sample line of ``path``."""
    with _open_text(path) as f:
        try:
            for number, line in enumerate(f, 1):
                parsed = _parse_line(line, path, number)
                if parsed is not None:
                    yield (number, *parsed)
        except UnicodeDecodeError:
            raise DataError(f"{path}: not a UTF-8 text file") from None


@dataclass
class SvmlightInfo:
    """What :func:`scan_svmlight` finds: the sample count, the number of features (after
    the shift of one-based indices) and whether the indices are taken as zero-based."""

    n_rows: int
    n_features: int
    zero_based: bool


def _check_zero_based(zero_based: Any) -> None:
    if zero_based not in ("auto", True, False):
        raise ValueError(f"zero_based must be 'auto', True or False, got {zero_based!r}")


def scan_svmlight(path: str, *, n_features: int | None = None,
                  zero_based: Any = "auto") -> SvmlightInfo:
    """Read ``path`` once, checking every line (see :mod:`fastgd.io.chunks`), and return
    its :class:`SvmlightInfo`. ``n_features``: the number of features, which every index
    must fit (None: the largest index + 1)."""
    _check_zero_based(zero_based)
    if n_features is not None and (isinstance(n_features, bool) or
                                   not isinstance(n_features, (int, np.integer))
                                   or n_features < 1):
        raise ValueError(f"n_features must be a positive int or None, got {n_features!r}")
    rows, low, high = 0, None, -1
    for _number, _label, indices, _values in _lines(path):
        rows += 1
        if indices:
            low = indices[0] if low is None else min(low, indices[0])
            high = max(high, indices[-1])
    if rows == 0:
        raise DataError(f"{path}: no samples (every line is blank or a comment)")
    # scikit-learn's "auto": one-based when there are indices and none is 0
    zb = (low is None or low == 0) if zero_based == "auto" else bool(zero_based)
    if not zb and low == 0:
        raise DataError(f"{path}: index 0 in a file read as one-based (zero_based=False)")
    top = high + (1 if zb else 0)
    if n_features is not None:
        if top > n_features:
            _first_out_of_range(path, n_features, zb)
        top = int(n_features)
    return SvmlightInfo(rows, max(top, 1), zb)


def _first_out_of_range(path: str, n_features: int, zero_based: bool) -> None:
    for number, _label, indices, _values in _lines(path):
        if indices and indices[-1] - (0 if zero_based else 1) >= n_features:
            raise DataError(f"{path}, line {number}: index {indices[-1]} is out of range for "
                            f"{n_features} features ({'zero' if zero_based else 'one'}-based)")


def iter_svmlight(path: str, chunk_rows: int, *, n_features: int | None = None,
                  zero_based: Any = "auto", dtype: Any = np.float64,
                  info: SvmlightInfo | None = None) -> Iterator[tuple[Any, np.ndarray]]:
    """Yield ``(X, y)`` chunks of ``chunk_rows`` samples of an svmlight file: ``X`` a
    ``scipy.sparse`` CSR matrix ``(rows, n_features)`` of ``dtype``, ``y`` float64. The
    file is scanned first (:func:`scan_svmlight`) unless ``info`` (from it) is given."""
    chunk_rows = _check_chunk_rows(chunk_rows)
    if info is None:
        info = scan_svmlight(path, n_features=n_features, zero_based=zero_based)
    sparse = _scipy_sparse(path)
    shift = 0 if info.zero_based else 1
    labels: list[float] = []
    indptr = [0]
    indices: list[int] = []
    values: list[float] = []
    for number, label, idx, vals in _lines(path):
        if idx and idx[-1] - shift >= info.n_features:
            raise DataError(f"{path}, line {number}: index {idx[-1]} is out of range for "
                            f"{info.n_features} features")
        labels.append(label)
        indices.extend(idx)
        values.extend(vals)
        indptr.append(len(indices))
        if len(labels) == chunk_rows:
            yield _csr(sparse, labels, indptr, indices, values, shift, info, dtype)
            labels, indptr, indices, values = [], [0], [], []
    if labels:
        yield _csr(sparse, labels, indptr, indices, values, shift, info, dtype)


def _csr(sparse, labels, indptr, indices, values, shift, info, dtype):
    nnz = len(indices)
    index_dtype = np.int32 if max(nnz, info.n_features) < 2**31 else np.int64
    ind = np.array(indices, dtype=index_dtype) - index_dtype(shift) if shift else \
        np.array(indices, dtype=index_dtype)
    X = sparse.csr_matrix((np.array(values, dtype=dtype), ind,
                           np.array(indptr, dtype=index_dtype)),
                          shape=(len(labels), info.n_features))
    return X, np.array(labels, dtype=np.float64)


def read_svmlight(path: str, *, n_features: int | None = None, zero_based: Any = "auto",
                  dtype: Any = np.float64) -> tuple[Any, np.ndarray]:
    """The whole svmlight file: ``(X, y)``, ``X`` a CSR matrix, ``y`` float64."""
    info = scan_svmlight(path, n_features=n_features, zero_based=zero_based)
    return next(iter_svmlight(path, info.n_rows, dtype=dtype, info=info))


# -- .npz members read in order ---------------------------------------------------------------

class _Member:
    """An array of an ``.npz`` archive read from the start, ``count`` items at a time."""

    def __init__(self, archive: zipfile.ZipFile, name: str, path: str) -> None:
        self.name = name
        try:
            self.f = archive.open(name + ".npy")
            version = np.lib.format.read_magic(self.f)
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            self.shape, fortran, self.dtype = read(self.f)
        except (KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
            raise DataError(f"{path}[{name!r}]: not a readable array ({exc})") from None
        if self.dtype.hasobject:
            raise DataError(f"{path}[{name!r}]: an object array (not read: it would need "
                            f"pickle)")
        if fortran and len(self.shape) > 1:
            raise DataError(f"{path}[{name!r}]: a Fortran-ordered array cannot be read by "
                            f"rows in chunks; save it C-ordered")
        self.path = path

    def read(self, count: int) -> np.ndarray:
        data = self.f.read(count * self.dtype.itemsize)
        if len(data) != count * self.dtype.itemsize:
            raise DataError(f"{self.path}[{self.name!r}]: the archive ends early")
        return np.frombuffer(data, dtype=self.dtype).copy()


def is_sparse_npz(path: str) -> bool:
    """Whether ``path`` is an archive of ``scipy.sparse.save_npz`` (a ``format`` member)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return "format.npy" in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def _sparse_members(path: str, archive: zipfile.ZipFile) -> tuple[str, tuple[int, int]]:
    with np.load(path, allow_pickle=False) as npz:
        try:
            fmt = str(npz["format"].item(), "ascii") if npz["format"].dtype.kind == "S" \
                else str(npz["format"].item())
            shape = tuple(int(s) for s in npz["shape"])
        except (KeyError, ValueError, TypeError) as exc:
            raise DataError(f"{path}: a damaged scipy.sparse archive ({exc})") from None
    if len(shape) != 2:
        raise DataError(f"{path}: the sparse matrix has shape {shape}, not 2-D")
    return fmt, (shape[0], shape[1])


def read_sparse_npz(path: str, *, target: str | None = None,
                    y_key: str | None = "y") -> tuple[Any, np.ndarray | None]:
    """A ``scipy.sparse.save_npz`` archive whole: ``(X, y)``, X as CSR; y the archive's
    ``y_key`` array (None if ``y_key`` is None), or with ``target`` the matrix column of
    that index (then removed from X)."""
    sparse = _scipy_sparse(path)
    try:
        M = sparse.load_npz(path).tocsr()
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path}: not a readable scipy.sparse archive ({exc})") from None
    _check_sparse_values(path, M.data, 0, M.indptr)
    if target is not None:
        t = _sparse_target(path, target, M.shape[1])
        y = M[:, [t]].toarray().ravel().astype(np.float64)
        keep = np.array([i for i in range(M.shape[1]) if i != t])
        return M[:, keep].tocsr(), y
    if y_key is None:
        return M, None
    with np.load(path, allow_pickle=False) as npz:
        if y_key not in npz.files:
            raise DataError(f"{path}: a scipy.sparse archive without a target: give "
                            f"--target (a column's index) or add an array {y_key!r}")
        y = np.asarray(npz[y_key])
    return M, _check_sparse_y(path, y, y_key, M.shape[0])


def _sparse_target(path: str, target: str, n_cols: int) -> int:
    try:
        t = int(target)
    except ValueError:
        raise DataError(f"--target {target!r}: a sparse matrix has no column names; give "
                        f"the target column's index (0 .. {n_cols - 1}, or -1)") from None
    if not -n_cols <= t < n_cols:
        raise DataError(f"--target {t}: {path} has {n_cols} columns (0 .. {n_cols - 1})")
    return t % n_cols


def _check_sparse_y(path, y, y_key, n_rows):
    if y.ndim != 1 or y.shape[0] != n_rows:
        raise DataError(f"{path}[{y_key!r}] must be 1-D with one value per row ({n_rows}), "
                        f"got shape {y.shape}")
    if y.dtype.kind not in "biufU":
        raise DataError(f"{path}[{y_key!r}] must hold numbers or text labels, got dtype "
                        f"{y.dtype}")
    return y.astype(np.float64) if y.dtype.kind in "biu" else y


def _check_sparse_values(path, data, first_row, indptr):
    if data.dtype.kind not in "biuf":
        raise DataError(f"{path}: the sparse matrix holds {data.dtype}, not numbers")
    bad = ~np.isfinite(data)
    if np.any(bad):
        row = int(np.searchsorted(indptr, np.argmax(bad) + indptr[0], side="right")) - 1
        raise DataError(f"{path}: the sparse matrix has a non-finite value in row "
                        f"{first_row + row}")


def _iter_sparse_npz(path, chunk_rows, target, y_key):
    sparse = _scipy_sparse(path)
    with zipfile.ZipFile(path) as archive:
        fmt, (n, d) = _sparse_members(path, archive)
        if fmt != "csr":
            raise DataError(f"{path}: a {fmt} matrix; streamed by rows only as CSR (convert "
                            f"with .tocsr() before save_npz)")
        t = None if target is None else _sparse_target(path, target, d)
        if t is None and y_key not in {m[:-4] for m in archive.namelist()}:
            raise DataError(f"{path}: a scipy.sparse archive without a target: give "
                            f"--target (a column's index) or add an array {y_key!r}")
        indptr = _Member(archive, "indptr", path)
        indices = _Member(archive, "indices", path)
        data = _Member(archive, "data", path)
        ys = None if t is not None else _Member(archive, y_key, path)
        if ys is not None and ys.shape != (n,):
            raise DataError(f"{path}[{y_key!r}] must be 1-D with one value per row ({n}), "
                            f"got shape {ys.shape}")
        start = indptr.read(1)
        for a in range(0, n, chunk_rows):
            rows = min(chunk_rows, n - a)
            ptr = np.concatenate([start, indptr.read(rows)])
            start = ptr[-1:]
            nnz = int(ptr[-1] - ptr[0])
            ind, val = indices.read(nnz), data.read(nnz)
            ptr = ptr - ptr[0]
            if nnz and (ind.min() < 0 or ind.max() >= d) or np.any(np.diff(ptr) < 0):
                raise DataError(f"{path}: damaged CSR arrays in rows {a} .. {a + rows - 1}")
            _check_sparse_values(path, val, a, ptr)
            X = sparse.csr_matrix((val, ind, ptr), shape=(rows, d))
            if t is not None:
                y = X[:, [t]].toarray().ravel().astype(np.float64)
                X = X[:, np.array([i for i in range(d) if i != t])].tocsr()
            else:
                assert ys is not None
                y = _check_sparse_y(path, ys.read(rows), y_key, rows)
            yield X, y


def _iter_dense_npz(path, chunk_rows, x_key, y_key):
    with zipfile.ZipFile(path) as archive:
        X = _Member(archive, x_key, path)
        if len(X.shape) != 2 or X.dtype.kind not in "biuf":
            raise DataError(f"{path}[{x_key!r}] must be a 2-D numeric array, got shape "
                            f"{X.shape}, dtype {X.dtype}")
        n, d = X.shape
        Y = _Member(archive, y_key, path)
        if Y.shape != (n,):
            raise DataError(f"{path}[{y_key!r}] must be 1-D with one value per row of "
                            f"{x_key!r} ({n}), got shape {Y.shape}")
        for a in range(0, n, chunk_rows):
            rows = min(chunk_rows, n - a)
            yield (_finite_rows(X.read(rows * d).reshape(rows, d), path, a),
                   _check_sparse_y(path, Y.read(rows), y_key, rows))


# -- dense chunks -----------------------------------------------------------------------------

def _finite_rows(a: np.ndarray, path: str, first_row: int) -> np.ndarray:
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        row = int(np.argmin(np.all(np.isfinite(a), axis=1)))
        raise DataError(f"{path}: a non-finite value (NaN or inf) in row {first_row + row}")
    return a


def _iter_npy(path, chunk_rows, target):
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: not a readable NumPy file ({str(exc).splitlines()[0]})") \
            from None
    if a.ndim != 2 or a.dtype.kind not in "biuf" or a.shape[1] < 2:
        raise DataError(f"{path} must be a 2-D numeric array with a target and feature "
                        f"columns, got shape {a.shape}, dtype {a.dtype}")
    try:
        t = int(target)
    except (TypeError, ValueError):
        raise DataError(f"--target {target!r}: a .npy array has no column names; give the "
                        f"target column's index") from None
    if not -a.shape[1] <= t < a.shape[1]:
        raise DataError(f"--target {t}: {path} has {a.shape[1]} columns "
                        f"(0 .. {a.shape[1] - 1})")
    t %= a.shape[1]
    keep = np.array([i for i in range(a.shape[1]) if i != t])
    for s in range(0, a.shape[0], chunk_rows):
        block = np.asarray(a[s:s + chunk_rows])            # this chunk's rows only
        block = _finite_rows(block, path, s)
        yield np.ascontiguousarray(block[:, keep]), block[:, t].astype(np.float64)


def _iter_csv(path, chunk_rows, target):
    with _open_text(path) as f:
        reader = csv.reader(f)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise DataError(f"{path}: the file is empty (a header row is expected)") from None
        t = _column_index(str(target), header, path)
        names = [(i, h) for i, h in enumerate(header) if i != t]
        if not names:
            raise DataError(f"{path}: no feature columns besides the target {header[t]!r}")
        rows: list[list[str]] = []
        lines: list[int] = []
        try:
            for row in reader:
                if not row or not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise DataError(f"{path}, line {reader.line_num}: {len(row)} fields, "
                                    f"the header has {len(header)}")
                rows.append(row)
                lines.append(reader.line_num)
                if len(rows) == chunk_rows:
                    yield _csv_chunk(rows, lines, names, t, path)
                    rows, lines = [], []
        except csv.Error as exc:
            raise DataError(f"{path}: not readable as CSV: {exc}") from None
        if rows:
            yield _csv_chunk(rows, lines, names, t, path)


def _csv_chunk(rows, lines, names, t, path):
    X = np.column_stack([_float_column(rows, i, h, lines, path) for i, h in names])
    return X, _target_column([row[t].strip() for row in rows])


def _check_chunk_rows(chunk_rows: Any) -> int:
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, (int, np.integer)) \
            or chunk_rows < 1:
        raise ValueError(f"chunk_rows must be a positive int, got {chunk_rows!r}")
    return int(chunk_rows)


def iter_chunks(path: str, chunk_rows: int, *, target: str | None = None,
                x_key: str = "X", y_key: str = "y", n_features: int | None = None,
                zero_based: Any = "auto",
                info: SvmlightInfo | None = None) -> Iterator[tuple[Any, np.ndarray]]:
    """Yield ``(X, y)`` chunks of ``chunk_rows`` rows of a data file, holding one chunk at
    a time (see :mod:`fastgd.io.chunks`): svmlight (``X`` CSR), scipy.sparse ``.npz``
    (CSR), ``.npy`` (``target``: the target column's index), CSV (``target``: a column
    name or index; ``y`` may be text labels) or a dense ``.npz`` (``x_key``, ``y_key``).
    Errors (DataError) name the file and the line or row."""
    chunk_rows = _check_chunk_rows(chunk_rows)
    suffix = os.path.splitext(path)[1].lower()
    if suffix in SVMLIGHT_SUFFIXES:
        yield from iter_svmlight(path, chunk_rows, n_features=n_features,
                                 zero_based=zero_based, info=info)
    elif suffix == ".npz":
        if not os.path.exists(path):
            raise DataError(f"{path}: no such file")
        if is_sparse_npz(path):
            yield from _iter_sparse_npz(path, chunk_rows, target, y_key)
        else:
            if target is not None:
                raise DataError(f"--target is for CSV, .npy and sparse .npz files; {path} is "
                                f"an .npz archive of arrays (chosen by --x-key and --y-key)")
            yield from _iter_dense_npz(path, chunk_rows, x_key, y_key)
    elif suffix == ".npy":
        yield from _iter_npy(path, chunk_rows, target)
    elif suffix in (".csv", ".txt"):
        if target is None:
            raise DataError(f"--target is required for {path}")
        yield from _iter_csv(path, chunk_rows, target)
    else:
        raise DataError(f"{path}: unknown data format {suffix or '(no suffix)'}; use .csv, "
                        f".npy, .npz, or svmlight ({', '.join(SVMLIGHT_SUFFIXES)})")
