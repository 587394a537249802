"""Muon and SparseAdam against torch.optim, as paired ratios (see bench_paired.py).

    pytest bench/bench_muon_sparseadam.py --benchmark-json=bench/results/muon_sparseadam.json

Each round runs one step of each side back to back (the order alternating), and the ratio
reported in ``extra_info`` is the median of the rounds' ratios (below 1: fastgd faster):

- Muon, a step of one 1024 x 1024 float32 parameter: fastgd with the bfloat16 iteration
  (the default: float32 products rounded to bfloat16), fastgd with the float32 iteration,
  against torch.optim.Muon (bfloat16 products: on CPUs with AMX-BF16 or AVX512-BF16,
  oneDNN's native bfloat16 matrix products).
- The Newton-Schulz iteration alone on NumPy's matmul against the same iteration on
  scipy.linalg.blas (sgemm with its alpha and beta fusing each ``b A + c A A``, ssyrk for
  ``X X^T``): the choice of NumPy's matmul for fastgd.
- SparseAdam, a step touching 1% of the rows (10^4 distinct rows in random order) of a
  10^6 x 16 float32 embedding table, on each backend against torch.optim.SparseAdam with
  the same gradient as a sparse COO tensor.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import fastgd
from fastgd import backends as _backend
from fastgd.reference import newton_schulz, round_to_bfloat16

try:
    import torch
except ImportError:
    torch = None

MUON_ROUNDS = 9
SPARSE_ROUNDS = 41
MUON_SHAPE = (1024, 1024)
ROWS, WIDTH, TOUCHED = 10**6, 16, 10**4


def _paired(benchmark, a, b, rounds, **info):
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

    benchmark.pedantic(pair, rounds=rounds, iterations=1, warmup_rounds=1)
    measured = sorted(ratios[-rounds:])
    benchmark.extra_info.update(
        impl="paired", ratio=float(np.median(measured)), low=measured[len(measured) // 4],
        high=measured[(3 * len(measured)) // 4], **info)


def _muon_side(kind, w, g):
    if kind == "torch":
        tw = torch.from_numpy(w.copy()).requires_grad_()
        tw.grad = torch.from_numpy(g.copy())
        opt = torch.optim.Muon([tw], lr=0.02)

        def step():
            with torch.no_grad():
                opt.step()
    else:
        p = w.copy()
        opt = fastgd.Muon([p], lr=0.02, ns_dtype=kind)

        def step():
            opt.step([g])
    step()
    return step


@pytest.mark.parametrize("ns_dtype", ["bfloat16", "float32"])
def bench_muon_step(benchmark, arrays, ns_dtype):
    if torch is None:
        pytest.skip("torch is not installed")
    w, g = arrays([MUON_SHAPE, MUON_SHAPE], np.float32)
    benchmark.group = f"muon 1024x1024 fastgd-{ns_dtype}/torch"
    _paired(benchmark, _muon_side(ns_dtype, w, g), _muon_side("torch", w, g), MUON_ROUNDS,
            case=f"muon-{ns_dtype}/torch", shape=list(MUON_SHAPE))


def _newton_schulz_scipy(update, ns_coefficients=(3.4445, -4.775, 2.0315), ns_steps=5,
                         eps=1e-7):
    """fastgd's bfloat16 iteration (fastgd.reference.newton_schulz) on scipy's BLAS."""
    from scipy.linalg import blas

    a, b, c = ns_coefficients
    x = round_to_bfloat16(np.array(update, dtype=np.float32, order="F"))
    norm = round_to_bfloat16(np.array([np.linalg.norm(x.astype(np.float64))], np.float32))
    x = round_to_bfloat16(np.asfortranarray(x / max(norm[0], np.float32(eps))))
    for _ in range(ns_steps):
        gram = blas.ssyrk(1.0, x)  # upper triangle of x x^T
        gram = np.triu(gram) + np.triu(gram, 1).T
        round_to_bfloat16(gram, out=gram)
        gram = np.asfortranarray(gram)
        update_ = blas.sgemm(c, gram, gram, beta=b, c=gram.copy(order="F"), overwrite_c=True)
        round_to_bfloat16(update_, out=update_)
        x = blas.sgemm(1.0, update_, x, beta=a, c=x.copy(order="F"), overwrite_c=True)
        round_to_bfloat16(x, out=x)
    return x


def bench_newton_schulz_numpy_vs_scipy_blas(benchmark, arrays):
    pytest.importorskip("scipy.linalg")
    (g,) = arrays([MUON_SHAPE], np.float32)
    benchmark.group = "newton-schulz 1024x1024 numpy-matmul/scipy-blas"
    _paired(benchmark, lambda: newton_schulz(g), lambda: _newton_schulz_scipy(g),
            MUON_ROUNDS, case="numpy-matmul/scipy-blas", shape=list(MUON_SHAPE))


def _sparse_problem():
    rng = np.random.default_rng(0)
    table = rng.standard_normal((ROWS, WIDTH)).astype(np.float32)
    idx = rng.choice(ROWS, TOUCHED, replace=False)  # distinct, in random order
    rows = rng.standard_normal((TOUCHED, WIDTH)).astype(np.float32)
    return table, idx, rows


def _sparse_side(kind, table, idx, rows):
    if kind == "torch":
        t = torch.from_numpy(table.copy()).requires_grad_()
        grad = torch.sparse_coo_tensor(torch.from_numpy(idx)[None], torch.from_numpy(rows),
                                       (ROWS, WIDTH))
        opt = torch.optim.SparseAdam([t], lr=1e-3)

        def step():
            t.grad = grad  # torch coalesces it in every step, as fastgd does
            opt.step()
    else:
        p = table.copy()
        with fastgd.use_backend(kind):
            opt = fastgd.SparseAdam([p], lr=1e-3)

        def step():
            with fastgd.use_backend(kind):
                opt.step([(idx, rows)])
    step()  # the state, and Numba's compilation
    return step


@pytest.mark.parametrize("backend", ["cython", "numba", "numpy"])
def bench_sparse_adam_step(benchmark, backend):
    if torch is None:
        pytest.skip("torch is not installed")
    if backend not in _backend.available():
        pytest.skip(f"the {backend} backend is not installed")
    table, idx, rows = _sparse_problem()
    benchmark.group = f"sparse_adam 1e6x16 1% rows {backend}/torch"
    _paired(benchmark, _sparse_side(backend, table, idx, rows),
            _sparse_side("torch", table, idx, rows), SPARSE_ROUNDS,
            case=f"sparse_adam-{backend}/torch", rows=ROWS, width=WIDTH, touched=TOUCHED)
