"""The SGD-with-momentum loop on CSR data (:mod:`fastgd.models.sparse_training`, path
``"sgd_momentum"``) compiled by Numba: :func:`fastgd.reference.sparse_momentum.momentum_epoch`
operation by operation, on one thread. Weights and buffers of float32 data stay float32;
the arithmetic is float64. ``fastmath`` is off."""

from __future__ import annotations

import numpy as np
from numba import njit

from fastgd.reference import sparse_sgd as _spec
from fastgd.reference.sparse_momentum import FIRST as _FIRST
from fastgd.reference.sparse_momentum import LOW as _LOW

#: one sample's (dl/dz, loss): the specification's own function, compiled
_point = njit(cache=True, nogil=True)(_spec.point)


@njit(cache=True, nogil=True)
def _bring(v, mb, stamp, j, t, pw):
    w = np.float64(v[j])
    m = np.float64(mb[j])
    k = t - stamp[j]
    if stamp[j] == 0:
        w, m = (pw[_FIRST, 0] * w + pw[_FIRST, 1] * m,
                pw[_FIRST, 2] * w + pw[_FIRST, 3] * m)
        k -= 1
    low = k & (_LOW - 1)
    if low:
        w, m = pw[low, 0] * w + pw[low, 1] * m, pw[low, 2] * w + pw[low, 3] * m
    k >>= 10
    i = _LOW
    while k:
        if k & 1:
            w, m = pw[i, 0] * w + pw[i, 1] * m, pw[i, 2] * w + pw[i, 3] * m
        k >>= 1
        i += 1
    v[j] = w
    mb[j] = m
    stamp[j] = t


@njit(cache=True, nogil=True)
def _momentum(data, indices, indptr, y, sw, order, batch, v, b, mb, stamp, g, touched, pw,
              st, prm, iprm, work, bm):
    kind, want, nesterov = iprm[0], iprm[4] != 0, iprm[7] != 0
    eps, lr, alpha = prm[6], prm[2], prm[8]
    mu, damp, wd = prm[12], prm[13], prm[14]
    track = want and alpha != 0.0
    has_b = b.shape[0] > 0
    d = v.shape[0]
    m = order.shape[0]
    c = work[:batch]
    wt = work[batch:2 * batch]
    ls = work[2 * batch:3 * batch]
    for p0 in range(0, m, batch):
        nb = min(batch, m - p0)
        t = int(st[6])
        bval = np.float64(b[0]) if has_b else 0.0
        for i in range(nb):
            r = order[p0 + i]
            acc = 0.0
            for k in range(indptr[r], indptr[r + 1]):
                j = indices[k]
                if stamp[j] != t:
                    _bring(v, mb, stamp, j, t, pw)
                acc += np.float64(v[j]) * np.float64(data[k])
            dl, loss = _point(kind, acc + bval, np.float64(y[r]), eps)
            c[i] = dl
            wt[i] = np.float64(sw[r]) if sw.shape[0] else 1.0
            ls[i] = loss
        S = 0.0
        L = 0.0
        for i in range(nb):
            S += wt[i]
            L += wt[i] * ls[i]
        if S == 0.0:
            continue
        if want:
            st[3] += L + (0.5 * alpha * st[5] if track else 0.0) * S
            st[4] += S
        G = 0.0
        nt = 0
        for i in range(nb):
            ci = (wt[i] * c[i]) / S
            G += ci
            r = order[p0 + i]
            for k in range(indptr[r], indptr[r + 1]):
                j = indices[k]
                if stamp[j] == t:
                    stamp[j] = t + 1
                    touched[nt] = j
                    nt += 1
                g[j] += ci * np.float64(data[k])
        row = _FIRST if t == 0 else 1
        M0, M1, M2, M3 = pw[row, 0], pw[row, 1], pw[row, 2], pw[row, 3]
        if track:
            c00, c01, c11 = st[5], st[8], st[9]
            r0, r1 = M0 * c00 + M1 * c01, M0 * c01 + M1 * c11
            s0, s1 = M2 * c00 + M3 * c01, M2 * c01 + M3 * c11
            st[5] = r0 * M0 + r1 * M1
            st[8] = r0 * M2 + r1 * M3
            st[9] = s0 * M2 + s1 * M3
        for q in range(nt):
            j = touched[q]
            w0 = np.float64(v[j])
            m0 = np.float64(mb[j])
            gj = (g[j] + alpha * w0) + wd * w0
            g[j] = 0.0
            m1 = gj if t == 0 else mu * m0 + (1.0 - damp) * gj
            w1 = w0 - lr * (gj + mu * m1 if nesterov else m1)
            v[j] = w1
            mb[j] = m1
            if track:
                y0, y1 = M0 * w0 + M1 * m0, M2 * w0 + M3 * m0
                w1 = np.float64(v[j])
                m1 = np.float64(mb[j])
                st[5] += w1 * w1 - y0 * y0
                st[8] += w1 * m1 - y0 * y1
                st[9] += m1 * m1 - y1 * y1
        if has_b:
            b0 = np.float64(b[0])
            gb = G + wd * b0
            m1 = gb if t == 0 else mu * np.float64(bm[0]) + (1.0 - damp) * gb
            b[0] = b0 - lr * (gb + mu * m1 if nesterov else m1)
            bm[0] = m1
        st[1] += 1.0
        st[6] += 1.0
    t = int(st[6])
    c00 = 0.0
    c01 = 0.0
    c11 = 0.0
    for j in range(d):
        if stamp[j] != t:
            _bring(v, mb, stamp, j, t, pw)
        if track:
            w0 = np.float64(v[j])
            m0 = np.float64(mb[j])
            c00 += w0 * w0
            c01 += w0 * m0
            c11 += m0 * m0
    if track:
        st[5] = c00
        st[8] = c01
        st[9] = c11


def sparse_momentum_epoch(data, indices, indptr, y, sw, order, batch, state, b, bm, touched,
                          pw, st, prm, iprm, work) -> None:
    """One epoch of the SGD-with-momentum loop on checked arrays (``state``:
    :func:`fastgd.reference.sparse_momentum.momentum_state`)."""
    _momentum(data, indices, indptr, y, sw, order, batch, state["w"], b, state["m"],
              state["stamp"], state["g"], touched, pw, st, prm, iprm, work, bm)
