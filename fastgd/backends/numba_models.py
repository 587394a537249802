"""The ``numba`` backend of :mod:`fastgd.models` (losses and clipping): the loops of
src/models/models_impl.h, compiled by Numba, operation for operation (so the results are
the compiled core's bits). One thread; the batch is still summed in the compiled core's
chunks, whose boundaries depend only on the batch size and the size of coef.

The arrays arrive as flat 1-D views of their memory with element strides, as the C
kernels see them; ``cache=True`` keeps the compiled code between processes; no
``fastmath`` (it would break NaN/Inf semantics and parity), and ``error_model="numpy"`` so
that a division by zero gives inf/NaN as in C.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from fastgd.reference.models import (  # noqa: F401
    BAD_LABEL,
    BAD_ROW,
    BAD_WEIGHT,
    NO_MEMORY,
    NORM_COUNT,
    NORM_MAXABS,
    NORM_MINABS,
    NORM_SUMABS,
    NORM_SUMPOW,
    NORM_SUMSQ,
    OK,
    SOFTMAX,
    ZERO_WEIGHT,
)

NAME = "numba"

_jit = njit(cache=True, nogil=True, fastmath=False, error_model="numpy")

# The constants of src/models/models.h.
CHUNK_ROWS = 1024
MAX_CHUNKS = 64
MAX_PARTIAL = 1 << 22
BLOCK = 64


@_jit
def n_chunks(n, m):
    c = (n + CHUNK_ROWS - 1) // CHUNK_ROWS
    cap = MAX_PARTIAL // (m if m > 1 else 1)
    if c > MAX_CHUNKS:
        c = MAX_CHUNKS
    if c > cap:
        c = cap
    return c if c > 1 else 1


@_jit
def _block_rows(k):
    b = 4096 // (k if k > 1 else 1)
    if b > BLOCK:
        b = BLOCK
    return b if b > 1 else 1


@_jit
def _point(kind, z, y, eps):
    """fgdm_point: (loss, dl/dz, d2l/dz2) of one sample."""
    if kind == 0:
        r = z - y
        return r * r, 2.0 * r, 2.0
    if kind == 1:
        r = z - y
        return 0.5 * (r * r), r, 1.0
    if kind == 2:
        r = z - y
        ar = abs(r)
        if ar <= eps:
            return 0.5 * (r * r), r, 1.0
        if r != r:
            return r, r, r
        return eps * (ar - 0.5 * eps), (eps if r > 0.0 else -eps), 0.0
    if kind == 3:
        r = z - y
        ar = abs(r) - eps
        if ar > 0.0:
            return ar, (1.0 if r > 0.0 else -1.0), 0.0
        if ar != ar:
            return ar, ar, ar
        return 0.0, 0.0, 0.0
    if kind == 4:
        e = math.exp(-abs(z))
        den = 1.0 + e
        if z >= 0.0:
            p = 1.0 / den
            q = e / den
        else:
            p = e / den
            q = 1.0 / den
        loss = ((z if z > 0.0 else 0.0) - y * z) + math.log1p(e)
        return loss, (1.0 - y) * p - y * q, p * q
    t = 1.0 if y > 0.0 else -1.0
    tz = t * z
    if tz <= 1.0:
        return 1.0 - tz, -t, 0.0
    if tz != tz:
        return tz, tz, tz
    return 0.0, 0.0, 0.0


@_jit
def _softmax_point(k, z, label, w, e, g, hh):
    """fgdm_softmax_point."""
    m = z[0]
    cm = 0
    for c in range(1, k):
        if z[c] > m:
            m = z[c]
            cm = c
    sp = 0.0
    for c in range(k):
        if c == cm:
            continue
        e[c] = math.exp(z[c] - m)
        sp += e[c]
    e[cm] = 1.0
    s = 1.0 + sp
    for c in range(k):
        omp = sp / s if c == cm else (s - e[c]) / s
        p = e[c] / s
        g[c] = w * (-omp if c == label else p)
        hh[c] = w * (p * omp)
    return math.log1p(sp) - (z[label] - m)


@_jit
def _combine8(a0, a1, a2, a3, a4, a5, a6, a7):
    return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))


@_jit
def _dot8(X, off, w, d):
    """fgdm_dot8 over X[off : off + d]."""
    l0 = l1 = l2 = l3 = l4 = l5 = l6 = l7 = 0.0
    j = 0
    while j + 8 <= d:
        l0 += np.float64(X[off + j]) * w[j]
        l1 += np.float64(X[off + j + 1]) * w[j + 1]
        l2 += np.float64(X[off + j + 2]) * w[j + 2]
        l3 += np.float64(X[off + j + 3]) * w[j + 3]
        l4 += np.float64(X[off + j + 4]) * w[j + 4]
        l5 += np.float64(X[off + j + 5]) * w[j + 5]
        l6 += np.float64(X[off + j + 6]) * w[j + 6]
        l7 += np.float64(X[off + j + 7]) * w[j + 7]
        j += 8
    r = d - j
    if r > 0:
        l0 += np.float64(X[off + j]) * w[j]
    if r > 1:
        l1 += np.float64(X[off + j + 1]) * w[j + 1]
    if r > 2:
        l2 += np.float64(X[off + j + 2]) * w[j + 2]
    if r > 3:
        l3 += np.float64(X[off + j + 3]) * w[j + 3]
    if r > 4:
        l4 += np.float64(X[off + j + 4]) * w[j + 4]
    if r > 5:
        l5 += np.float64(X[off + j + 5]) * w[j + 5]
    if r > 6:
        l6 += np.float64(X[off + j + 6]) * w[j + 6]
    return _combine8(l0, l1, l2, l3, l4, l5, l6, l7)


@_jit
def _check(kind, n_samples, n, k, y, ys, sw, ss, has_sw, rows, rs, has_rows):
    """fgdm_check: (status, batch position)."""
    check_y = kind == 4 or kind == 5 or kind == SOFTMAX
    if not has_rows and not check_y and not has_sw:
        return OK, -1
    for p in range(n):
        r = p
        if has_rows:
            v = rows[p * rs]
            if v < 0 or v >= n_samples:
                return BAD_ROW, p
            r = v
        if kind == SOFTMAX:
            c = y[r * ys]
            if c < 0 or c >= k:
                return BAD_LABEL, p
        elif check_y:
            v = np.float64(y[r * ys])
            if kind == 4:
                ok = v >= 0.0 and v <= 1.0
            else:
                ok = v == 1.0 or v == 0.0 or v == -1.0
            if not ok:
                return BAD_LABEL, p
        if has_sw:
            v = np.float64(sw[r * ss])
            if not (v >= 0.0 and v < np.inf):
                return BAD_WEIGHT, p
    return OK, -1


@_jit
def _chunk_linear(kind, X, xs0, xs1, row_major, d, y, ys, sw, ss, has_sw, rows, rs,
                  has_rows, w, has_b, eps, lo, hi, part, want_grad, want_hess,
                  lanes, gb, hb, rb):
    """fgdm_chunk_linear_rows / fgdm_chunk_linear_cols."""
    b = w[d] if has_b else 0.0
    G0 = 4
    H0 = 4 + d
    L = 0.0
    W = 0.0
    Gb = 0.0
    Hb = 0.0
    if row_major:
        for p in range(lo, hi):
            r = rows[p * rs] if has_rows else p
            off = r * xs0
            z = _dot8(X, off, w, d)
            if has_b:
                z = z + b
            wi = np.float64(sw[r * ss]) if has_sw else 1.0
            loss, dl, h = _point(kind, z, np.float64(y[r * ys]), eps)
            L += wi * loss
            W += wi
            if want_grad:
                g = wi * dl
                Gb += g
                for j in range(d):
                    part[G0 + j] += g * np.float64(X[off + j])
            if want_hess:
                hw = wi * h
                Hb += hw
                for j in range(d):
                    xj = np.float64(X[off + j])
                    part[H0 + j] += hw * (xj * xj)
    else:
        B = BLOCK
        for p0 in range(lo, hi, B):
            nb = hi - p0 if hi - p0 < B else B
            for i in range(nb):
                rb[i] = rows[(p0 + i) * rs] if has_rows else p0 + i
            lanes[:] = 0.0
            for j in range(d):
                col = j * xs1
                base = (j & 7) * B
                wj = w[j]
                for i in range(nb):
                    lanes[base + i] += np.float64(X[col + rb[i]]) * wj
            for i in range(nb):
                r = rb[i]
                z = _combine8(lanes[i], lanes[B + i], lanes[2 * B + i], lanes[3 * B + i],
                              lanes[4 * B + i], lanes[5 * B + i], lanes[6 * B + i],
                              lanes[7 * B + i])
                if has_b:
                    z = z + b
                wi = np.float64(sw[r * ss]) if has_sw else 1.0
                loss, dl, h = _point(kind, z, np.float64(y[r * ys]), eps)
                L += wi * loss
                W += wi
                gb[i] = wi * dl
                Gb += gb[i]
                hb[i] = wi * h
                Hb += hb[i]
            if want_grad:
                for j in range(d):
                    col = j * xs1
                    s = part[G0 + j]
                    for i in range(nb):
                        s += gb[i] * np.float64(X[col + rb[i]])
                    part[G0 + j] = s
            if want_hess:
                for j in range(d):
                    col = j * xs1
                    s = part[H0 + j]
                    for i in range(nb):
                        xv = np.float64(X[col + rb[i]])
                        s += hb[i] * (xv * xv)
                    part[H0 + j] = s
    part[0] = L
    part[1] = W
    part[2] = Gb
    part[3] = Hb


@_jit
def _chunk_softmax(X, xs0, xs1, row_major, d, k, labels, ys, sw, ss, has_sw, rows, rs,
                   has_rows, w, has_b, lo, hi, part, want_grad, want_hess,
                   lanes, z, e, gblk, hblk, rb):
    """fgdm_chunk_softmax_rows / fgdm_chunk_softmax_cols. lanes: 8*k*Bs (8*k rows path)."""
    m = d * k
    Gb0 = 2
    Hb0 = 2 + k
    G0 = 2 + 2 * k
    H0 = G0 + m
    L = 0.0
    W = 0.0
    if row_major:
        g = gblk[:k]
        hh = hblk[:k]
        for p in range(lo, hi):
            r = rows[p * rs] if has_rows else p
            off = r * xs0
            lanes[:8 * k] = 0.0
            for j0 in range(0, d, 8):
                qn = d - j0 if d - j0 < 8 else 8
                for q in range(qn):
                    xv = np.float64(X[off + j0 + q])
                    wr = (j0 + q) * k
                    ar = q * k
                    for c in range(k):
                        lanes[ar + c] += xv * w[wr + c]
            for c in range(k):
                z[c] = _combine8(lanes[c], lanes[k + c], lanes[2 * k + c], lanes[3 * k + c],
                                 lanes[4 * k + c], lanes[5 * k + c], lanes[6 * k + c],
                                 lanes[7 * k + c])
                if has_b:
                    z[c] = z[c] + w[m + c]
            wi = np.float64(sw[r * ss]) if has_sw else 1.0
            loss = _softmax_point(k, z, labels[r * ys], wi, e, g, hh)
            L += wi * loss
            W += wi
            if want_grad:
                for c in range(k):
                    part[Gb0 + c] += g[c]
                for j in range(d):
                    xv = np.float64(X[off + j])
                    gj = G0 + j * k
                    for c in range(k):
                        part[gj + c] += g[c] * xv
            if want_hess:
                for c in range(k):
                    part[Hb0 + c] += hh[c]
                for j in range(d):
                    xv = np.float64(X[off + j])
                    x2 = xv * xv
                    hj = H0 + j * k
                    for c in range(k):
                        part[hj + c] += hh[c] * x2
    else:
        Bs = _block_rows(k)
        S = k * Bs
        for p0 in range(lo, hi, Bs):
            nb = hi - p0 if hi - p0 < Bs else Bs
            for i in range(nb):
                rb[i] = rows[(p0 + i) * rs] if has_rows else p0 + i
            lanes[:8 * S] = 0.0
            for j in range(d):
                col = j * xs1
                for c in range(k):
                    base = ((j & 7) * k + c) * Bs
                    wjc = w[j * k + c]
                    for i in range(nb):
                        lanes[base + i] += np.float64(X[col + rb[i]]) * wjc
            for i in range(nb):
                r = rb[i]
                for c in range(k):
                    o = c * Bs + i
                    z[c] = _combine8(lanes[o], lanes[S + o], lanes[2 * S + o],
                                     lanes[3 * S + o], lanes[4 * S + o], lanes[5 * S + o],
                                     lanes[6 * S + o], lanes[7 * S + o])
                    if has_b:
                        z[c] = z[c] + w[m + c]
                wi = np.float64(sw[r * ss]) if has_sw else 1.0
                gi = gblk[i * k:(i + 1) * k]
                hi_ = hblk[i * k:(i + 1) * k]
                loss = _softmax_point(k, z, labels[r * ys], wi, e, gi, hi_)
                L += wi * loss
                W += wi
                if want_grad:
                    for c in range(k):
                        part[Gb0 + c] += gi[c]
                if want_hess:
                    for c in range(k):
                        part[Hb0 + c] += hi_[c]
            if want_grad:
                for j in range(d):
                    col = j * xs1
                    gj = G0 + j * k
                    for i in range(nb):
                        xv = np.float64(X[col + rb[i]])
                        for c in range(k):
                            part[gj + c] += gblk[i * k + c] * xv
            if want_hess:
                for j in range(d):
                    col = j * xs1
                    hj = H0 + j * k
                    for i in range(nb):
                        xv = np.float64(X[col + rb[i]])
                        x2 = xv * xv
                        for c in range(k):
                            part[hj + c] += hblk[i * k + c] * x2
    part[0] = L
    part[1] = W


@_jit
def _penalty_sums(w, m):
    """fgdm_penalty_sums: sums of |w| and w^2 over w[:m] in eight lanes."""
    a = np.zeros(8)
    b = np.zeros(8)
    j = 0
    while j + 8 <= m:
        for q in range(8):
            v = w[j + q]
            a[q] += abs(v)
            b[q] += v * v
        j += 8
    for q in range(m - j):
        v = w[j + q]
        a[q] += abs(v)
        b[q] += v * v
    return (_combine8(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]),
            _combine8(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]))


@_jit
def _finish(tot, w, m, k, a1, a2, gc, gi, hc, hi, want_grad, want_gi, want_hess, want_hi):
    """The outputs from the summed partials (fgdm_loss_grad after the chunks)."""
    W = tot[1]
    if W == 0.0:
        return ZERO_WEIGHT, 0.0
    loss = tot[0] / W
    if a1 != 0.0 or a2 != 0.0:
        s1, s2 = _penalty_sums(w, m)
        if a1 != 0.0:
            loss = loss + a1 * s1
        if a2 != 0.0:
            loss = loss + 0.5 * a2 * s2
    if want_grad:
        G0 = 2 + 2 * k
        for j in range(m):
            v = tot[G0 + j] / W
            wj = w[j]
            if a1 != 0.0:
                v = v + a1 * (1.0 if wj > 0.0 else (-1.0 if wj < 0.0 else wj))
            if a2 != 0.0:
                v = v + a2 * wj
            gc[j] = v
        if want_gi:
            for c in range(k):
                gi[c] = tot[2 + c] / W
    if want_hess:
        H0 = 2 + 2 * k + m
        for j in range(m):
            v = tot[H0 + j] / W
            if a2 != 0.0:
                v = v + a2
            hc[j] = v
        if want_hi:
            for c in range(k):
                hi[c] = tot[2 + k + c] / W
    return OK, loss


@_jit
def _setup(coef, intercept, has_b, m, k, n, P):
    w = np.empty(m + k)
    for j in range(m):
        w[j] = np.float64(coef[j])
    for c in range(k):
        w[m + c] = np.float64(intercept[c]) if has_b else 0.0
    nchunks = n_chunks(n, m)
    part = np.zeros((nchunks + 1) * P)
    return w, part, nchunks


@_jit
def _reduce(part, nchunks, P):
    tot = part[nchunks * P:]
    for c in range(nchunks):
        for t in range(P):
            tot[t] += part[c * P + t]
    return tot


@_jit
def _loss_grad_linear(kind, n_samples, n, d, X, xs0, xs1, row_major, y, ys, sw, ss, has_sw,
                      rows, rs, has_rows, coef, intercept, has_b, a1, a2, eps, gc, gi, hc,
                      hi, want_grad, want_gi, want_hess, want_hi):
    status, pos = _check(kind, n_samples, n, 1, y, ys, sw, ss, has_sw, rows, rs, has_rows)
    if status != OK:
        return status, pos, 0.0
    m = d
    P = 4 + 2 * m
    w, part, nchunks = _setup(coef, intercept, has_b, m, 1, n, P)
    per = (n + nchunks - 1) // nchunks
    lanes = np.empty(8 * BLOCK)
    gb = np.empty(BLOCK)
    hb = np.empty(BLOCK)
    rb = np.empty(BLOCK, dtype=np.int64)
    for c in range(nchunks):
        lo = c * per
        hi_ = lo + per if lo + per < n else n
        if lo < hi_:
            _chunk_linear(kind, X, xs0, xs1, row_major, d, y, ys, sw, ss, has_sw, rows, rs,
                          has_rows, w, has_b, eps, lo, hi_, part[c * P:(c + 1) * P],
                          want_grad, want_hess, lanes, gb, hb, rb)
    tot = _reduce(part, nchunks, P)
    status, loss = _finish(tot, w, m, 1, a1, a2, gc, gi, hc, hi, want_grad, want_gi,
                           want_hess, want_hi)
    return status, -1, loss


@_jit
def _loss_grad_softmax(n_samples, n, d, k, X, xs0, xs1, row_major, y, ys, sw, ss, has_sw,
                       rows, rs, has_rows, coef, intercept, has_b, a1, a2, gc, gi, hc, hi,
                       want_grad, want_gi, want_hess, want_hi):
    status, pos = _check(SOFTMAX, n_samples, n, k, y, ys, sw, ss, has_sw, rows, rs, has_rows)
    if status != OK:
        return status, pos, 0.0
    m = d * k
    P = 2 + 2 * k + 2 * m
    w, part, nchunks = _setup(coef, intercept, has_b, m, k, n, P)
    per = (n + nchunks - 1) // nchunks
    Bs = 1 if row_major else _block_rows(k)
    lanes = np.empty(8 * k * Bs)
    z = np.empty(k)
    e = np.empty(k)
    gblk = np.empty(Bs * k)
    hblk = np.empty(Bs * k)
    rb = np.empty(Bs, dtype=np.int64)
    for c in range(nchunks):
        lo = c * per
        hi_ = lo + per if lo + per < n else n
        if lo < hi_:
            _chunk_softmax(X, xs0, xs1, row_major, d, k, y, ys, sw, ss, has_sw, rows, rs,
                           has_rows, w, has_b, lo, hi_, part[c * P:(c + 1) * P], want_grad,
                           want_hess, lanes, z, e, gblk, hblk, rb)
    tot = _reduce(part, nchunks, P)
    status, loss = _finish(tot, w, m, k, a1, a2, gc, gi, hc, hi, want_grad, want_gi,
                           want_hess, want_hi)
    return status, -1, loss


def _flat(a):
    """A 1-D view of the memory a spans from its first element (non-negative strides)."""
    if a.flags.c_contiguous or a.flags.f_contiguous:
        return a.ravel(order="K")
    span = 1 + sum((s - 1) * (st // a.itemsize) for s, st in zip(a.shape, a.strides))
    return np.lib.stride_tricks.as_strided(a, shape=(span if a.size else 0,),
                                           strides=(a.itemsize,))


def _stride(a, axis=0):
    return a.strides[axis] // a.itemsize if a.shape[axis] > 1 else 1


def loss_grad(kind, X, y, coef, intercept, sample_weight, rows, a1, a2, eps,
              grad_coef, grad_intercept, hess_coef, hess_intercept):
    """The compiled core's ``loss_grad`` (see fastgd.reference.models.loss_grad)."""
    n_samples, d = X.shape
    xs0 = X.strides[0] // X.itemsize if n_samples > 1 else 0
    xs1 = X.strides[1] // X.itemsize if d > 1 else 0
    row_major = d <= 1 or xs1 == 1
    if not row_major:
        xs0 = 1
    Xf = _flat(X)
    yf, ys = _flat(y), _stride(y)
    empty = np.empty(0, dtype=X.dtype)
    has_sw = sample_weight is not None
    swf, ss = (_flat(sample_weight), _stride(sample_weight)) if has_sw else (empty, 0)
    has_rows = rows is not None
    if has_rows:
        rowsf, rs, n = _flat(rows), _stride(rows), rows.shape[0]
    else:
        rowsf, rs, n = np.empty(0, dtype=np.int64), 0, n_samples
    has_b = intercept is not None
    coeff = coef.reshape(-1)
    interf = intercept.reshape(-1) if has_b else empty
    outs = [empty if a is None else a.reshape(-1)
            for a in (grad_coef, grad_intercept, hess_coef, hess_intercept)]
    wants = [a is not None for a in (grad_coef, grad_intercept, hess_coef, hess_intercept)]
    if kind == SOFTMAX:
        return _loss_grad_softmax(n_samples, n, d, coef.shape[1], Xf, xs0, xs1, row_major,
                                  yf, ys, swf, ss, has_sw, rowsf, rs, has_rows, coeff, interf,
                                  has_b, a1, a2, *outs, *wants)
    return _loss_grad_linear(kind, n_samples, n, d, Xf, xs0, xs1, row_major, yf, ys, swf, ss,
                             has_sw, rowsf, rs, has_rows, coeff, interf, has_b, a1, a2, eps,
                             *outs, *wants)


# ----------------------------------------------------------------------- clipping ---

@_jit
def _norm_part(x, mode, p):
    """fgdm_norm_part."""
    n = x.size
    if mode == NORM_MAXABS:
        mx = 0.0
        for i in range(n):
            v = abs(np.float64(x[i]))
            if v > mx or v != v:
                mx = v
            if mx != mx:
                break
        return mx
    if mode == NORM_MINABS:
        mn = np.inf
        for i in range(n):
            v = abs(np.float64(x[i]))
            if v < mn or v != v:
                mn = v
            if mn != mn:
                break
        return mn
    if mode == NORM_COUNT:
        count = 0.0
        for i in range(n):
            count += 1.0 if x[i] != 0 else 0.0
        return count
    lanes = np.zeros(8)
    i = 0
    while i < n:
        q = i & 7
        v = np.float64(x[i])
        if mode == NORM_SUMSQ:
            lanes[q] += v * v
        elif mode == NORM_SUMABS:
            lanes[q] += abs(v)
        else:
            lanes[q] += math.pow(abs(v), p)
        i += 1
    return _combine8(lanes[0], lanes[1], lanes[2], lanes[3], lanes[4], lanes[5], lanes[6],
                     lanes[7])


@_jit
def _scale(x, c):
    for i in range(x.size):
        x[i] = x[i] * c


@_jit
def _clamp(x, lo, hi):
    for i in range(x.size):
        v = x[i]
        v = lo if v < lo else v
        x[i] = hi if v > hi else v


def norm_part(x, mode, p):
    """One flat buffer's part of a total norm (fastgd.reference.models.norm_part)."""
    return float(_norm_part(x, mode, float(p)))


def scale(x, c):
    """``x *= c`` in place, c rounded once to x's dtype."""
    _scale(x, x.dtype.type(c))


def clamp(x, lo, hi):
    """``x = min(max(x, lo), hi)`` in place, NaN kept; bounds rounded to x's dtype."""
    T = x.dtype.type
    _clamp(x, T(lo), T(hi))


# ------------------------------------------------------------------------- CSR X ---

def csr_loss_grad(*args):
    """The compiled core's ``csr_loss_grad`` (fastgd.backends.numba_sparse)."""
    from fastgd.backends import numba_sparse
    return numba_sparse.csr_loss_grad(*args)


def csr_decision(*args):
    """The compiled core's ``csr_decision`` (fastgd.backends.numba_sparse)."""
    from fastgd.backends import numba_sparse
    return numba_sparse.csr_decision(*args)
