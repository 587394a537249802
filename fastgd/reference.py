"""The executable specification: every kernel in plain NumPy, line by line the equations.

Each function updates its buffers in place and returns None, with the same signature and
the same effect as its twin in :mod:`fastgd.kernels` (which runs the active backend). The
order of floating-point operations is torch.optim's single-tensor order, and every
hyperparameter is rounded once to the array's dtype, so that float32 and float64 results
are reproducible bit for bit by the compiled and Numba backends.

Notation: ``p`` parameter, ``g`` gradient (``-g`` when ``maximize``), ``t`` the step count
starting at 1, ``wd`` weight decay.
"""

from __future__ import annotations

import functools

import numpy as np

from fastgd._checks import KERNELS, check_buffers, prepare_call



def bias_corrections(beta1: float, beta2: float, step: int) -> tuple[float, float]:
    """Adam's ``(1 - beta1**t, sqrt(1 - beta2**t))``, in float64 as torch computes them."""
    beta1, beta2 = float(beta1), float(beta2)
    return 1 - beta1**step, (1 - beta2**step) ** 0.5


def sum_of_squares(x) -> float:
    """The sum of ``x**2`` in float64, in the order every backend uses for per-tensor norms:
    eight lanes, lane ``j`` adding the squares of the elements ``i = j (mod 8)`` in index
    order, then ``((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))``. Deterministic and the
    same for any thread count (``numpy.sum``'s pairwise order is not reproduced in C)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    m = -(-x.size // 8)
    if m == 0:
        return 0.0
    padded = np.zeros(8 * m)
    padded[:x.size] = x * x
    lanes = np.cumsum(padded.reshape(m, 8).T, axis=1)[:, -1]  # cumsum adds in index order
    return float(((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
                 + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7])))


def _checked(math_fn):
    """Check buffers and scalars, then run the unchecked math (kept as ``.math``)."""
    kernel = math_fn.__name__

    @functools.wraps(math_fn)
    def checked(*buffers, **scalars):
        buffers, scalars = prepare_call(kernel, buffers, scalars)
        check_buffers(kernel, tuple((b,) for b in buffers), scalars)
        with np.errstate(all="ignore"):  # NaN and Inf propagate silently, as in torch
            math_fn(*buffers, **scalars)

    checked.math = math_fn
    return checked


def _lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> None:
    """``start += weight * (end - start)`` in place, as ``torch.lerp`` rounds it."""
    T = start.dtype.type
    w = T(weight)
    if w < 0.5:
        start += w * (end - start)
    else:
        start[...] = end - (end - start) * (T(1) - w)


@_checked
def sgd(param, grad, momentum_buffer=None, *, lr, momentum=0.0, dampening=0.0,
        weight_decay=0.0, nesterov=False, maximize=False, first_step=False):
    r"""Stochastic gradient descent with momentum, as ``torch.optim.SGD``.

    .. math::
        g &\leftarrow g + wd\,p \\
        b &\leftarrow \begin{cases} g & \text{first step} \\
                      \mu b + (1-\tau) g & \text{otherwise} \end{cases} \\
        g &\leftarrow g + \mu b \ \text{(nesterov)} \quad\text{or}\quad g \leftarrow b \\
        p &\leftarrow p - \eta g

    The momentum buffer ``b`` is used only when ``momentum != 0``; on the first step it is
    the gradient itself, without dampening (torch's behaviour).
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


@_checked
def adam(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, *, lr, beta1, beta2, eps,
         weight_decay=0.0, bias_correction1, bias_correction2_sqrt, amsgrad=False,
         decoupled_weight_decay=False, maximize=False):
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
    the bias correction, as in torch.
    """
    T = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= T(1 - lr * weight_decay)
        else:
            g = g + T(weight_decay) * param
    _lerp_(exp_avg, g, 1 - beta1)
    exp_avg_sq *= T(beta2)
    exp_avg_sq += T(1 - beta2) * g * g
    if amsgrad:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        second_moment = max_exp_avg_sq
    else:
        second_moment = exp_avg_sq
    denom = np.sqrt(second_moment) / T(bias_correction2_sqrt) + T(eps)
    param += T(-(np.float64(lr) / bias_correction1)) * exp_avg / denom


@_checked
def adagrad(param, grad, state_sum, *, clr, eps, weight_decay=0.0, maximize=False):
    r"""Adagrad, as ``torch.optim.Adagrad``.

    .. math::
        g &\leftarrow g + wd\,p \\
        s &\leftarrow s + g^2 \\
        p &\leftarrow p - \eta_t \frac{g}{\sqrt{s} + \epsilon},
        \qquad \eta_t = \frac{\eta}{1 + (t-1)\,\text{lr\_decay}}

    ``clr`` is :math:`\eta_t`, computed once per step in float64.
    """
    T = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + T(weight_decay) * param
    state_sum += g * g
    param += T(-clr) * g / (np.sqrt(state_sum) + T(eps))


@_checked
def rmsprop(param, grad, square_avg, grad_avg=None, momentum_buffer=None, *, lr, alpha, eps,
            weight_decay=0.0, momentum=0.0, centered=False, maximize=False):
    r"""RMSprop, as ``torch.optim.RMSprop`` (eps outside the square root, no bias correction).

    .. math::
        g &\leftarrow g + wd\,p \\
        v &\leftarrow \alpha v + (1-\alpha) g^2 \\
        \bar g &\leftarrow \bar g + (1-\alpha)(g - \bar g) \ \text{(centered)} \\
        a &= \sqrt{v - \bar g^2} + \epsilon \ \text{(centered)} \quad\text{or}\quad
             \sqrt{v} + \epsilon \\
        b &\leftarrow \mu b + g / a, \quad p \leftarrow p - \eta b \ \text{(momentum > 0)}
             \quad\text{or}\quad p \leftarrow p - \eta\, g / a
    """
    T = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + T(weight_decay) * param
    square_avg *= T(alpha)
    square_avg += T(1 - alpha) * g * g
    if centered:
        _lerp_(grad_avg, g, 1 - alpha)
        avg = np.sqrt(square_avg - grad_avg * grad_avg)
    else:
        avg = np.sqrt(square_avg)
    avg = avg + T(eps)
    if momentum > 0:
        momentum_buffer *= T(momentum)
        momentum_buffer += g / avg
        param += T(-lr) * momentum_buffer
    else:
        param += T(-lr) * g / avg


# ---- begin reference: adam-family (Adadelta, Adamax, NAdam, RAdam) ----
# ---- end reference: adam-family ----

# ---- begin reference: torch-other (Rprop, ASGD, Adafactor) ----
# ---- end reference: torch-other ----

# ---- begin reference: optax (Lion, AdaBelief, LAMB, LARS, Yogi) ----
# ---- end reference: optax ----

# ---- begin reference: sophia-schedulefree (Sophia, SGDScheduleFree, AdamWScheduleFree) ----

@_checked
def sophia(param, grad, exp_avg, hessian, *, lr, beta1, rho, eps, weight_decay=0.0,
           maximize=False):
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
    estimator are ``bs * g*g`` (:func:`fastgd.hessian.gauss_newton_bartlett`), so the two
    agree up to rounding. ``max(h, 0)`` (the ReLU of the first, SophiaH release) changes
    nothing for the non-negative Gauss-Newton-Bartlett estimates; a negative ``h`` (a
    Hutchinson estimate can be) gives a sign step instead of a step uphill. sign(0) = 0;
    NaN propagates. ``min(., 1)`` is the clipping: the step of every coordinate is at most
    ``lr`` in size.

    ``optax.contrib.sophia`` differs: it bias-corrects m (``m / (1 - b1**t)``), divides by
    ``max(gamma * h, eps)``, decays additively (``p - lr * (u + wd * p)``), estimates h
    itself (Hutchinson) and refreshes it after the update of steps 1, k + 1, ...; its
    update is this one when b1 = 0 (up to rounding and eps) or while h = 0 (sign steps).
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


@_checked
def sophia_hessian(hessian, estimate, *, beta2):
    r"""Sophia's Hessian update: the moving average of diagonal Hessian estimates.

    .. math::
        h \leftarrow \beta_2 h + (1-\beta_2)\,\hat h

    as the official SophiaG's ``update_hessian`` (which averages ``g*g``; pass the
    Gauss-Newton-Bartlett estimate ``bs * g*g`` or a Hutchinson estimate as ``estimate``).
    """
    T = hessian.dtype.type
    hessian *= T(beta2)
    hessian += T(1 - beta2) * estimate


@_checked
def sgd_schedule_free(param, grad, z, *, lr, momentum, weight_decay=0.0, ckp1,
                      maximize=False):
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
    """
    T = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + T(weight_decay) * param
    _lerp_(param, z, ckp1)
    param += T(lr * (momentum * (1 - ckp1) - 1)) * g
    z -= T(lr) * g


@_checked
def adamw_schedule_free(param, grad, z, exp_avg_sq, *, lr, beta1, beta2, eps,
                        weight_decay=0.0, ckp1, bias_correction2, maximize=False):
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
    """
    T = param.dtype.type
    g = -grad if maximize else grad
    exp_avg_sq *= T(beta2)
    exp_avg_sq += T(1 - beta2) * g * g
    u = g / (np.sqrt(exp_avg_sq / T(bias_correction2)) + T(eps))
    if weight_decay != 0:
        u = u + T(weight_decay) * param
    _lerp_(param, z, ckp1)
    param += T(lr * (beta1 * (1 - ckp1) - 1)) * u
    z -= T(lr) * u
# ---- end reference: sophia-schedulefree ----


__all__ = [name for name, decl in KERNELS.items() if decl.public] + ["bias_corrections",
                                                                   "sum_of_squares"]
