"""LARS, momentum SGD with a per-tensor trust ratio (optax.lars): spec and declaration."""

from __future__ import annotations

from fastgd.reference._common import sum_of_squares, trust_ratio
from fastgd.reference._declare import kernel


@kernel(needed={"momentum_buffer": lambda s: s.get("momentum", 0.0) != 0.0})
def lars(param, grad, momentum_buffer=None, *, lr, momentum=0.0, weight_decay=0.0,
         trust_coefficient, eps=0.0, nesterov=False, maximize=False) -> None:
    r"""LARS (You, Gitman and Ginsburg 2017, "Large Batch Training of Convolutional
    Networks"), as ``optax.lars``.

    .. math::
        u &= g + wd\,p \\
        \tau &= \frac{c\,\|p\|}{\|u\| + \epsilon} \quad (1 \text{ if either norm is } 0) \\
        b &\leftarrow \mu b + \eta\,\tau\,u \\
        p &\leftarrow p - b \quad\text{or, with nesterov,}\quad
            p \leftarrow p - (\eta\,\tau\,u + \mu b)

    ``c`` is ``trust_coefficient``. The norm is of ``g + wd p``, not
    ``||g|| + wd ||p||``. As in the paper and in optax, the learning rate is applied before
    the momentum, so the buffer holds learning-rate-scaled steps (optax's ``trace`` holds
    ``-b``). Norms are square roots of :func:`sum_of_squares` and :math:`\tau` is computed
    in float64, rounded once to the array dtype. Without momentum there is no buffer.

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        buf = np.zeros(3)
        fastgd.reference.lars(p, g, buf, lr=0.1, momentum=0.9, trust_coefficient=1e-3)
    """
    T = param.dtype.type
    g = -grad if maximize else grad
    update = g + T(weight_decay) * param if weight_decay != 0 else g
    ratio = trust_ratio(sum_of_squares(param), sum_of_squares(update), trust_coefficient,
                         eps)
    scaled = T(lr) * (update * T(ratio))
    if momentum != 0:
        momentum_buffer *= T(momentum)
        momentum_buffer += scaled
        param -= scaled + T(momentum) * momentum_buffer if nesterov else momentum_buffer
    else:
        param -= scaled
