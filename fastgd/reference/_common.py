"""Building blocks the reference kernels share: the step formula and bias corrections,
the reproducible sum of squares, torch's lerp and sign, and the trust ratio.

:func:`step_formula` is the one Python form of ``1 - beta**t`` (and of its square root)
used by the optimizers' plans, :data:`fastgd.reference._declare.STEP_FORMULAS` and the
native loops' checks; C has its twin in src/common/fgd_elementwise.h.
"""

from __future__ import annotations

import numpy as np


def step_formula(beta: float, code: int, t: int) -> float:
    """``1 - beta**t`` (``code`` 1) or ``(1 - beta**t) ** 0.5`` (``code`` 2), in float64 as
    torch and optax compute bias corrections (the codes of ``STEP_FORMULAS``)."""
    x = 1 - float(beta) ** t
    return x ** 0.5 if code == 2 else x


def bias_correction(beta: float, t: int) -> float:
    """``1 - beta**t`` in float64 (:func:`step_formula` with code 1)."""
    return step_formula(beta, 1, t)


def bias_correction_sqrt(beta: float, t: int) -> float:
    """``(1 - beta**t) ** 0.5`` in float64 (:func:`step_formula` with code 2)."""
    return step_formula(beta, 2, t)


def bias_corrections(beta1: float, beta2: float, step: int) -> tuple[float, float]:
    """Adam's ``(1 - beta1**t, sqrt(1 - beta2**t))``, in float64 as torch computes them.

    Example::

        bc1, bc2_sqrt = fastgd.reference.bias_corrections(0.9, 0.999, step=10)
        assert bc1 == 1 - 0.9**10
    """
    return bias_correction(beta1, step), bias_correction_sqrt(beta2, step)


def sum_of_squares(x) -> float:
    """The sum of ``x**2`` in float64, in the order every backend uses for per-tensor norms:
    eight lanes, lane ``j`` adding the squares of the elements ``i = j (mod 8)`` in index
    order, then ``((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))``. Deterministic and the
    same for any thread count (``numpy.sum``'s pairwise order is not reproduced in C).

    Example::

        assert fastgd.reference.sum_of_squares(np.arange(10.0)) == 285.0
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    m = -(-x.size // 8)
    if m == 0:
        return 0.0
    padded = np.zeros(8 * m)
    with np.errstate(all="ignore"):  # inf and NaN propagate silently, as in the kernels
        padded[:x.size] = x * x
        lanes = np.cumsum(padded.reshape(m, 8).T, axis=1)[:, -1]  # adds in index order
    return float(((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
                 + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7])))


def lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> None:
    """``start += weight * (end - start)`` in place, as ``torch.lerp`` rounds it."""
    T = start.dtype.type
    w = T(weight)
    if w < 0.5:
        start += w * (end - start)
    else:
        start[...] = end - (end - start) * (T(1) - w)


def torch_sign(x: np.ndarray) -> np.ndarray:
    """``torch.sign`` on the CPU: 1, -1 or 0, and 0 for NaN (``numpy.sign`` gives NaN)."""
    T = x.dtype.type
    return np.where(x > 0, T(1), np.where(x < 0, T(-1), T(0)))


def trust_ratio(param_sumsq: float, update_sumsq: float, trust_coefficient: float = 1.0,
                eps: float = 0.0) -> float:
    """optax.scale_by_trust_ratio's factor from the two sums of squares (float64):
    ``trust_coefficient * ||p|| / (||u|| + eps)``, or 1 when either norm is zero."""
    if param_sumsq == 0 or update_sumsq == 0:
        return 1.0
    # np.sqrt of a float64 is the correctly rounded root, as C's sqrt
    return float(trust_coefficient * np.sqrt(param_sumsq) / (np.sqrt(update_sumsq) + eps))
