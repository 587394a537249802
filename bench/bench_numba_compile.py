"""Numba's compile time, reported apart from the step timings (which warm up first).

    pytest bench/bench_numba_compile.py --benchmark-json=bench/results/numba.json

Each round starts a fresh Python process that imports fastgd on the Numba backend and
times its first Adam step twice over: with an empty Numba cache (the code is compiled)
and again with the cache that run filled (the code is loaded). The timings of interest are
in ``extra_info`` (``first_step_cold_s``, ``first_step_cached_s``, ``second_step_s``); the
benchmark's own time is the whole subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import pytest

from fastgd import backends as _backend

PROBE = r"""
import json, time, numpy as np
import fastgd
w, g = np.zeros(1000, np.float32), np.ones(1000, np.float32)
opt = fastgd.Adam([w], lr=1e-3)
t0 = time.perf_counter(); opt.step([g]); t1 = time.perf_counter(); opt.step([g])
t2 = time.perf_counter()
print(json.dumps({"first": t1 - t0, "second": t2 - t1}))
"""


def _first_steps(cache_dir: str) -> dict:
    env = dict(os.environ, FASTGD_BACKEND="numba", NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                         text=True, check=True, timeout=300, cwd=tempfile.gettempdir())
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif("numba" not in _backend.available(), reason="numba is not installed")
def bench_numba_first_step(benchmark):
    results = {}

    def cold_then_cached():
        with tempfile.TemporaryDirectory() as cache:
            results["cold"] = _first_steps(cache)
            results["cached"] = _first_steps(cache)

    benchmark.pedantic(cold_then_cached, rounds=3, iterations=1)
    benchmark.group = "numba compile"
    benchmark.extra_info.update(
        impl="fastgd-numba", optimizer="Adam first step", dtype="float32", n=1000, threads=1,
        first_step_cold_s=results["cold"]["first"],
        first_step_cached_s=results["cached"]["first"],
        second_step_s=results["cached"]["second"])
