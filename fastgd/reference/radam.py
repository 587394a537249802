"""RAdam, rectified Adam (torch.optim.RAdam): the NumPy spec and its declaration."""

from __future__ import annotations

import numpy as np

from fastgd.reference._common import lerp_
from fastgd.reference._declare import kernel


@kernel()
def radam(param, grad, exp_avg, exp_avg_sq, *, lr, beta1, beta2, eps, weight_decay=0.0,
          bias_correction1, bias_correction2_sqrt, rectification, rectified=False,
          decoupled_weight_decay=False, maximize=False) -> None:
    r"""RAdam, as ``torch.optim.RAdam`` (Liu et al. 2020, rectified Adam).

    .. math::
        p &\leftarrow p\,(1 - \eta\,wd) \ \text{(decoupled)} \quad\text{or}\quad
            g \leftarrow g + wd\,p \\
        m &\leftarrow m + (1-\beta_1)(g - m) \\
        v &\leftarrow \beta_2 v + (1-\beta_2) g^2 \\
        \hat m &= m / (1-\beta_1^t) \\
        p &\leftarrow p - \eta\,\hat m\,\frac{\sqrt{1-\beta_2^t}}{\sqrt{v} + \epsilon}\,r_t
            \ \text{(rectified)} \quad\text{or}\quad p \leftarrow p - \eta\,\hat m

    The optimizer decides per step, in float64: :math:`\rho_\infty = 2/(1-\beta_2) - 1`,
    :math:`\rho_t = \rho_\infty - 2t\beta_2^t/(1-\beta_2^t)`; ``rectified`` is
    :math:`\rho_t > 5` (torch's threshold: with the default betas the first rectified
    step is t = 6) and ``rectification`` :math:`r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)
    \rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}` (unused when not rectified).
    Rounded as torch: ``((m_hat * lr) * (1 / (sqrt(v) + eps) * sqrt(bc2))) * r``. Unlike
    optax.radam (threshold ``>= 5``, eps on the bias-corrected root) and the original code
    (no update at all before rectification).

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        m = np.zeros(3)
        v = np.zeros(3)
        bc1, bc2_sqrt = fastgd.reference.bias_corrections(0.9, 0.999, 1)
        fastgd.reference.radam(p, g, m, v, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                               bias_correction1=bc1, bias_correction2_sqrt=bc2_sqrt,
                               rectification=1.0, rectified=False)  # step 1: not rectified
    """
    T = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= T(1 - lr * weight_decay)
        else:
            g = g + T(weight_decay) * param
    lerp_(exp_avg, g, 1 - beta1)
    exp_avg_sq *= T(beta2)
    exp_avg_sq += T(1 - beta2) * g * g
    corrected = exp_avg / T(bias_correction1)
    if rectified:
        adaptive = np.reciprocal(np.sqrt(exp_avg_sq) + T(eps)) * T(bias_correction2_sqrt)
        param -= corrected * T(lr) * adaptive * T(rectification)
    else:
        param -= corrected * T(lr)
