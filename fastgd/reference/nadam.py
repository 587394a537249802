"""NAdam with its momentum schedule (torch.optim.NAdam): the spec and its declaration."""

from __future__ import annotations

import numpy as np

from fastgd.reference._common import lerp_
from fastgd.reference._declare import kernel


@kernel()
def nadam(param, grad, exp_avg, exp_avg_sq, *, lr, beta1, beta2, eps, weight_decay=0.0,
          bias_correction2, mu, mu_next, mu_product, decoupled_weight_decay=False,
          maximize=False) -> None:
    r"""NAdam, as ``torch.optim.NAdam`` (Dozat 2016, with its momentum schedule).

    .. math::
        p &\leftarrow p\,(1 - \eta\,wd) \ \text{(decoupled)} \quad\text{or}\quad
            g \leftarrow g + wd\,p \\
        m &\leftarrow m + (1-\beta_1)(g - m) \\
        v &\leftarrow \beta_2 v + (1-\beta_2) g^2 \\
        D &= \sqrt{v / (1-\beta_2^t)} + \epsilon \\
        p &\leftarrow p - \frac{\eta\,(1-\mu_t)}{1-\Pi_t}\,\frac{g}{D} \\
        p &\leftarrow p - \frac{\eta\,\mu_{t+1}}{1-\Pi_t\,\mu_{t+1}}\,\frac{m}{D}

    with :math:`\mu_t = \beta_1 (1 - \tfrac12\, 0.96^{t\,\psi})` (``mu``; ``mu_next`` is
    :math:`\mu_{t+1}`, ψ the momentum decay) and ``mu_product`` :math:`\Pi_t =
    \prod_{k \le t} \mu_k`, this step's factor included. The optimizer computes them in
    float64 and keeps :math:`\Pi_t` rounded to float32 after every step, as torch keeps it
    in a float32 tensor; both coefficients are computed here in float64, as torch does in
    Python. The two parameter updates are rounded one after the other, as in torch.
    This is not optax.nadam, which is Adam with a Nesterov first moment and no schedule.

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        m = np.zeros(3)
        v = np.zeros(3)
        mu = 0.9 * (1 - 0.5 * 0.96 ** (1 * 0.004))  # torch's momentum schedule at t = 1
        mu_next = 0.9 * (1 - 0.5 * 0.96 ** (2 * 0.004))
        fastgd.reference.nadam(p, g, m, v, lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                               bias_correction2=1 - 0.999, mu=mu, mu_next=mu_next, mu_product=mu)
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
    denom = np.sqrt(exp_avg_sq / T(bias_correction2)) + T(eps)
    neg_lr = -np.float64(lr)  # NumPy floats: a zero denominator gives inf, as in C
    grad_coefficient = neg_lr * (1.0 - mu) / (1.0 - np.float64(mu_product))
    avg_coefficient = neg_lr * mu_next / (1.0 - np.float64(mu_product) * mu_next)
    param += T(grad_coefficient) * g / denom
    param += T(avg_coefficient) * exp_avg / denom
