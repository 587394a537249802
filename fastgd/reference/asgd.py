"""Averaged SGD (torch.optim.ASGD): the NumPy spec, its declaration and its eta/mu schedule.
"""

from __future__ import annotations

import numpy as np

from fastgd.reference._declare import kernel


def _scalar_dtype(x: float) -> float:
    """``x`` as torch keeps it in a state tensor of its scalar dtype (float32)."""
    with np.errstate(over="ignore"):
        return float(np.float32(x))


def asgd_schedule(lr: float, lambd: float, alpha: float, t0: float,
                  step: int) -> tuple[float, float]:
    """ASGD's ``(eta, mu)`` after ``step`` steps, as torch computes them in Python floats
    and stores them in float32: ``lr / (1 + lambd * lr * step) ** alpha`` and
    ``1 / max(1, step - t0)``. Step 0 gives the starting values ``(lr, 1)``. A complex
    power (a negative base) keeps its real part, as torch's copy into a real tensor does.
    """
    lr, lambd, alpha, t0 = float(lr), float(lambd), float(alpha), float(t0)
    if step == 0:
        return _scalar_dtype(lr), 1.0
    try:
        eta = lr / ((1 + lambd * lr * step) ** alpha)
    except (ZeroDivisionError, OverflowError) as exc:
        raise ValueError(f"ASGD: eta = lr / (1 + lambd * lr * step) ** alpha cannot be "
                         f"computed at step {step} with lr={lr}, lambd={lambd}, "
                         f"alpha={alpha}: {exc}") from None
    if isinstance(eta, complex):
        eta = eta.real
    return _scalar_dtype(eta), _scalar_dtype(1 / max(1, step - t0))


@kernel()
def asgd(param, grad, ax, *, eta, lambd, mu, weight_decay=0.0, maximize=False) -> None:
    r"""Averaged SGD, as ``torch.optim.ASGD`` (its for-loop path).

    .. math::
        g &\leftarrow g + wd\,p \\
        p &\leftarrow p\,(1 - \lambda\eta) - \eta\, g \\
        \bar p &\leftarrow \bar p + \mu\,(p - \bar p) \ \ (\mu \ne 1)
             \quad\text{or}\quad \bar p \leftarrow p \ \ (\mu = 1)

    ``eta`` and ``mu`` are the parameter's state values before the step (torch keeps them
    in float32; :func:`asgd_schedule` gives them); ``ax`` is :math:`\bar p`, the average.

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        ax = np.zeros(3)
        eta, mu = fastgd.reference.asgd_schedule(0.01, 1e-4, 0.75, 1e6, 1)
        fastgd.reference.asgd(p, g, ax, eta=eta, lambd=1e-4, mu=mu)
    """
    T = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + T(weight_decay) * param
    param *= T(1 - lambd * eta)
    param += T(-eta) * g
    if mu != 1:
        ax += (param - ax) * T(mu)
    else:
        ax[...] = param
