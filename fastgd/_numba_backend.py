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
# ---- end numba: optax ----

# ---- begin numba: sophia-schedulefree (Sophia, SGDScheduleFree, AdamWScheduleFree) ----
# ---- end numba: sophia-schedulefree ----

