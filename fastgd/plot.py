"""Pictures of gradient descent, drawn with matplotlib (``pip install "fastgd[plot]"``).

Every function draws one figure and writes it to ``path`` (PNG, or SVG with
``fmt="svg"``; without ``fmt`` the file's suffix decides, PNG when it has none). The
figures are built as :class:`matplotlib.figure.Figure` objects on the Agg canvas (SVG files
are written by matplotlib's SVG canvas): pyplot and its global backend are never touched,
so the functions work in a script, a notebook or a server alike.

- :func:`loss_curves`: the loss per epoch (or step) of several runs on one problem.
- :func:`trajectories`: optimizer paths over the contour plot of a 2-D test function of
  :mod:`fastgd.functions` (the "ball rolling downhill").
- :func:`lr_effect`: the learning-rate effect, loss curves of a too-small, a good and a
  too-large learning rate beside their steps on the parabola ``f(w) = w^2``.
- :func:`bench_chart`: time per parameter against the parameter count from benchmark JSON
  (``fastgd bench --json`` or the pytest-benchmark files of ``bench/``), one line per
  implementation; :func:`bench_times` reads such JSON.

matplotlib is imported on the first call only; without it the functions raise ImportError
with the install command (:data:`MISSING`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["MISSING", "FORMATS", "IMPL_ORDER", "loss_curves", "trajectories", "lr_effect",
           "bench_chart", "bench_times", "figure_format"]

#: The message of the ImportError raised when matplotlib is not installed.
MISSING = 'matplotlib is not installed: pip install "fastgd[plot]" (or pip install matplotlib)'
#: The file formats the functions write.
FORMATS = ("png", "svg")
#: Order (and colours) of the implementations in :func:`bench_chart`.
IMPL_ORDER = ["fastgd-cython", "fastgd-cython-flat", "fastgd-numba", "fastgd-numpy",
              "torch-for-loop", "torch-foreach", "torch-fused", "streaming-limit"]


def _figure(**kwargs):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(MISSING) from exc
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)   # the Agg canvas draws it (savefig picks the SVG one for .svg)
    return fig


def figure_format(path: str | os.PathLike, fmt: str | None = None) -> str:
    """The format a figure written to ``path`` gets: ``fmt`` if given, else the suffix of
    ``path`` (``.png``, ``.svg``), else ``"png"``. ValueError for another format, or for a
    suffix that contradicts ``fmt``."""
    suffix = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    if fmt is not None:
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        if suffix in FORMATS and suffix != fmt:
            raise ValueError(f"{os.fspath(path)!r} has the suffix .{suffix} but the format "
                             f"is {fmt}")
        return fmt
    if suffix in FORMATS:
        return suffix
    if suffix:
        raise ValueError(f"cannot write a figure as .{suffix} ({os.fspath(path)!r}); use "
                         f".png or .svg")
    return "png"


def _save(fig, path, fmt) -> str:
    fmt = figure_format(path, fmt)
    fig.savefig(os.fspath(path), format=fmt, dpi=110)
    return fmt


def loss_curves(curves: Mapping[str, Sequence[float]], path: str | os.PathLike, *,
                title: str = "loss per epoch", xlabel: str = "epoch",
                ylabel: str = "loss", log: bool = True, fmt: str | None = None) -> str:
    """One line per run: ``curves`` maps a label to its losses (the first at x = 1).
    Non-finite values end a line. ``log``: logarithmic loss axis (when every value is
    positive). Returns the format written."""
    fig = _figure(figsize=(7.5, 4.8))
    ax = fig.subplots()
    positive = True
    for label, values in curves.items():
        v = np.asarray(values, dtype=np.float64)
        finite = np.isfinite(v)
        end = int(np.argmin(finite)) if not finite.all() else v.size
        v = v[:end]
        positive = positive and bool(np.all(v > 0))
        ax.plot(np.arange(1, v.size + 1), v, label=label, linewidth=1.6)
    if log and positive:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return _save(fig, path, fmt)


def trajectories(function: Any, paths: Mapping[str, np.ndarray], path: str | os.PathLike, *,
                 bounds: tuple[float, float, float, float] | None = None,
                 title: str | None = None, fmt: str | None = None) -> str:
    """The contour plot of a 2-D ``function`` (a :class:`fastgd.functions.TestFunction`)
    with each optimizer's iterates drawn over it: ``paths`` maps a label to an array of
    shape ``(steps + 1, 2)`` (the start first). ``bounds`` = (xmin, xmax, ymin, ymax), by
    default the box around the paths, the start and the minima. The start is a black dot,
    each path's end a dot of its colour (a path that ends outside the box says so in the
    legend), the known minima white stars. The contours are those of ``function.f`` on a
    240 x 240 grid (logarithmically spaced levels of ``f - minimum`` when the function has
    a minimum). Returns the format written."""
    points = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in paths.values()]
    if bounds is None:
        everything = np.vstack(points + [np.asarray(function.x0, dtype=np.float64)[None, :]]
                               + ([np.asarray(function.minima)] if len(function.minima)
                                  else []))
        everything = everything[np.all(np.isfinite(everything), axis=1)]
        lo, hi = everything.min(axis=0), everything.max(axis=0)
        pad = np.maximum(0.15 * (hi - lo), 0.5)
        bounds = (lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1])
    xmin, xmax, ymin, ymax = bounds
    gx, gy = np.meshgrid(np.linspace(xmin, xmax, 240), np.linspace(ymin, ymax, 240))
    z = np.array([[function.f(np.array([a, b])) for a, b in zip(ra, rb)]
                  for ra, rb in zip(gx, gy)])
    fig = _figure(figsize=(7.5, 6.0))
    ax = fig.subplots()
    if function.minimum is not None and np.all(z >= function.minimum):
        # f - f_min spans decades: logarithmically spaced levels show the valleys
        shifted = z - function.minimum
        lo = max(float(np.percentile(shifted, 0.5)), 1e-3)
        levels = np.geomspace(lo, float(shifted.max()), 25)
        ax.contourf(gx, gy, shifted, levels=levels, cmap="viridis", alpha=0.55,
                    norm=_log_norm(levels), extend="both")
        ax.contour(gx, gy, shifted, levels=levels, colors="k", linewidths=0.3, alpha=0.5)
    else:
        ax.contourf(gx, gy, z, levels=30, cmap="viridis", alpha=0.55)
        ax.contour(gx, gy, z, levels=30, colors="k", linewidths=0.3, alpha=0.5)
    for (label, _), p in zip(paths.items(), points):
        finite = np.all(np.isfinite(p), axis=1)
        p = p[:int(np.argmin(finite)) if not finite.all() else p.shape[0]]
        end = p[-1]
        inside = xmin <= end[0] <= xmax and ymin <= end[1] <= ymax
        # the axes clip the path where it leaves the box; the end is marked when visible
        line, = ax.plot(p[:, 0], p[:, 1], linewidth=1.4,
                        label=label if inside else f"{label} (ends outside)")
        if inside:
            ax.plot(end[0], end[1], marker="o", color=line.get_color(), markersize=6,
                    markeredgecolor="k")
    x0 = np.asarray(function.x0, dtype=np.float64)
    ax.plot(x0[0], x0[1], "ko", markersize=6, label="start")
    if len(function.minima):
        m = np.asarray(function.minima)
        ax.plot(m[:, 0], m[:, 1], "w*", markersize=13, markeredgecolor="k", label="minimum")
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title or f"{function.name}: gradient descent paths")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return _save(fig, path, fmt)


def _log_norm(levels):
    from matplotlib.colors import LogNorm
    return LogNorm(vmin=levels[0], vmax=levels[-1])


def lr_effect(curves: Mapping[str, tuple[Sequence[float], str]], path: str | os.PathLike, *,
              parabola_lrs: Sequence[float] = (0.05, 0.45, 1.05), steps: int = 12,
              title: str = "the learning rate", fmt: str | None = None) -> str:
    """Two panels. Left: ``curves`` maps a label to (losses per epoch, status), drawn on a
    logarithmic loss axis; a run whose status is ``"diverged"`` ends with a cross. Right:
    ``steps`` steps of plain gradient descent ``w <- w - lr * 2w`` on ``f(w) = w^2`` from
    ``w = 1`` for each of ``parabola_lrs`` (below 1: it converges; above 1: every step
    overshoots further). Returns the format written."""
    fig = _figure(figsize=(12.0, 4.6))
    left, right = fig.subplots(1, 2)
    finite = {label: np.asarray(values, dtype=np.float64)
              for label, (values, _) in curves.items()}
    finite = {label: v[:int(np.argmin(np.isfinite(v))) if not np.isfinite(v).all()
                       else v.size] for label, v in finite.items()}
    starts = [v[0] for v in finite.values() if v.size]
    lows = [v[v > 0].min() for v in finite.values() if np.any(v > 0)]
    # a diverging run's loss climbs towards 1e308: show it up to 100x the starting loss
    top = 100.0 * max(starts) if starts else 1.0
    bottom = 0.5 * min(lows) if lows else 1e-3
    for label, (_, status) in curves.items():
        v = finite[label]
        above = v > top
        if above.any():
            v = np.minimum(v[:int(np.argmax(above)) + 1], top)
        line, = left.plot(np.arange(1, v.size + 1), v, linewidth=1.6,
                          label=f"{label}: {status}")
        if status == "diverged" and v.size:
            left.plot(v.size, v[-1], "x", color=line.get_color(), markersize=10,
                      markeredgewidth=2)
    left.set_ylim(bottom, top * 1.5)
    left.set_yscale("log")
    left.set_xlabel("epoch")
    left.set_ylabel("loss")
    left.set_title(f"{title}: loss per epoch")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8)
    w = np.linspace(-2.2, 2.2, 200)
    right.plot(w, w * w, color="0.3", linewidth=1.2)
    for lr in parabola_lrs:
        path_w = [1.0]
        for _ in range(steps):
            path_w.append(path_w[-1] - lr * 2 * path_w[-1])
        ws = np.array(path_w)
        keep = np.abs(ws) <= 2.2
        ws = ws[:int(np.argmin(keep)) if not keep.all() else ws.size]
        kind = "converges slowly" if lr < 0.25 else "converges" if lr < 1 else "diverges"
        right.plot(ws, ws * ws, marker="o", markersize=4, linewidth=1.0,
                   label=f"lr = {lr:g}: {kind}")
    right.set_xlabel("w")
    right.set_ylabel("f(w) = w^2")
    right.set_title("steps w <- w - lr * f'(w) from w = 1 (diverges for lr > 1)")
    right.set_ylim(-0.2, 5.0)
    right.grid(True, alpha=0.3)
    right.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path, fmt)


# ---------------------------------------------------------------- benchmarks

def bench_times(data: Mapping[str, Any]) -> dict[tuple, float]:
    """``{(impl, optimizer, dtype, size, threads): median seconds}`` from benchmark JSON:
    ``fastgd bench --json`` output or a pytest-benchmark file of ``bench/`` (both list
    ``benchmarks`` with ``extra_info`` naming the case and ``stats.median``); ``size`` is
    the element count, or the model's name for whole-model benchmarks. Entries without
    those fields (other measurements) are skipped. ValueError if there is no list of
    benchmarks."""
    benchmarks = data.get("benchmarks") if isinstance(data, Mapping) else None
    if not isinstance(benchmarks, list):
        raise ValueError("not benchmark JSON: no list 'benchmarks' (expected the output of "
                         "'fastgd bench --json' or pytest-benchmark's --benchmark-json)")
    times = {}
    for bench in benchmarks:
        try:
            info = bench["extra_info"]
            size = info.get("model", info.get("n"))
            key = (info["impl"], info["optimizer"], info["dtype"], size, info["threads"])
            times[key] = float(bench["stats"]["median"])
        except (KeyError, TypeError, ValueError):
            continue
    return times


def bench_chart(times: Mapping[tuple, float], path: str | os.PathLike, *,
                optimizer: str = "Adam", dtype: str = "float32",
                fmt: str | None = None) -> str:
    """Time per parameter (ns, median) against the parameter count for ``optimizer`` and
    ``dtype``, one line per implementation (:data:`IMPL_ORDER`, then any other), one
    panel per thread count, both axes logarithmic. ``times`` is :func:`bench_times`'s
    dict. ValueError when it has no timing of ``optimizer``/``dtype`` on arrays of a
    given size. Returns the format written."""
    rows = {k: t for k, t in times.items()
            if k[1] == optimizer and k[2] == dtype and isinstance(k[3], int)}
    if not rows:
        have = sorted({f"{k[1]} {k[2]}" for k in times})
        raise ValueError(f"no {optimizer} {dtype} timings in the benchmark data "
                         f"(it has: {', '.join(have) or 'none'})")
    impls = [i for i in IMPL_ORDER if any(k[0] == i for k in rows)]
    impls += sorted({k[0] for k in rows} - set(impls))
    thread_counts = sorted({k[4] for k in rows})
    fig = _figure(figsize=(6 * len(thread_counts), 4.5))
    axes = fig.subplots(1, len(thread_counts), sharey=True, squeeze=False)[0]
    for ax, threads in zip(axes, thread_counts):
        for index, impl in enumerate(impls):
            points = sorted((k[3], t) for k, t in rows.items()
                            if k[0] == impl and k[4] == threads)
            if points:
                ax.plot([n for n, _ in points], [t / n * 1e9 for n, t in points],
                        marker="o", label=impl, color=f"C{index % 10}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("parameters")
        ax.set_title(f"{optimizer} {dtype} step, {threads} thread(s)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("ns per parameter (median)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path, fmt)
