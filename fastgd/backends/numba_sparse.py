"""The ``numba`` backend's CSR model kernels: the loops of src/models/csr_impl.h compiled
by Numba, operation for operation (the compiled core's bits), on one thread in the
compiled core's chunks. Reached through :mod:`fastgd.backends.numba_models`
(``csr_loss_grad``, ``csr_decision``), whose per-sample losses and checks they share.
"""

from __future__ import annotations

import numpy as np

from fastgd.backends.numba_models import (
    _check,
    _finish,
    _flat,
    _jit,
    _point,
    _reduce,
    _softmax_point,
    _stride,
    n_chunks,
)
from fastgd.reference.models import BAD_INDEX, OK, SOFTMAX


@_jit
def _csr_bad_row(indices, indptr, d, cap, n, rows, rs, has_rows):
    """fgdm_csr_bad_row: the first batch position whose row is malformed, or -1."""
    for p in range(n):
        r = rows[p * rs] if has_rows else p
        s = np.int64(indptr[r])
        e = np.int64(indptr[r + 1])
        if s < 0 or e < s or e > cap:
            return p
        for v in range(s, e):
            c = indices[v]
            if c < 0 or c >= d:
                return p
    return -1


@_jit
def _csr_chunk(kind, data, indices, indptr, k, m, y, labels, ys, sw, ss, has_sw, rows, rs,
               has_rows, coef, intercept, has_b, eps, lo, hi, part, want_grad, want_hess,
               work):
    """fgdm_csr_chunk (targets in y, or int64 labels for softmax)."""
    rowx = work[4 * k:]
    G0 = 2 + 2 * k
    H0 = G0 + m
    L = 0.0
    W = 0.0
    if kind != SOFTMAX:
        b = np.float64(intercept[0]) if has_b else 0.0
        gbs = 0.0
        hbs = 0.0
        for p in range(lo, hi):
            r = rows[p * rs] if has_rows else p
            s = np.int64(indptr[r])
            e = np.int64(indptr[r + 1])
            z = 0.0
            for v in range(s, e):
                z += np.float64(data[v]) * np.float64(coef[indices[v]])
            if has_b:
                z = z + b
            wi = np.float64(sw[r * ss]) if has_sw else 1.0
            loss, dl, h = _point(kind, z, np.float64(y[r * ys]), eps)
            L += wi * loss
            W += wi
            if want_grad:
                g = wi * dl
                gbs += g
                for v in range(s, e):
                    part[G0 + indices[v]] += g * np.float64(data[v])
            if want_hess:
                hw = wi * h
                hbs += hw
                for v in range(s, e):
                    rowx[indices[v]] += np.float64(data[v])
                for v in range(s, e):
                    xv = rowx[indices[v]]
                    rowx[indices[v]] = 0.0
                    part[H0 + indices[v]] += hw * (xv * xv)
        part[2] = gbs
        part[3] = hbs
    else:
        z = work[:k]
        ex = work[k:2 * k]
        g = work[2 * k:3 * k]
        hh = work[3 * k:4 * k]
        for p in range(lo, hi):
            r = rows[p * rs] if has_rows else p
            s = np.int64(indptr[r])
            e = np.int64(indptr[r + 1])
            for c in range(k):
                z[c] = 0.0
            for v in range(s, e):
                xv = np.float64(data[v])
                base = np.int64(indices[v]) * k
                for c in range(k):
                    z[c] += xv * np.float64(coef[base + c])
            if has_b:
                for c in range(k):
                    z[c] = z[c] + np.float64(intercept[c])
            wi = np.float64(sw[r * ss]) if has_sw else 1.0
            loss = _softmax_point(k, z, labels[r * ys], wi, ex, g, hh)
            L += wi * loss
            W += wi
            if want_grad:
                for c in range(k):
                    part[2 + c] += g[c]
                for v in range(s, e):
                    xv = np.float64(data[v])
                    base = G0 + np.int64(indices[v]) * k
                    for c in range(k):
                        part[base + c] += g[c] * xv
            if want_hess:
                for c in range(k):
                    part[2 + k + c] += hh[c]
                for v in range(s, e):
                    rowx[indices[v]] += np.float64(data[v])
                for v in range(s, e):
                    xv = rowx[indices[v]]
                    rowx[indices[v]] = 0.0
                    x2 = xv * xv
                    base = H0 + np.int64(indices[v]) * k
                    for c in range(k):
                        part[base + c] += hh[c] * x2
    part[0] = L
    part[1] = W


@_jit
def _csr_loss_grad(kind, n_samples, n, d, k, data, indices, indptr, cap, y, labels, ys, sw,
                   ss, has_sw, rows, rs, has_rows, coef, intercept, has_b, a1, a2, eps, gc,
                   gi, hc, hi, want_grad, want_gi, want_hess, want_hi):
    if kind == SOFTMAX:
        status, pos = _check(kind, n_samples, n, k, labels, ys, sw, ss, has_sw, rows, rs,
                             has_rows)
    else:
        status, pos = _check(kind, n_samples, n, k, y, ys, sw, ss, has_sw, rows, rs,
                             has_rows)
    if status != OK:
        return status, pos, 0.0
    bad = _csr_bad_row(indices, indptr, d, cap, n, rows, rs, has_rows)
    if bad >= 0:
        return BAD_INDEX, bad, 0.0
    m = d * k
    P = 2 + 2 * k + 2 * m
    nchunks = n_chunks(n, m)
    per = (n + nchunks - 1) // nchunks
    part = np.zeros((nchunks + 1 if nchunks > 1 else 1) * P)
    work = np.zeros(4 * k + (d if want_hess else 0))
    for c in range(nchunks):
        lo = c * per
        hi_ = lo + per if lo + per < n else n
        if lo < hi_:
            _csr_chunk(kind, data, indices, indptr, k, m, y, labels, ys, sw, ss, has_sw,
                       rows, rs,
                       has_rows, coef, intercept, has_b, eps, lo, hi_,
                       part[c * P:(c + 1) * P], want_grad, want_hess, work)
    tot = _reduce(part, nchunks, P) if nchunks > 1 else part
    if a1 != 0.0 or a2 != 0.0:
        w = np.empty(m)
        for j in range(m):
            w[j] = np.float64(coef[j])
    else:
        w = np.zeros(0)
    status, loss = _finish(tot, w, m, k, a1, a2, gc, gi, hc, hi, want_grad, want_gi,
                           want_hess, want_hi)
    return status, -1, loss


@_jit
def _csr_decision(data, indices, indptr, d, k, cap, n, rows, rs, has_rows, coef, intercept,
                  has_b, out):
    bad = _csr_bad_row(indices, indptr, d, cap, n, rows, rs, has_rows)
    if bad >= 0:
        return BAD_INDEX, bad
    for p in range(n):
        r = rows[p * rs] if has_rows else p
        s = np.int64(indptr[r])
        e = np.int64(indptr[r + 1])
        for c in range(k):
            acc = 0.0
            for v in range(s, e):
                acc += np.float64(data[v]) * np.float64(coef[np.int64(indices[v]) * k + c])
            if has_b:
                acc = acc + np.float64(intercept[c])
            out[p * k + c] = acc
    return OK, -1


def _csr_common(indices, indptr, coef, intercept, rows, dtype):
    empty = np.empty(0, dtype=dtype)
    has_rows = rows is not None
    if has_rows:
        rowsf, rs, n = _flat(rows), _stride(rows), rows.shape[0]
    else:
        rowsf, rs, n = np.empty(0, dtype=np.int64), 0, indptr.shape[0] - 1
    has_b = intercept is not None
    interf = intercept.reshape(-1) if has_b else empty
    k = coef.shape[1] if coef.ndim == 2 else 1
    return empty, rowsf, rs, n, has_rows, interf, has_b, k


def csr_loss_grad(kind, data, indices, indptr, n_cols, y, coef, intercept, sample_weight,
                  rows, a1, a2, eps, grad_coef, grad_intercept, hess_coef, hess_intercept):
    """The compiled core's ``csr_loss_grad`` (see fastgd.reference.models.csr_loss_grad)."""
    empty, rowsf, rs, n, has_rows, interf, has_b, k = _csr_common(
        indices, indptr, coef, intercept, rows, data.dtype)
    cap = min(data.shape[0], indices.shape[0])
    yf, ys = _flat(y), _stride(y)
    if kind == SOFTMAX:
        yf, labels = empty, yf
    else:
        labels = np.empty(0, dtype=np.int64)
    has_sw = sample_weight is not None
    swf, ss = (_flat(sample_weight), _stride(sample_weight)) if has_sw else (empty, 0)
    outs = [empty if a is None else a.reshape(-1)
            for a in (grad_coef, grad_intercept, hess_coef, hess_intercept)]
    wants = [a is not None for a in (grad_coef, grad_intercept, hess_coef, hess_intercept)]
    return _csr_loss_grad(kind, indptr.shape[0] - 1, n, n_cols, k, data, indices, indptr, cap,
                          yf, labels, ys, swf, ss, has_sw, rowsf, rs, has_rows, coef.reshape(-1),
                          interf, has_b, a1, a2, eps, *outs, *wants)


def csr_decision(data, indices, indptr, n_cols, coef, intercept, rows, out):
    """The compiled core's ``csr_decision``: decision values into ``out``."""
    empty, rowsf, rs, n, has_rows, interf, has_b, k = _csr_common(
        indices, indptr, coef, intercept, rows, data.dtype)
    cap = min(data.shape[0], indices.shape[0])
    z = np.empty(n * k)
    status, pos = _csr_decision(data, indices, indptr, n_cols, k, cap, n, rowsf, rs,
                                has_rows, coef.reshape(-1), interf, has_b, z)
    if status == OK:
        out.reshape(-1)[...] = z
    return status, pos
