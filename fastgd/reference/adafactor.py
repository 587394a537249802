"""Adafactor (torch.optim.Adafactor): the NumPy spec, its declaration and its schedule."""

from __future__ import annotations

import math

import numpy as np

from fastgd.reference._checks import dims
from fastgd.reference._common import lerp_, sum_of_squares
from fastgd.reference._declare import kernel


def adafactor_schedule(lr: float, beta2_decay: float, step: int) -> tuple[float, float]:
    """Adafactor's ``(rho, one_minus_beta2)`` at ``step`` (from 1), as torch computes them
    in Python floats: ``min(lr, 1 / step**0.5)`` and ``step**beta2_decay``."""
    t = float(step)
    return min(float(lr), 1 / (t ** 0.5)), t ** float(beta2_decay)


def _sum_of_squares_rows(x: np.ndarray) -> np.ndarray:
    """:func:`sum_of_squares` of each row of the 2-d ``x`` (the same eight-lane order)."""
    k, m = x.shape
    if m == 0:
        return np.zeros(k)
    chunks = -(-m // 8)
    padded = np.zeros((k, chunks * 8))
    v = x.astype(np.float64)
    padded[:, :m] = v * v
    lanes = np.cumsum(padded.reshape(k, chunks, 8), axis=1)[:, -1, :]  # in index order
    return ((lanes[:, 0] + lanes[:, 1]) + (lanes[:, 2] + lanes[:, 3])) \
        + ((lanes[:, 4] + lanes[:, 5]) + (lanes[:, 6] + lanes[:, 7]))


def _sum_in_order(x: np.ndarray, axis: int) -> np.ndarray:
    """The float64 sum of ``x`` along ``axis``: ``0.0 + x[0] + x[1] + ...`` in index
    order (``cumsum`` adds in order)."""
    shape = list(x.shape)
    shape[axis] += 1
    padded = np.zeros(shape)
    padded[(slice(None),) * axis + (slice(1, None),)] = x
    return np.take(np.cumsum(padded, axis=axis), -1, axis=axis)


@kernel(needed={"row_var": lambda s: s.get("factored", False),
                "col_var": lambda s: s.get("factored", False),
                "variance": lambda s: not s.get("factored", False)},
        sizes={"row_var": "rows", "col_var": "cols"})
def adafactor(param, grad, row_var=None, col_var=None, variance=None, *, lr, rho,
              one_minus_beta2, eps1, eps2=1e-3, d=1.0, weight_decay=0.0, factored=False,
              maximize=False) -> None:
    r"""Adafactor, as ``torch.optim.Adafactor`` (its for-loop path; not the paper's or
    optax's placement of :math:`\epsilon_1`).

    .. math::
        \alpha &= \max(\epsilon_2, \operatorname{RMS}(p))\,\rho_t, \qquad
            \rho_t = \min(\eta, 1/\sqrt t), \quad w_t = t^{\tau} \\
        p &\leftarrow p\,(1 - \eta\,wd) \\
        R &\leftarrow \operatorname{lerp}(R, \operatorname{mean}_{cols}(g^2), w_t), \quad
        C \leftarrow \operatorname{lerp}(C, \operatorname{mean}_{rows}(g^2), w_t) \\
        \hat V &= \frac{R\,C}{\max(\operatorname{mean}_{rows}(R), \epsilon_1)}
            \ \text{(factored)} \quad\text{or}\quad
            V \leftarrow \operatorname{lerp}(V, g^2, w_t), \ \hat V = V \\
        U &= g \,/ \sqrt{\max(\hat V, \epsilon_1^2)}, \qquad
        p \leftarrow p - \frac{\alpha}{\max(1, \operatorname{RMS}(U)/d)}\, U

    ``rho`` and ``one_minus_beta2`` (:math:`w_t`) come from :func:`adafactor_schedule`.
    Factored (``factored=True``): the parameter is seen as (batch, rows, cols) over its
    last two dimensions (a 1-d one as one row); ``row_var`` holds batch*rows values
    (torch's shape ``(..., rows, 1)``), ``col_var`` batch*cols (``(..., 1, cols)``).
    Otherwise ``variance`` has the parameter's size. The optimizer factors parameters of
    two or more dimensions, as torch does.

    Reductions, in one order on every backend: RMS(p) and RMS(U) from
    :func:`sum_of_squares`; a row's mean of squares from the :func:`sum_of_squares` of
    the row; a column's sum of squares, and the sum of ``row_var`` over rows, in float64
    adding rows in index order. As torch: norms are rounded to the dtype before use
    (``norm.square() / cols``), ``max`` with Python's rule for the scalars (a NaN RMS
    gives ``eps2`` and 1), clamps propagate NaN. An empty parameter is left as it is
    (torch divides by its zero size and raises ZeroDivisionError).

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        v = np.zeros(3)
        rho, w = fastgd.reference.adafactor_schedule(0.01, -0.8, 1)
        fastgd.reference.adafactor(p, g, None, None, v, lr=0.01, rho=rho, one_minus_beta2=w,
                                   eps1=1e-30)  # not factored: row_var, col_var are None
    """
    T = param.dtype.type
    n = param.size
    g = -grad if maximize else grad
    rms = np.float64(T(math.sqrt(sum_of_squares(param)))) / np.float64(math.sqrt(n))
    alpha = (rms if rms > eps2 else eps2) * rho
    if weight_decay != 0:
        param *= T(1 - lr * weight_decay)
    if factored:
        b, r, c = dims(param.shape)
        g3 = g.reshape(b, r, c)
        rv, cv = row_var.reshape(b, r), col_var.reshape(b, c)
        row_norm = np.sqrt(_sum_of_squares_rows(g3.reshape(b * r, c))).astype(T)
        lerp_(rv, (row_norm * row_norm / T(c)).reshape(b, r), one_minus_beta2)
        v = g3.astype(np.float64)
        col_norm = np.sqrt(_sum_in_order(v * v, axis=1)).astype(T)
        lerp_(cv, col_norm * col_norm / T(r), one_minus_beta2)
        row_mean = np.maximum(_sum_in_order(rv, axis=1).astype(T) / T(r), T(eps1))
        estimate = (rv[:, :, None] * cv[:, None, :]) / row_mean[:, None, None]
        g = g3
    else:
        lerp_(variance, g * g, one_minus_beta2)
        estimate = variance
    update = (T(1) / np.sqrt(np.maximum(estimate, T(eps1 * eps1)))) * g
    u_rms = np.float64(T(math.sqrt(sum_of_squares(update)))) / (math.sqrt(n) * d)
    denom = u_rms if u_rms > 1.0 else 1.0
    param += T(-alpha / denom) * update.reshape(param.shape)
