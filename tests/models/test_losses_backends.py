"""fastgd.models.losses on every backend: each against the NumPy reference (every loss,
dtype, order of X, with and without weights, rows and each penalty); the compiled core
against Numba bit for bit (and across instruction sets, thread counts and memory layouts);
how the model kernels are built.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess

import numpy as np
import pytest
from models._losses import (
    COMPILED,
    DTYPES,
    INSTALLED,
    LOSSES,
    PENALTIES,
    _call,
    _rng,
    assert_close,
    assert_same_bits,
    make_problem,
    run_on,
)

import fastgd
from fastgd import backends
from fastgd.models import losses

# ------------------------------------------------------------------ backend parity ---

@pytest.mark.parametrize("penalty", PENALTIES)
@pytest.mark.parametrize("use_rows", [False, True], ids=["all-rows", "rows"])
@pytest.mark.parametrize("use_sw", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("loss", LOSSES)
def test_every_backend_matches_the_reference(loss, dtype, order, use_sw, use_rows, penalty):
    X, y, coef, intercept, sw = make_problem(loss, dtype, order=order)
    rows = _rng("rows", loss).integers(0, X.shape[0], 157) if use_rows else None
    kw = dict(sample_weight=sw if use_sw else None, rows=rows, penalty=penalty,
              alpha=0.0 if penalty is None else 0.03, l1_ratio=0.4)
    with fastgd.use_backend("numpy"):
        want = _call(loss, X, y, coef, intercept, **kw)
        assert losses.loss_value(loss, X, y, coef, intercept, **kw) == want.loss
    results = {}
    for backend, isa in COMPILED:
        got = run_on(backend, isa, lambda: _call(loss, X, y, coef, intercept, **kw))
        what = f"{backend}-{isa}" if isa else backend
        assert_close(got.loss, want.loss, np.float64, f"{what} loss")
        for field in ("grad_coef", "grad_intercept", "hess_coef", "hess_intercept"):
            g = getattr(got, field)
            assert g.dtype == dtype and g.shape == getattr(want, field).shape
            assert_close(g, getattr(want, field), dtype, f"{what} {field}")
        value = run_on(backend, isa, lambda: losses.loss_value(loss, X, y, coef, intercept,
                                                               **kw))
        assert value == got.loss, f"{what}: loss_value differs from loss_grad's loss"
        results[what] = got
    # Every compiled variant (each instruction set, and Numba) gives the same bits.
    names = list(results)
    for other in names[1:]:
        assert_same_bits(results[other], results[names[0]], f"{other} vs {names[0]}")


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("loss", LOSSES)
def test_same_bits_for_c_f_and_strided_x(loss, dtype):
    """The order of operations does not depend on X's layout: C, F, a slice of rows of an
    F-ordered array, a slice of columns of a C-ordered one, all the same bits."""
    X, y, coef, intercept, sw = make_problem(loss, dtype, n=2500, d=21)
    big_f = np.asfortranarray(np.concatenate([X, X[:7]]))
    wide_c = np.ascontiguousarray(np.concatenate([X, X[:, :5]], axis=1))
    layouts = {"C": X, "F": np.asfortranarray(X), "F-rows": big_f[:X.shape[0]],
               "C-cols": wide_c[:, :X.shape[1]]}
    assert not layouts["F-rows"].flags.f_contiguous and not layouts["C-cols"].flags.c_contiguous
    rows = _rng("strided", loss).integers(0, X.shape[0], 1100)
    for backend, isa in COMPILED:
        for kw in (dict(sample_weight=sw), dict(rows=rows)):
            results = {name: run_on(backend, isa, lambda Xl=Xl, kw=kw: _call(
                                        loss, Xl, y, coef, intercept, **kw))
                       for name, Xl in layouts.items()}
            for name in layouts:
                assert_same_bits(results[name], results["C"], f"{backend}-{isa} {name}")


@pytest.mark.parametrize("loss", LOSSES)
def test_one_row_and_one_column_views(loss):
    """X of one column or one row taken out of bigger arrays (odd strides in the size-1
    dimension), and broadcast y / weights (stride 0): the same bits as contiguous copies."""
    X, y, coef, intercept, sw = make_problem(loss, n=50, d=1, k=3)
    big_c = np.ascontiguousarray(np.concatenate([X, X, X], axis=1))
    col = big_c[:, 1:2]
    assert col.strides[0] == 3 * col.itemsize
    X2, y2, coef2, intercept2, _ = make_problem(loss, n=1, d=9, k=3, seed=1)
    big_f = np.asfortranarray(np.concatenate([X2, X2, X2], axis=0))
    row = big_f[1:2]
    assert row.strides[1] == 3 * row.itemsize
    const_w = np.broadcast_to(np.array(0.5), (50,))
    for backend in INSTALLED:
        # The compiled kernels give the same bits; NumPy's matmul may round differently for
        # a strided operand.
        same = assert_same_bits if backend != "numpy" else (
            lambda a, b, what: assert_close(a.grad_coef, b.grad_coef, np.float64, what))
        with fastgd.use_backend(backend):
            a = _call(loss, col, y, coef, intercept, sample_weight=sw)
            b = _call(loss, np.ascontiguousarray(col), y, coef, intercept, sample_weight=sw)
            same(a, b, f"{backend} one column")
            a = _call(loss, row, y2, coef2, intercept2)
            b = _call(loss, np.ascontiguousarray(row), y2, coef2, intercept2)
            same(a, b, f"{backend} one row")
            a = _call(loss, col, y, coef, intercept, sample_weight=const_w)
            b = _call(loss, col, y, coef, intercept)
            assert a.loss == pytest.approx(b.loss, rel=1e-15)
            np.testing.assert_allclose(a.grad_coef, b.grad_coef, rtol=1e-15)


@pytest.mark.parametrize("loss", LOSSES)
def test_thread_count_does_not_change_a_bit(loss):
    """A batch split into several chunks: 1, 2 and 3 threads give the same bits."""
    if "cython" not in INSTALLED:
        pytest.skip("needs the compiled core")
    core = backends.load("cython")
    if not core.OPENMP:
        pytest.skip("the compiled core was built without OpenMP")
    from fastgd.backends import _models
    X, y, coef, intercept, sw = make_problem(loss, n=9000, d=17, k=3)
    assert _models.n_chunks(X.shape[0], coef.size) > 3
    assert X.shape[0] * coef.size >= _models.PARALLEL_MIN
    rows = _rng("threads", loss).integers(0, X.shape[0], 7000)
    before = fastgd.get_num_threads()
    try:
        for Xl in (X, np.asfortranarray(X)):
            for kw in (dict(sample_weight=sw), dict(rows=rows)):
                results = []
                for threads in (1, 2, 3):
                    fastgd.set_num_threads(threads)
                    with fastgd.use_backend("cython"):
                        results.append(_call(loss, Xl, y, coef, intercept, penalty="l2",
                                             alpha=0.01, **kw))
                for r in results[1:]:
                    assert_same_bits(r, results[0], f"threads, {list(kw)}")
                if "numba" in INSTALLED:
                    with fastgd.use_backend("numba"):
                        assert_same_bits(_call(loss, Xl, y, coef, intercept, penalty="l2",
                                               alpha=0.01, **kw), results[0], "numba")
    finally:
        fastgd.set_num_threads(before)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_many_chunks_match_the_reference(loss, dtype):
    X, y, coef, intercept, sw = make_problem(loss, dtype, n=5000, d=9, k=3)
    with fastgd.use_backend("numpy"):
        want = _call(loss, X, y, coef, intercept, sample_weight=sw)
    for backend, isa in COMPILED:
        got = run_on(backend, isa, lambda: _call(loss, X, y, coef, intercept,
                                                 sample_weight=sw))
        assert_close(got.loss, want.loss, np.float64, "loss")
        for field in ("grad_coef", "grad_intercept", "hess_coef", "hess_intercept"):
            assert_close(getattr(got, field), getattr(want, field), dtype, field)


@pytest.mark.parametrize("backend", INSTALLED)
@pytest.mark.parametrize("loss", LOSSES)
def test_batch_semantics(loss, backend):
    """rows selects rows of X, y and sample_weight; unit weights are no weights; a model
    without intercept; outputs written into given arrays; intercept of shape ()."""
    X, y, coef, intercept, sw = make_problem(loss, n=400)
    rows = _rng("batch", loss).integers(0, X.shape[0], 150)
    with fastgd.use_backend(backend):
        a = _call(loss, X, y, coef, intercept, rows=rows, sample_weight=sw)
        b = _call(loss, X[rows], y[rows], coef, intercept, sample_weight=sw[rows])
        if backend == "numpy":
            assert_close(a.grad_coef, b.grad_coef, np.float64)
        else:
            assert_same_bits(a, b, "rows vs copied rows")
        ones = np.ones(X.shape[0])
        c = _call(loss, X, y, coef, intercept)
        d = _call(loss, X, y, coef, intercept, sample_weight=ones)
        assert_same_bits(c, d, "unit weights")
        # Integer weights: the mean over repeated rows.
        w = _rng("w", loss).integers(0, 4, X.shape[0]).astype(np.float64)
        w[0] = 1
        e = _call(loss, X, y, coef, intercept, sample_weight=w)
        rep = np.repeat(np.arange(X.shape[0]), w.astype(int))
        f = _call(loss, X, y, coef, intercept, rows=rep)
        assert_close(e.loss, f.loss, np.float64)
        assert_close(e.grad_coef, f.grad_coef, np.float64)
        assert_close(e.hess_coef, f.hess_coef, np.float64)
        # Without intercept: the same as a zero intercept, and no intercept outputs.
        g = _call(loss, X, y, coef, None)
        h = _call(loss, X, y, coef, np.zeros_like(intercept))
        assert g.grad_intercept is None and g.hess_intercept is None
        np.testing.assert_array_equal(g.grad_coef, h.grad_coef)
        assert g.loss == h.loss
        # Outputs into given arrays: the same arrays come back, filled.
        gc, gi = np.full_like(coef, np.nan), np.full_like(intercept, np.nan)
        hc, hi = np.full_like(coef, np.nan), np.full_like(intercept, np.nan)
        r = losses.loss_grad(loss, X, y, coef, intercept, grad_coef=gc, grad_intercept=gi,
                             hessian=True, hess_coef=hc, hess_intercept=hi)
        assert r.grad_coef is gc and r.grad_intercept is gi
        assert r.hess_coef is hc and r.hess_intercept is hi
        assert_same_bits(r, c, "given outputs")
        if loss != "softmax_cross_entropy":
            r0 = losses.loss_grad(loss, X, y, coef, intercept.reshape(()))
            assert r0.grad_intercept.shape == ()
            assert float(r0.grad_intercept) == float(c.grad_intercept[0])
        # No Hessian unless asked.
        plain = losses.loss_grad(loss, X, y, coef, intercept)
        assert plain.hess_coef is None and plain.hess_intercept is None
        np.testing.assert_array_equal(plain.grad_coef, c.grad_coef)


# ----------------------------------------------------------------- how it is built ---

@pytest.mark.skipif(shutil.which("objdump") is None, reason="needs objdump")
def test_no_fused_multiply_add_in_the_model_kernels():
    """FMA would change the rounding between instruction sets and against Numba."""
    mod = pytest.importorskip("fastgd.backends._models")
    disassembly = subprocess.run(["objdump", "-d", mod.__file__], capture_output=True,
                                 text=True, check=True).stdout
    if "zmm" not in disassembly:
        pytest.skip("no AVX-512 variant in this build")
    assert not re.search(r"\bvf(n?m(add|sub))\w*", disassembly)


def test_the_model_header_numbers_the_losses_as_the_python_side():
    src = pathlib.Path(__file__).resolve().parents[2] / "src" / "models" / "models.h"
    if not src.exists():
        pytest.skip("no source tree")
    codes = dict(re.findall(r"FGDM_(\w+) = (\d+)", src.read_text()))
    for i, loss in enumerate(LOSSES):
        name = "SOFTMAX" if loss == "softmax_cross_entropy" else loss.upper()
        assert int(codes[name]) == i, loss


def test_compiled_and_numba_split_batches_alike():
    """The chunks (which fix the order of the sums) are the same function of the batch
    size and the size of coef in C and in Numba."""
    if "cython" not in INSTALLED or "numba" not in INSTALLED:
        pytest.skip("needs both compiled backends")
    from fastgd.backends import _models, numba_models
    for n in (1, 1023, 1024, 1025, 5000, 65_536, 10**6, 10**8):
        for m in (1, 13, 50_000, 10**6, 10**7):
            assert _models.n_chunks(n, m) == numba_models.n_chunks(n, m), (n, m)
    assert _models.n_chunks(10**6, 1) == 64 and _models.n_chunks(2049, 5) == 3
