"""L-BFGS: iterations per second against torch.optim.LBFGS, and the vector operations
against NumPy's BLAS.

    pytest bench/bench_lbfgs.py --benchmark-json=bench/results/lbfgs.json
    python bench/report.py bench/results/lbfgs.json     # the timings; ratios in extra_info

The problem: least squares in 1e5 parameters, ``f(x) = |A x - b|^2 / 2`` with
``A x = [x[1:] - x[:-1], mu x]`` (first differences and a small ridge, ``mu = 0.01``):
condition number about 4e4, so L-BFGS runs every iteration it is given (tolerances 0) and
both sides take the same number of iterations. The closure computes ``A^T (A x - b)`` with
NumPy for fastgd and with torch for torch (the same operations, O(n) each), float64, one
thread each. Before timing, each side runs 100 iterations, so the history (100 pairs) is
full: a timed iteration runs the two-loop recursion over 100 pairs (400 passes over 1e5
elements), the closure once (no line search) or more (strong Wolfe).

Each round runs one step (``max_iter=10``) of each side back to back, alternating which
goes first; the ratio is the median of the rounds' ratios (as bench_paired.py). The
optimizer-only overhead is a step's time less the time spent in its closure, per
iteration, for each side.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import fastgd
from fastgd import backends as _backend

try:
    import torch
except ImportError:
    torch = None

N = 100_000
MU = 0.01
ITERATIONS = 10
WARMUP_ITERATIONS = 100
ROUNDS = 11


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(2 * N - 1), rng.standard_normal(N)


def _numpy_closure(x, b, spent):
    def closure():
        t0 = time.perf_counter()
        r = np.concatenate([np.diff(x), MU * x]) - b
        g = MU * r[N - 1:]
        g[:-1] -= r[:N - 1]
        g[1:] += r[:N - 1]
        loss = 0.5 * float(r @ r)
        spent[0] += time.perf_counter() - t0
        return loss, [g]
    return closure


def _torch_closure(x, b, opt, spent):
    def closure():
        t0 = time.perf_counter()
        with torch.no_grad():
            r = torch.cat([x[1:] - x[:-1], MU * x]) - b
            g = MU * r[N - 1:]
            g[:-1] -= r[:N - 1]
            g[1:] += r[:N - 1]
            x.grad = g
            loss = 0.5 * torch.dot(r, r)
        spent[0] += time.perf_counter() - t0
        return loss
    return closure


def _sides(line_search):
    b, x0 = _problem()
    options = dict(lr=1.0, max_iter=ITERATIONS, max_eval=10 * ITERATIONS, tolerance_grad=0.0,
                   tolerance_change=0.0, history_size=100, line_search_fn=line_search)
    x = x0.copy()
    opt = fastgd.LBFGS([x], **options)
    spent_f = [0.0]
    closure = _numpy_closure(x, b, spent_f)
    tx = torch.tensor(x0, requires_grad=True)
    topt = torch.optim.LBFGS([tx], **options)
    spent_t = [0.0]
    tclosure = _torch_closure(tx, torch.tensor(b), topt, spent_t)
    for _ in range(WARMUP_ITERATIONS // ITERATIONS):
        opt.step(closure)
        topt.step(tclosure)
    return ((lambda: opt.step(closure), lambda: opt.state[0]["n_iter"], spent_f),
            (lambda: topt.step(tclosure), lambda: topt.state[tx]["n_iter"], spent_t))


@pytest.mark.parametrize("line_search", [None, "strong_wolfe"], ids=["fixed-step", "wolfe"])
def bench_lbfgs_vs_torch(benchmark, line_search, fastgd_threads, one_blas_thread):
    if torch is None:
        pytest.skip("torch is not installed")
    if "cython" not in _backend.available():
        pytest.skip("the compiled backend is not installed")
    fastgd_threads(1)
    torch.set_num_threads(1)
    sides = _sides(line_search)
    clock = time.perf_counter
    rows: list[tuple] = []

    def pair():
        runs: list = [None, None]
        for k in ((0, 1) if len(rows) % 2 == 0 else (1, 0)):  # alternate who goes first
            run, n_iter, spent = sides[k]
            iterations, spent[0] = n_iter(), 0.0
            t0 = clock()
            run()
            runs[k] = (clock() - t0, spent[0], n_iter() - iterations)
        (tf, cf, nf), (tt, ct, nt) = runs
        rows.append((tf, tt, cf, ct, nf, nt))

    with fastgd.use_backend("cython"):
        benchmark.group = f"lbfgs 1e5 {line_search or 'fixed-step'}"
        benchmark.pedantic(pair, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    tf, tt, cf, ct, nf, nt = (np.array(c) for c in zip(*rows[-ROUNDS:]))
    assert (nf == ITERATIONS).all() and (nt == ITERATIONS).all(), (nf, nt)
    ratio = np.sort(tf / tt)
    benchmark.extra_info.update(
        impl="lbfgs-paired", n=N, history=100, iterations_per_step=ITERATIONS,
        line_search=line_search or "none",
        ratio=float(np.median(ratio)), low=float(ratio[len(ratio) // 4]),
        high=float(ratio[3 * len(ratio) // 4]),
        fastgd_iterations_per_s=float(ITERATIONS / np.median(tf)),
        torch_iterations_per_s=float(ITERATIONS / np.median(tt)),
        fastgd_optimizer_ms_per_iteration=float(np.median(tf - cf) / ITERATIONS * 1e3),
        torch_optimizer_ms_per_iteration=float(np.median(tt - ct) / ITERATIONS * 1e3),
        fastgd_closure_ms_per_step=float(np.median(cf) * 1e3),
        torch_closure_ms_per_step=float(np.median(ct) * 1e3),
        optimizer_only_ratio=float(np.median(tf - cf) / np.median(tt - ct)))


# -- the vector operations: compiled (fixed eight-lane order) against NumPy's BLAS -------

def _two_loop_blas(d, g, dirs, stps, ro, h, al):
    """The two-loop recursion with NumPy's BLAS dot and in-place NumPy axpys."""
    np.negative(g, out=d)
    for i in range(len(dirs) - 1, -1, -1):
        al[i] = float(np.dot(stps[i], d)) * ro[i]
        d -= al[i] * dirs[i]
    d *= h
    for i in range(len(dirs)):
        d += (al[i] - float(np.dot(dirs[i], d)) * ro[i]) * stps[i]


OPS = ["dot-compiled", "dot-numpy-blas", "axpy-compiled", "axpy-numpy", "axpy-scipy-blas",
       "two-loop-compiled", "two-loop-numpy-blas"]


@pytest.fixture
def one_blas_thread():
    """NumPy's and SciPy's BLAS on one thread, as the compiled core's L-BFGS loops."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        yield


@pytest.mark.parametrize("op", OPS)
def bench_lbfgs_vector_op(benchmark, op, fastgd_threads, one_blas_thread):
    if "cython" not in _backend.available():
        pytest.skip("the compiled backend is not installed")
    fastgd_threads(1)
    core = _backend.load("cython")
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal(N), rng.standard_normal(N)
    m = 100
    dirs = [rng.standard_normal(N) for _ in range(m)]
    stps = [rng.standard_normal(N) * 1e-3 for _ in range(m)]
    ro = [1e-3] * m
    d, al = np.empty(N), np.empty(m)
    if op == "dot-compiled":
        fn = lambda: core.lbfgs_dot(x, y)  # noqa: E731
    elif op == "dot-numpy-blas":
        fn = lambda: float(np.dot(x, y))  # noqa: E731
    elif op == "axpy-compiled":
        fn = lambda: core.lbfgs_axpy(y, 1e-9, x)  # noqa: E731
    elif op == "axpy-numpy":
        def fn():
            y.__iadd__(1e-9 * x)
    elif op == "axpy-scipy-blas":
        blas = pytest.importorskip("scipy.linalg.blas")
        fn = lambda: blas.daxpy(x, y, a=1e-9)  # noqa: E731  (in place on y)
    elif op == "two-loop-compiled":
        fn = lambda: core.lbfgs_two_loop(d, x, dirs, stps, ro, 0.5, al)  # noqa: E731
    else:
        fn = lambda: _two_loop_blas(d, x, dirs, stps, ro, 0.5, al)  # noqa: E731
    benchmark.group = f"lbfgs vector {op.split('-')[0]}"
    benchmark.extra_info.update(impl=op, n=N)
    rounds = 15 if op.startswith("two-loop") else 200
    benchmark.pedantic(fn, rounds=rounds, iterations=1 if op.startswith("two") else 20,
                       warmup_rounds=2)
