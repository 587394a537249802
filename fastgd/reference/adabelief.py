"""AdaBelief (optax.adabelief): the NumPy spec and its declaration."""

from __future__ import annotations

import numpy as np

from fastgd.reference._declare import kernel


@kernel(step_formulas={"bias_correction1": ("beta1", 1), "bias_correction2": ("beta2", 1)})
def adabelief(param, grad, exp_avg, exp_avg_var, *, lr, beta1, beta2, eps, eps_root,
              weight_decay=0.0, bias_correction1, bias_correction2, maximize=False) -> None:
    r"""AdaBelief (Zhuang et al. 2020) without rectification, as ``optax.adabelief``.

    .. math::
        p &\leftarrow p\,(1 - \eta\,wd) \\
        m &\leftarrow \beta_1 m + (1-\beta_1) g \\
        s &\leftarrow \beta_2 s + (1-\beta_2)(g - m)^2 + \epsilon_{root} \\
        p &\leftarrow p - \eta\,\frac{m / (1-\beta_1^t)}{\sqrt{s / (1-\beta_2^t)} + \epsilon}

    ``(g - m)`` uses the new ``m``; ``eps_root`` is added to the stored ``s``, as optax and
    the authors' adabelief-pytorch do. Weight decay is decoupled, as in AdamW and in
    adabelief-pytorch's default ``weight_decouple=True``: the same value as optax's
    ``chain(scale_by_belief(...), add_decayed_weights(wd), scale_by_learning_rate(lr))``
    (like ``optax.adamw``), rounded as AdamW rounds it. ``bias_correction1 = 1 - beta1**t``
    and ``bias_correction2 = 1 - beta2**t`` in float64; the moments are divided by them as
    optax does.

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        m = np.zeros(3)
        s = np.zeros(3)
        fastgd.reference.adabelief(p, g, m, s, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-16,
                                   eps_root=1e-16, bias_correction1=0.1, bias_correction2=0.001)
    """
    T = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0:
        param *= T(1 - lr * weight_decay)
    exp_avg *= T(beta1)
    exp_avg += T(1 - beta1) * g
    error = g - exp_avg
    exp_avg_var *= T(beta2)
    exp_avg_var += T(1 - beta2) * (error * error)
    exp_avg_var += T(eps_root)
    update = (exp_avg / T(bias_correction1)) / (np.sqrt(exp_avg_var / T(bias_correction2))
                                                 + T(eps))
    param += T(-lr) * update
