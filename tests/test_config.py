"""Threads and instruction sets of the compiled core; show_config."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import fastgd
from fastgd import backends, kernels, reference

core = pytest.importorskip("fastgd.backends._core")
needs_openmp = pytest.mark.skipif(not core.OPENMP, reason="built without OpenMP")


@pytest.fixture
def restore_threads():
    before = core.thread_override()
    yield
    core.set_num_threads(before)


@needs_openmp
def test_set_and_get_num_threads(restore_threads):
    fastgd.set_num_threads(3)
    assert fastgd.get_num_threads() == 3 and core.thread_override() == 3
    fastgd.set_num_threads(1)
    assert fastgd.get_num_threads() == 1


@pytest.mark.parametrize("bad,error", [(0, ValueError), (-2, ValueError), (1.5, TypeError),
                                       ("2", TypeError), (True, TypeError)])
def test_set_num_threads_rejects(bad, error, restore_threads):
    with pytest.raises(error, match="n must be"):
        fastgd.set_num_threads(bad)


@needs_openmp
def test_threadpoolctl_limits_the_core(restore_threads):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    core.set_num_threads(0)  # no fastgd setting: OpenMP's own decides
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert fastgd.get_num_threads() == 1
    if os.cpu_count() > 1:
        with threadpoolctl.threadpool_limits(limits=2, user_api="openmp"):
            assert fastgd.get_num_threads() == 2


def _python(code, **env):
    full = {k: v for k, v in os.environ.items()
            if k not in ("FASTGD_ISA", "FASTGD_NUM_THREADS", "FASTGD_BACKEND",
                         "FASTGD_PARALLEL_MIN", "OMP_WAIT_POLICY")}
    full.update(env)
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True,
                          text=True, timeout=120, cwd="/")


@needs_openmp
def test_environment_sets_threads_and_isa():
    out = _python("import fastgd.backends._core as c; print(c.get_num_threads(), c.isa())",
                  FASTGD_NUM_THREADS="3", FASTGD_ISA="baseline")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3", "baseline"]


@pytest.mark.parametrize("env,expected", [
    ({}, core.PARALLEL_MIN),
    ({"OMP_WAIT_POLICY": "passive"}, core.PARALLEL_MIN_PASSIVE),
    ({"OMP_WAIT_POLICY": "ACTIVE"}, core.PARALLEL_MIN),
    ({"OMP_WAIT_POLICY": "PASSIVE", "FASTGD_PARALLEL_MIN": "4096"}, 4096),
])
def test_threading_threshold_follows_the_wait_policy(env, expected):
    out = _python("import fastgd; print(fastgd.get_parallel_min())", **env)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == expected
    assert core.PARALLEL_MIN == 1 << 15 and core.PARALLEL_MIN_PASSIVE == 1 << 20


@pytest.fixture
def restore_parallel_min():
    before = fastgd.get_parallel_min()
    yield
    fastgd.set_parallel_min(before)


@pytest.mark.parametrize("bad,error", [(0, ValueError), (-1, ValueError), (2.0, TypeError),
                                       ("64", TypeError), (False, TypeError)])
def test_set_parallel_min_rejects(bad, error, restore_parallel_min):
    before = fastgd.get_parallel_min()
    with pytest.raises(error, match="n must be"):
        fastgd.set_parallel_min(bad)
    assert fastgd.get_parallel_min() == before


@needs_openmp
def test_any_threshold_gives_the_same_bits(restore_parallel_min, restore_threads):
    rng = np.random.default_rng(5)
    p0, g = rng.standard_normal(5003), rng.standard_normal(5003)
    results = []
    for threads, smallest in [(1, 1 << 15), (2, 1), (2, 64), (2, 1 << 30)]:
        fastgd.set_num_threads(threads)
        fastgd.set_parallel_min(smallest)
        assert fastgd.get_parallel_min() == smallest
        p = p0.copy()
        with fastgd.use_backend("cython"):
            opt = fastgd.Adam([p], lr=0.1, weight_decay=0.1)
            for _ in range(3):
                opt.step([g])
        results.append(p)
    for p in results[1:]:
        np.testing.assert_array_equal(p, results[0])


@pytest.mark.parametrize("env,message", [
    ({"FASTGD_NUM_THREADS": "many"}, "FASTGD_NUM_THREADS must be a whole number"),
    ({"FASTGD_NUM_THREADS": "0"}, "FASTGD_NUM_THREADS must be >= 1"),
    ({"FASTGD_PARALLEL_MIN": "big"}, "FASTGD_PARALLEL_MIN must be a whole number"),
    ({"FASTGD_PARALLEL_MIN": "-3"}, "FASTGD_PARALLEL_MIN must be >= 1"),
    ({"FASTGD_ISA": "sse9"}, "unknown instruction set 'sse9'"),
])
def test_bad_environment_fails_loudly(env, message):
    out = _python("import fastgd", **env)
    assert out.returncode != 0 and message in out.stderr


@pytest.mark.skipif(not os.path.exists("/proc/cpuinfo"), reason="needs /proc/cpuinfo")
def test_isa_detection_agrees_with_the_cpu_flags():
    flags = set()
    for line in open("/proc/cpuinfo"):
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    isas = core.isas()
    if "avx2" in isas:  # built for x86-64
        assert isas["avx2"] == ("avx2" in flags)
        assert isas["avx512"] == ("avx512f" in flags)


def test_default_isa_is_the_widest_supported():
    out = _python("import fastgd.backends._core as c; print(c.isa(), c.best_isa())")
    isa, best = out.stdout.split()
    assert isa == best and core.isas()[best]
    assert list(core.isas())[0] == "baseline" and core.isas()["baseline"]


def test_set_isa_errors():
    with pytest.raises(ValueError, match="unknown instruction set"):
        core.set_isa("neon9")
    unsupported = [name for name, ok in core.isas().items() if not ok]
    for name in unsupported:
        with pytest.raises(ValueError, match="cannot run"):
            core.set_isa(name)


def test_results_do_not_depend_on_isa_or_threads(restore_threads):
    rng = np.random.default_rng(5)
    n = (1 << 16) + 7
    p0, g = rng.standard_normal(n), rng.standard_normal(n)
    runs = {}
    before = core.isa()
    try:
        with fastgd.use_backend("cython"):
            for isa, ok in core.isas().items():
                if not ok:
                    continue
                core.set_isa(isa)
                for threads in (1, 2):
                    fastgd.set_num_threads(threads)
                    p, m, v = p0.copy(), np.zeros(n), np.zeros(n)
                    for step in range(1, 4):
                        bc1, bc2 = reference.bias_corrections(0.9, 0.999, step)
                        kernels.adam(p, g, m, v, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8,
                                     bias_correction1=bc1, bias_correction2_sqrt=bc2)
                    runs[(isa, threads)] = p
    finally:
        core.set_isa(before)
    first = next(iter(runs.values()))
    for key, p in runs.items():
        np.testing.assert_array_equal(p, first, err_msg=str(key))


def test_show_config(capsys):
    fastgd.show_config()
    out = capsys.readouterr().out
    assert f"active backend:   {fastgd.backend()}" in out
    assert f"instruction set:  {core.isa()}" in out and "OpenMP" in out
    info = fastgd.config()
    assert info["compiled_core"]["isa"] == core.isa()
    assert info["backend"] == backends.backend()


@pytest.mark.skipif(core.OPENMP, reason="built with OpenMP")
def test_without_openmp_everything_runs_on_one_thread(restore_threads):
    fastgd.set_num_threads(4)
    assert fastgd.get_num_threads() == 1
