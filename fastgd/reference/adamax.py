"""Adamax (torch.optim.Adamax): the NumPy spec and its declaration."""

from __future__ import annotations

import numpy as np

from fastgd.reference._common import lerp_
from fastgd.reference._declare import kernel


@kernel(step_formulas={"bias_correction1": ("beta1", 1)})
def adamax(param, grad, exp_avg, exp_inf, *, lr, beta1, beta2, eps, weight_decay=0.0,
           bias_correction1, maximize=False) -> None:
    r"""Adamax, as ``torch.optim.Adamax`` (the infinity-norm variant of Adam).

    .. math::
        g &\leftarrow g + wd\,p \\
        m &\leftarrow m + (1-\beta_1)(g - m) \\
        u &\leftarrow \max(\beta_2 u,\ |g| + \epsilon) \\
        p &\leftarrow p - \frac{\eta}{1-\beta_1^t}\,\frac{m}{u}

    ``bias_correction1 = 1 - beta1**t``, computed once per step in float64. eps sits inside
    the maximum (torch and optax.adamax; the paper, Kingma & Ba 2015, has none), so ``u``
    is never below eps. A NaN on either side of the maximum propagates.

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        m = np.zeros(3)
        u = np.zeros(3)
        fastgd.reference.adamax(p, g, m, u, lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                                bias_correction1=1 - 0.9)
    """
    T = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + T(weight_decay) * param
    lerp_(exp_avg, g, 1 - beta1)
    exp_inf *= T(beta2)
    np.maximum(exp_inf, np.abs(g) + T(eps), out=exp_inf)
    param += T(-(np.float64(lr) / bias_correction1)) * exp_avg / exp_inf
