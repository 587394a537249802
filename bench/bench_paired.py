"""Paired ratios for goals whose two sides are large memory-bound steps.

    pytest bench/bench_paired.py --benchmark-json=bench/results/paired.json
    python bench/report.py bench/results/paired.json

The other suites time each implementation in its own benchmark, seconds or minutes apart.
On the shared 2-core machine the speed of a memory-bound step drifts over such spans (a
1e6-element Adam step of the same build took 0.55 ms in one run and 1.77 ms in another),
which moves these ratios by 2x from run to run. Here each round runs one step of each side
back to back, the order alternating from round to round, and the ratio reported is the
median of the rounds' ratios: a drift hits both sides of a round alike.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

import fastgd
from fastgd import backends as _backend

try:
    import torch
except ImportError:
    torch = None

ALL = os.cpu_count() or 1
ROUNDS = 41
#: case -> (numerator, denominator, element count, threads); a side is a backend name or
#: "torch-fused". The report matches them to its goals.
CASES = {
    "numba/cython-1e6-1": ("numba", "cython", 10**6, 1),
    "cython/torch-fused-1e7-all": ("cython", "torch-fused", 10**7, ALL),
    # the floor of the previous ratio for any kernel with Adam's memory traffic
    "streaming-limit/torch-fused-1e7-all": ("streaming-limit", "torch-fused", 10**7, ALL),
    # bfloat16 parameters (and gradients) against float32 ones, AdamW on the compiled core
    "adamw-bf16/f32-2^24-1": ("adamw-bf16", "adamw-f32", 2**24, 1),
    "adamw-bf16/f32-2^24-all": ("adamw-bf16", "adamw-f32", 2**24, ALL),
    "adamw-bf16-sr/f32-2^24-all": ("adamw-bf16-sr", "adamw-f32", 2**24, ALL),
}


def _side(kind, w, g, threads):
    """One Adam step of ``kind`` on copies of ``w`` and ``g`` (or the streaming kernel's
    pass over p, g, m, v), as a callable."""
    if kind == "streaming-limit":
        core = _backend.load("cython")
        p, grad, m, v = w.copy(), g.copy(), np.zeros_like(w), np.zeros_like(w)

        def step():
            core.set_num_threads(threads)
            core.stream_many([p], [grad], [m], [v])
    elif kind.startswith("adamw-"):  # AdamW on the compiled core, float32 or bfloat16
        import ml_dtypes

        dtype = np.float32 if kind == "adamw-f32" else ml_dtypes.bfloat16
        p, grad = w.astype(dtype), g.astype(dtype)
        core = _backend.load("cython")
        with fastgd.use_backend("cython"):
            opt = fastgd.AdamW([p], lr=1e-3, stochastic_rounding=kind.endswith("-sr"),
                               seed=0)

        def step():
            core.set_num_threads(threads)
            with fastgd.use_backend("cython"):
                opt.step([grad])
    elif kind == "torch-fused":
        tw = torch.from_numpy(w.copy()).requires_grad_()
        tw.grad = torch.from_numpy(g.copy())
        opt = torch.optim.Adam([tw], lr=1e-3, fused=True)

        def step():
            torch.set_num_threads(threads)
            with torch.no_grad():
                opt.step()
    else:
        p, grad = w.copy(), g.copy()
        with fastgd.use_backend(kind):
            opt = fastgd.Adam([p], lr=1e-3)

        def step():
            if "cython" in _backend.available():
                _backend.load("cython").set_num_threads(threads)
            with fastgd.use_backend(kind):
                opt.step([grad])
    step()  # the state, and Numba's compilation
    step()
    return step


@pytest.mark.parametrize("case", list(CASES))
def bench_paired(benchmark, case, arrays, fastgd_threads, torch_threads):
    num, den, n, threads = CASES[case]
    for kind in (num, den):
        if kind == "torch-fused" and torch is None:
            pytest.skip("torch is not installed")
        backend = "cython" if kind == "streaming-limit" or kind.startswith("adamw-") else kind
        if kind != "torch-fused" and backend not in _backend.available():
            pytest.skip(f"the {backend} backend is not installed")
    w, g = arrays([(n,), (n,)], np.float32)
    a, b = _side(num, w, g, threads), _side(den, w, g, threads)
    ratios: list[float] = []
    clock = time.perf_counter

    def pair():
        first, second = (a, b) if len(ratios) % 2 == 0 else (b, a)
        t0 = clock()
        first()
        t1 = clock()
        second()
        t2 = clock()
        ta, tb = (t1 - t0, t2 - t1) if first is a else (t2 - t1, t1 - t0)
        ratios.append(ta / tb)

    benchmark.group = f"paired {case}"
    benchmark.pedantic(pair, rounds=ROUNDS, iterations=1, warmup_rounds=2)
    measured = sorted(ratios[-ROUNDS:])
    benchmark.extra_info.update(
        impl="paired", case=case, n=n, threads=threads,
        ratio=float(np.median(measured)), low=measured[len(measured) // 4],
        high=measured[(3 * len(measured)) // 4])
