"""``fastgd plot``: the pictures of :mod:`fastgd.plot` (losses, trajectories, the
learning-rate effect, benchmark charts)."""

from __future__ import annotations

import json
import os

import fastgd
from fastgd.cli._common import CLIError, _check_writable, _out, _plot_dir, _set_backend
from fastgd.cli.demo import (
    TRAJECTORIES,
    classification_problem,
    compare_optimizers,
    lr_effect,
    regression_problem,
    trajectory_runs,
)

__all__ = ["cmd_plot"]


def _read_histories(paths, column: str) -> dict[str, list]:
    """``{label: values}``: the ``history[column]`` of each JSON file, labelled by its
    ``label`` entry or its name (CLIError naming a file that is not such a history)."""
    curves: dict[str, list] = {}
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            raise CLIError(f"{path}: no such file") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CLIError(f"{path}: not readable JSON ({exc})") from None
        history = data.get("history") if isinstance(data, dict) else None
        if not isinstance(history, dict) or column not in history:
            raise CLIError(f"{path}: no history with a {column!r} column (expected a JSON "
                           f"object with 'history': {{{column!r}: [...], ...}})")
        values = history[column]
        if not isinstance(values, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise CLIError(f"{path}: history[{column!r}] must be a list of numbers")
        label = data.get("label")
        if not isinstance(label, str):
            label = os.path.splitext(os.path.basename(path))[0]
        curves[label] = values
    return curves


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
    curves = _read_histories(args.history_files, args.column) if what == "histories" else {}
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
            elif kind == "histories":
                plot.loss_curves(curves, path, title=f"{args.column} per epoch",
                                 ylabel=args.column, log="loss" in args.column, fmt=fmt)
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
