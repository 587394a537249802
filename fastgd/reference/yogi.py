"""Yogi (optax.yogi): the NumPy spec and its declaration."""

from __future__ import annotations

import numpy as np

from fastgd.reference._declare import kernel


@kernel(step_formulas={"bias_correction1": ("beta1", 1), "bias_correction2": ("beta2", 1)})
def yogi(param, grad, exp_avg, exp_avg_sq, *, lr, beta1, beta2, eps, bias_correction1,
         bias_correction2, maximize=False) -> None:
    r"""Yogi (Zaheer et al. 2018, "Adaptive Methods for Nonconvex Optimization"), as
    ``optax.yogi``.

    .. math::
        m &\leftarrow \beta_1 m + (1-\beta_1) g \\
        v &\leftarrow v - (1-\beta_2)\operatorname{sign}(v - g^2)\, g^2 \\
        p &\leftarrow p - \eta\,\frac{m / (1-\beta_1^t)}{\sqrt{v / (1-\beta_2^t)} + \epsilon}

    ``v`` grows or shrinks by :math:`(1-\beta_2) g^2` towards :math:`g^2` (additively,
    where Adam moves by a fraction of the gap). Both moments start at
    ``initial_accumulator_value`` (optax's choice, the first moment included); the bias
    corrections apply to them as in optax.

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        m = np.zeros(3)
        v = np.full(3, 1e-6)
        fastgd.reference.yogi(p, g, m, v, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-3,
                              bias_correction1=0.1, bias_correction2=0.001)
    """
    T = param.dtype.type
    g = -grad if maximize else grad
    exp_avg *= T(beta1)
    exp_avg += T(1 - beta1) * g
    square = g * g
    exp_avg_sq -= (T(1 - beta2) * np.sign(exp_avg_sq - square)) * square
    update = (exp_avg / T(bias_correction1)) / (np.sqrt(exp_avg_sq / T(bias_correction2))
                                                + T(eps))
    param += T(-lr) * update
