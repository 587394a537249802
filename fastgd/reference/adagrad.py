"""Adagrad (torch.optim.Adagrad): the NumPy spec and its declaration."""

from __future__ import annotations

import numpy as np

from fastgd.reference._declare import kernel


@kernel()
def adagrad(param, grad, state_sum, *, clr, eps, weight_decay=0.0, maximize=False) -> None:
    r"""Adagrad, as ``torch.optim.Adagrad``.

    .. math::
        g &\leftarrow g + wd\,p \\
        s &\leftarrow s + g^2 \\
        p &\leftarrow p - \eta_t \frac{g}{\sqrt{s} + \epsilon},
        \qquad \eta_t = \frac{\eta}{1 + (t-1)\,\text{lr\_decay}}

    ``clr`` is :math:`\eta_t`, computed once per step in float64.

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        s = np.zeros(3)
        fastgd.reference.adagrad(p, g, s, clr=0.01, eps=1e-10)
    """
    T = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + T(weight_decay) * param
    state_sum += g * g
    param += T(-clr) * g / (np.sqrt(state_sum) + T(eps))
