"""RMSprop, eps outside the square root (torch's rmsprop) or inside (optax's form)."""

from __future__ import annotations

import numpy as np

from fastgd.reference._common import lerp_
from fastgd.reference._declare import kernel

_RMSPROP_NEEDED = {"grad_avg": lambda s: s.get("centered", False),
                   "momentum_buffer": lambda s: s.get("momentum", 0.0) > 0.0}


@kernel(needed=_RMSPROP_NEEDED, step_formulas={})
def rmsprop(param, grad, square_avg, grad_avg=None, momentum_buffer=None, *, lr, alpha, eps,
            weight_decay=0.0, momentum=0.0, centered=False, maximize=False,
            eps_in_sqrt=False) -> None:
    r"""RMSprop, as ``torch.optim.RMSprop`` (eps outside the square root, no bias correction),
    or with ``eps_in_sqrt=True`` eps inside the square root, ``optax.rmsprop``'s default form.

    .. math::
        g &\leftarrow g + wd\,p \\
        v &\leftarrow \alpha v + (1-\alpha) g^2 \\
        \bar g &\leftarrow \bar g + (1-\alpha)(g - \bar g) \ \text{(centered)} \\
        a &= \sqrt{v - \bar g^2} + \epsilon \ \text{(centered)} \quad\text{or}\quad
             \sqrt{v} + \epsilon \quad \text{(eps\_in\_sqrt = False)} \\
        a &= \sqrt{v - \bar g^2 + \epsilon} \ \text{(centered)} \quad\text{or}\quad
             \sqrt{v + \epsilon} \quad \text{(eps\_in\_sqrt = True)} \\
        b &\leftarrow \mu b + g / a, \quad p \leftarrow p - \eta b \ \text{(momentum > 0)}
             \quad\text{or}\quad p \leftarrow p - \eta\, g / a

    This is what ``fastgd.RMSprop`` runs, with its ``eps_in_sqrt`` option (default False,
    torch's form). With ``eps_in_sqrt=True`` it equals ``optax.rmsprop(lr, decay=alpha,
    eps=eps, eps_in_sqrt=True, centered=centered, momentum=momentum or None)`` with its
    default ``initial_scale=0`` and ``bias_correction=False`` (torch's v starts at zero
    too). The operations are rounded in torch's order (optax multiplies by
    ``rsqrt(v + eps)``), within a few ulps of optax. With momentum, optax's trace
    accumulates updates already scaled by the learning rate while torch's buffer (kept
    here) does not: the two agree while the learning rate is constant and differ after it
    changes.

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        sq = np.zeros(3)
        fastgd.reference.rmsprop(p, g, sq, lr=0.01, alpha=0.99, eps=1e-8)
        fastgd.reference.rmsprop(p, g, sq, lr=0.01, alpha=0.9, eps=1e-8, eps_in_sqrt=True)
    """
    T = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + T(weight_decay) * param
    square_avg *= T(alpha)
    square_avg += T(1 - alpha) * g * g
    if centered:
        lerp_(grad_avg, g, 1 - alpha)
        v = square_avg - grad_avg * grad_avg
    else:
        v = square_avg
    if eps_in_sqrt:
        avg = np.sqrt(v + T(eps))
    else:
        avg = np.sqrt(v) + T(eps)
    if momentum > 0:
        momentum_buffer *= T(momentum)
        momentum_buffer += g / avg
        param += T(-lr) * momentum_buffer
    else:
        param += T(-lr) * g / avg
