"""One optimizer step on one array: fastgd's backends, torch.optim and the streaming limit.

    pytest bench/bench_step.py --benchmark-json=bench/results/step.json
    python bench/report.py bench/results/step.json

Groups: optimizer × dtype × parameter count × threads. In each group: fastgd on each
backend (the compiled one at 1 thread and at all cores; Numba and NumPy run on one),
torch.optim's for-loop, foreach and fused implementations at the same thread count, and the
streaming limit (a kernel with Adam's memory traffic and trivial arithmetic). Numba
compiles during the warm-up rounds, never in the timings.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import fastgd
from fastgd import backends as _backend
from fastgd.optim import registry

SIZES = [10**2, 10**3, 10**4, 10**5, 10**6, 10**7]
DTYPES = {"float32": np.float32, "float64": np.float64}
THREADS = sorted({1, os.cpu_count() or 1})
#: Benchmarked optimizers: label -> (class name, options). Lion joins when it exists.
OPTIMIZERS = {
    "SGD-momentum": ("SGD", dict(lr=1e-3, momentum=0.9)),
    "Adam": ("Adam", dict(lr=1e-3)),
    "AdamW": ("AdamW", dict(lr=1e-3)),
    "RMSprop": ("RMSprop", dict(lr=1e-3)),
    "Adagrad": ("Adagrad", dict(lr=1e-3)),
}
if "Lion" in registry.OPTIMIZERS:
    OPTIMIZERS["Lion"] = ("Lion", dict(lr=1e-4))

try:
    import torch
except ImportError:
    torch = None

BACKEND_RUNS = [(b, t) for b in _backend.available()
                for t in (THREADS if b == "cython" else [1])]


def _group(label, dtype, n, threads):
    return f"{label} {dtype} n={n:.0e} threads={threads}"


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("label", list(OPTIMIZERS))
@pytest.mark.parametrize("backend", sorted({b for b, _ in BACKEND_RUNS}))
def bench_fastgd(benchmark, backend, label, dtype, n, threads, fastgd_threads, arrays,
                 pedantic_settings):
    if (backend, threads) not in BACKEND_RUNS:
        pytest.skip(f"the {backend} backend runs on one thread")
    name, options = OPTIMIZERS[label]
    w, g = arrays([(n,), (n,)], DTYPES[dtype])
    fastgd_threads(threads)
    with fastgd.use_backend(backend):
        opt = getattr(fastgd, name)([w], **options)
        opt.step([g])  # creates the state (and compiles, for Numba)
        benchmark.group = _group(label, dtype, n, threads)
        benchmark.extra_info.update(impl=f"fastgd-{backend}", optimizer=label, dtype=dtype,
                                    n=n, threads=threads)
        benchmark.pedantic(opt.step, args=([g],), **pedantic_settings(n))


@pytest.mark.skipif(torch is None, reason="torch is not installed")
@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("label", list(OPTIMIZERS))
@pytest.mark.parametrize("mode", ["for-loop", "foreach", "fused"])
def bench_torch(benchmark, mode, label, dtype, n, threads, torch_threads, arrays,
                pedantic_settings):
    name, options = OPTIMIZERS[label]
    if not hasattr(torch.optim, name):
        pytest.skip(f"torch.optim has no {name}")
    if mode == "fused" and name not in ("SGD", "Adam", "AdamW", "Adagrad"):
        pytest.skip(f"torch.optim.{name} has no fused implementation")
    flags = {"for-loop": dict(foreach=False), "foreach": dict(foreach=True),
             "fused": dict(fused=True)}[mode]
    w, g = arrays([(n,), (n,)], DTYPES[dtype])
    torch_threads(threads)
    tw = torch.from_numpy(w).requires_grad_()
    tw.grad = torch.from_numpy(g)
    opt = getattr(torch.optim, name)([tw], **options, **flags)
    with torch.no_grad():
        opt.step()
        benchmark.group = _group(label, dtype, n, threads)
        benchmark.extra_info.update(impl=f"torch-{mode}", optimizer=label, dtype=dtype, n=n,
                                    threads=threads)
        benchmark.pedantic(opt.step, **pedantic_settings(n))


@pytest.mark.skipif("cython" not in _backend.available(), reason="needs the compiled core")
@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", list(DTYPES))
def bench_streaming_limit(benchmark, dtype, n, threads, fastgd_threads, arrays,
                          pedantic_settings):
    """Read p, g, m, v and write p, m, v with one addition each: Adam's memory traffic."""
    core = _backend.load("cython")
    p, g, m, v = arrays([(n,)] * 4, DTYPES[dtype])
    fastgd_threads(threads)
    benchmark.group = _group("Adam", dtype, n, threads)
    benchmark.extra_info.update(impl="streaming-limit", optimizer="Adam", dtype=dtype, n=n,
                                threads=threads)
    benchmark.pedantic(core.stream_many, args=([p], [g], [m], [v]), **pedantic_settings(n))
