"""L-BFGS: the vector operations of a step of :class:`fastgd.LBFGS`, in plain NumPy.

L-BFGS is not an element-wise rule: a step evaluates the objective several times (through
the caller's closure) and works on the flat vector of all parameters. What it does to that
vector is here, operation for operation as the compiled core (src/optim/lbfgs.h) and the
Numba backend do it; the step's control flow (line search, history, stopping tests) is the
optimizer's, in :class:`fastgd.LBFGS`.

Every reduction is summed in float64 in one fixed order, that of
:func:`fastgd.reference.sum_of_squares`: eight lanes, lane ``j`` adding the terms of the
elements ``i = j (mod 8)`` in index order, then
``((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))``. The order depends only on the length,
never on threads, so the three backends give the same bits. torch sums its dots in its
own (BLAS) order, so the iterates agree with torch.optim.LBFGS to rounding (float64:
within 1e-10, tested), not bit for bit. Scalars that multiply a vector are rounded once to
the vector's dtype.
"""

from __future__ import annotations

import numpy as np

from fastgd.reference._checks import real

__all__ = ["lbfgs_dot", "lbfgs_axpy", "lbfgs_abs_max", "lbfgs_abs_sum", "lbfgs_memory",
           "lbfgs_two_loop"]


def _lanes(terms: np.ndarray) -> float:
    """The float64 ``terms`` summed in the eight-lane order (see the module docstring)."""
    m = -(-terms.size // 8)
    if m == 0:
        return 0.0
    padded = np.zeros(8 * m)
    padded[:terms.size] = terms
    lanes = np.cumsum(padded.reshape(m, 8).T, axis=1)[:, -1]  # each lane in index order
    return float(((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
                 + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7])))


def lbfgs_dot(x: np.ndarray, y: np.ndarray) -> float:
    """The dot product of two 1-D arrays of one dtype, summed in float64 in the eight-lane order
    (each product ``float64(x_i) * float64(y_i)``, exact for float32)."""
    with np.errstate(all="ignore"):  # inf and NaN propagate silently, as in the kernels
        return _lanes(x.astype(np.float64) * y.astype(np.float64))


def lbfgs_axpy(y: np.ndarray, alpha: float, x: np.ndarray) -> None:
    """In place ``y += alpha * x``, with ``alpha`` rounded to ``y``'s dtype (torch's
    ``y.add_(x, alpha=alpha)``)."""
    with np.errstate(all="ignore"):
        y += y.dtype.type(alpha) * x


def lbfgs_abs_max(x: np.ndarray) -> float:
    """``max |x_i|`` (0 for an empty ``x``; NaN when ``x`` holds one), as float64."""
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x)))


def lbfgs_abs_sum(x: np.ndarray) -> float:
    """``sum |x_i|`` in float64, in the eight-lane order."""
    with np.errstate(all="ignore"):
        return _lanes(np.abs(x.astype(np.float64)))


def lbfgs_memory(y: np.ndarray, s: np.ndarray, g: np.ndarray, g_prev: np.ndarray,
                 d: np.ndarray, t: float) -> tuple[float, float]:
    r"""The new curvature pair of the history: ``y = g - g_prev`` and ``s = t d`` written
    into ``y`` and ``s``, and the dot products ``(y·s, y·y)`` returned.

    .. math::

        y = g_{k+1} - g_k, \quad s = t\, d, \quad (y^\top s,\; y^\top y)
    """
    with np.errstate(all="ignore"):
        np.subtract(g, g_prev, out=y)
        np.multiply(d, d.dtype.type(t), out=s)
    return lbfgs_dot(y, s), lbfgs_dot(y, y)


def lbfgs_two_loop(d: np.ndarray, g: np.ndarray, old_dirs, old_stps, ro, h_diag: float,
                   al: np.ndarray) -> None:
    r"""The L-BFGS direction ``d = -H g`` by the two-loop recursion over the history
    (``old_dirs`` the ``y_i``, ``old_stps`` the ``s_i``, ``ro[i] = 1 / (y_i·s_i)``, oldest
    first), in torch.optim.LBFGS's order. ``d`` is written; ``al`` (float64, at least
    ``len(old_dirs)`` long) receives the first loop's coefficients.

    .. math::

        q &= -g \\
        \alpha_i &= \rho_i\, s_i^\top q, \quad q \leftarrow q - \alpha_i y_i
            \qquad (i = m-1, \dots, 0) \\
        d &= h\, q, \quad h = \frac{y^\top s}{y^\top y} \text{ of the newest pair} \\
        \beta_i &= \rho_i\, y_i^\top d, \quad d \leftarrow d + (\alpha_i - \beta_i)\, s_i
            \qquad (i = 0, \dots, m-1)

    Example::

        g = np.array([1.0, -2.0, 0.5]); d = np.empty(3); al = np.empty(0)
        fastgd.reference.lbfgs_two_loop(d, g, [], [], [], 1.0, al)   # no history: d = -g
        assert (d == -g).all()
    """
    m = len(old_dirs)
    with np.errstate(all="ignore"):
        np.negative(g, out=d)
        for i in range(m - 1, -1, -1):
            al[i] = lbfgs_dot(old_stps[i], d) * ro[i]
            lbfgs_axpy(d, -al[i], old_dirs[i])
        d *= d.dtype.type(h_diag)
        for i in range(m):
            be_i = lbfgs_dot(old_dirs[i], d) * ro[i]
            lbfgs_axpy(d, al[i] - be_i, old_stps[i])


def check_vector(fn: str, name: str, a, like: np.ndarray | None = None,
                 write: bool = False) -> np.ndarray:
    """``a`` checked as the backends' L-BFGS functions take their arrays: a 1-D,
    C-contiguous, aligned float32 or float64 array, of ``like``'s dtype and length when
    given, writeable when ``write`` (TypeError/ValueError naming ``fn`` and ``name``)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{fn}: {name} must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype not in (np.float32, np.float64) or not a.dtype.isnative:
        raise TypeError(f"{fn}: {name} has dtype {a.dtype}; float32 or float64 expected")
    if like is not None and a.dtype != like.dtype:
        raise TypeError(f"{fn}: {name} has dtype {a.dtype}, the other arrays another")
    if a.ndim != 1 or not a.flags.c_contiguous or not a.flags.aligned:
        raise ValueError(f"{fn}: {name} must be a 1-D, C-contiguous, aligned array")
    if like is not None and a.shape != like.shape:
        raise ValueError(f"{fn}: {name} has {a.size} elements, expected {like.size}")
    if write and not a.flags.writeable:
        raise ValueError(f"{fn}: {name} is read-only")
    return a


def check_two_loop(d, g, old_dirs, old_stps, ro, h_diag, al) -> tuple[float, list[float]]:
    """The arguments of :func:`lbfgs_two_loop`, checked as each backend's entry checks
    them (before ``d`` or ``al`` is written); returns ``h_diag`` and ``ro[:m]`` as reals."""
    h = real("lbfgs_two_loop: h_diag", h_diag)
    check_vector("lbfgs_two_loop", "g", g)
    check_vector("lbfgs_two_loop", "d", d, g, write=True)
    m = len(old_dirs)
    if len(old_stps) != m or len(ro) < m:
        raise ValueError(f"lbfgs_two_loop: {m} old_dirs, {len(old_stps)} old_stps and "
                         f"{len(ro)} ro")
    check_vector("lbfgs_two_loop", "al", al, write=True)
    if al.dtype != np.float64 or al.size < m:
        raise ValueError(f"lbfgs_two_loop: al must be float64 with at least {m} elements")
    for k in range(m):
        check_vector("lbfgs_two_loop", f"old_dirs[{k}]", old_dirs[k], g)
        check_vector("lbfgs_two_loop", f"old_stps[{k}]", old_stps[k], g)
    return h, [real(f"lbfgs_two_loop: ro[{k}]", ro[k]) for k in range(m)]
