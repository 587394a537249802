"""Paired ratios of the low-bit optimizers (fastgd.AdamW8bit, AdamW4bit) against the
float32 step, and against bitsandbytes' CPU AdamW8bit, plus their state bytes per parameter.

    pytest bench/bench_lowbit.py --benchmark-json=bench/results/lowbit.json
    python bench/report.py bench/results/lowbit.json

As in bench_paired.py, each round runs one step of each side back to back, the order
alternating, and the ratio reported is the median of the rounds' ratios, so that the drift
of a shared machine hits both sides of a round alike. The "bytes" cases record the bytes of
optimizer state per parameter (not a time) under the same report keys.
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np
import pytest

import fastgd
from fastgd import backends as _backend

ALL = os.cpu_count() or 1
ROUNDS = 21
N = 2 ** 24
#: case -> (numerator, denominator, element count, threads[, tensors of that count])
CASES = {
    "adamw8bit/adamw-2^24-all": ("AdamW8bit", "AdamW", N, ALL),
    "adamw8bit/adamw-2^24-1": ("AdamW8bit", "AdamW", N, 1),
    "adamw4bit/adamw-2^24-all": ("AdamW4bit", "AdamW", N, ALL),
    "adamw4bit/adamw-2^24-1": ("AdamW4bit", "AdamW", N, 1),
    "adamw8bit/bnb-adamw8bit-2^24-all": ("AdamW8bit", "bnb-AdamW8bit", N, ALL),
    # a model's worth of small tensors (the low-bit threshold is 4096 elements): the
    # per-tensor cost of a step, not the kernel's speed
    "adamw8bit/adamw-64x4096-1": ("AdamW8bit", "AdamW", 4096, 1, 64),
    "adamw4bit/adamw-64x4096-1": ("AdamW4bit", "AdamW", 4096, 1, 64),
}


def _set_threads(threads):
    if "cython" in _backend.available():
        _backend.load("cython").set_num_threads(threads)


def _side(kind, w, g, threads, tensors=1):
    """One step of ``kind`` on copies of ``w`` and ``g`` (split into ``tensors`` equal
    parameters), as a callable."""
    if kind == "bnb-AdamW8bit":
        import torch
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bnb = pytest.importorskip("bitsandbytes")
        tw = torch.nn.Parameter(torch.from_numpy(w.copy()))
        tw.grad = torch.from_numpy(g.copy())
        opt = bnb.optim.AdamW8bit([tw], lr=1e-3)

        def step():
            torch.set_num_threads(threads)
            opt.step()
    else:
        params = [part.copy() for part in np.split(w, tensors)]
        grads = [part.copy() for part in np.split(g, tensors)]
        opt = getattr(fastgd, kind)(params, lr=1e-3)

        def step():
            _set_threads(threads)
            opt.step(grads)
    step()  # the state
    step()
    return step


@pytest.mark.parametrize("case", list(CASES))
def bench_lowbit(benchmark, case, arrays, fastgd_threads):
    if "cython" not in _backend.available():
        pytest.skip("the compiled backend is not installed")
    num, den, n, threads, *more = CASES[case]
    tensors = more[0] if more else 1
    w, g = arrays([(n * tensors,), (n * tensors,)], np.float32)
    g *= np.float32(1e-3)
    with fastgd.use_backend("cython"):
        a, b = _side(num, w, g, threads, tensors), _side(den, w, g, threads, tensors)
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
        impl="paired", case=case, n=n, tensors=tensors, threads=threads,
        ratio=float(np.median(measured)), low=measured[len(measured) // 4],
        high=measured[(3 * len(measured)) // 4], load_average=os.getloadavg()[0])


@pytest.mark.parametrize("name", ["AdamW8bit", "AdamW4bit"])
def bench_lowbit_state_bytes(benchmark, name):
    """Bytes of optimizer state per parameter for one tensor of 2^20 elements (the
    tensor-size threshold is 4096): codes, block absmax."""
    n = 2 ** 20
    p = np.zeros(n, np.float32)
    opt = getattr(fastgd, name)([p])
    opt.step([np.ones(n, np.float32)])
    per_param = opt.state_bytes() / n
    benchmark.group = f"state bytes {name}"
    benchmark.pedantic(opt.state_bytes, rounds=1, iterations=1)
    case = f"bytes-{name.lower()}"
    benchmark.extra_info.update(impl="paired", case=case, n=n, threads=1, ratio=per_param,
                                low=per_param, high=per_param)
