"""The data files of the command line (``fastgd fit``, ``fastgd predict``): CSV, ``.npy``
and ``.npz`` readers, and through :mod:`fastgd.io.chunks` svmlight/libsvm and
scipy.sparse ``.npz`` files (as CSR), with one-line errors (:class:`DataError`) naming the
file, line and column."""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["DataError", "Table", "read_data"]


class DataError(ValueError):
    """A data or model file that cannot be used, in one line naming the file (and the line
    and column where it applies); the command line reports it as a usage error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Table:
    """Features, target and names read by :func:`read_data`."""

    #: None for a CSV file read for ``predict`` (its columns are in ``csv_rows``); a
    #: scipy.sparse CSR matrix for svmlight and scipy.sparse ``.npz`` files
    X: Any
    y: np.ndarray | None
    feature_names: list[str]
    target: str | None = None
    target_index: int | None = None
    columns: list[str] = field(default_factory=list)
    #: a CSV file read for ``predict``: (rows of strings, their line numbers, the path)
    csv_rows: tuple | None = field(default=None, repr=False)


def _kind(path: str) -> str:
    suffix = os.path.splitext(path)[1].lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".npy", ".npz"):
        return suffix[1:]
    if suffix in (".svm", ".svmlight", ".libsvm"):
        return "svmlight"
    raise DataError(f"{path}: unknown data format {suffix or '(no suffix)'!s}; use a .csv "
                   f"(header row), .npy (2-D array), .npz (arrays X and y, or a "
                   f"scipy.sparse matrix) or svmlight (.svm, .svmlight, .libsvm) file")


def _read_csv(path: str) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, rows (lists of strings) and each row's line number; blank lines skipped."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            try:
                header = next(reader)
            except StopIteration:
                raise DataError(f"{path}: the file is empty (a header row is expected)") \
                    from None
            rows, lines = [], []
            for row in reader:
                if not row or not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise DataError(f"{path}, line {reader.line_num}: {len(row)} fields, "
                                   f"the header has {len(header)}")
                rows.append(row)
                lines.append(reader.line_num)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a data file") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file") from None
    except csv.Error as exc:
        raise DataError(f"{path}: not readable as CSV: {exc}") from None
    except OSError as exc:
        raise DataError(f"{path}: {exc.strerror or exc}") from None
    header = [h.strip() for h in header]
    seen = set()
    for name in header:
        if not name:
            raise DataError(f"{path}: the header row has an empty column name")
        if name in seen:
            raise DataError(f"{path}: the header row names column {name!r} twice")
        seen.add(name)
    if not rows:
        raise DataError(f"{path}: no data rows after the header")
    return header, rows, lines


def _float_column(rows, index, name, lines, path) -> np.ndarray:
    values = [row[index].strip() for row in rows]
    try:
        column = np.array(values, dtype=np.float64)
    except ValueError:
        column = None
    if column is not None and np.all(np.isfinite(column)):
        return column
    for value, line in zip(values, lines):
        try:
            ok = math.isfinite(float(value))
        except ValueError:
            ok = False
        if not ok:
            what = "an empty field" if not value else repr(value)
            raise DataError(f"{path}, line {line}, column {name!r}: {what} is not a finite "
                           f"number")
    raise AssertionError("unreachable")


def _column_index(spec: str, columns: list[str], path: str, option: str = "--target") -> int:
    if spec in columns:
        return columns.index(spec)
    try:
        index = int(spec)
    except ValueError:
        index = None
    if index is not None and -len(columns) <= index < len(columns):
        return index % len(columns)
    listing = ", ".join(columns[:20]) + (", ..." if len(columns) > 20 else "")
    raise DataError(f"{option} {spec!r}: no such column in {path} (columns: {listing})")


def _target_column(values: list[str]) -> np.ndarray:
    """float64 when every value is a number, else the values as strings."""
    try:
        y = np.array(values, dtype=np.float64)
    except ValueError:
        return np.array(values, dtype=str)
    return y


def _load_npy(path: str, allow_npz: bool):
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a data file") from None
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable NumPy file ({str(exc).splitlines()[0]})") \
            from None
    if isinstance(data, np.lib.npyio.NpzFile) != allow_npz:
        raise DataError(f"{path}: the suffix says {'.npz' if allow_npz else '.npy'} but the "
                       f"content is {'a single array' if allow_npz else 'an archive'}")
    return data


def _numeric_matrix(a: np.ndarray, what: str) -> np.ndarray:
    if a.ndim != 2:
        raise DataError(f"{what} must be a 2-D array (rows, columns), got shape {a.shape}")
    if a.dtype.kind not in "biuf":
        raise DataError(f"{what} must hold numbers, got dtype {a.dtype}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise DataError(f"{what} is empty (shape {a.shape})")
    if a.dtype not in (np.float32, np.float64):   # integers, booleans, float16
        a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        row = int(np.argmin(np.all(np.isfinite(a), axis=1)))
        raise DataError(f"{what} has a non-finite value (NaN or inf) in row {row}")
    return a


def read_data(path: str, *, target: str | None = None, x_key: str = "X",
              y_key: str | None = "y", n_features: int | None = None) -> Table:
    """Read a data file for ``fit`` (``target`` given, or ``y_key`` for ``.npz``) or for
    ``predict`` (no target: every column, with its name).

    - CSV (``.csv``/``.txt``): a header row of distinct names, then one row per sample;
      ``target`` is a column name, or an index (negative counts from the end) when no
      column has that name. The features (every other column) must be finite numbers;
      the target may be numbers or, for classification, any labels (text).
    - ``.npy``: a 2-D numeric array; ``target`` is the target column's index. The
      features are named ``x0``, ``x1``, ... by their index among the array's columns.
    - ``.npz``: ``X`` (2-D) and ``y`` (1-D), or the arrays named by ``x_key``/``y_key``;
      optional ``feature_names`` (strings). Or a ``scipy.sparse.save_npz`` archive: X as
      CSR, the target its ``y_key`` array or, with ``target``, that column's index.
    - svmlight/libsvm (``.svm``, ``.svmlight``, ``.libsvm``): X as CSR with
      ``n_features`` columns (default: the largest index + 1), y the labels.

    The sparse formats are read by :mod:`fastgd.io.chunks` (they need scipy).

    Raises :class:`DataError` (one line naming the file, and the line and column where it
    applies) for anything unreadable.
    """
    kind = _kind(path)
    if kind == "svmlight" or (kind == "npz" and _sparse_npz(path)):
        return _sparse_table(path, kind, target, y_key, n_features)
    if kind == "csv":
        header, rows, lines = _read_csv(path)
        if target is None:
            return _csv_table(path, header, rows, lines)
        t = _column_index(target, header, path)
        names = [h for i, h in enumerate(header) if i != t]
        if not names:
            raise DataError(f"{path}: no feature columns besides the target {header[t]!r}")
        X = np.column_stack([_float_column(rows, i, h, lines, path)
                             for i, h in enumerate(header) if i != t])
        y: np.ndarray | None = _target_column([row[t].strip() for row in rows])
        return Table(X=X, y=y, feature_names=names, target=header[t], target_index=t,
                     columns=list(header))
    if kind == "npy":
        a = _numeric_matrix(_load_npy(path, False), f"{path}")
        if target is None:
            return Table(X=a, y=None, feature_names=[f"x{i}" for i in range(a.shape[1])])
        try:
            t = int(target)
        except ValueError:
            raise DataError(f"--target {target!r}: a .npy array has no column names; give "
                           f"the target column's index (0 .. {a.shape[1] - 1}, or -1)") \
                from None
        if not -a.shape[1] <= t < a.shape[1]:
            raise DataError(f"--target {t}: {path} has {a.shape[1]} columns "
                           f"(0 .. {a.shape[1] - 1})")
        t %= a.shape[1]
        if a.shape[1] < 2:
            raise DataError(f"{path}: one column, the target, and no features")
        keep = [i for i in range(a.shape[1]) if i != t]
        return Table(X=np.ascontiguousarray(a[:, keep]), y=a[:, t].astype(np.float64),
                     feature_names=[f"x{i}" for i in keep], target=f"x{t}",
                     target_index=t)
    # npz
    with _load_npy(path, True) as archive:
        names = list(archive.files)
        if target is not None:
            raise DataError(f"--target is for CSV and .npy files; {path} is an .npz archive "
                           f"(its arrays are chosen by --x-key and --y-key)")
        if x_key not in names:
            raise DataError(f"{path} has no array {x_key!r} (arrays: {', '.join(names)}); "
                           f"name the features with --x-key")
        try:
            X = _numeric_matrix(archive[x_key], f"{path}[{x_key!r}]")
            y = None
            if y_key is not None:
                if y_key not in names:
                    raise DataError(f"{path} has no array {y_key!r} (arrays: "
                                   f"{', '.join(names)}); name the target with --y-key")
                y = archive[y_key]
            feature_names = None
            if "feature_names" in names:
                feature_names = [str(s) for s in archive["feature_names"]]
        except ValueError as exc:  # an object array refused by allow_pickle=False
            raise DataError(f"{path}: {str(exc).splitlines()[0]}") from None
    if y is not None:
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise DataError(f"{path}[{y_key!r}] must be 1-D with one value per row of "
                           f"{x_key!r} ({X.shape[0]}), got shape {y.shape}")
        if y.dtype.kind not in "biufU":
            raise DataError(f"{path}[{y_key!r}] must hold numbers or text labels, got dtype "
                           f"{y.dtype}")
        if y.dtype.kind in "biu":
            y = y.astype(np.float64)
    if feature_names is None or len(feature_names) != X.shape[1]:
        feature_names = [f"x{i}" for i in range(X.shape[1])]
    return Table(X=X, y=y, feature_names=feature_names, target=y_key if y is not None
                 else None)


def _sparse_npz(path: str) -> bool:
    from fastgd.io.chunks import is_sparse_npz
    return is_sparse_npz(path)


def _sparse_table(path, kind, target, y_key, n_features) -> Table:
    """An svmlight file or a scipy.sparse ``.npz`` archive: X as CSR."""
    from fastgd.io import chunks
    if kind == "svmlight":
        if target is not None:
            raise DataError(f"--target is for CSV, .npy and sparse .npz files; the target "
                            f"of {path} is each line's label")
        X, labels = chunks.read_svmlight(path, n_features=n_features)
        return Table(X=X, y=labels, feature_names=[f"x{i}" for i in range(X.shape[1])],
                     target="label", target_index=-1)
    X, y = chunks.read_sparse_npz(path, target=target, y_key=y_key)
    if target is None:
        return Table(X=X, y=y, feature_names=[f"x{i}" for i in range(X.shape[1])],
                     target=y_key if y is not None else None, target_index=-1)
    t = chunks._sparse_target(path, target, X.shape[1] + 1)
    names = [f"x{i}" for i in range(X.shape[1] + 1) if i != t]
    return Table(X=X, y=y, feature_names=names, target=f"x{t}", target_index=t)


def _csv_table(path, header, rows, lines) -> Table:
    """A CSV file for ``predict``: the columns stay strings until the model names the
    features (so that a text target column beside them does no harm)."""
    return Table(X=None, y=None, feature_names=list(header), columns=list(header),
                 csv_rows=(rows, lines, path))


def _csv_features(table: Table, names: list[str]) -> np.ndarray:
    assert table.csv_rows is not None  # a table from _csv_table
    rows, lines, path = table.csv_rows
    missing = [n for n in names if n not in table.columns]
    if missing:
        raise DataError(f"{path} lacks the model's feature column(s) "
                       f"{', '.join(map(repr, missing))}")
    return np.column_stack([_float_column(rows, table.columns.index(n), n, lines, path)
                            for n in names])
