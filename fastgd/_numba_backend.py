"""The ``numba`` backend: the kernels of fastgd_kernels_impl.h, compiled by Numba.

Used when the compiled core is missing, or on request. The loops follow the C kernels
operation for operation. Every hyperparameter is rounded to the array's dtype in Python
before the call, so float32 arithmetic stays float32 inside the loop (no float64 literal
takes part in it). ``cache=True`` keeps compiled code between processes; ``fastmath`` is
never used (it breaks NaN/Inf semantics and parity with the reference).
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

from fastgd._checks import check_buffers, coerce_scalars

NAME = "numba"

# error_model="numpy": a division by zero gives inf/NaN as in C and NumPy; Numba's default
# (Python's model) raises ZeroDivisionError instead, and its checks kept the loops from
# vectorising (Adam, 1e6 float32: 6.3 ms with them, 0.8 ms without).
_jit = njit(cache=True, nogil=True, fastmath=False, error_model="numpy")


@_jit
def _lerp(start, end, w, one_minus_w):
    if w < 0.5:
        return start + w * (end - start)
    return end - (end - start) * one_minus_w


@_jit
def _max(a, b):
    return a if (a > b or a != a) else b


@_jit
def _sumsq(x):
    """fastgd.reference.sum_of_squares: eight float64 lanes, combined pairwise."""
    lanes = np.zeros(8)
    n = x.size
    i = 0
    while i + 8 <= n:
        for j in range(8):
            v = np.float64(x[i + j])
            lanes[j] += v * v
        i += 8
    for j in range(n - i):
        v = np.float64(x[i + j])
        lanes[j] += v * v
    return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + \
        ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))


@_jit
def _sgd(p, g, buf, neg_lr, mom, one_minus_damp, wd, use_wd, maximize, nesterov,
         use_momentum, first_step):
    for i in range(p.size):
        d = -g[i] if maximize else g[i]
        pi = p[i]
        if use_wd:
            d = d + wd * pi
        if use_momentum:
            b = d if first_step else buf[i] * mom + one_minus_damp * d
            buf[i] = b
            d = d + mom * b if nesterov else b
        p[i] = pi + neg_lr * d


@_jit
def _adam(p, g, m, v, vmax, w1, one_minus_w1, b2, one_minus_b2, bc2_sqrt, eps,
          neg_step_size, wd, decay, l2_wd, decoupled_wd, maximize, amsgrad):
    for i in range(p.size):
        d = -g[i] if maximize else g[i]
        pi = p[i]
        if decoupled_wd:
            pi = pi * decay
        if l2_wd:
            d = d + wd * pi
        mi = _lerp(m[i], d, w1, one_minus_w1)
        vi = v[i] * b2 + one_minus_b2 * d * d
        m[i] = mi
        v[i] = vi
        second = vi
        if amsgrad:
            second = _max(vmax[i], vi)
            vmax[i] = second
        denom = np.sqrt(second) / bc2_sqrt + eps
        p[i] = pi + neg_step_size * mi / denom


@_jit
def _adagrad(p, g, s, neg_clr, eps, wd, use_wd, maximize):
    for i in range(p.size):
        d = -g[i] if maximize else g[i]
        pi = p[i]
        if use_wd:
            d = d + wd * pi
        si = s[i] + d * d
        s[i] = si
        p[i] = pi + neg_clr * d / (np.sqrt(si) + eps)


@_jit
def _rmsprop(p, g, sq, gavg, buf, neg_lr, a, one_minus_a, one_minus_w, eps, mom, wd, use_wd,
             maximize, centered, use_momentum):
    for i in range(p.size):
        d = -g[i] if maximize else g[i]
        pi = p[i]
        if use_wd:
            d = d + wd * pi
        si = sq[i] * a + one_minus_a * d * d
        sq[i] = si
        if centered:
            ga = _lerp(gavg[i], d, one_minus_a, one_minus_w)
            gavg[i] = ga
            avg = np.sqrt(si + -ga * ga)
        else:
            avg = np.sqrt(si)
        avg = avg + eps
        if use_momentum:
            b = buf[i] * mom + d / avg
            buf[i] = b
            p[i] = pi + neg_lr * b
        else:
            p[i] = pi + neg_lr * d / avg


def _flat(lists, t):
    """Tensor t of each list as a flat view; an absent buffer becomes an unused stand-in."""
    param = lists[0][t].reshape(-1)
    return [param if lst is None or lst[t] is None else lst[t].reshape(-1) for lst in lists]


def _entry(kernel: str):
    """Wrap a loop over tensors as the backend's ``<kernel>_many``: scalars as Python floats
    (as the compiled core takes them), every buffer checked first, ``check_only`` to stop
    there; casting a scalar to float32 overflows to inf silently, as in C."""

    def wrap(run):
        @functools.wraps(run)
        def many(*lists, check_only=False, **scalars):
            coerce_scalars(kernel, scalars)
            check_buffers(kernel, lists, scalars)
            if check_only:
                return
            with np.errstate(all="ignore"):
                run(*lists, **scalars)

        return many

    return wrap


@_entry("sgd")
def sgd_many(params, grads, momentum_buffers, *, lr, momentum=0.0, dampening=0.0,
             weight_decay=0.0, nesterov=False, maximize=False, first_step=False):
    lists = (params, grads, momentum_buffers)
    for t in range(len(params)):
        p, g, buf = _flat(lists, t)
        T = p.dtype.type
        _sgd(p, g, buf, T(-lr), T(momentum), T(1.0 - dampening), T(weight_decay),
             weight_decay != 0.0, maximize, nesterov, momentum != 0.0, first_step)


@_entry("adam")
def adam_many(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, *, lr, beta1, beta2,
              eps, weight_decay=0.0, bias_correction1, bias_correction2_sqrt, amsgrad=False,
              decoupled_weight_decay=False, maximize=False):
    lists = (params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs)
    neg_step_size = -(np.float64(lr) / bias_correction1)
    for t in range(len(params)):
        p, g, m, v, vmax = _flat(lists, t)
        T = p.dtype.type
        w1 = T(1.0 - beta1)
        _adam(p, g, m, v, vmax, w1, T(1) - w1, T(beta2), T(1.0 - beta2),
              T(bias_correction2_sqrt), T(eps), T(neg_step_size), T(weight_decay),
              T(1.0 - lr * weight_decay), weight_decay != 0.0 and not decoupled_weight_decay,
              weight_decay != 0.0 and decoupled_weight_decay, maximize, amsgrad)


@_entry("adagrad")
def adagrad_many(params, grads, state_sums, *, clr, eps, weight_decay=0.0, maximize=False):
    lists = (params, grads, state_sums)
    for t in range(len(params)):
        p, g, s = _flat(lists, t)
        T = p.dtype.type
        _adagrad(p, g, s, T(-clr), T(eps), T(weight_decay), weight_decay != 0.0, maximize)


@_entry("rmsprop")
def rmsprop_many(params, grads, square_avgs, grad_avgs, momentum_buffers, *, lr, alpha, eps,
                 weight_decay=0.0, momentum=0.0, centered=False, maximize=False):
    lists = (params, grads, square_avgs, grad_avgs, momentum_buffers)
    for t in range(len(params)):
        p, g, sq, gavg, buf = _flat(lists, t)
        T = p.dtype.type
        one_minus_a = T(1.0 - alpha)
        _rmsprop(p, g, sq, gavg, buf, T(-lr), T(alpha), one_minus_a, T(1) - one_minus_a,
                 T(eps), T(momentum), T(weight_decay), weight_decay != 0.0, maximize,
                 centered, momentum > 0.0)


# ---- begin numba: adam-family (Adadelta, Adamax, NAdam, RAdam) ----
# ---- end numba: adam-family ----

# ---- begin numba: torch-other (Rprop, ASGD, Adafactor) ----
# ---- end numba: torch-other ----

# ---- begin numba: optax (Lion, AdaBelief, LAMB, LARS, Yogi) ----
# ---- end numba: optax ----

# ---- begin numba: sophia-schedulefree (Sophia, SGDScheduleFree, AdamWScheduleFree) ----

@_jit
def _sophia(p, g, m, h, neg_lr, b1, one_minus_b1, rho, eps, decay, one, zero, use_wd,
            maximize):
    for i in range(p.size):
        d = -g[i] if maximize else g[i]
        pi = p[i]
        if use_wd:
            pi = pi * decay
        mi = m[i] * b1 + one_minus_b1 * d
        m[i] = mi
        curvature = _max(h[i], zero)
        a = zero if mi == zero else (-mi if mi < zero else mi)  # numpy.abs
        r = a / (rho * curvature + eps)
        ratio = one if r > one else r
        # numpy.sign: sign(-0) = +0, sign(NaN) = NaN
        s = one if mi > zero else (-one if mi < zero else (zero if mi == mi else mi))
        p[i] = pi + (neg_lr * s) * ratio


@_jit
def _sophia_hessian(h, est, b2, one_minus_b2):
    for i in range(h.size):
        h[i] = h[i] * b2 + one_minus_b2 * est[i]


@_jit
def _sgd_schedule_free(p, g, z, c, one_minus_c, y_coef, lr, wd, use_wd, maximize):
    for i in range(p.size):
        d = -g[i] if maximize else g[i]
        yi = p[i]
        zi = z[i]
        if use_wd:
            d = d + wd * yi
        y = _lerp(yi, zi, c, one_minus_c)
        p[i] = y + y_coef * d
        z[i] = zi - lr * d


@_jit
def _adamw_schedule_free(p, g, z, v, b2, one_minus_b2, bc2, eps, c, one_minus_c, y_coef, lr,
                         wd, use_wd, maximize):
    for i in range(p.size):
        d = -g[i] if maximize else g[i]
        yi = p[i]
        zi = z[i]
        vi = v[i] * b2 + one_minus_b2 * d * d
        v[i] = vi
        u = d / (np.sqrt(vi / bc2) + eps)
        if use_wd:
            u = u + wd * yi
        y = _lerp(yi, zi, c, one_minus_c)
        p[i] = y + y_coef * u
        z[i] = zi - lr * u


@_entry("sophia")
def sophia_many(params, grads, exp_avgs, hessians, *, lr, beta1, rho, eps, weight_decay=0.0,
                maximize=False):
    lists = (params, grads, exp_avgs, hessians)
    for t in range(len(params)):
        p, g, m, h = _flat(lists, t)
        T = p.dtype.type
        _sophia(p, g, m, h, T(-lr), T(beta1), T(1.0 - beta1), T(rho), T(eps),
                T(1.0 - lr * weight_decay), T(1), T(0), weight_decay != 0.0, maximize)


@_entry("sophia_hessian")
def sophia_hessian_many(hessians, estimates, *, beta2):
    lists = (hessians, estimates)
    for t in range(len(hessians)):
        h, e = _flat(lists, t)
        T = h.dtype.type
        _sophia_hessian(h, e, T(beta2), T(1.0 - beta2))


@_entry("sgd_schedule_free")
def sgd_schedule_free_many(params, grads, zs, *, lr, momentum, weight_decay=0.0, ckp1,
                           maximize=False):
    lists = (params, grads, zs)
    y_coef = lr * (momentum * (1.0 - ckp1) - 1.0)
    for t in range(len(params)):
        p, g, z = _flat(lists, t)
        T = p.dtype.type
        c = T(ckp1)
        _sgd_schedule_free(p, g, z, c, T(1) - c, T(y_coef), T(lr), T(weight_decay),
                           weight_decay != 0.0, maximize)


@_entry("adamw_schedule_free")
def adamw_schedule_free_many(params, grads, zs, exp_avg_sqs, *, lr, beta1, beta2, eps,
                             weight_decay=0.0, ckp1, bias_correction2, maximize=False):
    lists = (params, grads, zs, exp_avg_sqs)
    y_coef = lr * (beta1 * (1.0 - ckp1) - 1.0)
    for t in range(len(params)):
        p, g, z, v = _flat(lists, t)
        T = p.dtype.type
        c = T(ckp1)
        _adamw_schedule_free(p, g, z, v, T(beta2), T(1.0 - beta2), T(bias_correction2),
                             T(eps), c, T(1) - c, T(y_coef), T(lr), T(weight_decay),
                             weight_decay != 0.0, maximize)
# ---- end numba: sophia-schedulefree ----

