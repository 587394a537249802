"""The sparse training loops (:mod:`fastgd.models.sparse_training`) compiled by Numba:
:func:`fastgd.reference.sparse_sgd.sgd_epoch` and ``adam_epoch``, operation by
operation, on one thread (the ``iprm[6]`` thread count is not used here). The weights of
float32 data stay float32; sums are float64. ``fastmath`` is off."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from fastgd.reference import sparse_sgd as _spec

_MAX_DLOSS = 1e12


#: one sample's (dl/dz, loss) and the schedule's step size: the specification's own
#: functions, compiled
_point = njit(cache=True, nogil=True)(_spec.point)
_eta = njit(cache=True, nogil=True)(_spec._eta)


@njit(cache=True, nogil=True)
def _rows(data, indices, indptr, y, sw, order, p0, nb, s, b, kind, eps, compat, v, c, wt,
          ls):
    for i in range(nb):
        r = order[p0 + i]
        acc = 0.0
        for k in range(indptr[r], indptr[r + 1]):
            acc += np.float64(v[indices[k]]) * np.float64(data[k])
        z = acc * s + b
        dl, loss = _point(kind, z, np.float64(y[r]), eps)
        if compat:
            dl = min(max(dl, -_MAX_DLOSS), _MAX_DLOSS)
        c[i] = dl
        wt[i] = np.float64(sw[r]) if sw.shape[0] else 1.0
        ls[i] = loss


@njit(cache=True, nogil=True)
def _sgd(data, indices, indptr, y, sw, order, batch, v, b, q, st, prm, iprm, work):
    kind, mode, sched = iprm[0], iprm[1], iprm[2]
    compat, want = iprm[3] != 0, iprm[4] != 0
    eps, rho = prm[6], prm[1]
    has_b = b.shape[0] > 0
    m = order.shape[0]
    d = v.shape[0]
    c = work[:batch]
    wt = work[batch:2 * batch]
    ls = work[2 * batch:3 * batch]
    for p0 in range(0, m, batch):
        nb = min(batch, m - p0)
        bval = np.float64(b[0]) if has_b else 0.0
        _rows(data, indices, indptr, y, sw, order, p0, nb, st[0], bval, kind, eps, compat,
              v, c, wt, ls)
        S = 0.0
        L = 0.0
        for i in range(nb):
            S += wt[i]
            L += ls[i] if compat else wt[i] * ls[i]
        if not compat and S == 0.0:
            continue
        eta = _eta(prm, sched, st[1])
        if want:
            pen = 0.0
            s0 = st[0]
            if mode == 1:
                pen = 0.5 * prm[0] * (s0 * s0 * st[5])
            elif mode == 2:
                l1 = 0.0
                if rho > 0:
                    for j in range(d):
                        l1 += abs(np.float64(v[j]))
                pen = prm[0] * ((1.0 - rho) * 0.5 * (s0 * s0 * st[5]) + rho * (abs(s0) * l1))
            if compat:
                st[3] += L + nb * pen
                st[4] += nb
            else:
                st[3] += L + pen * S
                st[4] += S
        G = 0.0
        for i in range(nb):
            if compat:
                c[i] = (-eta * c[i]) * wt[i]
            else:
                c[i] = -eta * ((wt[i] * c[i]) / S)
            G += c[i]
        if mode != 0:
            f = 1.0 - eta * prm[8] if mode == 1 else 1.0 - (1.0 - rho) * eta * prm[0]
            if mode == 2 and f < 0.0:
                f = 0.0
            if f != 1.0:
                st[0] *= f
                if abs(st[0]) < prm[7]:
                    sq = 0.0
                    for j in range(d):
                        v[j] = np.float64(v[j]) * st[0]
                        sq += np.float64(v[j]) * np.float64(v[j])
                    st[0] = 1.0
                    st[5] = sq if want else 0.0
        s = st[0]
        dsq = 0.0
        for i in range(nb):
            ci = c[i] / s
            if ci == 0.0:
                continue
            r = order[p0 + i]
            for k in range(indptr[r], indptr[r + 1]):
                j = indices[k]
                old = np.float64(v[j])
                v[j] = old + np.float64(data[k]) * ci
                dsq += np.float64(v[j]) * np.float64(v[j]) - old * old
        if has_b and G != 0.0:
            b[0] = np.float64(b[0]) + G * prm[5]
        if mode == 2 and rho > 0.0:
            st[2] += rho * eta * prm[0]
            u = st[2]
            for i in range(nb):
                r = order[p0 + i]
                for k in range(indptr[r], indptr[r + 1]):
                    j = indices[k]
                    z = np.float64(v[j])
                    nw = z
                    if s * z > 0.0:
                        nw = max(z - (u + np.float64(q[j])) / s, 0.0)
                    elif s * z < 0.0:
                        nw = min(z + (u - np.float64(q[j])) / s, 0.0)
                    v[j] = nw
                    q[j] = np.float64(q[j]) + s * (np.float64(v[j]) - z)
                    dsq += np.float64(v[j]) * np.float64(v[j]) - z * z
        if want:
            st[5] += dsq
        st[1] += 1.0
        st[6] += 1.0


@njit(cache=True, nogil=True)
def _adam(data, indices, indptr, y, sw, order, batch, v, b, m1, m2, st, prm, iprm, work, g,
          touched, tmp):
    # tmp: scratch of v's dtype (float32 arithmetic stays float32): [0] 1 - beta1,
    # [1] 1 - beta2, [2] eps, [3] the step size, [4] a rounded value
    kind, mode, want = iprm[0], iprm[1], iprm[4] != 0
    eps = prm[6]
    beta1, beta2, lr = prm[9], prm[10], prm[2]
    l2 = prm[8] if mode == 1 else 0.0
    omb1, omb2, ep = tmp[0], tmp[1], tmp[2]
    has_b = b.shape[0] > 0
    d = v.shape[0]
    m = order.shape[0]
    c = work[:batch]
    wt = work[batch:2 * batch]
    ls = work[2 * batch:3 * batch]
    for p0 in range(0, m, batch):
        nb = min(batch, m - p0)
        bval = np.float64(b[0]) if has_b else 0.0
        _rows(data, indices, indptr, y, sw, order, p0, nb, 1.0, bval, kind, eps, False, v,
              c, wt, ls)
        S = 0.0
        L = 0.0
        for i in range(nb):
            S += wt[i]
            L += wt[i] * ls[i]
        if S == 0.0:
            continue
        nt = 0
        G = 0.0
        for i in range(nb):
            ci = (wt[i] * c[i]) / S
            G += ci
            r = order[p0 + i]
            for k in range(indptr[r], indptr[r + 1]):
                j = indices[k]
                gk = ci * np.float64(data[k])
                if g[j] != g[j]:  # NaN: not in the batch yet
                    g[j] = gk
                    touched[nt] = j
                    nt += 1
                else:
                    g[j] += gk
        if want:
            pen = 0.0
            if l2 != 0.0:
                sq = 0.0
                for j in range(d):
                    sq += np.float64(v[j]) * np.float64(v[j])
                pen = 0.5 * l2 * sq
            st[3] += L + pen * S
            st[4] += S
        st[7] += 1.0
        kk = st[7]
        bc1 = 1.0 - beta1 ** kk
        bc2 = 1.0 - beta2 ** kk
        tmp[3] = -(lr * math.sqrt(bc2) / bc1)
        nss = tmp[3]
        for t in range(nt + (1 if has_b else 0)):
            if t < nt:
                j = touched[t]
                tmp[4] = g[j] + l2 * np.float64(v[j])
                g[j] = np.nan
                pm, pv, pw = m1, m2, v
            else:
                j = d
                tmp[4] = G
                pm, pv, pw = m1, m2, b
            gt = tmp[4]
            mo = pm[j]
            vo = pv[j]
            tmp[4] = (gt - mo) * omb1
            mn = tmp[4] + mo
            tmp[4] = (gt * gt - vo) * omb2
            vn = tmp[4] + vo
            pm[j] = mn
            pv[j] = vn
            tmp[4] = math.sqrt(np.float64(vn))
            jw = j if t < nt else 0
            pw[jw] = pw[jw] + nss * (mn / (tmp[4] + ep))
        st[1] += 1.0
        st[6] += 1.0


def sparse_sgd_epoch(data, indices, indptr, y, sw, order, batch, v, b, q, st, prm, iprm,
                     work) -> None:
    """One epoch of the sparse SGD loop on checked arrays."""
    _sgd(data, indices, indptr, y, sw, order, batch, v, b, q, st, prm, iprm, work)


def sparse_adam_epoch(data, indices, indptr, y, sw, order, batch, v, b, state, st, prm,
                      iprm, work, touched) -> None:
    """One epoch of the lazy Adam loop on checked arrays (``state``:
    :func:`fastgd.reference.sparse_sgd.adam_state`)."""
    tmp = np.zeros(5, dtype=v.dtype)
    tmp[0], tmp[1], tmp[2] = 1.0 - prm[9], 1.0 - prm[10], prm[11]
    _adam(data, indices, indptr, y, sw, order, batch, v, b, state["m1"], state["m2"], st,
          prm, iprm, work, state["g"], touched, tmp)



@njit(cache=True, nogil=True)
def _softmax(data, indices, indptr, y, sw, order, batch, v, b, st, prm, iprm, work):
    mode, sched, want = iprm[1], iprm[2], iprm[4] != 0
    has_b = b.shape[0] > 0
    d, k = v.shape
    m = order.shape[0]
    c = work[:batch * k]
    wt = work[batch * k:batch * k + batch]
    ls = work[batch * k + batch:batch * k + 2 * batch]
    G = np.zeros(k)
    for p0 in range(0, m, batch):
        nb = min(batch, m - p0)
        s = st[0]
        for i in range(nb):
            r = order[p0 + i]
            z = c[i * k:(i + 1) * k]
            z[:] = 0.0
            for kk in range(indptr[r], indptr[r + 1]):
                x = np.float64(data[kk])
                j = indices[kk]
                for q in range(k):
                    z[q] += np.float64(v[j, q]) * x
            mx = -np.inf
            for q in range(k):
                z[q] = z[q] * s + (np.float64(b[q]) if has_b else 0.0)
                if z[q] > mx:
                    mx = z[q]
            label = int(y[r])
            zl = z[label]
            tot = 0.0
            for q in range(k):
                z[q] = math.exp(z[q] - mx)
                tot += z[q]
            inv = 1.0 / tot
            for q in range(k):
                z[q] = z[q] * inv - (1.0 if q == label else 0.0)
            ls[i] = math.log(tot) - (zl - mx)
            wt[i] = np.float64(sw[r]) if sw.shape[0] else 1.0
        S = 0.0
        L = 0.0
        for i in range(nb):
            S += wt[i]
            L += wt[i] * ls[i]
        if S == 0.0:
            continue
        eta = _eta(prm, sched, st[1])
        if want:
            st[3] += L + (0.5 * prm[8] * (s * s * st[5]) if mode == 1 else 0.0) * S
            st[4] += S
        G[:] = 0.0
        for i in range(nb):
            for q in range(k):
                u = -eta * ((wt[i] * c[i * k + q]) / S)
                c[i * k + q] = u
                G[q] += u
        if mode == 1:
            f = 1.0 - eta * prm[8]
            if f != 1.0:
                st[0] *= f
                if abs(st[0]) < prm[7]:
                    sq = 0.0
                    for j in range(d):
                        for q in range(k):
                            v[j, q] = np.float64(v[j, q]) * st[0]
                            sq += np.float64(v[j, q]) * np.float64(v[j, q])
                    st[0] = 1.0
                    st[5] = sq if want else 0.0
        s = st[0]
        for i in range(nb * k):
            c[i] = c[i] / s
        dsq = 0.0
        for i in range(nb):
            r = order[p0 + i]
            for kk in range(indptr[r], indptr[r + 1]):
                j = indices[kk]
                x = np.float64(data[kk])
                for q in range(k):
                    old = np.float64(v[j, q])
                    v[j, q] = old + x * c[i * k + q]
                    dsq += np.float64(v[j, q]) * np.float64(v[j, q]) - old * old
        if has_b:
            for q in range(k):
                if G[q] != 0.0:
                    b[q] = np.float64(b[q]) + G[q]
        if want:
            st[5] += dsq
        st[1] += 1.0
        st[6] += 1.0


def sparse_softmax_epoch(data, indices, indptr, y, sw, order, batch, v, b, st, prm, iprm,
                         work) -> None:
    """One epoch of the sparse multinomial SGD loop on checked arrays."""
    _softmax(data, indices, indptr, y, sw, order, batch, v, b, st, prm, iprm, work)
