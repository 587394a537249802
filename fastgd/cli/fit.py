"""``fastgd fit`` (train a linear model on a data file) and ``fastgd predict`` (apply a
saved one)."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
import time
import warnings

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
from fastgd.io.data import _csv_features, _kind, read_data
from fastgd.io.model_file import _model_for, load_model, save_model

__all__ = ["cmd_fit", "cmd_predict"]


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


def cmd_fit(args) -> int:
    if args.chunk_rows is not None:
        from fastgd.cli.fit_stream import cmd_fit_stream
        return cmd_fit_stream(args)
    _set_backend(args)
    _check_writable(args.out, (".npz",), "--out")
    _check_writable(args.metrics, (".json",), "--metrics")
    if _kind(args.data) in ("csv", "npy") and args.target is None:
        raise CLIError(f"--target is required for {args.data} (the target column's name "
                       f"or index)")
    table = read_data(args.data, target=args.target, x_key=args.x_key, y_key=args.y_key,
                      n_features=args.n_features)
    # a target was named, so read_data returned the features and the target
    assert table.X is not None and table.y is not None
    X, (y, classes) = table.X, _labels(table.y, args.model, args.data)
    sparse = not isinstance(X, np.ndarray)
    if sparse and args.standardize:
        raise CLIError(f"--standardize centres each feature, which makes sparse data "
                       f"({args.data}) dense; scale the values beforehand")
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
        # fit's first draw from default_rng(seed) is this permutation (fastgd.models.training)
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
            elif "needs the full batch" in message:  # L-BFGS
                message += "; give --batch-size full"
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
        table = read_data(args.data, x_key=args.x_key, y_key=None,
                          n_features=len(names) if kind == "svmlight" else None)
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
