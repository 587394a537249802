"""The ``numba`` backend's L-BFGS vector operations: the loops of src/optim/lbfgs.h,
operation for operation (the specification is :mod:`fastgd.reference.lbfgs`).

Reductions use the reference's eight float64 lanes, so the results are the bits of the
other backends. The jitted loops are in this file alone (``cache=True`` keys the cache
on it); ``fastmath`` is never used.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from fastgd.reference._checks import real
from fastgd.reference.lbfgs import check_two_loop, check_vector

_jit = njit(cache=True, nogil=True, fastmath=False, error_model="numpy")


@_jit
def _dot(x, y):
    lanes = np.zeros(8)
    n = x.size
    i = 0
    while i + 8 <= n:
        for j in range(8):
            lanes[j] += np.float64(x[i + j]) * np.float64(y[i + j])
        i += 8
    for j in range(n - i):
        lanes[j] += np.float64(x[i + j]) * np.float64(y[i + j])
    return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + \
        ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))


@_jit
def _axpy(y, a, x):
    for i in range(y.size):
        y[i] += a * x[i]


@_jit
def _abs_max(x):
    m = 0.0
    nan = False
    for i in range(x.size):
        v = abs(np.float64(x[i]))
        if v > m:
            m = v
        if v != v:
            nan = True
    return np.nan if nan else np.float64(m)


@_jit
def _abs_sum(x):
    lanes = np.zeros(8)
    n = x.size
    i = 0
    while i + 8 <= n:
        for j in range(8):
            lanes[j] += abs(np.float64(x[i + j]))
        i += 8
    for j in range(n - i):
        lanes[j] += abs(np.float64(x[i + j]))
    return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + \
        ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))


@_jit
def _memory(y, s, g, g_prev, d, t):
    for i in range(y.size):
        y[i] = g[i] - g_prev[i]
        s[i] = d[i] * t
    return _dot(y, s), _dot(y, y)


@_jit
def _negate_scale(d, g):
    for i in range(d.size):
        d[i] = -g[i]


@_jit
def _scale(d, h):
    for i in range(d.size):
        d[i] = d[i] * h


def lbfgs_dot(x, y) -> float:
    """``x . y`` in float64, in the eight-lane order."""
    check_vector("lbfgs_dot", "x", x)
    check_vector("lbfgs_dot", "y", y, x)
    return float(_dot(x, y))


def lbfgs_axpy(y, alpha, x) -> None:
    """``y += alpha * x`` in place, alpha rounded to y's dtype."""
    a = real("lbfgs_axpy: alpha", alpha)
    check_vector("lbfgs_axpy", "y", y, write=True)
    check_vector("lbfgs_axpy", "x", x, y)
    _axpy(y, y.dtype.type(a), x)


def lbfgs_abs_max(x) -> float:
    """``max |x_i|`` as float64 (NaN propagates)."""
    check_vector("lbfgs_abs_max", "x", x)
    return float(_abs_max(x))


def lbfgs_abs_sum(x) -> float:
    """``sum |x_i|`` in float64, in the eight-lane order."""
    check_vector("lbfgs_abs_sum", "x", x)
    return float(_abs_sum(x))


def lbfgs_memory(y, s, g, g_prev, d, t) -> tuple[float, float]:
    """``y = g - g_prev``, ``s = t d``; returns ``(y . s, y . y)``."""
    tt = real("lbfgs_memory: t", t)
    check_vector("lbfgs_memory", "g", g)
    for name, a, write in (("g_prev", g_prev, False), ("d", d, False), ("y", y, True),
                           ("s", s, True)):
        check_vector("lbfgs_memory", name, a, g, write)
    ys, yy = _memory(y, s, g, g_prev, d, g.dtype.type(tt))
    return float(ys), float(yy)


def lbfgs_two_loop(d, g, old_dirs, old_stps, ro, h_diag, al) -> None:
    """The direction ``d = -H g`` by the two-loop recursion, in the reference's order."""
    h, rho = check_two_loop(d, g, old_dirs, old_stps, ro, h_diag, al)
    m = len(rho)
    T = d.dtype.type
    _negate_scale(d, g)
    for i in range(m - 1, -1, -1):
        al[i] = _dot(old_stps[i], d) * rho[i]
        _axpy(d, T(-al[i]), old_dirs[i])
    _scale(d, T(h))
    for i in range(m):
        be_i = _dot(old_dirs[i], d) * rho[i]
        _axpy(d, T(al[i] - be_i), old_stps[i])
