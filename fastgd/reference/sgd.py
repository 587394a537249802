"""Stochastic gradient descent with momentum (torch.optim.SGD): the NumPy spec and its declaration.
"""

from __future__ import annotations

from fastgd.reference._declare import kernel


@kernel(needed={"momentum_buffer": lambda s: s.get("momentum", 0.0) != 0.0})
def sgd(param, grad, momentum_buffer=None, *, lr, momentum=0.0, dampening=0.0,
        weight_decay=0.0, nesterov=False, maximize=False, first_step=False) -> None:
    r"""Stochastic gradient descent with momentum, as ``torch.optim.SGD``.

    .. math::
        g &\leftarrow g + wd\,p \\
        b &\leftarrow \begin{cases} g & \text{first step} \\
                      \mu b + (1-\tau) g & \text{otherwise} \end{cases} \\
        g &\leftarrow g + \mu b \ \text{(nesterov)} \quad\text{or}\quad g \leftarrow b \\
        p &\leftarrow p - \eta g

    The momentum buffer ``b`` is used only when ``momentum != 0``; on the first step it is
    the gradient itself, without dampening (torch's behaviour).

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        buf = np.zeros(3)
        fastgd.reference.sgd(p, g, buf, lr=0.1, momentum=0.9, first_step=True)
    """
    T = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + T(weight_decay) * param
    if momentum != 0:
        if first_step:
            momentum_buffer[...] = g
        else:
            momentum_buffer *= T(momentum)
            momentum_buffer += T(1 - dampening) * g
        g = g + T(momentum) * momentum_buffer if nesterov else momentum_buffer
    param += T(-lr) * g
