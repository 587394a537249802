"""``fastgd fit --chunk-rows N``: train on a data file streamed in chunks of N rows.

The file is read in chunks by :func:`fastgd.io.chunks.iter_chunks` (svmlight and CSV
line by line, ``.npy`` through a memory map, ``.npz`` members in order), never whole:

1. a first pass checks every chunk and finds the rows, the features and, for a
   classifier, the classes (the labels of the whole file, sorted as ``fastgd fit`` sorts
   them);
2. ``--epochs`` passes: each chunk goes to :meth:`fastgd.models.PartialFit.partial_fit`
   (its rows shuffled within the chunk unless the run is given ``shuffle=False``), and
   :meth:`~fastgd.models.PartialFit.end_epoch` closes each pass (the history row, the
   per-epoch schedule, ``--tol``); a progress bar counts the chunks;
3. a last pass computes the training loss and score of the final model.

The model, the metrics and the summary are those of ``fastgd fit``. Not with
``--val-fraction`` or ``--standardize`` (both need the whole file at once). Sparse files
give scipy.sparse CSR chunks to the training code.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import numpy as np

import fastgd
from fastgd.cli._common import (
    CLIError,
    Progress,
    _check_writable,
    _fmt_time,
    _json_safe,
    _out,
    _set_backend,
    _write_text,
)
from fastgd.cli.fit import _schedule
from fastgd.io import chunks
from fastgd.io.model_file import _model_for, save_model
from fastgd.models import PartialFit

__all__ = ["cmd_fit_stream"]


def _label_values(y: np.ndarray, kind: str, path: str) -> np.ndarray:
    """A chunk's targets as ``fastgd fit`` takes them (before the classes are known)."""
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise CLIError(f"{path}: the target has a non-finite value")
    if kind == "linear":
        if y.dtype.kind not in "biuf":
            raise CLIError(f"{path}: the target has text values ({str(y[0])!r}, ...); a "
                           f"linear model needs numbers (use --model logistic or softmax "
                           f"for labels)")
        return y.astype(np.float64)
    return y


def _scan(args, info) -> dict:
    """The first pass: rows, features, dtype, chunks, the classes and the label type."""
    rows = n_chunks = 0
    n_features, dtype = None, None
    labels: set = set()
    numeric = True
    for X, y in _chunks(args, info):
        y = _label_values(y, args.model, args.data)
        if n_features is None:
            n_features, dtype = X.shape[1], X.dtype
        rows += X.shape[0]
        n_chunks += 1
        if args.model != "linear":
            numeric = numeric and y.dtype.kind in "biuf"
            labels.update(np.unique(y).tolist())
    classes = np.zeros(0)
    if args.model != "linear":
        if numeric and all(float(v) == round(float(v)) for v in labels):
            labels = {int(v) for v in labels}
        classes = np.array(sorted(labels))
        if args.model == "logistic" and classes.size != 2:
            raise CLIError(f"--model logistic needs exactly 2 classes, the target has "
                           f"{classes.size} ({', '.join(str(c) for c in classes[:5])}"
                           f"{', ...' if classes.size > 5 else ''}); use --model softmax")
        if classes.size < 2:
            raise CLIError(f"the target has a single class ({classes[0]}): nothing to learn")
    return dict(rows=rows, n_chunks=n_chunks, n_features=n_features, dtype=dtype,
                classes=classes)


def _chunks(args, info):
    return chunks.iter_chunks(args.data, args.chunk_rows, target=args.target,
                              x_key=args.x_key, y_key=args.y_key,
                              n_features=args.n_features, info=info)


def _codes(y: np.ndarray, kind: str, classes: np.ndarray, path: str) -> np.ndarray:
    """A chunk's targets for the model: numbers, or the class indices."""
    y = _label_values(y, kind, path)
    if kind == "linear":
        return y
    if classes.dtype.kind in "iu":
        y = y.astype(np.int64)
    codes = np.searchsorted(classes, y)
    return codes.astype(np.int64 if kind == "softmax" else np.float64)


def _names(args, n_features: int) -> tuple[list[str], str | None, int]:
    """Feature names, the target's name and its column index (as ``fastgd fit``'s)."""
    kind = os.path.splitext(args.data)[1].lower()
    if kind in (".csv", ".txt"):
        import csv
        with open(args.data, newline="", encoding="utf-8-sig") as f:
            header = [h.strip() for h in next(csv.reader(f))]
        from fastgd.io.data import _column_index
        t = _column_index(args.target, header, args.data)
        return [h for i, h in enumerate(header) if i != t], header[t], t
    if args.target is not None:   # .npy, sparse .npz: a column of the array
        t = int(args.target) % (n_features + 1)
        return [f"x{i}" for i in range(n_features + 1) if i != t], f"x{t}", t
    if kind in chunks.SVMLIGHT_SUFFIXES:
        return [f"x{i}" for i in range(n_features)], "label", -1
    return [f"x{i}" for i in range(n_features)], args.y_key, -1


def cmd_fit_stream(args) -> int:
    _set_backend(args)
    _check_writable(args.out, (".npz",), "--out")
    _check_writable(args.metrics, (".json",), "--metrics")
    for flag, value in (("--val-fraction", args.val_fraction),
                        ("--standardize", args.standardize)):
        if value:
            raise CLIError(f"{flag} needs the whole file at once; not with --chunk-rows")
    suffix = os.path.splitext(args.data)[1].lower()
    if suffix in (".csv", ".txt", ".npy") and args.target is None:
        raise CLIError(f"--target is required for {args.data} (the target column's name "
                       f"or index)")
    info = None
    if suffix in chunks.SVMLIGHT_SUFFIXES:
        if args.target is not None:
            raise CLIError(f"--target is for CSV, .npy and sparse .npz files; the target "
                           f"of {args.data} is each line's label")
        info = chunks.scan_svmlight(args.data, n_features=args.n_features)
    scan = _scan(args, info)
    classes = scan["classes"]
    penalty = None if args.penalty == "none" else args.penalty
    if penalty is None and args.alpha:
        raise CLIError(f"--alpha {args.alpha} needs a --penalty (l2, l1 or elasticnet)")
    alpha = args.alpha if args.alpha is not None else (1e-4 if penalty else 0.0)
    model = _model_for(args.model, args.loss, penalty, alpha, args.l1_ratio)
    if args.schedule == "optimal" and not alpha > 0:
        raise CLIError("--schedule optimal needs a --penalty with --alpha > 0 (its step size "
                       "is 1 / (alpha * (t0 + t)))")
    if args.model == "softmax":   # every class from the first chunk on
        k, d = classes.size, scan["n_features"]
        model.coef_ = np.zeros((d, k), dtype=scan["dtype"])
        model.intercept_ = np.zeros(k, dtype=scan["dtype"])
    seed = args.seed if args.seed is not None else int(
        np.random.SeedSequence().generate_state(1)[0])
    options = dict(args.opt or [])
    if "lr" in options:
        raise CLIError("--opt lr=...: give the learning rate as --lr")
    sparse = False
    try:
        run = PartialFit(model, optimizer=args.optimizer, lr=args.lr,
                         batch_size=args.batch_size, random_state=np.random.default_rng(seed),
                         schedule=_schedule(args.schedule, args.epochs), tol=args.tol,
                         n_iter_no_change=args.n_iter_no_change, optimizer_kwargs=options,
                         carry_over=True)
        start = time.perf_counter()
        progress = Progress(args.epochs * scan["n_chunks"], "chunks", enabled=not args.quiet)
        with progress:
            for epoch in range(args.epochs):
                for X, y in _chunks(args, info):
                    sparse = not isinstance(X, np.ndarray)
                    run.partial_fit(X, _codes(y, args.model, classes, args.data))
                    progress.update(1, f"epoch {epoch + 1}/{args.epochs}")
                stop = run.end_epoch()
                progress.update(0, f"epoch {epoch + 1}/{args.epochs}, loss "
                                   f"{run.history.loss[-1]:.4g}")
                if stop:
                    break
    except FloatingPointError as exc:
        what = str(exc).split(". ")[0].removeprefix("fit: ")
        raise CLIError(f"{what}; try a lower --lr (it is {args.lr:g})", 1) from None
    except (TypeError, ValueError) as exc:
        if isinstance(exc, chunks.DataError):
            raise
        message = str(exc)
        if sparse:
            message = (f"{args.data} is sparse (read as scipy.sparse CSR) and fastgd.fit "
                       f"did not take it: {message}")
        raise CLIError(message) from None
    elapsed = time.perf_counter() - start
    history = run.history
    if args.tol is not None and not history.converged:
        print(f"fastgd fit: warning: {len(history)} epochs ran out before tol was met; "
              f"raise --epochs or check --lr", file=sys.stderr)
    result = _final(args, info, model, classes, history, elapsed, run.n_steps)
    names, target, target_index = _names(args, scan["n_features"])
    if args.out:
        try:
            save_model(args.out, model, kind=args.model, classes=classes,
                       feature_names=names, target=target, target_index=target_index)
        except OSError as exc:
            raise CLIError(f"cannot write {args.out}: {exc.strerror or exc}", 1) from None
    score_name = "accuracy" if model.is_classifier else "r2"
    if args.metrics:
        metrics = dict(
            data=dict(path=args.data, rows=scan["rows"], features=len(names),
                      feature_names=names, target=target, train_rows=scan["rows"],
                      val_rows=0, chunk_rows=args.chunk_rows, chunks=scan["n_chunks"]),
            model=dict(kind=args.model, loss=model.loss, penalty=model.penalty,
                       alpha=model.alpha, classes=classes.tolist(), standardize=False),
            fit=dict(optimizer=args.optimizer, lr=args.lr, optimizer_options=options,
                     batch_size=args.batch_size, epochs=args.epochs,
                     schedule=args.schedule or "constant", tol=args.tol, seed=seed,
                     val_fraction=None, backend=fastgd.backend(), streamed=True),
            result=result, history=history.as_dict(), fastgd_version=fastgd.__version__)
        _write_text(args.metrics, json.dumps(_json_safe(metrics), indent=2,
                                             allow_nan=False) + "\n")
    if not args.quiet:
        _out("; ".join([
            f"{args.model} model ({model.loss}) on {scan['rows']} rows x {len(names)} "
            f"features, streamed in {scan['n_chunks']} chunks of {args.chunk_rows} rows",
            f"{args.optimizer} lr={args.lr:g}",
            f"{len(history)} epochs, {run.n_steps} steps, {_fmt_time(elapsed)}"]))
        _out(f"train loss {result['train_loss']:.6g}, train {score_name} "
             f"{result[f'train_{score_name}']:.4f} (stopped: {result['stop_reason']})")
        if args.out:
            _out(f"model: {args.out}")
        if args.metrics:
            _out(f"metrics: {args.metrics}")
    return 0


def _final(args, info, model, classes, history, elapsed, n_steps) -> dict[str, Any]:
    """The last pass: the final model's training loss (the mean over the rows) and score
    (accuracy, or R² from the target's mean and the sums of squares)."""
    rows = 0
    loss_sum = correct = 0.0
    ys: list[tuple[int, float, float]] = []   # per chunk: rows, sum y, residual sum
    for X, y in _chunks(args, info):
        yy = _codes(y, args.model, classes, args.data)
        n = X.shape[0]
        loss_sum += model.loss_value(X, yy) * n
        rows += n
        if model.is_classifier:
            correct += float(np.sum(model.predict(X) == yy))
        else:
            ys.append((n, float(np.sum(yy)), float(np.sum((yy - model.predict(X)) ** 2))))
    if model.is_classifier:
        score = correct / rows
    else:
        mean = sum(s for _, s, _ in ys) / rows
        total = 0.0
        for _X, y in _chunks(args, info):
            total += float(np.sum((_codes(y, args.model, classes, args.data) - mean) ** 2))
        residual = sum(r for _, _, r in ys)
        score = 1.0 - residual / total if total > 0 else float("nan")
    name = "accuracy" if model.is_classifier else "r2"
    return {"epochs": len(history), "steps": n_steps, "converged": bool(history.converged),
            "stop_reason": history.stop_reason or "epochs", "time_s": elapsed,
            "train_loss": loss_sum / rows, "val_loss": None, f"train_{name}": score,
            f"val_{name}": None}
