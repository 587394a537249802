"""A whole model's step: many tensors in one call.

    pytest bench/bench_models.py --benchmark-json=bench/results/models.json

- "200 small tensors": 100 layers of a 64x64 weight and a 64 bias (416,000 parameters);
- "20 large tensors": 10 layers of a 1024x1024 weight and a 1024 bias (10.5 million).
fastgd takes each parameter group in one native call; torch.optim runs its for-loop,
foreach and fused implementations. Same thread count on both sides.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import fastgd
from fastgd import backends as _backend

MODELS = {
    "200 small tensors": [(64, 64), (64,)] * 100,
    "20 large tensors": [(1024, 1024), (1024,)] * 10,
}
THREADS = sorted({1, os.cpu_count() or 1})
OPTIMIZERS = {"Adam": ("Adam", dict(lr=1e-3)),
              "SGD-momentum": ("SGD", dict(lr=1e-3, momentum=0.9))}

try:
    import torch
except ImportError:
    torch = None


def _group(model, label, threads):
    return f"{label} float32 model={model} threads={threads}"


def _info(model, label, threads, impl):
    n = sum(int(np.prod(s)) for s in MODELS[model])
    return dict(impl=impl, optimizer=label, dtype="float32", model=model, n=n,
                tensors=len(MODELS[model]), threads=threads)


@pytest.mark.skipif("cython" not in _backend.available(), reason="needs the compiled core")
@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("label", list(OPTIMIZERS))
@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("layout", ["arrays", "ParamBuffer"])
def bench_fastgd_model(benchmark, layout, model, label, threads, fastgd_threads, arrays,
                       pedantic_settings):
    """The model's parameters as separate arrays, or as the views of one ParamBuffer with
    the optimizer stepping its flat array (one pass; the same bits)."""
    name, options = OPTIMIZERS[label]
    params = arrays(MODELS[model], np.float32)
    grads = arrays(MODELS[model], np.float32, seed=1)
    impl = "fastgd-cython"
    if layout == "ParamBuffer":
        params = [fastgd.ParamBuffer.from_arrays(params).flat]
        grads = [fastgd.ParamBuffer.from_arrays(grads).flat]
        impl = "fastgd-cython-flat"
    fastgd_threads(threads)
    with fastgd.use_backend("cython"):
        opt = getattr(fastgd, name)(params, **options)
        opt.step(grads)
        benchmark.group = _group(model, label, threads)
        benchmark.extra_info.update(_info(model, label, threads, impl))
        n = sum(p.size for p in params)
        benchmark.pedantic(opt.step, args=(grads,), **pedantic_settings(n))


@pytest.mark.skipif(torch is None, reason="torch is not installed")
@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("label", list(OPTIMIZERS))
@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("mode", ["for-loop", "foreach", "fused"])
def bench_torch_model(benchmark, mode, model, label, threads, torch_threads, arrays,
                      pedantic_settings):
    name, options = OPTIMIZERS[label]
    flags = {"for-loop": dict(foreach=False), "foreach": dict(foreach=True),
             "fused": dict(fused=True)}[mode]
    params = [torch.from_numpy(a).requires_grad_() for a in arrays(MODELS[model], np.float32)]
    for p, g in zip(params, arrays(MODELS[model], np.float32, seed=1)):
        p.grad = torch.from_numpy(g)
    torch_threads(threads)
    opt = getattr(torch.optim, name)(params, **options, **flags)
    with torch.no_grad():
        opt.step()
        benchmark.group = _group(model, label, threads)
        benchmark.extra_info.update(_info(model, label, threads, f"torch-{mode}"))
        n = sum(p.numel() for p in params)
        benchmark.pedantic(opt.step, **pedantic_settings(n))
