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


@dataclass
class _Block:
    """Parsed sample lines: their line numbers, labels, and the CSR arrays with the
    indices as written."""

    numbers: list[int]
    labels: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray


def _sample_lines(path: str, rows: int) -> Iterator[list[tuple[int, str]]]:
    """Blocks of ``rows`` (line number, text before any ``#``) of the sample lines."""
    block: list[tuple[int, str]] = []
    with _open_text(path) as f:
        try:
            for number, line in enumerate(f, 1):
                body = line.split("#", 1)[0]
                if body.strip():
                    block.append((number, body))
                    if len(block) == rows:
                        yield block
                        block = []
        except UnicodeDecodeError:
            raise DataError(f"{path}: not a UTF-8 text file") from None
    if block:
        yield block


def _parse_fast(block: list[tuple[int, str]]) -> _Block:
    """The block parsed by NumPy's string conversions; ValueError (or OverflowError) on
    anything unexpected, for :func:`_parse_block` to find and name by the line parser."""
    labels: list[str] = []
    tokens: list[str] = []
    counts: list[int] = []
    for _number, body in block:
        parts = body.split()
        if len(parts) > 1 and parts[1].startswith("qid:"):
            del parts[1]
        labels.append(parts[0])
        tokens += parts[1:]
        counts.append(len(parts) - 1)
    lab = np.array(list(map(float, labels)))
    if tokens:
        kv = np.char.partition(np.array(tokens), ":")
        keys, seps, vals = kv[:, 0], kv[:, 1], kv[:, 2]
        if not (np.all(seps == ":") and np.all(np.char.str_len(keys) > 0)
                and np.all(np.char.str_len(vals) > 0) and np.all(np.char.find(vals, ":") < 0)):
            raise ValueError("a token is not <index>:<value>")
        # Python's int and float (as the line parser), mapped over the column of strings
        idx = np.array(list(map(int, keys.tolist())), dtype=np.int64)
        val = np.array(list(map(float, vals.tolist())), dtype=np.float64)
    else:
        idx, val = np.zeros(0, np.int64), np.zeros(0)
    indptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    same_row = np.ones(max(idx.size - 1, 0), dtype=bool)
    starts = indptr[1:-1]
    same_row[starts[(starts > 0) & (starts < idx.size)] - 1] = False
    if not (np.all(np.isfinite(lab)) and np.all(np.isfinite(val)) and np.all(idx >= 0)
            and not np.any((np.diff(idx) <= 0) & same_row)):
        raise ValueError("a value to check line by line")
    return _Block([n for n, _ in block], lab, indptr, idx, val)


def _parse_block(block: list[tuple[int, str]], path: str) -> _Block:
    """The block parsed; a DataError naming the file and line for a bad line."""
    try:
        return _parse_fast(block)
    except (ValueError, OverflowError):
        pass
    labels, indptr, indices, values = [], [0], [], []
    for number, body in block:   # the line parser finds and names the bad line
        parsed = _parse_line(body, path, number)
        assert parsed is not None
        labels.append(parsed[0])
        indices += parsed[1]
        values += parsed[2]
        indptr.append(len(indices))
    return _Block([n for n, _ in block], np.array(labels, dtype=np.float64),
                  np.array(indptr, dtype=np.int64), np.array(indices, dtype=np.int64),
                  np.array(values, dtype=np.float64))


@dataclass
class SvmlightInfo:
    """What :func:`scan_svmlight` finds: the sample count (-1: not counted), the number of
    features (after the shift of one-based indices) and whether the indices are taken as
    zero-based."""

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
    return _scan(path, n_features, zero_based, None)


def _scan(path: str, n_features: Any, zero_based: Any, keep: list | None) -> SvmlightInfo:
    """:func:`scan_svmlight`, appending the parsed blocks to ``keep`` (unless None)."""
    _check_zero_based(zero_based)
    if n_features is not None and (isinstance(n_features, bool) or
                                   not isinstance(n_features, (int, np.integer))
                                   or n_features < 1):
        raise ValueError(f"n_features must be a positive int or None, got {n_features!r}")
    rows, low, high = 0, None, -1
    for lines in _sample_lines(path, 8192):
        block = _parse_block(lines, path)
        if keep is not None:
            keep.append(block)
        rows += len(block.numbers)
        if block.indices.size:
            first = int(block.indices.min())
            low = first if low is None else min(low, first)
            high = max(high, int(block.indices.max()))
    if rows == 0:
        raise DataError(f"{path}: no samples (every line is blank or a comment)")
    # scikit-learn's "auto": one-based when there are indices and none is 0
    zb = (low is None or low == 0) if zero_based == "auto" else bool(zero_based)
    if not zb and low == 0:
        raise DataError(f"{path}: index 0 in a file read as one-based (zero_based=False)")
    top = high + (1 if zb else 0)
    if n_features is not None:
        if top > n_features:
            _first_out_of_range(path, int(n_features), zb)
        top = int(n_features)
    return SvmlightInfo(rows, max(top, 1), zb)


def _first_out_of_range(path: str, n_features: int, zero_based: bool) -> None:
    for lines in _sample_lines(path, 8192):
        _check_range(_parse_block(lines, path), path, n_features, 0 if zero_based else 1)


def _check_range(block: _Block, path: str, n_features: int, shift: int) -> None:
    """DataError naming the first line with an index beyond ``n_features`` (or 0 in a
    one-based file)."""
    if shift and block.indices.size and block.indices.min() == 0:
        row = int(np.searchsorted(block.indptr, int(np.argmin(block.indices)),
                                  side="right")) - 1
        raise DataError(f"{path}, line {block.numbers[row]}: index 0 in a file read as "
                        f"one-based (zero_based=False)")
    if block.indices.size and block.indices.max() - shift >= n_features:
        at = int(np.argmax(block.indices - shift >= n_features))
        row = int(np.searchsorted(block.indptr, at, side="right")) - 1
        raise DataError(f"{path}, line {block.numbers[row]}: index {block.indices[at]} is out "
                        f"of range for {n_features} features "
                        f"({'one' if shift else 'zero'}-based)")


def iter_svmlight(path: str, chunk_rows: int, *, n_features: int | None = None,
                  zero_based: Any = "auto", dtype: Any = np.float64,
                  info: SvmlightInfo | None = None) -> Iterator[tuple[Any, np.ndarray]]:
    """Yield ``(X, y)`` chunks of ``chunk_rows`` samples of an svmlight file: ``X`` a
    ``scipy.sparse`` CSR matrix ``(rows, n_features)`` of ``dtype``, ``y`` float64. The
    file is scanned first (:func:`scan_svmlight`) unless ``info`` (from it) is given, or
    both ``n_features`` and ``zero_based`` (True or False) are: then the lines are
    checked as they come (an error may come after some chunks)."""
    chunk_rows = _check_chunk_rows(chunk_rows)
    if info is None and n_features is not None and zero_based in (True, False):
        if isinstance(n_features, bool) or not isinstance(n_features, (int, np.integer)) \
                or n_features < 1:
            raise ValueError(f"n_features must be a positive int or None, got "
                             f"{n_features!r}")
        info = SvmlightInfo(-1, int(n_features), bool(zero_based))
    if info is None:
        info = scan_svmlight(path, n_features=n_features, zero_based=zero_based)
    sparse = _scipy_sparse(path)
    shift = 0 if info.zero_based else 1
    for lines in _sample_lines(path, chunk_rows):
        block = _parse_block(lines, path)
        _check_range(block, path, info.n_features, shift)
        yield _csr(sparse, block, shift, info.n_features, dtype)


def _csr(sparse: Any, block: _Block, shift: int, n_features: int,
         dtype: Any) -> tuple[Any, np.ndarray]:
    index_dtype = np.int32 if max(block.indices.size, n_features) < 2**31 else np.int64
    X = sparse.csr_matrix((block.values.astype(dtype), (block.indices - shift).astype(
        index_dtype), block.indptr.astype(index_dtype)),
        shape=(len(block.numbers), n_features))
    return X, block.labels


def read_svmlight(path: str, *, n_features: int | None = None, zero_based: Any = "auto",
                  dtype: Any = np.float64) -> tuple[Any, np.ndarray]:
    """The whole svmlight file (read once): ``(X, y)``, ``X`` a CSR matrix, ``y``
    float64."""
    blocks: list[_Block] = []
    info = _scan(path, n_features, zero_based, blocks)
    ends = np.cumsum([0] + [b.indices.size for b in blocks[:-1]])
    whole = _Block([n for b in blocks for n in b.numbers],
                   np.concatenate([b.labels for b in blocks]),
                   np.concatenate([blocks[0].indptr[:1]] + [b.indptr[1:] + e
                                                             for b, e in zip(blocks, ends)]),
                   np.concatenate([b.indices for b in blocks]),
                   np.concatenate([b.values for b in blocks]))
    return _csr(_scipy_sparse(path), whole, 0 if info.zero_based else 1, info.n_features,
                dtype)


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
