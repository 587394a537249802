"""Adam, AdamW and AMSGrad, in torch's form (adam) and optax's (adam_eps_root)."""

from __future__ import annotations

import numpy as np

from fastgd.reference._common import lerp_
from fastgd.reference._declare import kernel


@kernel(needed={"max_exp_avg_sq": lambda s: s.get("amsgrad", False)},
        step_formulas={"bias_correction1": ("beta1", 1), "bias_correction2_sqrt": ("beta2", 2)})
def adam(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, *, lr, beta1, beta2, eps,
         weight_decay=0.0, bias_correction1, bias_correction2_sqrt, amsgrad=False,
         decoupled_weight_decay=False, maximize=False) -> None:
    r"""Adam, AdamW and AMSGrad, as ``torch.optim.Adam`` / ``torch.optim.AdamW``.

    .. math::
        p &\leftarrow p\,(1 - \eta\,wd) \ \text{(decoupled)} \quad\text{or}\quad
            g \leftarrow g + wd\,p \\
        m &\leftarrow m + (1-\beta_1)(g - m) \\
        v &\leftarrow \beta_2 v + (1-\beta_2) g^2 \\
        \hat v &\leftarrow \max(\hat v, v) \ \text{(amsgrad, on the raw } v) \\
        p &\leftarrow p - \frac{\eta}{1-\beta_1^t}\,
            \frac{m}{\sqrt{v}/\sqrt{1-\beta_2^t} + \epsilon}

    ``bias_correction1 = 1 - beta1**t`` and ``bias_correction2_sqrt = sqrt(1 - beta2**t)``
    are computed once per step in float64 (:func:`bias_corrections`); eps is added after
    the bias correction, as in torch. This is what ``fastgd.Adam`` / ``AdamW`` run by
    default (``eps_root=None``, torch's form); ``eps_root=<number>`` runs
    :func:`adam_eps_root` instead (optax's form).

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        m = np.zeros(3)
        v = np.zeros(3)
        bc1, bc2_sqrt = fastgd.reference.bias_corrections(0.9, 0.999, 1)
        fastgd.reference.adam(p, g, m, v, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                              bias_correction1=bc1, bias_correction2_sqrt=bc2_sqrt)
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
    if amsgrad:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        second_moment = max_exp_avg_sq
    else:
        second_moment = exp_avg_sq
    denom = np.sqrt(second_moment) / T(bias_correction2_sqrt) + T(eps)
    param += T(-(np.float64(lr) / bias_correction1)) * exp_avg / denom


@kernel(needed={"max_exp_avg_sq": lambda s: s.get("amsgrad", False)},
        step_formulas={"bias_correction1": ("beta1", 1), "bias_correction2": ("beta2", 1)})
def adam_eps_root(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, *, lr, beta1, beta2,
                  eps, eps_root=0.0, weight_decay=0.0, bias_correction1, bias_correction2,
                  amsgrad=False, decoupled_weight_decay=False, maximize=False) -> None:
    r"""Adam, AdamW and AMSGrad in optax's form: ``optax.adam`` / ``optax.adamw`` /
    ``optax.amsgrad`` (what ``fastgd.Adam(..., eps_root=x)`` runs).

    .. math::
        g &\leftarrow g + wd\,p \ \text{(not decoupled)} \\
        m &\leftarrow (1-\beta_1) g + \beta_1 m \\
        v &\leftarrow (1-\beta_2) g^2 + \beta_2 v \\
        \hat m &= m / (1-\beta_1^t), \quad \hat v = v / (1-\beta_2^t) \\
        \hat v &\leftarrow \max(\hat v_{\max}, \hat v) \ \text{(amsgrad, on the
            bias-corrected } \hat v\text{, kept in max\_exp\_avg\_sq)} \\
        u &= \frac{\hat m}{\sqrt{\hat v + \epsilon_{root}} + \epsilon}
            \;(+\ wd\,p \ \text{decoupled}) \\
        p &\leftarrow p - \eta\,u

    ``bias_correction1 = 1 - beta1**t`` and ``bias_correction2 = 1 - beta2**t`` are computed
    once per step in float64 and rounded to the array's dtype, as optax does. Every
    operation is rounded in optax's order (``optax.scale_by_adam`` / ``scale_by_amsgrad``,
    then ``add_decayed_weights``, then ``scale_by_learning_rate``): decoupled weight decay
    is added to the update, ``p - lr * (u + wd * p)`` (optax.adamw without a mask), not
    torch's ``p * (1 - lr * wd)`` first; with ``amsgrad`` the maximum is taken over the
    bias-corrected second moment (optax.amsgrad), where torch takes it over the raw one.
    With ``eps_root = 0`` this is still not bit-identical to :func:`adam`: eps is added to
    ``sqrt(v / bc2)``, not to ``sqrt(v) / sqrt(bc2)``.

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        m = np.zeros(3)
        v = np.zeros(3)
        fastgd.reference.adam_eps_root(p, g, m, v, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                                       eps_root=0.0, bias_correction1=0.1, bias_correction2=0.001)
    """
    T = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0 and not decoupled_weight_decay:
        g = g + T(weight_decay) * param
    exp_avg[...] = T(1 - beta1) * g + T(beta1) * exp_avg
    exp_avg_sq[...] = T(1 - beta2) * (g * g) + T(beta2) * exp_avg_sq
    m_hat = exp_avg / T(bias_correction1)
    v_hat = exp_avg_sq / T(bias_correction2)
    if amsgrad:
        np.maximum(max_exp_avg_sq, v_hat, out=max_exp_avg_sq)
        v_hat = max_exp_avg_sq
    update = m_hat / (np.sqrt(v_hat + T(eps_root)) + T(eps))
    if weight_decay != 0 and decoupled_weight_decay:
        update = update + T(weight_decay) * param
    param += T(-lr) * update
