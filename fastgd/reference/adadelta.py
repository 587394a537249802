"""Adadelta (torch.optim.Adadelta): the NumPy spec and its declaration."""

from __future__ import annotations

import numpy as np

from fastgd.reference._declare import kernel


@kernel(step_formulas={})
def adadelta(param, grad, square_avg, acc_delta, *, lr, rho, eps, weight_decay=0.0,
             maximize=False) -> None:
    r"""Adadelta, as ``torch.optim.Adadelta`` (eps inside both square roots).

    .. math::
        g &\leftarrow g + wd\,p \\
        s &\leftarrow \rho s + (1-\rho) g^2 \\
        \delta &= \frac{\sqrt{d + \epsilon}}{\sqrt{s + \epsilon}}\, g \\
        d &\leftarrow \rho d + (1-\rho) \delta^2 \\
        p &\leftarrow p - \eta\,\delta

    ``s`` is ``square_avg``, ``d`` is ``acc_delta``; ``d`` accumulates the step before the
    learning rate scales it (so ``lr`` does not enter the state), as in torch and in the
    paper (Zeiler 2012), where ``lr = 1``. optax.adadelta is the same rule.

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        sq = np.zeros(3)
        delta = np.zeros(3)
        fastgd.reference.adadelta(p, g, sq, delta, lr=1.0, rho=0.9, eps=1e-6)
    """
    T = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + T(weight_decay) * param
    square_avg *= T(rho)
    square_avg += T(1 - rho) * g * g
    std = np.sqrt(square_avg + T(eps))
    delta = np.sqrt(acc_delta + T(eps)) / std * g
    acc_delta *= T(rho)
    acc_delta += T(1 - rho) * delta * delta
    param += T(-lr) * delta
