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

from fastgd._checks import check_buffers, coerce_scalars, padded, scanned_arrays

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
            lists = padded(kernel, lists)
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
@_jit
def _adadelta(p, g, sq, acc, neg_lr, rho, one_minus_rho, eps, wd, use_wd, maximize):
    for i in range(p.size):
        d = -g[i] if maximize else g[i]
        pi = p[i]
        if use_wd:
            d = d + wd * pi
        si = sq[i] * rho + one_minus_rho * d * d
        sq[i] = si
        std = np.sqrt(si + eps)
        delta = np.sqrt(acc[i] + eps) / std * d
        acc[i] = acc[i] * rho + one_minus_rho * delta * delta
        p[i] = pi + neg_lr * delta


@_jit
def _adamax(p, g, m, u, w1, one_minus_w1, b2, eps, neg_clr, wd, use_wd, maximize):
    for i in range(p.size):
        d = -g[i] if maximize else g[i]
        pi = p[i]
        if use_wd:
            d = d + wd * pi
        mi = _lerp(m[i], d, w1, one_minus_w1)
        m[i] = mi
        abs_d = -d if d < 0 else d
        ui = _max(u[i] * b2, abs_d + eps)
        u[i] = ui
        p[i] = pi + neg_clr * mi / ui


@_jit
def _nadam(p, g, m, v, w1, one_minus_w1, b2, one_minus_b2, bc2, eps, grad_coef, avg_coef, wd,
           decay, l2_wd, decoupled_wd, maximize):
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
        denom = np.sqrt(vi / bc2) + eps
        pi = pi + grad_coef * d / denom
        p[i] = pi + avg_coef * mi / denom


@_jit
def _radam(p, g, m, v, w1, one_minus_w1, b2, one_minus_b2, bc1, bc2_sqrt, eps, lr, rect, wd,
           decay, one, l2_wd, decoupled_wd, maximize, rectified):
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
        step = mi / bc1 * lr
        if rectified:
            adaptive = one / (np.sqrt(vi) + eps) * bc2_sqrt
            step = step * adaptive * rect
        p[i] = pi - step


@_jit
def _adam_eps_root(p, g, m, v, vmax, b1, one_minus_b1, b2, one_minus_b2, bc1, bc2, eps,
                   eps_root, neg_lr, wd, l2_wd, decoupled_wd, maximize, amsgrad):
    for i in range(p.size):
        d = -g[i] if maximize else g[i]
        pi = p[i]
        if l2_wd:
            d = d + wd * pi
        mi = one_minus_b1 * d + b1 * m[i]
        vi = one_minus_b2 * (d * d) + b2 * v[i]
        m[i] = mi
        v[i] = vi
        v_hat = vi / bc2
        if amsgrad:
            v_hat = _max(vmax[i], v_hat)
            vmax[i] = v_hat
        u = mi / bc1 / (np.sqrt(v_hat + eps_root) + eps)
        if decoupled_wd:
            u = u + wd * pi
        p[i] = pi + neg_lr * u


@_jit
def _rmsprop_eps_in_sqrt(p, g, sq, gavg, buf, neg_lr, a, one_minus_a, one_minus_w, eps, mom,
                         wd, use_wd, maximize, centered, use_momentum):
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
            avg = np.sqrt(si + -ga * ga + eps)
        else:
            avg = np.sqrt(si + eps)
        if use_momentum:
            b = buf[i] * mom + d / avg
            buf[i] = b
            p[i] = pi + neg_lr * b
        else:
            p[i] = pi + neg_lr * d / avg


@_entry("adadelta")
def adadelta_many(params, grads, square_avgs, acc_deltas, *, lr, rho, eps, weight_decay=0.0,
                  maximize=False):
    lists = (params, grads, square_avgs, acc_deltas)
    for t in range(len(params)):
        p, g, sq, acc = _flat(lists, t)
        T = p.dtype.type
        _adadelta(p, g, sq, acc, T(-lr), T(rho), T(1.0 - rho), T(eps), T(weight_decay),
                  weight_decay != 0.0, maximize)


@_entry("adamax")
def adamax_many(params, grads, exp_avgs, exp_infs, *, lr, beta1, beta2, eps, weight_decay=0.0,
                bias_correction1, maximize=False):
    lists = (params, grads, exp_avgs, exp_infs)
    neg_clr = -(np.float64(lr) / bias_correction1)
    for t in range(len(params)):
        p, g, m, u = _flat(lists, t)
        T = p.dtype.type
        w1 = T(1.0 - beta1)
        _adamax(p, g, m, u, w1, T(1) - w1, T(beta2), T(eps), T(neg_clr), T(weight_decay),
                weight_decay != 0.0, maximize)


@_entry("nadam")
def nadam_many(params, grads, exp_avgs, exp_avg_sqs, *, lr, beta1, beta2, eps,
               weight_decay=0.0, bias_correction2, mu, mu_next, mu_product,
               decoupled_weight_decay=False, maximize=False):
    lists = (params, grads, exp_avgs, exp_avg_sqs)
    neg_lr = -np.float64(lr)  # NumPy floats: a zero denominator gives inf, as in C
    grad_coef = neg_lr * (1.0 - mu) / (1.0 - np.float64(mu_product))
    avg_coef = neg_lr * mu_next / (1.0 - np.float64(mu_product) * mu_next)
    for t in range(len(params)):
        p, g, m, v = _flat(lists, t)
        T = p.dtype.type
        w1 = T(1.0 - beta1)
        _nadam(p, g, m, v, w1, T(1) - w1, T(beta2), T(1.0 - beta2), T(bias_correction2),
               T(eps), T(grad_coef), T(avg_coef), T(weight_decay),
               T(1.0 - lr * weight_decay), weight_decay != 0.0 and not decoupled_weight_decay,
               weight_decay != 0.0 and decoupled_weight_decay, maximize)


@_entry("radam")
def radam_many(params, grads, exp_avgs, exp_avg_sqs, *, lr, beta1, beta2, eps,
               weight_decay=0.0, bias_correction1, bias_correction2_sqrt, rectification,
               rectified=False, decoupled_weight_decay=False, maximize=False):
    lists = (params, grads, exp_avgs, exp_avg_sqs)
    for t in range(len(params)):
        p, g, m, v = _flat(lists, t)
        T = p.dtype.type
        w1 = T(1.0 - beta1)
        _radam(p, g, m, v, w1, T(1) - w1, T(beta2), T(1.0 - beta2), T(bias_correction1),
               T(bias_correction2_sqrt), T(eps), T(lr), T(rectification), T(weight_decay),
               T(1.0 - lr * weight_decay), T(1),
               weight_decay != 0.0 and not decoupled_weight_decay,
               weight_decay != 0.0 and decoupled_weight_decay, maximize, rectified)


@_entry("adam_eps_root")
def adam_eps_root_many(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, *, lr, beta1,
                       beta2, eps, eps_root=0.0, weight_decay=0.0, bias_correction1,
                       bias_correction2, amsgrad=False, decoupled_weight_decay=False,
                       maximize=False):
    lists = (params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs)
    for t in range(len(params)):
        p, g, m, v, vmax = _flat(lists, t)
        T = p.dtype.type
        _adam_eps_root(p, g, m, v, vmax, T(beta1), T(1.0 - beta1), T(beta2), T(1.0 - beta2),
                       T(bias_correction1), T(bias_correction2), T(eps), T(eps_root), T(-lr),
                       T(weight_decay), weight_decay != 0.0 and not decoupled_weight_decay,
                       weight_decay != 0.0 and decoupled_weight_decay, maximize, amsgrad)


@_entry("rmsprop_eps_in_sqrt")
def rmsprop_eps_in_sqrt_many(params, grads, square_avgs, grad_avgs, momentum_buffers, *, lr,
                             alpha, eps, weight_decay=0.0, momentum=0.0, centered=False,
                             maximize=False):
    lists = (params, grads, square_avgs, grad_avgs, momentum_buffers)
    for t in range(len(params)):
        p, g, sq, gavg, buf = _flat(lists, t)
        T = p.dtype.type
        one_minus_a = T(1.0 - alpha)
        _rmsprop_eps_in_sqrt(p, g, sq, gavg, buf, T(-lr), T(alpha), one_minus_a,
                             T(1) - one_minus_a, T(eps), T(momentum), T(weight_decay),
                             weight_decay != 0.0, maximize, centered, momentum > 0.0)
# ---- end numba: adam-family ----

# ---- begin numba: torch-other (Rprop, ASGD, Adafactor) ----
@_jit
def _rprop(p, g, prev, ss, em, ep, smin, smax, zero, one, maximize):
    for i in range(p.size):
        d = -g[i] if maximize else g[i]
        x = d * prev[i]
        f = one if x > 0 else (-one if x < 0 else zero)
        f = ep if f > 0 else f
        f = em if f < 0 else f
        f = one if f == 0 else f
        s = _max(ss[i] * f, smin)
        s = smax if s >= smax else s
        ss[i] = s
        d2 = zero if f == em else d
        sd = one if d2 > 0 else (-one if d2 < 0 else zero)
        p[i] = p[i] + (-one * sd) * s
        prev[i] = d2


@_jit
def _asgd(p, g, ax, neg_eta, decay, wd, mu, use_wd, maximize, average):
    for i in range(p.size):
        d = -g[i] if maximize else g[i]
        pi = p[i]
        if use_wd:
            d = d + wd * pi
        pi = pi * decay
        pi = pi + neg_eta * d
        p[i] = pi
        ax[i] = ax[i] + (pi - ax[i]) * mu if average else pi


@_jit
def _adafactor_row_mean(rv, start, rows, rows_t, eps1, tmp):
    total = 0.0
    for r in range(rows):
        total += np.float64(rv[start + r])
    tmp[0] = total
    return _max(tmp[0] / rows_t, eps1)


@_jit
def _adafactor(p, g, rv, cv, var, batches, rows, cols, rows_t, cols_t, w, one_minus_w, e1,
               e1sq, decay, one, rho, eps2, d, use_wd, factored, maximize):
    n = p.size
    tmp = np.empty(1, p.dtype)  # rounds a float64 to the dtype
    sqrt_n = np.sqrt(np.float64(n))
    tmp[0] = np.sqrt(_sumsq(p))
    rms = np.float64(tmp[0]) / sqrt_n
    alpha = (rms if rms > eps2 else eps2) * rho
    lanes = np.zeros(8)
    if factored:
        for bt in range(batches):
            for r in range(rows):
                k = bt * rows + r
                tmp[0] = np.sqrt(_sumsq(g[k * cols:(k + 1) * cols]))
                norm = tmp[0]
                rv[k] = _lerp(rv[k], norm * norm / cols_t, w, one_minus_w)
            acc = np.zeros(cols)
            for r in range(rows):
                base = (bt * rows + r) * cols
                for c in range(cols):
                    v = np.float64(g[base + c])
                    acc[c] += v * v
            for c in range(cols):
                tmp[0] = np.sqrt(acc[c])
                norm = tmp[0]
                cv[bt * cols + c] = _lerp(cv[bt * cols + c], norm * norm / rows_t, w,
                                          one_minus_w)
        for bt in range(batches):
            rm = _adafactor_row_mean(rv, bt * rows, rows, rows_t, e1, tmp)
            for r in range(rows):
                k = bt * rows + r
                rvk = rv[k]
                for c in range(cols):
                    i = k * cols + c
                    dd = -g[i] if maximize else g[i]
                    u = (one / np.sqrt(_max((rvk * cv[bt * cols + c]) / rm, e1sq))) * dd
                    v = np.float64(u)
                    lanes[i & 7] += v * v
    else:
        for i in range(n):
            gi = g[i]
            var[i] = _lerp(var[i], gi * gi, w, one_minus_w)
        for i in range(n):
            dd = -g[i] if maximize else g[i]
            u = (one / np.sqrt(_max(var[i], e1sq))) * dd
            v = np.float64(u)
            lanes[i & 7] += v * v
    tmp[0] = np.sqrt(((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
                     + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7])))
    u_rms = np.float64(tmp[0]) / (sqrt_n * d)
    denom = u_rms if u_rms > 1.0 else 1.0
    tmp[0] = -alpha / denom
    neg_a = tmp[0]
    if factored:
        for bt in range(batches):
            rm = _adafactor_row_mean(rv, bt * rows, rows, rows_t, e1, tmp)
            for r in range(rows):
                k = bt * rows + r
                rvk = rv[k]
                for c in range(cols):
                    i = k * cols + c
                    dd = -g[i] if maximize else g[i]
                    u = (one / np.sqrt(_max((rvk * cv[bt * cols + c]) / rm, e1sq))) * dd
                    pi = p[i]
                    if use_wd:
                        pi = pi * decay
                    p[i] = pi + neg_a * u
    else:
        for i in range(n):
            dd = -g[i] if maximize else g[i]
            u = (one / np.sqrt(_max(var[i], e1sq))) * dd
            pi = p[i]
            if use_wd:
                pi = pi * decay
            p[i] = pi + neg_a * u


@_entry("rprop")
def rprop_many(params, grads, prevs, step_sizes, *, etaminus, etaplus, step_size_min,
               step_size_max, maximize=False):
    lists = (params, grads, prevs, step_sizes)
    for t in range(len(params)):
        p, g, prev, ss = _flat(lists, t)
        T = p.dtype.type
        _rprop(p, g, prev, ss, T(etaminus), T(etaplus), T(step_size_min), T(step_size_max),
               T(0), T(1), maximize)


@_entry("asgd")
def asgd_many(params, grads, axs, *, eta, lambd, mu, weight_decay=0.0, maximize=False):
    lists = (params, grads, axs)
    for t in range(len(params)):
        p, g, ax = _flat(lists, t)
        T = p.dtype.type
        _asgd(p, g, ax, T(-eta), T(1.0 - lambd * eta), T(weight_decay), T(mu),
              weight_decay != 0.0, maximize, mu != 1.0)


@_entry("adafactor")
def adafactor_many(params, grads, row_vars, col_vars, variances, *, lr, rho, one_minus_beta2,
                   eps1, eps2=1e-3, d=1.0, weight_decay=0.0, factored=False, maximize=False):
    from fastgd._checks import dims

    lists = (params, grads, row_vars, col_vars, variances)
    for t in range(len(params)):
        batches, rows, cols = dims(params[t].shape)
        p, g, rv, cv, var = _flat(lists, t)
        T = p.dtype.type
        w = T(one_minus_beta2)
        _adafactor(p, g, rv, cv, var, batches, rows, cols, T(rows), T(cols), w, T(1) - w,
                   T(eps1), T(eps1 * eps1), T(1.0 - lr * weight_decay), T(1), rho, eps2, d,
                   weight_decay != 0.0, factored, maximize)
# ---- end numba: torch-other ----

# ---- begin numba: optax (Lion, AdaBelief, LAMB, LARS, Yogi) ----
@_jit
def _sign(x, one):
    """numpy.sign: 1, -1, 0 for either zero, NaN for NaN (``one``: 1 in x's type)."""
    if x > 0:
        return one
    if x < 0:
        return -one
    return x - x if x == x else x


def _trust_ratio(param_sumsq, update_sumsq, coef, eps):
    """kernels_optax.h fgd_trust_ratio, in float64."""
    if param_sumsq == 0 or update_sumsq == 0:
        return 1.0
    return float(coef * np.sqrt(param_sumsq) / (np.sqrt(update_sumsq) + eps))


@_jit
def _lion(p, g, m, neg_lr, b1, one_minus_b1, b2, one_minus_b2, decay, use_wd, maximize,
          one):
    for i in range(p.size):
        d = -g[i] if maximize else g[i]
        pi = p[i]
        mi = m[i]
        if use_wd:
            pi = pi * decay
        c = b1 * mi + one_minus_b1 * d
        p[i] = pi + neg_lr * _sign(c, one)
        m[i] = mi * b2 + one_minus_b2 * d


@_jit
def _adabelief(p, g, m, s, neg_lr, b1, one_minus_b1, b2, one_minus_b2, eps, eps_root, bc1,
               bc2, decay, use_wd, maximize):
    for i in range(p.size):
        d = -g[i] if maximize else g[i]
        pi = p[i]
        if use_wd:
            pi = pi * decay
        mi = m[i] * b1 + one_minus_b1 * d
        e = d - mi
        si = (s[i] * b2 + one_minus_b2 * (e * e)) + eps_root
        m[i] = mi
        s[i] = si
        p[i] = pi + neg_lr * ((mi / bc1) / (np.sqrt(si / bc2) + eps))


@_jit
def _lamb_dir(mi, vi, pi, bc1, bc2, eps, wd, use_wd):
    u = (mi / bc1) / (np.sqrt(vi / bc2) + eps)
    if use_wd:
        u = u + wd * pi
    return u


@_jit
def _lamb_moments(p, g, m, v, b1, one_minus_b1, b2, one_minus_b2, bc1, bc2, eps, wd, use_wd,
                  maximize):
    """Pass 1: the moments, and the sums of squares of p and of the direction (lanes as
    _sumsq)."""
    lp = np.zeros(8)
    lu = np.zeros(8)
    for k in range(p.size):
        d = -g[k] if maximize else g[k]
        pk = p[k]
        mk = m[k] * b1 + one_minus_b1 * d
        vk = v[k] * b2 + one_minus_b2 * (d * d)
        m[k] = mk
        v[k] = vk
        u = np.float64(_lamb_dir(mk, vk, pk, bc1, bc2, eps, wd, use_wd))
        pd = np.float64(pk)
        lp[k % 8] += pd * pd
        lu[k % 8] += u * u
    return (((lp[0] + lp[1]) + (lp[2] + lp[3])) + ((lp[4] + lp[5]) + (lp[6] + lp[7])),
            ((lu[0] + lu[1]) + (lu[2] + lu[3])) + ((lu[4] + lu[5]) + (lu[6] + lu[7])))


@_jit
def _lamb_apply(p, m, v, neg_lr, ratio, bc1, bc2, eps, wd, use_wd):
    for i in range(p.size):
        pi = p[i]
        u = _lamb_dir(m[i], v[i], pi, bc1, bc2, eps, wd, use_wd)
        p[i] = pi + neg_lr * (u * ratio)


@_jit
def _lars_sums(p, g, wd, use_wd, maximize):
    """Pass 1: the sums of squares of p and of u = g + wd * p (lanes as _sumsq)."""
    if not use_wd:
        return _sumsq(p), _sumsq(g)
    lp = np.zeros(8)
    lu = np.zeros(8)
    for k in range(p.size):
        pk = p[k]
        u = np.float64((-g[k] if maximize else g[k]) + wd * pk)
        pd = np.float64(pk)
        lp[k % 8] += pd * pd
        lu[k % 8] += u * u
    return (((lp[0] + lp[1]) + (lp[2] + lp[3])) + ((lp[4] + lp[5]) + (lp[6] + lp[7])),
            ((lu[0] + lu[1]) + (lu[2] + lu[3])) + ((lu[4] + lu[5]) + (lu[6] + lu[7])))


@_jit
def _lars(p, g, buf, lr, ratio, mom, wd, use_wd, maximize, nesterov, use_momentum):
    for i in range(p.size):
        pi = p[i]
        u = -g[i] if maximize else g[i]
        if use_wd:
            u = u + wd * pi
        step = lr * (u * ratio)
        if use_momentum:
            bi = buf[i] * mom + step
            buf[i] = bi
            p[i] = pi - (step + mom * bi if nesterov else bi)
        else:
            p[i] = pi - step


@_jit
def _yogi(p, g, m, v, neg_lr, b1, one_minus_b1, one_minus_b2, eps, bc1, bc2, maximize, one):
    for i in range(p.size):
        d = -g[i] if maximize else g[i]
        mi = m[i] * b1 + one_minus_b1 * d
        sq = d * d
        v0 = v[i]
        vi = v0 - (one_minus_b2 * _sign(v0 - sq, one)) * sq
        m[i] = mi
        v[i] = vi
        p[i] = p[i] + neg_lr * ((mi / bc1) / (np.sqrt(vi / bc2) + eps))


@_entry("lion")
def lion_many(params, grads, exp_avgs, *, lr, beta1, beta2, weight_decay=0.0, maximize=False):
    lists = (params, grads, exp_avgs)
    for t in range(len(params)):
        p, g, m = _flat(lists, t)
        T = p.dtype.type
        _lion(p, g, m, T(-lr), T(beta1), T(1.0 - beta1), T(beta2), T(1.0 - beta2),
              T(1.0 - lr * weight_decay), weight_decay != 0.0, maximize, T(1))


@_entry("adabelief")
def adabelief_many(params, grads, exp_avgs, exp_avg_vars, *, lr, beta1, beta2, eps, eps_root,
                   weight_decay=0.0, bias_correction1, bias_correction2, maximize=False):
    lists = (params, grads, exp_avgs, exp_avg_vars)
    for t in range(len(params)):
        p, g, m, s = _flat(lists, t)
        T = p.dtype.type
        _adabelief(p, g, m, s, T(-lr), T(beta1), T(1.0 - beta1), T(beta2), T(1.0 - beta2),
                   T(eps), T(eps_root), T(bias_correction1), T(bias_correction2),
                   T(1.0 - lr * weight_decay), weight_decay != 0.0, maximize)


@_entry("lamb")
def lamb_many(params, grads, exp_avgs, exp_avg_sqs, *, lr, beta1, beta2, eps, weight_decay=0.0,
              bias_correction1, bias_correction2, maximize=False):
    lists = (params, grads, exp_avgs, exp_avg_sqs)
    for t in range(len(params)):
        p, g, m, v = _flat(lists, t)
        T = p.dtype.type
        bc1, bc2, e, wd = T(bias_correction1), T(bias_correction2), T(eps), T(weight_decay)
        use_wd = weight_decay != 0.0
        sp, su = _lamb_moments(p, g, m, v, T(beta1), T(1.0 - beta1), T(beta2),
                               T(1.0 - beta2), bc1, bc2, e, wd, use_wd, maximize)
        ratio = T(_trust_ratio(sp, su, 1.0, 0.0))
        _lamb_apply(p, m, v, T(-lr), ratio, bc1, bc2, e, wd, use_wd)


@_entry("lars")
def lars_many(params, grads, momentum_buffers, *, lr, momentum=0.0, weight_decay=0.0,
              trust_coefficient, eps=0.0, nesterov=False, maximize=False):
    lists = (params, grads, momentum_buffers)
    for t in range(len(params)):
        p, g, buf = _flat(lists, t)
        T = p.dtype.type
        wd, use_wd = T(weight_decay), weight_decay != 0.0
        sp, su = _lars_sums(p, g, wd, use_wd, maximize)
        ratio = T(_trust_ratio(sp, su, trust_coefficient, eps))
        _lars(p, g, buf, T(lr), ratio, T(momentum), wd, use_wd, maximize, nesterov,
              momentum != 0.0)


@_entry("yogi")
def yogi_many(params, grads, exp_avgs, exp_avg_sqs, *, lr, beta1, beta2, eps, bias_correction1,
              bias_correction2, maximize=False):
    lists = (params, grads, exp_avgs, exp_avg_sqs)
    for t in range(len(params)):
        p, g, m, v = _flat(lists, t)
        T = p.dtype.type
        _yogi(p, g, m, v, T(-lr), T(beta1), T(1.0 - beta1), T(1.0 - beta2), T(eps),
              T(bias_correction1), T(bias_correction2), maximize, T(1))
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



@_jit
def _any_nonfinite(x):
    """fgd_any_nonfinite: whether the flat x holds a NaN or an infinity (v - v is 0 for a
    finite v and NaN otherwise), in blocks of 4096 elements with an exit after each."""
    n = x.size
    for lo in range(0, n, 4096):
        hi = min(lo + 4096, n)
        bad = False
        for i in range(lo, hi):
            v = x[i]
            bad |= not (v - v == 0)
        if bad:
            return True
    return False


def first_nonfinite(arrays) -> int:
    """The position in ``arrays`` of the first array holding a NaN or an infinity, or -1
    when every element of every array is finite."""
    for k, a in enumerate(scanned_arrays(arrays)):
        if a.size and _any_nonfinite(a.ravel(order="K")):
            return k
    return -1
