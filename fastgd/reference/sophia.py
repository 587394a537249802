"""Sophia's step and its Hessian moving average (the official SophiaG)."""

from __future__ import annotations

import numpy as np

from fastgd.reference._declare import kernel


@kernel(read_only=("grad", "hessian"))
def sophia(param, grad, exp_avg, hessian, *, lr, beta1, rho, eps, weight_decay=0.0,
           maximize=False) -> None:
    r"""Sophia's step, as the official SophiaG (Liu et al. 2023, github.com/Liuhong99/Sophia,
    ``sophia.py``), with the batch-size factor ``bs`` of its denominator moved into the
    Hessian estimate (:func:`sophia_hessian`).

    .. math::
        p &\leftarrow p\,(1 - \eta\,wd) \\
        m &\leftarrow \beta_1 m + (1-\beta_1) g \\
        p &\leftarrow p - \eta\,\operatorname{sign}(m)\,
            \min\!\Big(\frac{|m|}{\rho\,\max(h, 0) + \epsilon},\ 1\Big)

    ``h`` (``hessian``) is only read here. m has no bias correction. The official code
    divides by ``rho * bs * h + 1e-15`` with ``h`` the average of the squared gradients
    ``g*g``; here ``h`` averages the caller's estimates, which for the Gauss-Newton-Bartlett
    estimator are ``bs * g*g`` (:func:`fastgd.optim.hessian.gauss_newton_bartlett`), so the two
    agree up to rounding. ``max(h, 0)`` (the ReLU of the first, SophiaH release) changes
    nothing for the non-negative Gauss-Newton-Bartlett estimates; a negative ``h`` (a
    Hutchinson estimate can be) gives a sign step instead of a step uphill. sign(0) = 0;
    NaN propagates. ``min(., 1)`` is the clipping: the step of every coordinate is at most
    ``lr`` in size.

    ``optax.contrib.sophia`` differs: it bias-corrects m (``m / (1 - b1**t)``), divides by
    ``max(gamma * h, eps)``, decays additively (``p - lr * (u + wd * p)``), estimates h
    itself (Hutchinson) and refreshes it after the update of steps 1, k + 1, ...; its
    update is this one when b1 = 0 (up to rounding and eps) or while h = 0 (sign steps).

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        m = np.zeros(3)
        h = np.full(3, 0.5)
        fastgd.reference.sophia(p, g, m, h, lr=1e-4, beta1=0.965, rho=0.04, eps=1e-15)
    """
    T = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0:
        param *= T(1 - lr * weight_decay)
    exp_avg *= T(beta1)
    exp_avg += T(1 - beta1) * g
    curvature = np.where(hessian <= 0, T(0), hessian)  # max(h, 0); NaN stays NaN
    ratio = np.minimum(np.abs(exp_avg) / (T(rho) * curvature + T(eps)), T(1))
    param += (T(-lr) * np.sign(exp_avg)) * ratio


@kernel(read_only=("estimate",))
def sophia_hessian(hessian, estimate, *, beta2) -> None:
    r"""Sophia's Hessian update: the moving average of diagonal Hessian estimates.

    .. math::
        h \leftarrow \beta_2 h + (1-\beta_2)\,\hat h

    as the official SophiaG's ``update_hessian`` (which averages ``g*g``; pass the
    Gauss-Newton-Bartlett estimate ``bs * g*g`` or a Hutchinson estimate as ``estimate``).

    Example::

        h = np.zeros(3)
        estimate = np.array([0.25, 0.25, 1.0])
        fastgd.reference.sophia_hessian(h, estimate, beta2=0.99)
    """
    T = hessian.dtype.type
    hessian *= T(beta2)
    hessian += T(1 - beta2) * estimate
