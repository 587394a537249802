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

from fastgd._checks import KERNELS, check_buffers, prepare_call, shaped_like_param


def bias_corrections(beta1: float, beta2: float, step: int) -> tuple[float, float]:
    """Adam's ``(1 - beta1**t, sqrt(1 - beta2**t))``, in float64 as torch computes them.

    Example::

        bc1, bc2_sqrt = fastgd.reference.bias_corrections(0.9, 0.999, step=10)
        assert bc1 == 1 - 0.9**10
    """
    beta1, beta2 = float(beta1), float(beta2)
    return 1 - beta1**step, (1 - beta2**step) ** 0.5


def sum_of_squares(x) -> float:
    """The sum of ``x**2`` in float64, in the order every backend uses for per-tensor norms:
    eight lanes, lane ``j`` adding the squares of the elements ``i = j (mod 8)`` in index
    order, then ``((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))``. Deterministic and the
    same for any thread count (``numpy.sum``'s pairwise order is not reproduced in C).

    Example::

        assert fastgd.reference.sum_of_squares(np.arange(10.0)) == 285.0
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    m = -(-x.size // 8)
    if m == 0:
        return 0.0
    padded = np.zeros(8 * m)
    with np.errstate(all="ignore"):  # inf and NaN propagate silently, as in the kernels
        padded[:x.size] = x * x
        lanes = np.cumsum(padded.reshape(m, 8).T, axis=1)[:, -1]  # adds in index order
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
            math_fn(*shaped_like_param(kernel, buffers), **scalars)

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


@_checked
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
def adagrad(param, grad, state_sum, *, clr, eps, weight_decay=0.0, maximize=False) -> None:
    r"""Adagrad, as ``torch.optim.Adagrad``.

    .. math::
        g &\leftarrow g + wd\,p \\
        s &\leftarrow s + g^2 \\
        p &\leftarrow p - \eta_t \frac{g}{\sqrt{s} + \epsilon},
        \qquad \eta_t = \frac{\eta}{1 + (t-1)\,\text{lr\_decay}}

    ``clr`` is :math:`\eta_t`, computed once per step in float64.

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        s = np.zeros(3)
        fastgd.reference.adagrad(p, g, s, clr=0.01, eps=1e-10)
    """
    T = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + T(weight_decay) * param
    state_sum += g * g
    param += T(-clr) * g / (np.sqrt(state_sum) + T(eps))


@_checked
def rmsprop(param, grad, square_avg, grad_avg=None, momentum_buffer=None, *, lr, alpha, eps,
            weight_decay=0.0, momentum=0.0, centered=False, maximize=False) -> None:
    r"""RMSprop, as ``torch.optim.RMSprop`` (eps outside the square root, no bias correction).

    .. math::
        g &\leftarrow g + wd\,p \\
        v &\leftarrow \alpha v + (1-\alpha) g^2 \\
        \bar g &\leftarrow \bar g + (1-\alpha)(g - \bar g) \ \text{(centered)} \\
        a &= \sqrt{v - \bar g^2} + \epsilon \ \text{(centered)} \quad\text{or}\quad
             \sqrt{v} + \epsilon \\
        b &\leftarrow \mu b + g / a, \quad p \leftarrow p - \eta b \ \text{(momentum > 0)}
             \quad\text{or}\quad p \leftarrow p - \eta\, g / a

    This is what ``fastgd.RMSprop`` runs by default (``eps_in_sqrt=False``, torch's form);
    ``eps_in_sqrt=True`` runs :func:`rmsprop_eps_in_sqrt` (optax.rmsprop's form).

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        sq = np.zeros(3)
        fastgd.reference.rmsprop(p, g, sq, lr=0.01, alpha=0.99, eps=1e-8)
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
@_checked
def adadelta(param, grad, square_avg, acc_delta, *, lr, rho, eps, weight_decay=0.0,
             maximize=False) -> None:
    r"""Adadelta, as ``torch.optim.Adadelta`` (eps inside both square roots).

    .. math::
        g &\leftarrow g + wd\,p \\
        s &\leftarrow \rho s + (1-\rho) g^2 \\
        \delta &= \frac{\sqrt{d + \epsilon}}{\sqrt{s + \epsilon}}\, g \\
        d &\leftarrow \rho d + (1-\rho) \delta^2 \\
        p &\leftarrow p - \eta\,\delta

    ``s`` is ``square_avg``, ``d`` is ``acc_delta``; ``d`` accumulates the step before the
    learning rate scales it (so ``lr`` does not enter the state), as in torch and in the
    paper (Zeiler 2012), where ``lr = 1``. optax.adadelta is the same rule.

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        sq = np.zeros(3)
        delta = np.zeros(3)
        fastgd.reference.adadelta(p, g, sq, delta, lr=1.0, rho=0.9, eps=1e-6)
    """
    T = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + T(weight_decay) * param
    square_avg *= T(rho)
    square_avg += T(1 - rho) * g * g
    std = np.sqrt(square_avg + T(eps))
    delta = np.sqrt(acc_delta + T(eps)) / std * g
    acc_delta *= T(rho)
    acc_delta += T(1 - rho) * delta * delta
    param += T(-lr) * delta


@_checked
def adamax(param, grad, exp_avg, exp_inf, *, lr, beta1, beta2, eps, weight_decay=0.0,
           bias_correction1, maximize=False) -> None:
    r"""Adamax, as ``torch.optim.Adamax`` (the infinity-norm variant of Adam).

    .. math::
        g &\leftarrow g + wd\,p \\
        m &\leftarrow m + (1-\beta_1)(g - m) \\
        u &\leftarrow \max(\beta_2 u,\ |g| + \epsilon) \\
        p &\leftarrow p - \frac{\eta}{1-\beta_1^t}\,\frac{m}{u}

    ``bias_correction1 = 1 - beta1**t``, computed once per step in float64. eps sits inside
    the maximum (torch and optax.adamax; the paper, Kingma & Ba 2015, has none), so ``u``
    is never below eps. A NaN on either side of the maximum propagates.

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        m = np.zeros(3)
        u = np.zeros(3)
        fastgd.reference.adamax(p, g, m, u, lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                                bias_correction1=1 - 0.9)
    """
    T = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + T(weight_decay) * param
    _lerp_(exp_avg, g, 1 - beta1)
    exp_inf *= T(beta2)
    np.maximum(exp_inf, np.abs(g) + T(eps), out=exp_inf)
    param += T(-(np.float64(lr) / bias_correction1)) * exp_avg / exp_inf


@_checked
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
    _lerp_(exp_avg, g, 1 - beta1)
    exp_avg_sq *= T(beta2)
    exp_avg_sq += T(1 - beta2) * g * g
    denom = np.sqrt(exp_avg_sq / T(bias_correction2)) + T(eps)
    neg_lr = -np.float64(lr)  # NumPy floats: a zero denominator gives inf, as in C
    grad_coefficient = neg_lr * (1.0 - mu) / (1.0 - np.float64(mu_product))
    avg_coefficient = neg_lr * mu_next / (1.0 - np.float64(mu_product) * mu_next)
    param += T(grad_coefficient) * g / denom
    param += T(avg_coefficient) * exp_avg / denom


@_checked
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
    _lerp_(exp_avg, g, 1 - beta1)
    exp_avg_sq *= T(beta2)
    exp_avg_sq += T(1 - beta2) * g * g
    corrected = exp_avg / T(bias_correction1)
    if rectified:
        adaptive = np.reciprocal(np.sqrt(exp_avg_sq) + T(eps)) * T(bias_correction2_sqrt)
        param -= corrected * T(lr) * adaptive * T(rectification)
    else:
        param -= corrected * T(lr)


@_checked
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


@_checked
def rmsprop_eps_in_sqrt(param, grad, square_avg, grad_avg=None, momentum_buffer=None, *, lr,
                        alpha, eps, weight_decay=0.0, momentum=0.0, centered=False,
                        maximize=False) -> None:
    r"""RMSprop with eps inside the square root, ``optax.rmsprop``'s default form (what
    ``fastgd.RMSprop(..., eps_in_sqrt=True)`` runs); otherwise as :func:`rmsprop`.

    .. math::
        g &\leftarrow g + wd\,p \\
        v &\leftarrow \alpha v + (1-\alpha) g^2 \\
        \bar g &\leftarrow \bar g + (1-\alpha)(g - \bar g) \ \text{(centered)} \\
        a &= \sqrt{v - \bar g^2 + \epsilon} \ \text{(centered)} \quad\text{or}\quad
             \sqrt{v + \epsilon} \\
        b &\leftarrow \mu b + g / a, \quad p \leftarrow p - \eta b \ \text{(momentum > 0)}
             \quad\text{or}\quad p \leftarrow p - \eta\, g / a

    Equal to ``optax.rmsprop(lr, decay=alpha, eps=eps, eps_in_sqrt=True,
    centered=centered, momentum=momentum or None)`` with its default ``initial_scale=0``
    and ``bias_correction=False`` (torch's v starts at zero too). The operations are
    rounded in torch's order (optax multiplies by ``rsqrt(v + eps)``), within a few ulps
    of optax. With momentum, optax's trace accumulates updates already scaled by the
    learning rate while torch's buffer (kept here) does not: the two agree while the
    learning rate is constant and differ after it changes.

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        sq = np.zeros(3)
        fastgd.reference.rmsprop_eps_in_sqrt(p, g, sq, lr=0.01, alpha=0.9, eps=1e-8)
    """
    T = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + T(weight_decay) * param
    square_avg *= T(alpha)
    square_avg += T(1 - alpha) * g * g
    if centered:
        _lerp_(grad_avg, g, 1 - alpha)
        avg = np.sqrt(square_avg - grad_avg * grad_avg + T(eps))
    else:
        avg = np.sqrt(square_avg + T(eps))
    if momentum > 0:
        momentum_buffer *= T(momentum)
        momentum_buffer += g / avg
        param += T(-lr) * momentum_buffer
    else:
        param += T(-lr) * g / avg
# ---- end reference: adam-family ----

# ---- begin reference: torch-other (Rprop, ASGD, Adafactor) ----
import math  # noqa: E402

from fastgd._checks import dims as _dims  # noqa: E402


def _torch_sign(x: np.ndarray) -> np.ndarray:
    """``torch.sign`` on the CPU: 1, -1 or 0, and 0 for NaN (``numpy.sign`` gives NaN)."""
    T = x.dtype.type
    return np.where(x > 0, T(1), np.where(x < 0, T(-1), T(0)))


@_checked
def rprop(param, grad, prev, step_size, *, etaminus, etaplus, step_size_min, step_size_max,
          maximize=False) -> None:
    r"""Resilient backpropagation, as ``torch.optim.Rprop`` (its for-loop path).

    .. math::
        f &= \begin{cases} \eta_+ & g\,g_{prev} > 0 \\ \eta_- & g\,g_{prev} < 0 \\
             1 & \text{otherwise} \end{cases} \\
        s &\leftarrow \operatorname{clamp}(s f,\ \Gamma_{min},\ \Gamma_{max}) \\
        g &\leftarrow 0 \ \text{where } f = \eta_- \\
        p &\leftarrow p - \operatorname{sign}(g)\, s, \qquad g_{prev} \leftarrow g

    ``step_size`` starts at lr (the optimizer fills it); ``prev`` at zero. As in torch:
    the sign is torch's, so a NaN product or gradient counts as 0 (the parameter keeps
    its value and the step size does not change, unlike ``numpy.sign``); ``f`` is made by
    torch's three masked assignments in order (``> 0``, then ``< 0``, then ``== 0``), and
    the gradient is zeroed wherever ``f`` equals ``etaminus`` rounded to the dtype; the
    clamp propagates a NaN step size and gives ``step_size_max`` when ``step_size_min``
    exceeds it (a NaN ``step_size_max``, which the optimizer refuses, is ignored here).

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        prev = np.zeros(3)
        step_size = np.full(3, 0.01)
        fastgd.reference.rprop(p, g, prev, step_size, etaminus=0.5, etaplus=1.2,
                               step_size_min=1e-6, step_size_max=50.0)
    """
    T = param.dtype.type
    em, ep = T(etaminus), T(etaplus)
    g = -grad if maximize else grad
    f = _torch_sign(g * prev)
    f = np.where(f > 0, ep, f)
    f = np.where(f < 0, em, f)
    f = np.where(f == 0, T(1), f)
    step_size *= f
    np.maximum(step_size, T(step_size_min), out=step_size)
    step_size[...] = np.where(step_size >= T(step_size_max), T(step_size_max), step_size)
    g = np.where(f == em, T(0), g)
    param += (T(-1) * _torch_sign(g)) * step_size
    prev[...] = g


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


@_checked
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


def adafactor_schedule(lr: float, beta2_decay: float, step: int) -> tuple[float, float]:
    """Adafactor's ``(rho, one_minus_beta2)`` at ``step`` (from 1), as torch computes them
    in Python floats: ``min(lr, 1 / step**0.5)`` and ``step**beta2_decay``."""
    t = float(step)
    return min(float(lr), 1 / (t ** 0.5)), t ** float(beta2_decay)


def _sum_of_squares_rows(x: np.ndarray) -> np.ndarray:
    """:func:`sum_of_squares` of each row of the 2-d ``x`` (the same eight-lane order)."""
    k, m = x.shape
    if m == 0:
        return np.zeros(k)
    chunks = -(-m // 8)
    padded = np.zeros((k, chunks * 8))
    v = x.astype(np.float64)
    padded[:, :m] = v * v
    lanes = np.cumsum(padded.reshape(k, chunks, 8), axis=1)[:, -1, :]  # in index order
    return ((lanes[:, 0] + lanes[:, 1]) + (lanes[:, 2] + lanes[:, 3])) \
        + ((lanes[:, 4] + lanes[:, 5]) + (lanes[:, 6] + lanes[:, 7]))


def _sum_in_order(x: np.ndarray, axis: int) -> np.ndarray:
    """The float64 sum of ``x`` along ``axis``: ``0.0 + x[0] + x[1] + ...`` in index
    order (``cumsum`` adds in order)."""
    shape = list(x.shape)
    shape[axis] += 1
    padded = np.zeros(shape)
    padded[(slice(None),) * axis + (slice(1, None),)] = x
    return np.take(np.cumsum(padded, axis=axis), -1, axis=axis)


@_checked
def adafactor(param, grad, row_var=None, col_var=None, variance=None, *, lr, rho,
              one_minus_beta2, eps1, eps2=1e-3, d=1.0, weight_decay=0.0, factored=False,
              maximize=False) -> None:
    r"""Adafactor, as ``torch.optim.Adafactor`` (its for-loop path; not the paper's or
    optax's placement of :math:`\epsilon_1`).

    .. math::
        \alpha &= \max(\epsilon_2, \operatorname{RMS}(p))\,\rho_t, \qquad
            \rho_t = \min(\eta, 1/\sqrt t), \quad w_t = t^{\tau} \\
        p &\leftarrow p\,(1 - \eta\,wd) \\
        R &\leftarrow \operatorname{lerp}(R, \operatorname{mean}_{cols}(g^2), w_t), \quad
        C \leftarrow \operatorname{lerp}(C, \operatorname{mean}_{rows}(g^2), w_t) \\
        \hat V &= \frac{R\,C}{\max(\operatorname{mean}_{rows}(R), \epsilon_1)}
            \ \text{(factored)} \quad\text{or}\quad
            V \leftarrow \operatorname{lerp}(V, g^2, w_t), \ \hat V = V \\
        U &= g \,/ \sqrt{\max(\hat V, \epsilon_1^2)}, \qquad
        p \leftarrow p - \frac{\alpha}{\max(1, \operatorname{RMS}(U)/d)}\, U

    ``rho`` and ``one_minus_beta2`` (:math:`w_t`) come from :func:`adafactor_schedule`.
    Factored (``factored=True``): the parameter is seen as (batch, rows, cols) over its
    last two dimensions (a 1-d one as one row); ``row_var`` holds batch*rows values
    (torch's shape ``(..., rows, 1)``), ``col_var`` batch*cols (``(..., 1, cols)``).
    Otherwise ``variance`` has the parameter's size. The optimizer factors parameters of
    two or more dimensions, as torch does.

    Reductions, in one order on every backend: RMS(p) and RMS(U) from
    :func:`sum_of_squares`; a row's mean of squares from the :func:`sum_of_squares` of
    the row; a column's sum of squares, and the sum of ``row_var`` over rows, in float64
    adding rows in index order. As torch: norms are rounded to the dtype before use
    (``norm.square() / cols``), ``max`` with Python's rule for the scalars (a NaN RMS
    gives ``eps2`` and 1), clamps propagate NaN. An empty parameter is left as it is
    (torch divides by its zero size and raises ZeroDivisionError).

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        v = np.zeros(3)
        rho, w = fastgd.reference.adafactor_schedule(0.01, -0.8, 1)
        fastgd.reference.adafactor(p, g, None, None, v, lr=0.01, rho=rho, one_minus_beta2=w,
                                   eps1=1e-30)  # not factored: row_var, col_var are None
    """
    T = param.dtype.type
    n = param.size
    g = -grad if maximize else grad
    rms = np.float64(T(math.sqrt(sum_of_squares(param)))) / np.float64(math.sqrt(n))
    alpha = (rms if rms > eps2 else eps2) * rho
    if weight_decay != 0:
        param *= T(1 - lr * weight_decay)
    if factored:
        b, r, c = _dims(param.shape)
        g3 = g.reshape(b, r, c)
        rv, cv = row_var.reshape(b, r), col_var.reshape(b, c)
        row_norm = np.sqrt(_sum_of_squares_rows(g3.reshape(b * r, c))).astype(T)
        _lerp_(rv, (row_norm * row_norm / T(c)).reshape(b, r), one_minus_beta2)
        v = g3.astype(np.float64)
        col_norm = np.sqrt(_sum_in_order(v * v, axis=1)).astype(T)
        _lerp_(cv, col_norm * col_norm / T(r), one_minus_beta2)
        row_mean = np.maximum(_sum_in_order(rv, axis=1).astype(T) / T(r), T(eps1))
        estimate = (rv[:, :, None] * cv[:, None, :]) / row_mean[:, None, None]
        g = g3
    else:
        _lerp_(variance, g * g, one_minus_beta2)
        estimate = variance
    update = (T(1) / np.sqrt(np.maximum(estimate, T(eps1 * eps1)))) * g
    u_rms = np.float64(T(math.sqrt(sum_of_squares(update)))) / (math.sqrt(n) * d)
    denom = u_rms if u_rms > 1.0 else 1.0
    param += T(-alpha / denom) * update.reshape(param.shape)

# ---- end reference: torch-other ----

# ---- begin reference: optax (Lion, AdaBelief, LAMB, LARS, Yogi) ----
def _trust_ratio(param_sumsq: float, update_sumsq: float, trust_coefficient: float = 1.0,
                 eps: float = 0.0) -> float:
    """optax.scale_by_trust_ratio's factor from the two sums of squares (float64):
    ``trust_coefficient * ||p|| / (||u|| + eps)``, or 1 when either norm is zero."""
    if param_sumsq == 0 or update_sumsq == 0:
        return 1.0
    # np.sqrt of a float64 is the correctly rounded root, as C's sqrt
    return float(trust_coefficient * np.sqrt(param_sumsq) / (np.sqrt(update_sumsq) + eps))


@_checked
def lion(param, grad, exp_avg, *, lr, beta1, beta2, weight_decay=0.0, maximize=False) -> None:
    r"""Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms").

    .. math::
        p &\leftarrow p\,(1 - \eta\,wd) \\
        p &\leftarrow p - \eta\,\operatorname{sign}(\beta_1 m + (1-\beta_1) g) \\
        m &\leftarrow \beta_2 m + (1-\beta_2) g

    The form of the paper's PyTorch code (decoupled weight decay applied first). It is
    ``optax.lion`` with the same ``weight_decay``: optax steps by
    :math:`-\eta(\operatorname{sign}(\cdot) + wd\,p)`, the same value rounded differently
    (they agree to about 1e-15 relative in float64). ``sign(0) = 0`` (a zero direction
    leaves the coordinate alone), ``sign(NaN) = NaN``. Two betas: :math:`\beta_1` mixes
    the direction, :math:`\beta_2` the stored momentum.

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        m = np.zeros(3)
        fastgd.reference.lion(p, g, m, lr=1e-4, beta1=0.9, beta2=0.99)
    """
    T = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0:
        param *= T(1 - lr * weight_decay)
    direction = np.sign(T(beta1) * exp_avg + T(1 - beta1) * g)
    param += T(-lr) * direction
    exp_avg *= T(beta2)
    exp_avg += T(1 - beta2) * g


@_checked
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


@_checked
def lamb(param, grad, exp_avg, exp_avg_sq, *, lr, beta1, beta2, eps, weight_decay=0.0,
         bias_correction1, bias_correction2, maximize=False) -> None:
    r"""LAMB (You et al. 2019, "Large Batch Optimization for Deep Learning"), as
    ``optax.lamb``.

    .. math::
        m &\leftarrow \beta_1 m + (1-\beta_1) g, \qquad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2 \\
        r &= \frac{m / (1-\beta_1^t)}{\sqrt{v / (1-\beta_2^t)} + \epsilon} + wd\,p \\
        \tau &= \|p\| / \|r\| \quad (1 \text{ if either norm is } 0) \\
        p &\leftarrow p - \eta\,\tau\,r

    Norms are of the whole tensor (per parameter): square roots of
    :func:`sum_of_squares`, and :math:`\tau` is computed in float64 and rounded once to the
    array dtype. ``wd p`` uses the parameter before the step. optax's ``eps_root`` is 0.

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        m = np.zeros(3)
        v = np.zeros(3)
        fastgd.reference.lamb(p, g, m, v, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-6,
                              bias_correction1=0.1, bias_correction2=0.001)
    """
    T = param.dtype.type
    g = -grad if maximize else grad
    exp_avg *= T(beta1)
    exp_avg += T(1 - beta1) * g
    exp_avg_sq *= T(beta2)
    exp_avg_sq += T(1 - beta2) * (g * g)
    update = (exp_avg / T(bias_correction1)) / (np.sqrt(exp_avg_sq / T(bias_correction2))
                                                + T(eps))
    if weight_decay != 0:
        update = update + T(weight_decay) * param
    ratio = _trust_ratio(sum_of_squares(param), sum_of_squares(update))
    param += T(-lr) * (update * T(ratio))


@_checked
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
    ratio = _trust_ratio(sum_of_squares(param), sum_of_squares(update), trust_coefficient,
                         eps)
    scaled = T(lr) * (update * T(ratio))
    if momentum != 0:
        momentum_buffer *= T(momentum)
        momentum_buffer += scaled
        param -= scaled + T(momentum) * momentum_buffer if nesterov else momentum_buffer
    else:
        param -= scaled


@_checked
def yogi(param, grad, exp_avg, exp_avg_sq, *, lr, beta1, beta2, eps, bias_correction1,
         bias_correction2, maximize=False) -> None:
    r"""Yogi (Zaheer et al. 2018, "Adaptive Methods for Nonconvex Optimization"), as
    ``optax.yogi``.

    .. math::
        m &\leftarrow \beta_1 m + (1-\beta_1) g \\
        v &\leftarrow v - (1-\beta_2)\operatorname{sign}(v - g^2)\, g^2 \\
        p &\leftarrow p - \eta\,\frac{m / (1-\beta_1^t)}{\sqrt{v / (1-\beta_2^t)} + \epsilon}

    ``v`` grows or shrinks by :math:`(1-\beta_2) g^2` towards :math:`g^2` (additively,
    where Adam moves by a fraction of the gap). Both moments start at
    ``initial_accumulator_value`` (optax's choice, the first moment included); the bias
    corrections apply to them as in optax.

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        m = np.zeros(3)
        v = np.full(3, 1e-6)
        fastgd.reference.yogi(p, g, m, v, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-3,
                              bias_correction1=0.1, bias_correction2=0.001)
    """
    T = param.dtype.type
    g = -grad if maximize else grad
    exp_avg *= T(beta1)
    exp_avg += T(1 - beta1) * g
    square = g * g
    exp_avg_sq -= (T(1 - beta2) * np.sign(exp_avg_sq - square)) * square
    update = (exp_avg / T(bias_correction1)) / (np.sqrt(exp_avg_sq / T(bias_correction2))
                                                + T(eps))
    param += T(-lr) * update
# ---- end reference: optax ----

# ---- begin reference: sophia-schedulefree (Sophia, SGDScheduleFree, AdamWScheduleFree) ----

@_checked
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


@_checked
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


@_checked
def sgd_schedule_free(param, grad, z, *, lr, momentum, weight_decay=0.0, ckp1,
                      maximize=False) -> None:
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

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        z = p.copy()
        fastgd.reference.sgd_schedule_free(p, g, z, lr=1.0, momentum=0.9, ckp1=1.0)
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
                        weight_decay=0.0, ckp1, bias_correction2, maximize=False) -> None:
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

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        z = p.copy()
        v = np.zeros(3)
        fastgd.reference.adamw_schedule_free(p, g, z, v, lr=2.5e-3, beta1=0.9, beta2=0.999,
                                             eps=1e-8, ckp1=1.0, bias_correction2=1 - 0.999)
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
