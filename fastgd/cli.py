"""The ``fastgd`` command (``python -m fastgd`` is the same).

.. code-block:: text

    fastgd demo [--plot DIR] [--backend NAME] [--quiet]
    fastgd fit DATA --target COL [--model linear|logistic|softmax] [--optimizer adam]
               [--lr 0.01] [--batch-size 32] [--epochs 10] ... [--out MODEL.npz]
               [--metrics METRICS.json]
    fastgd predict MODEL.npz DATA [--out PREDICTIONS.csv] [--proba]
    fastgd bench [--quick] [--json [FILE]]
    fastgd plot {losses,trajectories,lr,bench,all} [--out PATH] [--format png|svg]

``fastgd`` without a command prints the help. Each command has ``--help``.

- ``demo`` walks through gradient descent on data it generates (nothing is downloaded):
  the worked example (five weights, loss 452.564 at the start, minimum ``w_i = 25 / x_i``)
  step by step; batch, stochastic and mini-batch gradient descent on a regression problem;
  the classic optimizers side by side on a classification problem; the learning-rate
  effect (too small, right, too large). ``--plot DIR`` also draws the pictures.
- ``fit`` trains a linear model (:func:`fastgd.fit`) on a CSV file (a header row; the
  target named or numbered by ``--target``), a 2-D ``.npy`` array (``--target``: the
  target column's index) or an ``.npz`` file (arrays ``X`` and ``y``, or those named by
  ``--x-key``/``--y-key``); writes the model (``--out``, see :func:`save_model`) and the
  metrics with the history per epoch (``--metrics``, JSON).
- ``predict`` applies a saved model to a CSV file (features matched by name; other
  columns are ignored), a ``.npy`` or an ``.npz`` file; writes CSV (or ``.npy``).
- ``bench`` times one optimizer step on fastgd's backends and, when torch is installed,
  torch.optim's for-loop, foreach and fused implementations; ``--json`` writes the
  results in pytest-benchmark's layout (``bench/report.py`` and ``fastgd plot bench``
  read it).
- ``plot`` draws the pictures of :mod:`fastgd.plot` (needs matplotlib:
  ``pip install "fastgd[plot]"``).

Progress bars (fit's epochs, bench's cases) are drawn on stderr when it is a terminal and
``--quiet`` is not given: tqdm's when tqdm is installed, else a plain counter line.

Exit status: 0 success; 1 a run that failed (training diverged, matplotlib or a backend
missing); 2 a usage error (a bad option, file, column or value); 130 interrupted. An error
is one line on stderr, ``fastgd <command>: error: <what>``.
"""

from __future__ import annotations

import argparse
import copy
import csv
import io
import json
import math
import os
import platform
import re
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

import fastgd
from fastgd import _backend
from fastgd.registry import OPTIMIZERS

__all__ = ["main", "CLIError", "Progress", "Table", "read_data", "save_model", "load_model",
           "MODEL_FORMAT"]

#: The ``format`` entry of a saved model (:func:`save_model`).
MODEL_FORMAT = "fastgd-linear-model-1"
MODELS = ("linear", "logistic", "softmax")
_LOSSES = {"linear": ("squared_error", "half_squared_error", "huber", "epsilon_insensitive"),
           "logistic": ("log_loss", "hinge"),
           "softmax": ("softmax_cross_entropy",)}
_SCHEDULES = ("constant", "optimal", "invscaling", "adaptive", "cosine", "plateau")
_PENALTIES = ("none", "l2", "l1", "elasticnet")


# ================================================================ errors, parser, progress

class CLIError(Exception):
    """An error the command reports as one line (``status``: 2 usage, 1 a failed run)."""

    def __init__(self, message: str, status: int = 2, prog: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error raises :class:`CLIError` (one line, status 2)."""

    def error(self, message: str):  # noqa: D102 - argparse's hook
        raise CLIError(f"{message} (see '{self.prog} --help')", 2, prog=self.prog)


class Progress:
    """A progress bar on ``stream`` (stderr) for ``total`` units, drawn only when the
    stream is a terminal and ``enabled``: tqdm's bar when tqdm is installed (and
    ``use_tqdm``), else one line rewritten in place and cleared at the end. ``update(n,
    info)`` advances it; ``close()`` ends it (also on leaving a ``with`` block)."""

    def __init__(self, total: int, desc: str, *, enabled: bool = True,
                 stream: TextIO | None = None, use_tqdm: bool = True) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.total, self.desc, self.done = total, desc, 0
        isatty = getattr(self.stream, "isatty", None)
        self.active = bool(enabled and isatty is not None and isatty())
        self._bar = None
        self._width = 0
        if self.active and use_tqdm:
            try:
                from tqdm import tqdm
            except ImportError:
                pass
            else:
                self._bar = tqdm(total=total, desc=desc, file=self.stream, leave=False,
                                 dynamic_ncols=True)

    def update(self, n: int = 1, info: str = "") -> None:
        self.done += n
        if not self.active:
            return
        if self._bar is not None:
            if info:
                self._bar.set_postfix_str(info, refresh=False)
            self._bar.update(n)
            return
        line = f"{self.desc}: {self.done}/{self.total}" + (f"  {info}" if info else "")
        self._width = max(self._width, len(line))
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()

    def close(self) -> None:
        if not self.active:
            return
        self.active = False
        if self._bar is not None:
            self._bar.close()
        elif self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _out(text: str = "") -> None:
    print(text, flush=True)


def _set_backend(args) -> None:
    if getattr(args, "backend", None):
        try:
            fastgd.set_backend(args.backend)
        except ImportError as exc:
            raise CLIError(str(exc).splitlines()[0], 1) from None


def _backend_line() -> str:
    module = _backend.active()
    openmp = getattr(module, "OPENMP", None)
    return (f"backend: {fastgd.backend()} ({module.__file__})"
            + (f", OpenMP {'on' if openmp else 'off'}" if openmp is not None else ""))


def _fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
           align: str | None = None) -> str:
    """Rows as aligned text columns (``align``: one ``<`` or ``>`` per column; text left,
    numbers right by default), a rule under the header."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    if align is None:
        align = "<" + ">" * (len(headers) - 1)

    def line(values):
        return "  ".join(f"{v:{a}{w}}" for v, a, w in zip(values, align, widths)).rstrip()

    return "\n".join([line(headers), "  ".join("-" * w for w in widths)]
                     + [line(r) for r in cells])


# ================================================================ data files

@dataclass
class Table:
    """Features, target and names read by :func:`read_data`."""

    #: None for a CSV file read for ``predict`` (its columns are in ``csv_rows``)
    X: np.ndarray | None
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
    raise CLIError(f"{path}: unknown data format {suffix or '(no suffix)'!s}; use a .csv "
                   f"(header row), .npy (2-D array) or .npz (arrays X and y) file")


def _read_csv(path: str) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, rows (lists of strings) and each row's line number; blank lines skipped."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            try:
                header = next(reader)
            except StopIteration:
                raise CLIError(f"{path}: the file is empty (a header row is expected)") \
                    from None
            rows, lines = [], []
            for row in reader:
                if not row or not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise CLIError(f"{path}, line {reader.line_num}: {len(row)} fields, "
                                   f"the header has {len(header)}")
                rows.append(row)
                lines.append(reader.line_num)
    except FileNotFoundError:
        raise CLIError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CLIError(f"{path}: is a directory, not a data file") from None
    except UnicodeDecodeError:
        raise CLIError(f"{path}: not a UTF-8 text file") from None
    except csv.Error as exc:
        raise CLIError(f"{path}: not readable as CSV: {exc}") from None
    except OSError as exc:
        raise CLIError(f"{path}: {exc.strerror or exc}") from None
    header = [h.strip() for h in header]
    seen = set()
    for name in header:
        if not name:
            raise CLIError(f"{path}: the header row has an empty column name")
        if name in seen:
            raise CLIError(f"{path}: the header row names column {name!r} twice")
        seen.add(name)
    if not rows:
        raise CLIError(f"{path}: no data rows after the header")
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
            raise CLIError(f"{path}, line {line}, column {name!r}: {what} is not a finite "
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
    raise CLIError(f"{option} {spec!r}: no such column in {path} (columns: {listing})")


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
        raise CLIError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CLIError(f"{path}: is a directory, not a data file") from None
    except (ValueError, OSError, EOFError) as exc:
        raise CLIError(f"{path}: not a readable NumPy file ({str(exc).splitlines()[0]})") \
            from None
    if isinstance(data, np.lib.npyio.NpzFile) != allow_npz:
        raise CLIError(f"{path}: the suffix says {'.npz' if allow_npz else '.npy'} but the "
                       f"content is {'a single array' if allow_npz else 'an archive'}")
    return data


def _numeric_matrix(a: np.ndarray, what: str) -> np.ndarray:
    if a.ndim != 2:
        raise CLIError(f"{what} must be a 2-D array (rows, columns), got shape {a.shape}")
    if a.dtype.kind not in "biuf":
        raise CLIError(f"{what} must hold numbers, got dtype {a.dtype}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise CLIError(f"{what} is empty (shape {a.shape})")
    if a.dtype not in (np.float32, np.float64):   # integers, booleans, float16
        a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        row = int(np.argmin(np.all(np.isfinite(a), axis=1)))
        raise CLIError(f"{what} has a non-finite value (NaN or inf) in row {row}")
    return a


def read_data(path: str, *, target: str | None = None, x_key: str = "X",
              y_key: str | None = "y") -> Table:
    """Read a data file for ``fit`` (``target`` given, or ``y_key`` for ``.npz``) or for
    ``predict`` (no target: every column, with its name).

    - CSV (``.csv``/``.txt``): a header row of distinct names, then one row per sample;
      ``target`` is a column name, or an index (negative counts from the end) when no
      column has that name. The features (every other column) must be finite numbers;
      the target may be numbers or, for classification, any labels (text).
    - ``.npy``: a 2-D numeric array; ``target`` is the target column's index. The
      features are named ``x0``, ``x1``, ... by their index among the array's columns.
    - ``.npz``: ``X`` (2-D) and ``y`` (1-D), or the arrays named by ``x_key``/``y_key``;
      optional ``feature_names`` (strings).

    Raises :class:`CLIError` (one line naming the file, and the line and column where it
    applies) for anything unreadable.
    """
    kind = _kind(path)
    if kind == "csv":
        header, rows, lines = _read_csv(path)
        if target is None:
            return _csv_table(path, header, rows, lines)
        t = _column_index(target, header, path)
        names = [h for i, h in enumerate(header) if i != t]
        if not names:
            raise CLIError(f"{path}: no feature columns besides the target {header[t]!r}")
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
            raise CLIError(f"--target {target!r}: a .npy array has no column names; give "
                           f"the target column's index (0 .. {a.shape[1] - 1}, or -1)") \
                from None
        if not -a.shape[1] <= t < a.shape[1]:
            raise CLIError(f"--target {t}: {path} has {a.shape[1]} columns "
                           f"(0 .. {a.shape[1] - 1})")
        t %= a.shape[1]
        if a.shape[1] < 2:
            raise CLIError(f"{path}: one column, the target, and no features")
        keep = [i for i in range(a.shape[1]) if i != t]
        return Table(X=np.ascontiguousarray(a[:, keep]), y=a[:, t].astype(np.float64),
                     feature_names=[f"x{i}" for i in keep], target=f"x{t}",
                     target_index=t)
    # npz
    with _load_npy(path, True) as archive:
        names = list(archive.files)
        if target is not None:
            raise CLIError(f"--target is for CSV and .npy files; {path} is an .npz archive "
                           f"(its arrays are chosen by --x-key and --y-key)")
        if x_key not in names:
            raise CLIError(f"{path} has no array {x_key!r} (arrays: {', '.join(names)}); "
                           f"name the features with --x-key")
        try:
            X = _numeric_matrix(archive[x_key], f"{path}[{x_key!r}]")
            y = None
            if y_key is not None:
                if y_key not in names:
                    raise CLIError(f"{path} has no array {y_key!r} (arrays: "
                                   f"{', '.join(names)}); name the target with --y-key")
                y = archive[y_key]
            feature_names = None
            if "feature_names" in names:
                feature_names = [str(s) for s in archive["feature_names"]]
        except ValueError as exc:  # an object array refused by allow_pickle=False
            raise CLIError(f"{path}: {str(exc).splitlines()[0]}") from None
    if y is not None:
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise CLIError(f"{path}[{y_key!r}] must be 1-D with one value per row of "
                           f"{x_key!r} ({X.shape[0]}), got shape {y.shape}")
        if y.dtype.kind not in "biufU":
            raise CLIError(f"{path}[{y_key!r}] must hold numbers or text labels, got dtype "
                           f"{y.dtype}")
        if y.dtype.kind in "biu":
            y = y.astype(np.float64)
    if feature_names is None or len(feature_names) != X.shape[1]:
        feature_names = [f"x{i}" for i in range(X.shape[1])]
    return Table(X=X, y=y, feature_names=feature_names, target=y_key if y is not None
                 else None)


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
        raise CLIError(f"{path} lacks the model's feature column(s) "
                       f"{', '.join(map(repr, missing))}")
    return np.column_stack([_float_column(rows, table.columns.index(n), n, lines, path)
                            for n in names])


# ================================================================ models on disk

def _model_for(kind: str, loss: str | None, penalty: str | None, alpha: float,
               l1_ratio: float) -> fastgd.LinearModel:
    loss = loss or _LOSSES[kind][0]
    if loss not in _LOSSES[kind]:
        raise CLIError(f"--loss {loss!r} does not go with --model {kind} (choose "
                       f"{', '.join(_LOSSES[kind])})")
    try:
        return fastgd.LinearModel(loss, penalty=penalty, alpha=alpha, l1_ratio=l1_ratio)
    except (TypeError, ValueError) as exc:
        raise CLIError(str(exc)) from None


def save_model(path: str, model: fastgd.LinearModel, *, kind: str, classes: np.ndarray,
               feature_names: Sequence[str], target: str | None,
               target_index: int | None = None, mean: np.ndarray | None = None,
               scale: np.ndarray | None = None) -> None:
    """Write a fitted model as ``.npz`` readable with ``allow_pickle=False``: arrays
    ``coef``, ``intercept``, ``classes`` (the labels of classes 0, 1, ... for
    classification, empty for regression), ``feature_names``, ``mean`` and ``scale``
    (standardisation applied before the model, empty without), and 0-d entries
    ``format`` (:data:`MODEL_FORMAT`), ``kind`` (linear, logistic, softmax), ``loss``,
    ``penalty`` (``"none"`` for None), ``alpha``, ``l1_ratio``, ``target`` (its name),
    ``target_index`` (its column among the training file's columns, -1 for an ``.npz``)
    and ``fastgd_version``."""
    if model.coef_ is None or model.intercept_ is None:
        raise ValueError("save_model: the model is not fitted (coef_ is None)")
    empty = np.zeros(0)
    np.savez(path, format=np.array(MODEL_FORMAT), kind=np.array(kind),
             loss=np.array(model.loss), penalty=np.array(model.penalty or "none"),
             alpha=np.array(float(model.alpha)), l1_ratio=np.array(float(model.l1_ratio)),
             coef=model.coef_, intercept=model.intercept_, classes=np.asarray(classes),
             feature_names=np.array(list(feature_names), dtype=str),
             target=np.array(target or ""),
             target_index=np.array(-1 if target_index is None else int(target_index)),
             mean=empty if mean is None else mean, scale=empty if scale is None else scale,
             fastgd_version=np.array(fastgd.__version__))


def load_model(path: str) -> tuple[fastgd.LinearModel, dict[str, Any]]:
    """A model written by :func:`save_model`: the :class:`fastgd.LinearModel` (fitted)
    and a dict of ``kind``, ``classes``, ``feature_names``, ``target``, ``target_index``,
    ``mean`` and ``scale`` (None when not standardised). :class:`CLIError` if the file is
    not one."""
    required = ("format", "kind", "loss", "penalty", "alpha", "l1_ratio", "coef",
                "intercept", "classes", "feature_names", "target", "mean", "scale")
    if not path.lower().endswith(".npz"):
        raise CLIError(f"{path}: a model file is an .npz written by 'fastgd fit --out'")
    with _load_npy(path, True) as archive:
        missing = [k for k in required if k not in archive.files]
        if missing:
            raise CLIError(f"{path}: not a fastgd model (no {', '.join(missing)})")
        try:
            d = {k: archive[k] for k in required}
            target_index = (int(archive["target_index"]) if "target_index" in archive.files
                            else -1)
        except ValueError as exc:
            raise CLIError(f"{path}: {str(exc).splitlines()[0]}") from None
    if str(d["format"]) != MODEL_FORMAT:
        raise CLIError(f"{path}: model format {str(d['format'])!r}, this fastgd reads "
                       f"{MODEL_FORMAT!r}")
    kind = str(d["kind"])
    if kind not in MODELS:
        raise CLIError(f"{path}: unknown model kind {kind!r}")
    penalty = str(d["penalty"])
    model = _model_for(kind, str(d["loss"]), None if penalty == "none" else penalty,
                       float(d["alpha"]), float(d["l1_ratio"]))
    coef, intercept = d["coef"], d["intercept"]
    names = [str(s) for s in d["feature_names"]]
    shape_ok = (coef.dtype.kind == "f" and coef.ndim == (2 if kind == "softmax" else 1)
                and coef.shape[0] == len(names) and intercept.dtype == coef.dtype
                and intercept.shape == ((coef.shape[1],) if kind == "softmax" else (1,)))
    if not shape_ok:
        raise CLIError(f"{path}: coef {coef.shape}, intercept {intercept.shape} and "
                       f"{len(names)} feature names do not fit a {kind} model")
    model.coef_ = np.ascontiguousarray(coef)
    model.intercept_ = np.ascontiguousarray(intercept)
    if kind == "softmax":
        model.n_classes_ = coef.shape[1]
    expected = 0 if kind == "linear" else coef.shape[1] if kind == "softmax" else 2
    mean, scale = d["mean"], d["scale"]
    if d["classes"].ndim != 1 or d["classes"].size != expected or mean.shape != scale.shape \
            or mean.size not in (0, len(names)):
        raise CLIError(f"{path}: its classes ({d['classes'].size}) or standardisation "
                       f"({mean.size} features) do not fit a {kind} model of "
                       f"{len(names)} features")
    info = dict(kind=kind, classes=d["classes"], feature_names=names,
                target=str(d["target"]) or None, target_index=target_index,
                mean=mean if mean.size else None, scale=scale if scale.size else None)
    return model, info


# ================================================================ fit and predict

def _labels(y: np.ndarray, kind: str, path: str) -> tuple[np.ndarray, np.ndarray]:
    """Targets for the model and the classes (labels of 0, 1, ...; empty for linear)."""
    if kind == "linear":
        if y.dtype.kind not in "biuf":
            raise CLIError(f"{path}: the target has text values ({str(y[0])!r}, ...); a "
                           f"linear model needs numbers (use --model logistic or softmax "
                           f"for labels)")
        y = y.astype(np.float64)
        if not np.all(np.isfinite(y)):
            raise CLIError(f"{path}: the target has a non-finite value (row "
                           f"{int(np.argmin(np.isfinite(y)))})")
        return y, np.zeros(0)
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)):
            raise CLIError(f"{path}: the target has a non-finite value (row "
                           f"{int(np.argmin(np.isfinite(y)))})")
        if np.all(y == np.round(y)):
            y = y.astype(np.int64)
    classes, codes = np.unique(y, return_inverse=True)
    if kind == "logistic" and classes.size != 2:
        raise CLIError(f"--model logistic needs exactly 2 classes, the target has "
                       f"{classes.size} ({', '.join(str(c) for c in classes[:5])}"
                       f"{', ...' if classes.size > 5 else ''}); use --model softmax")
    if classes.size < 2:
        raise CLIError(f"the target has a single class ({classes[0]}): nothing to learn")
    return codes.astype(np.int64 if kind == "softmax" else np.float64), classes


def _schedule(name: str | None, epochs: int):
    if name in (None, "constant"):
        return None
    if name == "cosine":
        return lambda opt: fastgd.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    if name == "plateau":
        return lambda opt: fastgd.lr_scheduler.ReduceLROnPlateau(opt)
    return name


def _batch_size(text: str) -> int | None:
    if text.lower() in ("full", "none", "all"):
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1 or 'full', got "
                                         f"{text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1 (or 'full'), got {value}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def _nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _fraction(text: str) -> float:
    value = _positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}") \
            from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _optimizer_name(text: str) -> str:
    by_lower = {name.lower(): name for name in OPTIMIZERS}
    name = by_lower.get(text.lower())
    if name is None:
        raise argparse.ArgumentTypeError(f"unknown optimizer {text!r} (choose one of "
                                         f"{', '.join(OPTIMIZERS)}, any case)")
    return name


def _option(text: str) -> tuple[str, Any]:
    """``NAME=VALUE`` for the optimizer's constructor; VALUE is a Python literal (a number,
    True/False, None, a tuple such as (0.9, 0.99)), else the text itself."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"must be NAME=VALUE (e.g. momentum=0.9), got "
                                         f"{text!r}")
    import ast
    value = value.strip()
    if value.lower() in ("true", "false"):
        return name, value.lower() == "true"
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def _json_safe(value):
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    return value


def _write_text(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    except OSError as exc:
        raise CLIError(f"cannot write {path}: {exc.strerror or exc}", 1) from None


def _check_writable(path: str | None, suffixes: tuple[str, ...], option: str) -> None:
    """Refuse an output path up front (before a long run): wrong suffix or no folder."""
    if path is None or path == "-":
        return
    if suffixes and not path.lower().endswith(suffixes):
        raise CLIError(f"{option} {path!r}: the file name must end with "
                       f"{' or '.join(suffixes)}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CLIError(f"{option} {path!r}: the folder {folder} does not exist")
    if os.path.isdir(path):
        raise CLIError(f"{option} {path!r} is a folder")


def cmd_fit(args) -> int:
    _set_backend(args)
    _check_writable(args.out, (".npz",), "--out")
    _check_writable(args.metrics, (".json",), "--metrics")
    if _kind(args.data) in ("csv", "npy") and args.target is None:
        raise CLIError(f"--target is required for {args.data} (the target column's name "
                       f"or index)")
    table = read_data(args.data, target=args.target, x_key=args.x_key, y_key=args.y_key)
    # a target was named, so read_data returned the features and the target
    assert table.X is not None and table.y is not None
    X, (y, classes) = table.X, _labels(table.y, args.model, args.data)
    penalty = None if args.penalty == "none" else args.penalty
    if penalty is None and args.alpha:
        raise CLIError(f"--alpha {args.alpha} needs a --penalty (l2, l1 or elasticnet)")
    alpha = args.alpha if args.alpha is not None else (1e-4 if penalty else 0.0)
    model = _model_for(args.model, args.loss, penalty, alpha, args.l1_ratio)
    if args.schedule == "optimal" and not alpha > 0:
        raise CLIError("--schedule optimal needs a --penalty with --alpha > 0 (its step size "
                       "is 1 / (alpha * (t0 + t)))")
    mean = scale = None
    if args.standardize:
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale[scale == 0] = 1.0
        X = (X - mean) / scale
    seed = args.seed if args.seed is not None else int(
        np.random.SeedSequence().generate_state(1)[0])
    n = X.shape[0]
    if args.val_fraction is not None:
        n_val = math.ceil(args.val_fraction * n)
        if n_val >= n:
            raise CLIError(f"--val-fraction {args.val_fraction} leaves no training rows of "
                           f"{n}")
        # fit's first draw from default_rng(seed) is this permutation (fastgd.training)
        perm = np.random.default_rng(seed).permutation(n)
        val_rows, train_rows = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    else:
        val_rows, train_rows = None, np.arange(n)

    quiet = args.quiet
    progress = Progress(args.epochs, "epochs", enabled=not quiet)

    def tick(epoch, history, _model):
        info = f"loss {history.loss[-1]:.4g}"
        if "val_loss" in history.columns:
            info += f", val {history.val_loss[-1]:.4g}"
        progress.update(1, info)

    options = dict(args.opt or [])
    if "lr" in options:
        raise CLIError("--opt lr=...: give the learning rate as --lr")
    kwargs = dict(optimizer=args.optimizer, lr=args.lr, batch_size=args.batch_size,
                  optimizer_kwargs=options,
                  epochs=args.epochs, random_state=np.random.default_rng(seed),
                  schedule=_schedule(args.schedule, args.epochs), tol=args.tol,
                  n_iter_no_change=args.n_iter_no_change,
                  early_stopping=args.val_fraction is not None,
                  callbacks=[tick])
    if args.val_fraction is not None:
        kwargs["validation_fraction"] = args.val_fraction
    start = time.perf_counter()
    with progress, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", fastgd.ConvergenceWarning)
        try:
            history = fastgd.fit(model, X, y, **kwargs)
        except FloatingPointError as exc:
            what = str(exc).split(". ")[0].removeprefix("fit: ")
            hint = "a lower --lr" if args.standardize else "--standardize or a lower --lr"
            raise CLIError(f"{what}; try {hint} (it is {args.lr:g})", 1) from None
        except (TypeError, ValueError) as exc:
            message = str(exc)
            unknown = re.search(r"unexpected keyword argument '(\w+)'", message)
            if unknown:
                message = (f"--opt {unknown.group(1)}=...: {args.optimizer} has no argument "
                           f"{unknown.group(1)!r}")
            raise CLIError(message) from None
    elapsed = time.perf_counter() - start
    for w in caught:
        if issubclass(w.category, fastgd.ConvergenceWarning):
            print(f"fastgd fit: warning: {w.message}", file=sys.stderr)
    final = model.loss_value(X[train_rows], y[train_rows])
    if not final < history.loss[0]:
        print(f"fastgd fit: warning: the training loss went from {history.loss[0]:.4g} "
              f"(first epoch) to {final:.4g}: lower --lr"
              f"{'' if args.standardize else ' or use --standardize'}", file=sys.stderr)

    def score(rows):
        if rows is None or rows.size == 0:
            return None
        yy = y[rows]
        return model.score(X[rows], yy)

    def loss(rows):
        if rows is None or rows.size == 0:
            return None
        return model.loss_value(X[rows], y[rows])

    score_name = "accuracy" if model.is_classifier else "r2"
    result = dict(epochs=len(history), steps=history.n_steps, converged=history.converged,
                  stop_reason=history.stop_reason, time_s=elapsed,
                  train_loss=final, val_loss=loss(val_rows),
                  **{f"train_{score_name}": score(train_rows),
                     f"val_{score_name}": score(val_rows)})
    if args.out:
        try:
            save_model(args.out, model, kind=args.model, classes=classes,
                       feature_names=table.feature_names, target=table.target,
                       target_index=table.target_index, mean=mean, scale=scale)
        except OSError as exc:
            raise CLIError(f"cannot write {args.out}: {exc.strerror or exc}", 1) from None
    if args.metrics:
        metrics = dict(
            data=dict(path=args.data, rows=n, features=len(table.feature_names),
                      feature_names=table.feature_names, target=table.target,
                      train_rows=int(train_rows.size),
                      val_rows=0 if val_rows is None else int(val_rows.size)),
            model=dict(kind=args.model, loss=model.loss, penalty=model.penalty,
                       alpha=model.alpha, classes=classes.tolist(),
                       standardize=args.standardize),
            fit=dict(optimizer=args.optimizer, lr=args.lr, optimizer_options=options,
                     batch_size=args.batch_size,
                     epochs=args.epochs, schedule=args.schedule or "constant",
                     tol=args.tol, seed=seed, val_fraction=args.val_fraction,
                     backend=fastgd.backend()),
            result=result, history=history.as_dict(), fastgd_version=fastgd.__version__)
        _write_text(args.metrics, json.dumps(_json_safe(metrics), indent=2,
                                             allow_nan=False) + "\n")
    if not quiet:
        parts = [f"{args.model} model ({model.loss}) on {n} rows x {X.shape[1]} features",
                 f"{args.optimizer} lr={args.lr:g}",
                 f"{len(history)} epochs, {history.n_steps} steps, {_fmt_time(elapsed)}"]
        _out("; ".join(parts))
        _out(f"train loss {result['train_loss']:.6g}, train {score_name} "
             f"{result[f'train_{score_name}']:.4f}"
             + ("" if val_rows is None else
                f"; validation loss {result['val_loss']:.6g}, validation {score_name} "
                f"{result[f'val_{score_name}']:.4f}")
             + f" (stopped: {history.stop_reason})")
        if args.out:
            _out(f"model: {args.out}")
        if args.metrics:
            _out(f"metrics: {args.metrics}")
    return 0


def cmd_predict(args) -> int:
    _set_backend(args)
    model, info = load_model(args.model)
    out = args.out
    if out is not None and out != "-":
        _check_writable(out, (".csv", ".npy"), "--out")
    if args.proba and info["kind"] == "linear":
        raise CLIError("--proba is for classifiers (a logistic or softmax model)")
    if args.proba and model.loss == "hinge":
        raise CLIError("--proba needs a log_loss model (this one is trained with hinge)")
    names = info["feature_names"]
    kind = _kind(args.data)
    if kind == "csv":
        X = _csv_features(read_data(args.data), names)
    else:
        table = read_data(args.data, x_key=args.x_key, y_key=None)
        assert table.X is not None  # only a CSV file for predict leaves X None
        X = table.X
        if kind == "npy" and X.shape[1] == len(names) + 1 \
                and 0 <= info["target_index"] < X.shape[1]:
            # an array laid out as the training file, target column included
            X = np.delete(X, info["target_index"], axis=1)
        if X.shape[1] != len(names):
            raise CLIError(f"{args.data}: {X.shape[1]} feature columns, the model has "
                           f"{len(names)}")
    assert model.coef_ is not None  # load_model sets it
    dtype = model.coef_.dtype
    X = X.astype(dtype, copy=False)
    if info["mean"] is not None:
        X = ((X - info["mean"]) / info["scale"]).astype(dtype, copy=False)
    pred = model.predict(X)
    classes = info["classes"]
    if info["kind"] != "linear":
        labels = classes[pred]
    else:
        labels = pred
    proba = model.predict_proba(X) if args.proba else None
    if out is not None and out.lower().endswith(".npy"):
        try:
            np.save(out, proba if proba is not None else np.asarray(labels))
        except OSError as exc:
            raise CLIError(f"cannot write {out}: {exc.strerror or exc}", 1) from None
        return 0
    head = [info["target"] or "prediction"]
    if proba is not None:
        head += [f"p_{c}" for c in classes]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(head)
    for i, value in enumerate(labels):
        row = [_cell(value)]
        if proba is not None:
            row += [repr(float(p)) for p in proba[i]]
        writer.writerow(row)
    if out is None or out == "-":
        sys.stdout.write(buffer.getvalue())
        sys.stdout.flush()
    else:
        _write_text(out, buffer.getvalue())
    return 0


def _cell(value) -> str:
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


# ================================================================ the demo

#: The classic optimizers of the demo and ``fastgd plot losses``: (label, class, options).
CLASSIC = [
    ("SGD", "SGD", dict(lr=0.1)),
    ("momentum", "SGD", dict(lr=0.05, momentum=0.9)),
    ("Nesterov", "SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("AdaGrad", "Adagrad", dict(lr=0.1)),
    ("RMSProp", "RMSprop", dict(lr=0.005)),
    ("Adam", "Adam", dict(lr=0.01)),
    ("AdamW", "AdamW", dict(lr=0.01, weight_decay=0.01)),
    ("Lion", "Lion", dict(lr=0.003)),
]

#: Optimizer paths over the 2-D test functions: function -> (steps, bounds, runs).
TRAJECTORIES = {
    "rosenbrock": (1000, (-2.0, 2.0, -1.0, 3.0), [
        ("SGD lr=1.5e-3", "SGD", dict(lr=1.5e-3)),
        ("momentum 0.9 lr=3e-4", "SGD", dict(lr=3e-4, momentum=0.9)),
        ("AdaGrad lr=0.5", "Adagrad", dict(lr=0.5)),
        ("RMSProp lr=0.01", "RMSprop", dict(lr=0.01)),
        ("Adam lr=0.05", "Adam", dict(lr=0.05)),
        ("Lion lr=0.01", "Lion", dict(lr=0.01))]),
    "himmelblau": (300, (-5.0, 5.0, -5.0, 5.0), [
        ("SGD lr=0.01", "SGD", dict(lr=0.01)),
        ("momentum 0.9 lr=2e-3", "SGD", dict(lr=0.002, momentum=0.9)),
        ("AdaGrad lr=0.5", "Adagrad", dict(lr=0.5)),
        ("RMSProp lr=0.05", "RMSprop", dict(lr=0.05)),
        ("Adam lr=0.1", "Adam", dict(lr=0.1)),
        ("Lion lr=0.05", "Lion", dict(lr=0.05))]),
    "beale": (1000, (-1.0, 4.5, -1.5, 2.0), [
        ("SGD lr=0.01", "SGD", dict(lr=0.01)),
        ("momentum 0.9 lr=2e-3", "SGD", dict(lr=0.002, momentum=0.9)),
        ("AdaGrad lr=0.5", "Adagrad", dict(lr=0.5)),
        ("RMSProp lr=0.01", "RMSprop", dict(lr=0.01)),
        ("Adam lr=0.05", "Adam", dict(lr=0.05)),
        ("Lion lr=0.01", "Lion", dict(lr=0.01))]),
    "saddle": (60, (-1.5, 1.5, -1.5, 1.5), [
        ("SGD lr=0.05", "SGD", dict(lr=0.05)),
        ("momentum 0.9 lr=0.01", "SGD", dict(lr=0.01, momentum=0.9)),
        ("AdaGrad lr=0.5", "Adagrad", dict(lr=0.5)),
        ("RMSProp lr=0.01", "RMSprop", dict(lr=0.01)),
        ("Adam lr=0.05", "Adam", dict(lr=0.05)),
        ("Lion lr=0.02", "Lion", dict(lr=0.02))]),
}


def regression_problem(n: int = 4000, d: int = 8, seed: int = 0):
    """``X`` (n, d) standard normal, ``y = X @ c + 3 + 0.5 * noise`` with ``c`` uniform
    in [-3, 3]: the demo's regression data (the best mean squared error is about 0.25)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    c = rng.uniform(-3.0, 3.0, d)
    return X, X @ c + 3.0 + 0.5 * rng.standard_normal(n)


def classification_problem(n: int = 3000, d: int = 10, k: int = 3, seed: int = 1):
    """Three overlapping Gaussian classes in ``d`` dimensions (unit variance, centres
    drawn from N(0, 0.64)): ``(X_train, y_train, X_test, y_test)``, 80/20, labels 0 .. k-1."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, d)) * 0.8
    labels = rng.integers(0, k, n)
    X = centres[labels] + rng.standard_normal((n, d))
    cut = int(0.8 * n)
    return X[:cut], labels[:cut], X[cut:], labels[cut:]


def _timed_fit(model, X, y, **kwargs):
    """Warm up on 64 rows (Numba compiles on first use), then fit and time it."""
    warm = copy.deepcopy(model)
    fastgd.fit(warm, X[:64], y[:64], **{**kwargs, "epochs": 1})
    start = time.perf_counter()
    history = fastgd.fit(model, X, y, **kwargs)
    return history, time.perf_counter() - start


def worked_example(lr: float = 0.1, tol: float = 1e-9):
    """Plain gradient descent on :data:`fastgd.functions.worked_example`: the
    :class:`fastgd.MinimizeResult` and the iterates (one row per evaluation)."""
    ex = fastgd.functions.worked_example
    points = []
    result = fastgd.minimize(ex.f, ex.x0, jac=ex.grad, optimizer="sgd", lr=lr, tol=tol,
                             max_iter=5000, callback=lambda x, f, g: points.append(x))
    if len(points) == result.nit:  # the callback does not see the iterate that converged
        points.append(result.x.copy())
    return result, np.array(points)


def compare_flavours(X, y):
    """Batch, stochastic and mini-batch gradient descent (plain SGD) on (X, y):
    [(label, batch_size, lr, epochs, model, history, seconds)]."""
    runs = [("batch", None, 0.2, 100), ("stochastic", 1, 0.005, 2),
            ("mini-batch", 32, 0.05, 5)]
    out = []
    for label, bs, lr, epochs in runs:
        model = fastgd.LinearRegression()
        history, seconds = _timed_fit(model, X, y, optimizer="sgd", lr=lr, batch_size=bs,
                                      epochs=epochs, random_state=0)
        out.append((label, bs, lr, epochs, model, history, seconds))
    return out


def compare_optimizers(X, y, epochs: int = 10, batch_size: int = 64):
    """:data:`CLASSIC` on softmax regression: [(label, options, model, history, s)]."""
    out = []
    for label, name, options in CLASSIC:
        model = fastgd.SoftmaxRegression()
        options = dict(options)
        lr = options.pop("lr")
        history, seconds = _timed_fit(model, X, y, optimizer=name, lr=lr,
                                      batch_size=batch_size, epochs=epochs, random_state=0,
                                      optimizer_kwargs=options)
        out.append((label, dict(lr=lr, **options), model, history, seconds))
    return out


def _keep_history(store: dict[str, Any]) -> Callable[[int, Any, Any], None]:
    """A ``fit`` callback that keeps the latest History in ``store["h"]``."""
    def callback(epoch: int, history: Any, model: Any) -> None:
        store.update(h=history)
    return callback


def _collect_iterates(points: list[np.ndarray]) -> Callable[[np.ndarray, float, np.ndarray], None]:
    """A :func:`fastgd.minimize` callback that appends each iterate to ``points``."""
    def callback(x: np.ndarray, f: float, g: np.ndarray) -> None:
        points.append(x)
    return callback


def lr_effect(X, y, epochs: int = 200):
    """Batch gradient descent with a too small, a good and a too large learning rate.

    The loss is quadratic with Hessian ``H = 2/n A^T A`` (``A = [X, 1]``): plain gradient
    descent converges exactly when ``lr < 2 / lambda_max(H)``. Returns ``lr_max`` and
    [(label, lr, status, losses per epoch, final loss or None)]."""
    A = np.column_stack([X, np.ones(X.shape[0])])
    lam = float(np.linalg.eigvalsh(2.0 / X.shape[0] * (A.T @ A))[-1])
    lr_max = 2.0 / lam
    out: list[tuple[str, float, str | None, list[float], float | None]] = []
    for label, factor in (("too small", 0.005), ("right", 0.5), ("too large", 5.0)):
        lr = float(f"{factor * lr_max:.3g}")
        model = fastgd.LinearRegression()
        seen: dict[str, Any] = {}
        try:
            fastgd.fit(model, X, y, optimizer="sgd", lr=lr, batch_size=None, epochs=epochs,
                       callbacks=[_keep_history(seen)])
        except FloatingPointError:
            losses = list(seen["h"].loss) if "h" in seen else []
            out.append((label, lr, "diverged", losses, None))
            continue
        losses = list(seen["h"].loss)
        out.append((label, lr, None, losses, model.loss_value(X, y)))
    best = min(final for *_, final in out if final is not None)
    result = []
    for label, lr, status, losses, final in out:
        if status is None:  # a finished run, whose final loss is known
            assert final is not None
            status = "converged" if final <= best * 1.01 + 1e-12 else (
                "diverging" if final > losses[0] else "slow")
        result.append((label, lr, status, losses, final))
    return lr_max, result


def trajectory_runs(function: str, steps: int | None = None) -> dict[str, np.ndarray]:
    """The paths of :data:`TRAJECTORIES`'s optimizers on a test function of
    :mod:`fastgd.functions`: label -> iterates ``(steps + 1, 2)``."""
    default_steps, _, runs = TRAJECTORIES[function]
    fn = getattr(fastgd.functions, function)
    paths = {}
    for label, name, options in runs:
        points: list[np.ndarray] = []
        options = dict(options)
        lr = options.pop("lr")
        result = fastgd.minimize(fn.f, fn.x0, jac=fn.grad, optimizer=name, lr=lr,
                                 max_iter=steps or default_steps, tol=None,
                                 callback=_collect_iterates(points), **options)
        if len(points) == result.nit:
            points.append(result.x.copy())
        paths[label] = np.array(points)
    return paths


def _options(options: dict) -> str:
    return ", ".join(k if v is True else f"{k}={v}" for k, v in options.items())


def cmd_demo(args) -> int:
    _set_backend(args)
    if args.plot:
        from fastgd import plot
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise CLIError(plot.MISSING, 1) from None
        _plot_dir(args.plot)
    start = time.perf_counter()
    say = (lambda *a: None) if args.quiet else _out
    # the version and backend lines are printed even with --quiet (CI greps the second)
    _out(f"fastgd {fastgd.__version__}")
    _out(_backend_line())

    # ---- 1. the worked example
    ex = fastgd.functions.worked_example
    result, points = worked_example()
    losses = result.history.loss
    g0 = ex.grad(ex.x0)
    say("\n== 1. Gradient descent, step by step ==\n")
    say("Five weights w, inputs x = [1, 2, 3, 4, 5], target y = 25, and the loss\n"
        "    L(w) = 1/5 sum_i (w_i x_i - y)^2,   dL/dw_i = 2/5 x_i (w_i x_i - y).\n"
        "Each step moves w against the gradient, w <- w - lr * dL/dw (lr = 0.1 here).\n"
        f"Start: w = {ex.x0.tolist()}, L = {ex.f(ex.x0):.3f},\n"
        f"       gradient = {np.round(g0, 3).tolist()};\n"
        f"so the first step takes w1 to 4.2 - 0.1 * ({g0[0]:.2f}) = {points[1][0]:.3f}, "
        f"and w5 to {points[1][4]:.3f}.\n")
    shown = [k for k in (0, 1, 2, 3, 5, 10, 20, 50, 100, 200, 400) if k < len(points) - 1]
    shown.append(len(points) - 1)
    rows = [[k, f"{losses[k]:.6g}"] + [f"{v:.4f}" for v in points[k]] for k in shown]
    say(_table(["step", "loss"] + [f"w{i}" for i in range(1, 6)], rows, "><>>>>>"))
    say(f"\nAfter {result.nit} steps the gradient is below 1e-9 and w = 25/x = "
        f"{np.round(25.0 / np.arange(1, 6), 4).tolist()}.\n"
        "w5 lands in one step: its curvature 2/5 * 5^2 = 10 times lr is exactly 1. w1 is "
        "the slowest:\nits error shrinks by 1 - lr * 2/5 * 1^2 = 0.96 per step. Above "
        "lr = 2/10 = 0.2 the w5 step would\novershoot by more than it corrects, and "
        "gradient descent diverges (part 4).")

    # ---- 2. batch, stochastic, mini-batch
    Xr, yr = regression_problem()
    say("\n== 2. Batch, stochastic and mini-batch gradient descent ==\n")
    say(f"Linear regression (squared error), {Xr.shape[0]} rows x {Xr.shape[1]} features, "
        f"y = X c + 3 + noise\n(noise variance 0.25: the best possible loss). Plain SGD "
        f"steps; a step uses the gradient\nof all rows (batch), of one row (stochastic) "
        f"or of 32 rows (mini-batch).\n")
    rows = []
    for label, bs, lr, epochs, model, history, seconds in compare_flavours(Xr, yr):
        rows.append([label, "all" if bs is None else bs, lr, epochs, history.n_steps,
                     f"{model.loss_value(Xr, yr):.5f}", f"{model.score(Xr, yr):.5f}",
                     _fmt_time(seconds)])
    say(_table(["flavour", "batch", "lr", "epochs", "steps", "final loss", "R^2", "time"],
               rows))
    say("\nA batch step follows the exact gradient but reads every row; stochastic steps "
        "are cheap and\nnoisy (a small lr keeps the noise down); mini-batches sit "
        "between.")

    # ---- 3. the classic optimizers
    Xtr, ytr, Xte, yte = classification_problem()
    say("\n== 3. The classic optimizers ==\n")
    say(f"Softmax regression, 3 classes, {Xtr.shape[0]} training rows x {Xtr.shape[1]} "
        f"features ({Xte.shape[0]} more rows held out\nfor the test accuracy); "
        f"mini-batches of 64, 10 epochs (380 steps) each. 1st epoch:\nthe mean loss of "
        f"the first epoch's batches (how fast a method starts).\n")
    compared = compare_optimizers(Xtr, ytr)
    rows = []
    for label, options, model, history, seconds in compared:
        rest = {k: v for k, v in options.items() if k != "lr"}
        rows.append([label, options["lr"], _options(rest) or "-", f"{history.loss[0]:.4f}",
                     f"{model.loss_value(Xtr, ytr):.4f}", f"{model.score(Xtr, ytr):.3f}",
                     f"{model.score(Xte, yte):.3f}", _fmt_time(seconds)])
    say(_table(["optimizer", "lr", "options", "1st epoch", "final loss", "train acc",
                "test acc", "time"], rows, "<><>>>>>"))
    say("\nMomentum and Nesterov accumulate past gradients; AdaGrad, RMSProp and Adam "
        "scale each weight's\nstep by its gradient history; AdamW adds decoupled weight "
        "decay; Lion steps by the sign of a\nmomentum. The problem is convex: all reach "
        "about the same loss, at different speeds.")

    # ---- 4. the learning rate
    lr_max, effect = lr_effect(Xr, yr)
    say("\n== 4. The learning rate ==\n")
    say(f"Batch gradient descent on part 2's regression, 200 epochs. The loss is quadratic, "
        f"so plain\ngradient descent converges exactly when lr < 2 / lambda_max = "
        f"{lr_max:.3f} (lambda_max: the largest\neigenvalue of the Hessian "
        f"2/n [X 1]^T [X 1]).\n")
    rows = []
    for label, lr, status, losses, final in effect:
        rows.append([label, f"{lr:g}", f"{lr / lr_max:.3g}", len(losses),
                     "-" if final is None else f"{final:.5g}", status])
    say(_table(["learning rate", "lr", "lr / lr_max", "epochs", "final loss", "result"],
               rows, "<>>>><"))
    say("\nToo small: every step is safe but tiny, and the epochs run out first. Too "
        "large: each step\novershoots the minimum by more than it started from, the loss "
        "grows until it overflows, and\nfastgd.fit raises FloatingPointError (reported "
        "here as diverged).")

    if args.plot:
        from fastgd import plot
        fmt = args.format
        written = [os.path.join(args.plot, f"{name}.{fmt}")
                   for name in ("losses", "trajectories", "lr")]
        try:
            plot.loss_curves({label: h.loss for label, _, _, h, _ in compared}, written[0],
                             title="softmax regression, mini-batches of 64: loss per epoch",
                             fmt=fmt)
            _, bounds, _ = TRAJECTORIES["rosenbrock"]
            plot.trajectories(fastgd.functions.rosenbrock, trajectory_runs("rosenbrock"),
                              written[1], bounds=bounds, fmt=fmt)
            plot.lr_effect({f"{label} (lr={lr:g})": (losses, status)
                            for label, lr, status, losses, _ in effect}, written[2], fmt=fmt)
        except OSError as exc:
            raise CLIError(f"cannot write the pictures: {exc.strerror or exc}", 1) from None
        say(f"\npictures: {', '.join(written)}")
    say(f"\nThe demo took {time.perf_counter() - start:.1f} s. More: 'fastgd fit --help', "
        f"'fastgd bench', 'fastgd plot all'.")
    return 0


# ================================================================ bench

def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "?"


def _stepper(opt: Any, g: np.ndarray) -> Callable[[], Any]:
    """``opt.step([g])`` as a function of no arguments, for :func:`_time_step`."""
    return lambda: opt.step([g])


def _time_step(step: Callable[[], Any], n: int, rounds: int) -> dict[str, float]:
    """Median, mean and min seconds per call of ``step`` over ``rounds`` rounds of
    ``iterations`` calls (about 1e5 elements' worth per round), after 3 warm-up calls."""
    iterations = int(min(100, max(1, 1e5 // max(n, 1))))
    for _ in range(3):
        step()
    per_call = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(iterations):
            step()
        per_call.append((time.perf_counter() - start) / iterations)
    return dict(median=statistics.median(per_call), mean=statistics.fmean(per_call),
                min=min(per_call), rounds=rounds, iterations=iterations)


def _parse_sizes(text: str) -> list[int]:
    sizes = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"sizes must be numbers like 1e3,1e5, got "
                                             f"{part!r}") from None
        if not (value >= 1 and value == int(value) and value <= 1e9):
            raise argparse.ArgumentTypeError(f"sizes must be whole numbers in 1 .. 1e9, "
                                             f"got {part!r}")
        sizes.append(int(value))
    return sizes


_TORCH_FUSED = ("SGD", "Adam", "AdamW", "Adagrad")


def cmd_bench(args) -> int:
    if args.json not in (None, "-"):
        _check_writable(args.json, (".json",), "--json")
    sizes = args.sizes or ([10**3, 10**5] if args.quick else [10**3, 10**5, 10**6])
    rounds = args.repeats or (7 if args.quick else 25)
    name, dtype = args.optimizer, np.dtype(args.dtype)
    options = dict(lr=1e-3, momentum=0.9) if name == "SGD" else dict(lr=1e-3)
    torch: Any = None
    if not args.no_torch:
        try:
            import torch as _torch
        except ImportError:
            pass
        else:
            torch = _torch
    if torch is not None and args.threads > 1 and "OMP_WAIT_POLICY" not in os.environ \
            and hasattr(sys, "orig_argv"):
        # Two OpenMP runtimes (fastgd's and torch's) whose idle threads spin steal each
        # other's cores; passive waiting must be set before they load: run again with it.
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
    backends = _backend.available()
    cases = [("fastgd-" + b, n) for n in sizes for b in backends]
    torch_modes: list[str] = []
    if torch is not None and hasattr(torch.optim, name):
        torch_modes = ["for-loop", "foreach"] + (["fused"] if name in _TORCH_FUSED else [])
        cases += [("torch-" + m, n) for n in sizes for m in torch_modes]
    fastgd.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    results: list[dict[str, Any]] = []
    rng = np.random.default_rng(0)
    arrays = {n: (rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype))
              for n in sizes}
    with Progress(len(cases), "bench", enabled=not args.quiet) as progress:
        for impl, n in cases:
            w, g = (a.copy() for a in arrays[n])
            if impl.startswith("fastgd-"):
                with fastgd.use_backend(impl.split("-", 1)[1]):
                    opt = getattr(fastgd, name)([w], **options)
                    stats = _time_step(_stepper(opt, g), n, rounds)
            else:
                mode = impl.split("-", 1)[1]
                flags = {"for-loop": dict(foreach=False), "foreach": dict(foreach=True),
                         "fused": dict(fused=True)}[mode]
                tw = torch.from_numpy(w).requires_grad_()
                tw.grad = torch.from_numpy(g)
                topt = getattr(torch.optim, name)([tw], **options, **flags)
                with torch.no_grad():
                    stats = _time_step(topt.step, n, rounds)
            label = f"{name}{'-momentum' if name == 'SGD' else ''}"
            results.append(dict(
                name=f"{impl} {label} {dtype.name} n={n} threads={args.threads}",
                group=f"{label} {dtype.name} n={n:.0e} threads={args.threads}",
                extra_info=dict(impl=impl, optimizer=label, dtype=dtype.name, n=n,
                                threads=args.threads),
                stats=stats))
            progress.update(1, f"{impl} n={n:.0e}")
    if args.json is not None:
        data = dict(
            machine_info=dict(cpu=dict(brand_raw=_cpu_name(), count=os.cpu_count()),
                              python_version=platform.python_version(),
                              system=platform.system()),
            fastgd=dict(version=fastgd.__version__, backends=backends,
                        numpy=np.__version__,
                        torch=None if torch is None else torch.__version__,
                        omp_wait_policy=os.environ.get("OMP_WAIT_POLICY")),
            benchmarks=results)
        text = json.dumps(_json_safe(data), indent=2) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            _write_text(args.json, text)
    if args.json is None or (args.json != "-" and not args.quiet):
        impls = [b for b in ("fastgd-" + b for b in backends)] + \
            ["torch-" + m for m in torch_modes]
        by = {(r["extra_info"]["impl"], r["extra_info"]["n"]): r["stats"]["median"]
              for r in results}
        rows = []
        for n in sizes:
            row = [f"{n:.0e}".replace("e+0", "e")]
            row += [_fmt_time(by[(i, n)]) for i in impls]
            ours = by.get(("fastgd-cython", n))
            torch_times = [by[(i, n)] for i in impls if i.startswith("torch")]
            if torch_times:
                row.append(f"{ours / min(torch_times):.2f}" if ours else "-")
            rows.append(row)
        head = ["size"] + impls + (["cython / best torch"] if torch_modes else [])
        label = f"{name}{' (momentum 0.9)' if name == 'SGD' else ''}"
        _out(f"{label} {dtype.name}, one step on one array; median of {rounds} rounds; "
             f"{args.threads} thread(s); {_cpu_name()}")
        _out(_table(head, rows))
        if not torch_modes:
            _out("\n(torch is not installed: pip install torch to compare with torch.optim)"
                 if torch is None and not args.no_torch else "")
        if args.json not in (None, "-"):
            _out(f"\njson: {args.json}")
    return 0


# ================================================================ plot

def _plot_dir(path: str) -> None:
    if os.path.exists(path) and not os.path.isdir(path):
        raise CLIError(f"--plot {path!r} is a file; give a folder for the pictures")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"cannot create {path}: {exc.strerror or exc}", 1) from None


def cmd_plot(args) -> int:
    from fastgd import plot
    _set_backend(args)
    what = args.what
    fmt = args.format
    if what == "all":
        folder = args.out or "."
        _plot_dir(folder)
        targets = {k: os.path.join(folder, f"{k}.{fmt or 'png'}")
                   for k in ("losses", "trajectories", "lr")}
        if args.bench_json:
            targets["bench"] = os.path.join(folder, f"bench.{fmt or 'png'}")
    else:
        path = args.out or f"{what}.{fmt or 'png'}"
        if os.path.isdir(path):
            path = os.path.join(path, f"{what}.{fmt or 'png'}")
        targets = {what: path}
    for path in targets.values():
        try:
            plot.figure_format(path, fmt)
        except ValueError as exc:
            raise CLIError(str(exc)) from None
        _check_writable(path, (), "--out")
    bench_file = getattr(args, "json_file", None) or getattr(args, "bench_json", None)
    times = None
    if "bench" in targets:
        assert bench_file is not None  # the bench figure is asked for with its JSON file
        try:
            with open(bench_file, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            raise CLIError(f"{bench_file}: no such file") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CLIError(f"{bench_file}: not readable JSON ({exc})") from None
        try:
            times = plot.bench_times(data)
        except ValueError as exc:
            raise CLIError(f"{bench_file}: {exc}") from None
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise CLIError(plot.MISSING, 1) from None
    written = []
    for kind, path in targets.items():
        try:
            if kind == "losses":
                Xtr, ytr, _, _ = classification_problem()
                runs = compare_optimizers(Xtr, ytr, epochs=args.epochs)
                plot.loss_curves({label: h.loss for label, _, _, h, _ in runs}, path,
                                 title="softmax regression, mini-batches of 64: loss per "
                                       "epoch", fmt=fmt)
            elif kind == "trajectories":
                steps, bounds, _ = TRAJECTORIES[args.function]
                plot.trajectories(getattr(fastgd.functions, args.function),
                                  trajectory_runs(args.function, args.steps), path,
                                  bounds=bounds, fmt=fmt)
            elif kind == "lr":
                Xr, yr = regression_problem()
                _, effect = lr_effect(Xr, yr)
                plot.lr_effect({f"{label} (lr={lr:g})": (losses, status)
                                for label, lr, status, losses, _ in effect}, path, fmt=fmt)
            else:
                assert times is not None  # read above
                plot.bench_chart(times, path, optimizer=args.optimizer, dtype=args.dtype,
                                 fmt=fmt)
        except ValueError as exc:
            raise CLIError(str(exc)) from None
        except OSError as exc:
            raise CLIError(f"cannot write {path}: {exc.strerror or exc}", 1) from None
        written.append(path)
    if not args.quiet:
        for path in written:
            _out(path)
    return 0


# ================================================================ the parser

def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true",
                        help="print only what is asked for (no tables, no progress bars)")
    backend = _Parser(add_help=False)
    backend.add_argument("--backend", choices=_backend.BACKENDS,
                         help="run on this backend (default: the active one, "
                              "FASTGD_BACKEND or the first that loads)")
    parser = _Parser(prog="fastgd", description="fastgd: gradient descent and its "
                     "optimizers, compiled, for NumPy arrays (python -m fastgd is the same).",
                     epilog="Run 'fastgd demo' for a tour; 'fastgd COMMAND --help' for a "
                            "command's options.")
    parser.add_argument("--version", action="version",
                        version=f"fastgd {fastgd.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("demo", parents=[common, backend],
                       help="a tour of gradient descent on generated data (a few seconds)",
                       description="What gradient descent does, on data the demo makes: "
                       "the worked example step by step; batch, stochastic and mini-batch "
                       "gradient descent; the classic optimizers side by side; the "
                       "learning-rate effect.")
    p.add_argument("--plot", metavar="DIR",
                   help="also write the pictures (losses, trajectories, lr) to DIR "
                        "(needs matplotlib)")
    p.add_argument("--format", choices=("png", "svg"), default="png",
                   help="picture format for --plot (default png)")
    p.set_defaults(run=cmd_demo)

    p = sub.add_parser("fit", parents=[common, backend],
                       help="train a linear model on a CSV, .npy or .npz file",
                       description="Train a linear model with fastgd.fit on a data file: a "
                       "CSV file with a header row, a 2-D .npy array, or an .npz file with "
                       "arrays X and y. Defaults are fastgd.fit's.")
    p.add_argument("data", metavar="DATA", help="a .csv, .npy or .npz file")
    p.add_argument("--target", metavar="COL",
                   help="the target column: a name (CSV) or an index (CSV, .npy; -1 is the "
                        "last); required for CSV and .npy")
    p.add_argument("--x-key", default="X", help=".npz: the features array (default X)")
    p.add_argument("--y-key", default="y", help=".npz: the target array (default y)")
    p.add_argument("--model", choices=MODELS, default="linear",
                   help="linear (regression), logistic (2 classes) or softmax (k classes); "
                        "default linear")
    p.add_argument("--loss", help="linear: squared_error (default), half_squared_error, "
                                  "huber, epsilon_insensitive; logistic: log_loss "
                                  "(default), hinge")
    p.add_argument("--penalty", choices=_PENALTIES, default="none",
                   help="penalty on the coefficients (default none)")
    p.add_argument("--alpha", type=_nonnegative_float,
                   help="penalty strength (default 1e-4 with a penalty)")
    p.add_argument("--l1-ratio", type=_nonnegative_float, default=0.15,
                   help="elasticnet's L1 share (default 0.15)")
    p.add_argument("--optimizer", type=_optimizer_name, default="SGD",
                   help="any optimizer of fastgd's registry, any case (default sgd)")
    p.add_argument("--lr", type=_positive_float, default=0.01,
                   help="learning rate (default 0.01)")
    p.add_argument("--opt", type=_option, action="append", metavar="NAME=VALUE",
                   help="another argument of the optimizer, e.g. --opt momentum=0.9 "
                        "--opt nesterov=true --opt 'betas=(0.9, 0.99)' (repeatable)")
    p.add_argument("--batch-size", type=_batch_size, default=32,
                   help="rows per step, or 'full' for batch gradient descent (default 32)")
    p.add_argument("--epochs", type=_positive_int, default=10,
                   help="most passes over the data (default 10)")
    p.add_argument("--schedule", choices=_SCHEDULES,
                   help="learning-rate schedule: constant (default), scikit-learn's "
                        "optimal/invscaling/adaptive, cosine (CosineAnnealingLR over the "
                        "epochs) or plateau (ReduceLROnPlateau)")
    p.add_argument("--tol", type=_nonnegative_float,
                   help="stop after --n-iter-no-change epochs improving the loss by less "
                        "than this (scikit-learn's rule); default: run every epoch")
    p.add_argument("--n-iter-no-change", type=_positive_int, default=5,
                   help="epochs without improvement before stopping (default 5)")
    p.add_argument("--seed", type=_seed,
                   help="random seed (shuffling, validation split); default: a fresh one, "
                        "recorded in the metrics")
    p.add_argument("--val-fraction", type=_fraction,
                   help="hold out this fraction of the rows; --tol then watches the "
                        "validation loss")
    p.add_argument("--standardize", action="store_true",
                   help="scale each feature to mean 0 and standard deviation 1 (saved with "
                        "the model and applied by predict)")
    p.add_argument("--out", metavar="MODEL.npz", help="write the model")
    p.add_argument("--metrics", metavar="FILE.json",
                   help="write the final metrics and the history per epoch")
    p.set_defaults(run=cmd_fit)

    p = sub.add_parser("predict", parents=[common, backend],
                       help="apply a model saved by 'fastgd fit --out'",
                       description="Predict with a model saved by 'fastgd fit --out'. CSV "
                       "input: the features are the columns with the model's feature names "
                       "(others are ignored). Writes CSV (one column named after the "
                       "target; with --proba one per class), or a .npy array.")
    p.add_argument("model", metavar="MODEL", help="the .npz written by fastgd fit --out")
    p.add_argument("data", metavar="DATA", help="a .csv, .npy or .npz file")
    p.add_argument("--out", metavar="FILE", help="a .csv or .npy file (default: CSV on "
                                                 "stdout)")
    p.add_argument("--proba", action="store_true",
                   help="also write each class's probability (log_loss models; a .npy "
                        "output then holds the probabilities, one column per class)")
    p.add_argument("--x-key", default="X", help=".npz: the features array (default X)")
    p.set_defaults(run=cmd_predict)

    p = sub.add_parser("bench", parents=[common],
                       help="time an optimizer step: fastgd's backends and torch.optim",
                       description="Time one optimizer step on one array for fastgd's "
                       "backends and, when torch is installed, torch.optim's for-loop, "
                       "foreach and fused implementations: medians of repeated rounds.")
    p.add_argument("--optimizer", choices=("Adam", "AdamW", "SGD", "RMSprop", "Adagrad"),
                   default="Adam", help="default Adam (SGD runs with momentum 0.9)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--sizes", type=_parse_sizes,
                   help="parameter counts, e.g. 1e3,1e5,1e6 (the default; --quick: 1e3,1e5)")
    p.add_argument("--threads", type=_positive_int, default=1,
                   help="threads for fastgd's compiled core and for torch (default 1)")
    p.add_argument("--repeats", type=_positive_int,
                   help="timed rounds per case (default 25; --quick: 7)")
    p.add_argument("--quick", action="store_true", help="fewer sizes and rounds")
    p.add_argument("--no-torch", action="store_true", help="leave torch out")
    p.add_argument("--json", nargs="?", const="-", metavar="FILE",
                   help="write the results as JSON (pytest-benchmark's layout) to FILE, or "
                        "to stdout instead of the table")
    p.set_defaults(run=cmd_bench)

    p = sub.add_parser("plot", help="draw pictures (PNG or SVG; needs matplotlib)",
                       description="Draw the pictures of fastgd.plot (needs matplotlib: "
                       "pip install \"fastgd[plot]\").")
    kinds = p.add_subparsers(dest="what", metavar="WHAT", parser_class=_Parser)
    kinds.required = True
    picture = _Parser(add_help=False)
    picture.add_argument("-o", "--out", metavar="PATH",
                         help="the file to write (default WHAT.png in the current folder)")
    picture.add_argument("--format", choices=("png", "svg"),
                         help="png or svg (default: the suffix of --out, else png)")
    q = kinds.add_parser("losses", parents=[common, backend, picture],
                         help="loss per epoch of the classic optimizers on one problem")
    q.add_argument("--epochs", type=_positive_int, default=10)
    q = kinds.add_parser("trajectories", parents=[common, backend, picture],
                         help="optimizer paths over a 2-D test function's contours")
    q.add_argument("--function", choices=tuple(TRAJECTORIES), default="rosenbrock")
    q.add_argument("--steps", type=_positive_int, help="steps per optimizer")
    kinds.add_parser("lr", parents=[common, backend, picture],
                     help="too small, right and too large learning rates")
    q = kinds.add_parser("bench", parents=[common, picture],
                         help="time per parameter against size from benchmark JSON")
    q.add_argument("json_file", metavar="JSON",
                   help="'fastgd bench --json' output or a pytest-benchmark JSON of bench/")
    q.add_argument("--optimizer", default="Adam", help="which optimizer's timings (Adam)")
    q.add_argument("--dtype", default="float32", help="which dtype's timings (float32)")
    q = kinds.add_parser("all", parents=[common, backend, picture],
                         help="losses, trajectories and lr (and bench with --bench) into "
                              "a folder (--out, default the current one)")
    q.add_argument("--bench", dest="bench_json", metavar="JSON",
                   help="also draw the benchmark chart from this JSON")
    q.add_argument("--function", choices=tuple(TRAJECTORIES), default="rosenbrock")
    q.add_argument("--steps", type=_positive_int, help="steps per optimizer")
    q.add_argument("--epochs", type=_positive_int, default=10)
    q.add_argument("--optimizer", default="Adam", help=argparse.SUPPRESS)
    q.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
    p.set_defaults(run=cmd_plot)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``fastgd`` command with ``argv`` (default ``sys.argv[1:]``); return the
    exit status."""
    parser = build_parser()
    command = "fastgd"
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        command = f"fastgd {args.command}"
        return args.run(args)
    except CLIError as exc:
        command = exc.prog or command
        sys.stdout.flush()
        print(f"{command}: error: {exc.message}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print(f"\n{command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (fastgd ... | head): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
