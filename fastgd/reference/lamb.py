"""LAMB, Adam with a per-tensor trust ratio (optax.lamb): the spec and its declaration."""

from __future__ import annotations

import numpy as np

from fastgd.reference._common import sum_of_squares, trust_ratio
from fastgd.reference._declare import kernel


@kernel(step_formulas={"bias_correction1": ("beta1", 1), "bias_correction2": ("beta2", 1)})
def lamb(param, grad, exp_avg, exp_avg_sq, *, lr, beta1, beta2, eps, weight_decay=0.0,
         bias_correction1, bias_correction2, maximize=False) -> None:
    r"""LAMB (You et al. 2019, "Large Batch Optimization for Deep Learning"), as
    ``optax.lamb``.

    .. math::
        m &\leftarrow \beta_1 m + (1-\beta_1) g, \qquad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2 \\
        r &= \frac{m / (1-\beta_1^t)}{\sqrt{v / (1-\beta_2^t)} + \epsilon} + wd\,p \\
        \tau &= \|p\| / \|r\| \quad (1 \text{ if either norm is } 0) \\
        p &\leftarrow p - \eta\,\tau\,r

    Norms are of the whole tensor (per parameter): square roots of
    :func:`sum_of_squares`, and :math:`\tau` is computed in float64 and rounded once to the
    array dtype. ``wd p`` uses the parameter before the step. optax's ``eps_root`` is 0.

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        m = np.zeros(3)
        v = np.zeros(3)
        fastgd.reference.lamb(p, g, m, v, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-6,
                              bias_correction1=0.1, bias_correction2=0.001)
    """
    T = param.dtype.type
    g = -grad if maximize else grad
    exp_avg *= T(beta1)
    exp_avg += T(1 - beta1) * g
    exp_avg_sq *= T(beta2)
    exp_avg_sq += T(1 - beta2) * (g * g)
    update = (exp_avg / T(bias_correction1)) / (np.sqrt(exp_avg_sq / T(bias_correction2))
                                                + T(eps))
    if weight_decay != 0:
        update = update + T(weight_decay) * param
    ratio = trust_ratio(sum_of_squares(param), sum_of_squares(update))
    param += T(-lr) * (update * T(ratio))
