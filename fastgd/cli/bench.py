"""``fastgd bench``: the time of one optimizer step on fastgd's backends and, when torch
is installed, torch.optim's for-loop, foreach and fused implementations."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import fastgd
from fastgd import backends as _backends
from fastgd.cli._common import (
    Progress,
    _check_writable,
    _fmt_time,
    _json_safe,
    _out,
    _table,
    _write_text,
)

__all__ = ["cmd_bench"]


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
    backends = _backends.available()
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
