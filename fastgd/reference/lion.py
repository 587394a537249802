"""Lion (Chen et al. 2023): the NumPy spec and its declaration."""

from __future__ import annotations

import numpy as np

from fastgd.reference._declare import kernel


@kernel()
def lion(param, grad, exp_avg, *, lr, beta1, beta2, weight_decay=0.0, maximize=False) -> None:
    r"""Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms").

    .. math::
        p &\leftarrow p\,(1 - \eta\,wd) \\
        p &\leftarrow p - \eta\,\operatorname{sign}(\beta_1 m + (1-\beta_1) g) \\
        m &\leftarrow \beta_2 m + (1-\beta_2) g

    The form of the paper's PyTorch code (decoupled weight decay applied first). It is
    ``optax.lion`` with the same ``weight_decay``: optax steps by
    :math:`-\eta(\operatorname{sign}(\cdot) + wd\,p)`, the same value rounded differently
    (they agree to about 1e-15 relative in float64). ``sign(0) = 0`` (a zero direction
    leaves the coordinate alone), ``sign(NaN) = NaN``. Two betas: :math:`\beta_1` mixes
    the direction, :math:`\beta_2` the stored momentum.

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        m = np.zeros(3)
        fastgd.reference.lion(p, g, m, lr=1e-4, beta1=0.9, beta2=0.99)
    """
    T = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0:
        param *= T(1 - lr * weight_decay)
    direction = np.sign(T(beta1) * exp_avg + T(1 - beta1) * g)
    param += T(-lr) * direction
    exp_avg *= T(beta2)
    exp_avg += T(1 - beta2) * g
