"""One optimizer step, fastgd's backends against torch.optim, across parameter counts.

Run: ``pytest bench/ --benchmark-json=bench/results/step.json`` and then
``python bench/report.py bench/results/step.json`` for the table of ratios.
Benchmarks of one group share an optimizer, a parameter count and a dtype; each reports the
median of many rounds after warm-up (Numba compiles during warm-up, not in the timings).
"""

from __future__ import annotations

import numpy as np
import pytest

import fastgd
from fastgd import _backend

SIZES = [10**3, 10**4, 10**5, 10**6]
OPTIMIZERS = {
    "Adam": dict(lr=1e-3),
    "SGD-momentum": dict(lr=1e-3, momentum=0.9),
}
BACKENDS = _backend.available()

try:
    import torch
except ImportError:  # the torch peers are skipped
    torch = None


def _class_and_options(label):
    name = label.split("-")[0]
    return name, OPTIMIZERS[label]


def _rounds(n):
    return max(20, min(2000, 2 * 10**7 // (n * 20)))


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("label", list(OPTIMIZERS))
@pytest.mark.parametrize("backend", BACKENDS)
def bench_fastgd(benchmark, backend, label, n):
    name, options = _class_and_options(label)
    rng = np.random.default_rng(0)
    w = rng.standard_normal(n).astype(np.float32)
    g = rng.standard_normal(n).astype(np.float32)
    with fastgd.use_backend(backend):
        opt = getattr(fastgd, name)([w], **options)
        for _ in range(3):
            opt.step([g])
        benchmark.group = f"{label} float32 n={n}"
        benchmark.extra_info.update(impl=f"fastgd-{backend}", optimizer=label, n=n)
        benchmark.pedantic(opt.step, args=([g],), rounds=_rounds(n), iterations=5,
                           warmup_rounds=2)


@pytest.mark.skipif(torch is None, reason="torch is not installed")
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("label", list(OPTIMIZERS))
@pytest.mark.parametrize("mode", ["for-loop", "foreach", "fused"])
def bench_torch(benchmark, mode, label, n):
    name, options = _class_and_options(label)
    flags = {"for-loop": dict(foreach=False), "foreach": dict(foreach=True),
             "fused": dict(fused=True)}[mode]
    rng = np.random.default_rng(0)
    w = torch.from_numpy(rng.standard_normal(n).astype(np.float32)).requires_grad_()
    w.grad = torch.from_numpy(rng.standard_normal(n).astype(np.float32))
    opt = getattr(torch.optim, name)([w], **options, **flags)
    for _ in range(3):
        opt.step()
    benchmark.group = f"{label} float32 n={n}"
    benchmark.extra_info.update(impl=f"torch-{mode}", optimizer=label, n=n,
                                torch_threads=torch.get_num_threads())
    with torch.no_grad():
        benchmark.pedantic(opt.step, rounds=_rounds(n), iterations=5, warmup_rounds=2)
