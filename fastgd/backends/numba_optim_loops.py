"""The Numba loops of the ``numba`` backend: one ``@njit`` loop per kernel, following its C
loop (src/optim/<rule>.h) operation for operation, with the jitted building blocks they
share (src/common/fgd_elementwise.h).

The loops take flat arrays and scalars already rounded to the arrays' dtype, so float32
arithmetic stays float32 (no float64 literal takes part in it); :mod:`.numba_optim`
prepares the calls. Every jitted function is in this one file: ``cache=True`` keys its
cache on the file it is in, so a loop's cache is refreshed when a helper it inlines
changes only if the helper is in the same file. ``fastmath`` is never used (it breaks
NaN/Inf semantics and parity with the reference).
"""

from __future__ import annotations

import numpy as np
from numba import njit

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
def _sign(x, one):
    """numpy.sign: 1, -1, 0 for either zero, NaN for NaN (``one``: 1 in x's type)."""
    if x > 0:
        return one
    if x < 0:
        return -one
    return x - x if x == x else x


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
def sgd(p, g, buf, neg_lr, mom, one_minus_damp, wd, use_wd, maximize, nesterov,
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
def adam(p, g, m, v, vmax, w1, one_minus_w1, b2, one_minus_b2, bc2_sqrt, eps,
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
def adam_eps_root(p, g, m, v, vmax, b1, one_minus_b1, b2, one_minus_b2, bc1, bc2, eps,
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
def adagrad(p, g, s, neg_clr, eps, wd, use_wd, maximize):
    for i in range(p.size):
        d = -g[i] if maximize else g[i]
        pi = p[i]
        if use_wd:
            d = d + wd * pi
        si = s[i] + d * d
        s[i] = si
        p[i] = pi + neg_clr * d / (np.sqrt(si) + eps)


@_jit
def rmsprop(p, g, sq, gavg, buf, neg_lr, a, one_minus_a, one_minus_w, eps, mom, wd, use_wd,
            maximize, centered, use_momentum, eps_in_sqrt):
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
            if eps_in_sqrt:
                avg = np.sqrt(si + -ga * ga + eps)
            else:
                avg = np.sqrt(si + -ga * ga)
                avg = avg + eps
        else:
            if eps_in_sqrt:
                avg = np.sqrt(si + eps)
            else:
                avg = np.sqrt(si)
                avg = avg + eps
        if use_momentum:
            b = buf[i] * mom + d / avg
            buf[i] = b
            p[i] = pi + neg_lr * b
        else:
            p[i] = pi + neg_lr * d / avg


@_jit
def adadelta(p, g, sq, acc, neg_lr, rho, one_minus_rho, eps, wd, use_wd, maximize):
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
def adamax(p, g, m, u, w1, one_minus_w1, b2, eps, neg_clr, wd, use_wd, maximize):
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
def nadam(p, g, m, v, w1, one_minus_w1, b2, one_minus_b2, bc2, eps, grad_coef, avg_coef, wd,
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
def radam(p, g, m, v, w1, one_minus_w1, b2, one_minus_b2, bc1, bc2_sqrt, eps, lr, rect, wd,
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
def rprop(p, g, prev, ss, em, ep, smin, smax, zero, one, maximize):
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
def asgd(p, g, ax, neg_eta, decay, wd, mu, use_wd, maximize, average):
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
def adafactor(p, g, rv, cv, var, batches, rows, cols, rows_t, cols_t, w, one_minus_w, e1,
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


@_jit
def lion(p, g, m, neg_lr, b1, one_minus_b1, b2, one_minus_b2, decay, use_wd, maximize,
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
def adabelief(p, g, m, s, neg_lr, b1, one_minus_b1, b2, one_minus_b2, eps, eps_root, bc1,
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
def lamb_moments(p, g, m, v, b1, one_minus_b1, b2, one_minus_b2, bc1, bc2, eps, wd, use_wd,
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
def lamb_apply(p, m, v, neg_lr, ratio, bc1, bc2, eps, wd, use_wd):
    for i in range(p.size):
        pi = p[i]
        u = _lamb_dir(m[i], v[i], pi, bc1, bc2, eps, wd, use_wd)
        p[i] = pi + neg_lr * (u * ratio)


@_jit
def lars_sums(p, g, wd, use_wd, maximize):
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
def lars(p, g, buf, lr, ratio, mom, wd, use_wd, maximize, nesterov, use_momentum):
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
def yogi(p, g, m, v, neg_lr, b1, one_minus_b1, one_minus_b2, eps, bc1, bc2, maximize, one):
    for i in range(p.size):
        d = -g[i] if maximize else g[i]
        mi = m[i] * b1 + one_minus_b1 * d
        sq = d * d
        v0 = v[i]
        vi = v0 - (one_minus_b2 * _sign(v0 - sq, one)) * sq
        m[i] = mi
        v[i] = vi
        p[i] = p[i] + neg_lr * ((mi / bc1) / (np.sqrt(vi / bc2) + eps))


@_jit
def sophia(p, g, m, h, neg_lr, b1, one_minus_b1, rho, eps, decay, one, zero, use_wd,
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
def sophia_hessian(h, est, b2, one_minus_b2):
    for i in range(h.size):
        h[i] = h[i] * b2 + one_minus_b2 * est[i]


@_jit
def sgd_schedule_free(p, g, z, c, one_minus_c, y_coef, lr, wd, use_wd, maximize):
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
def adamw_schedule_free(p, g, z, v, b2, one_minus_b2, bc2, eps, c, one_minus_c, y_coef, lr,
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


@_jit
def any_nonfinite(x):
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


@_jit
def sparse_adam_rows(p, m, v, indices, rows, w1, w2, eps, neg_step_size, maximize):
    """SparseAdam's row update (src/optim/sparse_adam.h): rows ``indices`` of the 2-D
    ``p``, ``m``, ``v``; the scalars already rounded to the arrays' dtype."""
    width = p.shape[1]
    for j in range(indices.shape[0]):
        i = indices[j]
        for c in range(width):
            g = -rows[j, c] if maximize else rows[j, c]
            m_old = m[i, c]
            v_old = v[i, c]
            m_new = (g - m_old) * w1 + m_old
            v_new = (g * g - v_old) * w2 + v_old
            m[i, c] = m_new
            v[i, c] = v_new
            p[i, c] = p[i, c] + neg_step_size * (m_new / (np.sqrt(v_new) + eps))


# Low-precision parameters (fastgd.reference.lowp; src/optim/lowp.h): bfloat16 bits as
# uint16, integer arithmetic in uint64 masked to 32 bits.

_M32 = np.uint64(0xFFFFFFFF)


@_jit
def _hash32(x):
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & _M32
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & _M32
    x ^= x >> np.uint64(16)
    return x


@_jit
def _bf16_fix_nan(b, rounded):
    if (b & np.uint64(0x7FFFFFFF)) > np.uint64(0x7F800000):
        return ((b >> np.uint64(16)) & np.uint64(0x8000)) | np.uint64(0x7FC0)
    return rounded


@_jit
def bf16_widen(src, dst):
    """src: bfloat16 bits (uint16); dst: float32 bits (uint32)."""
    for i in range(src.size):
        dst[i] = np.uint32(src[i]) << np.uint32(16)


@_jit
def bf16_narrow(src, dst, key):
    """src: float32 bits (uint32); dst: bfloat16 bits (uint16); key < 0 to nearest even."""
    k = np.uint64(key) & _M32 if key >= 0 else np.uint64(0)
    for i in range(src.size):
        b = np.uint64(src[i])
        if key < 0:
            rounded = (b + np.uint64(0x7FFF) + ((b >> np.uint64(16)) & np.uint64(1))) \
                >> np.uint64(16)
        else:
            ui = np.uint64(i)
            x = (ui & _M32) ^ k ^ (((ui >> np.uint64(32)) * np.uint64(0x9E3779B9)) & _M32)
            r = _hash32(x) >> np.uint64(16)
            rounded = (b >> np.uint64(16)) + (np.uint64(1) if r < (b & np.uint64(0xFFFF))
                                             else np.uint64(0))
        dst[i] = np.uint16(_bf16_fix_nan(b, rounded) & np.uint64(0xFFFF))
