"""Schedule-Free SGD and AdamW, as the schedulefree package."""

from __future__ import annotations

import numpy as np

from fastgd.reference._common import lerp_
from fastgd.reference._declare import kernel


@kernel()
def sgd_schedule_free(param, grad, z, *, lr, momentum, weight_decay=0.0, ckp1,
                      maximize=False) -> None:
    r"""Schedule-Free SGD (Defazio et al. 2024), as ``SGDScheduleFree`` of the
    ``schedulefree`` package (1.4.1), the parameter holding y.

    .. math::
        g &\leftarrow g + wd\,y \\
        y &\leftarrow \operatorname{lerp}(y, z, c_{k+1}) + \eta_k(\beta(1 - c_{k+1}) - 1)\,g \\
        z &\leftarrow z - \eta_k g

    which is :math:`z \leftarrow z - \eta_k g`, :math:`x \leftarrow (1-c_{k+1})x +
    c_{k+1} z`, :math:`y = \beta x + (1-\beta) z` without storing x. ``lr`` is the
    scheduled :math:`\eta_k` (warmup applied) and ``ckp1`` the averaging weight
    :math:`c_{k+1}`, both computed by the optimizer in float64; ``momentum`` is
    :math:`\beta`. The weight decay is taken at y, as in the package.

    The optimizer computes, per parameter at its step k (from 0):
    :math:`\eta_k = \text{lr} \min((k+1)/\text{warmup}, 1)`,
    :math:`\text{lr\_max} = \max_{j \le k} \eta_j`,
    :math:`w_k = (k+1)^r\,\text{lr\_max}^{\text{weight\_lr\_power}}` and
    :math:`c_{k+1} = w_k / \sum_{j \le k} w_j` (0 while the sum is 0). The package keeps
    k and the weights per parameter group; fastgd per parameter (as optax), which is the
    same unless a parameter skips steps. ``optax.contrib.schedule_free_sgd`` computes the
    same y with other rounding (x recomputed from y and z); it has no r, and with warmup
    its z step takes the schedule one step behind the weights (and in float32).

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        z = p.copy()
        fastgd.reference.sgd_schedule_free(p, g, z, lr=1.0, momentum=0.9, ckp1=1.0)
    """
    T = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + T(weight_decay) * param
    lerp_(param, z, ckp1)
    param += T(lr * (momentum * (1 - ckp1) - 1)) * g
    z -= T(lr) * g


@kernel()
def adamw_schedule_free(param, grad, z, exp_avg_sq, *, lr, beta1, beta2, eps,
                        weight_decay=0.0, ckp1, bias_correction2, maximize=False) -> None:
    r"""Schedule-Free AdamW (Defazio et al. 2024), as ``AdamWScheduleFree`` of the
    ``schedulefree`` package (1.4.1), the parameter holding y.

    .. math::
        v &\leftarrow \beta_2 v + (1-\beta_2) g^2 \\
        u &= \frac{g}{\sqrt{v / (1-\beta_2^{k+1})} + \epsilon} + wd\,y \\
        y &\leftarrow \operatorname{lerp}(y, z, c_{k+1}) + \eta_k(\beta_1(1 - c_{k+1}) - 1)\,u \\
        z &\leftarrow z - \eta_k u

    ``bias_correction2`` is :math:`1-\beta_2^{k+1}`; ``lr`` the scheduled :math:`\eta_k`
    and ``ckp1`` the averaging weight :math:`c_{k+1}`, computed by the optimizer in
    float64. The weight decay is taken at y, after the normalisation, as in the package.
    Schedule and weights: as :func:`sgd_schedule_free`; the same notes on
    ``optax.contrib.schedule_free_adamw`` apply.

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        z = p.copy()
        v = np.zeros(3)
        fastgd.reference.adamw_schedule_free(p, g, z, v, lr=2.5e-3, beta1=0.9, beta2=0.999,
                                             eps=1e-8, ckp1=1.0, bias_correction2=1 - 0.999)
    """
    T = param.dtype.type
    g = -grad if maximize else grad
    exp_avg_sq *= T(beta2)
    exp_avg_sq += T(1 - beta2) * g * g
    u = g / (np.sqrt(exp_avg_sq / T(bias_correction2)) + T(eps))
    if weight_decay != 0:
        u = u + T(weight_decay) * param
    lerp_(param, z, ckp1)
    param += T(lr * (beta1 * (1 - ckp1) - 1)) * u
    z -= T(lr) * u
