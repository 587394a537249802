"""The loss tests' problems and comparisons, in one place: a batch for each loss (X, y,
coef, intercept, sample weights), the tolerance and bit-for-bit checks, and each compiled
variant (the core per instruction set, Numba) to run a call on. Imported as
``from models._losses import ...`` (``tests/conftest.py`` puts ``tests/`` on
``sys.path``)."""

from __future__ import annotations

import zlib

import numpy as np

import fastgd
from fastgd import backends
from fastgd.models import losses

INSTALLED = backends.available()
LOSSES = losses.LOSSES
REGRESSION = ("squared_error", "half_squared_error", "huber", "epsilon_insensitive")
PENALTIES = (None, "l2", "l1", "elasticnet")
DTYPES = (np.float64, np.float32)


def _rng(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def make_problem(loss, dtype=np.float64, n=300, d=13, k=4, order="C", seed=0, scale=1.0):
    """X, y, coef, intercept and sample weights for ``loss``: decision values of order 1,
    continuous targets (no sample on a kink of a piecewise loss), weights in [0.2, 2)."""
    rng = _rng(loss, np.dtype(dtype).name, n, d, k, seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    if order == "F":
        X = np.asfortranarray(X)
    if loss == "softmax_cross_entropy":
        coef = (scale * rng.standard_normal((d, k)) / np.sqrt(d)).astype(dtype)
        intercept = rng.standard_normal(k).astype(dtype)
        y = rng.integers(0, k, n)
    else:
        coef = (scale * rng.standard_normal(d) / np.sqrt(d)).astype(dtype)
        intercept = rng.standard_normal(1).astype(dtype)
        z = X.astype(np.float64) @ coef.astype(np.float64) + float(intercept[0])
        if loss == "log_loss":
            y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(dtype)
        elif loss == "hinge":
            y = np.where(rng.random(n) < 1 / (1 + np.exp(-2 * z)), 1.0, -1.0).astype(dtype)
            y[::3] = np.where(y[::3] > 0, 1.0, 0.0)   # mixed label conventions: 0 and -1
        else:
            y = (z + rng.standard_normal(n)).astype(dtype)
    sw = (0.2 + 1.8 * rng.random(n)).astype(dtype)
    return X, y, coef, intercept, sw


def _tolerance(dtype):
    return dict(rtol=1e-12, atol=0) if dtype == np.float64 else dict(rtol=2e-6, atol=0)


def assert_close(got, want, dtype, what=""):
    """Relative to the largest entry of ``want`` (gradients are sums with cancellation)."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    scale = max(float(np.max(np.abs(want))) if want.size else 0.0, 1e-300)
    tol = _tolerance(dtype)["rtol"]
    err = float(np.max(np.abs(got - want))) / scale if want.size else 0.0
    assert err <= tol, f"{what}: relative error {err:.3g} > {tol:.1g}"


def assert_same_bits(a, b, what=""):
    assert a.loss == b.loss or (np.isnan(a.loss) and np.isnan(b.loss)), \
        f"{what}: loss {a.loss!r} != {b.loss!r}"
    for field in ("grad_coef", "grad_intercept", "hess_coef", "hess_intercept"):
        x, y = getattr(a, field), getattr(b, field)
        if x is None or y is None:
            assert x is None and y is None, f"{what}: {field}"
            continue
        np.testing.assert_array_equal(x, y, err_msg=f"{what}: {field}")


def _compiled_variants():
    """(backend, instruction set or None) for every compiled variant: the compiled core
    once per instruction set this CPU runs, and Numba."""
    out = []
    if "cython" in INSTALLED:
        core = backends.load("cython")
        out += [("cython", isa) for isa, ok in core.isas().items() if ok]
    if "numba" in INSTALLED:
        out.append(("numba", None))
    return out


COMPILED = _compiled_variants()


def run_on(backend, isa, fn):
    with fastgd.use_backend(backend):
        if isa is None:
            return fn()
        core = backends.load("cython")
        previous = core.isa()
        core.set_isa(isa)
        try:
            return fn()
        finally:
            core.set_isa(previous)


def _call(loss, X, y, coef, intercept, **kw):
    return losses.loss_grad(loss, X, y, coef, intercept, hessian=True, **kw)
