r"""The specification of the O(nnz)-per-step sparse training loops
(:mod:`fastgd.models.sparse_training`): one epoch of stochastic (mini-batch) gradient
descent, or of lazy Adam, on a CSR design matrix, written plainly in NumPy. The compiled
(``src/models/sparse_sgd.h``) and Numba (``fastgd/backends/numba_sparse_sgd.py``) loops follow
it operation by operation.

**Arrays** (all checked by the caller; updated in place):

- ``data, indices, indptr``: the CSR matrix (values float32/float64, indices int32/int64);
  ``y``, ``sw`` (sample weights, or an empty array for none) of the values' dtype;
  ``order`` (int64): the rows of the epoch in order; ``batch``: rows per step.
- ``v`` (d,): the stored weights; the model's weights are ``w = s * v``.
- ``b`` (1,) the intercept, or empty (no intercept).
- ``q`` (d,): the cumulative L1 penalty applied to each weight (scikit-learn's ``q``), or
  empty.
- ``st`` float64 state: ``[0]`` s, ``[1]`` t (the step counter of the schedules, from 1),
  ``[2]`` u (the cumulative L1 penalty owed per weight), ``[3]`` sum of losses and ``[4]``
  of their weights (added to, when ``iprm[4]``), ``[5]`` the sum of ``v**2`` (kept when
  ``iprm[4]``), ``[6]`` steps taken (added to), ``[7]`` Adam's step count.
- ``prm`` float64: ``[0]`` alpha, ``[1]`` l1_ratio, ``[2]`` the learning rate (eta0),
  ``[3]`` power_t, ``[4]`` t0 of ``"optimal"``, ``[5]`` intercept decay, ``[6]`` the loss's
  epsilon, ``[7]`` the threshold under which ``|s|`` is folded into ``v``, ``[8]`` the
  coupled L2 coefficient, ``[9]``, ``[10]``, ``[11]`` Adam's beta1, beta2, eps.
- ``iprm`` int64: ``[0]`` the loss (0 squared error, 1 half squared error, 2 huber,
  3 epsilon-insensitive, 4 log loss, 5 hinge), ``[1]`` the penalty mode (0 none,
  1 coupled L2 as a scale of s,
  2 scikit-learn's: scale by ``max(0, 1 - (1 - l1_ratio) eta alpha)`` then the cumulative
  L1 penalty), ``[2]`` the schedule (0 constant, 1 optimal, 2 invscaling), ``[3]``
  scikit-learn's update (compat), ``[4]`` compute the loss, ``[5]`` software
  prefetch (compiled loop; no effect on the results), ``[6]`` the
  thread count, ``[7]`` unused.

**One SGD step** on the batch ``B`` (rows ``order[p0:p0 + batch]``):

1. For each row ``i``: ``z_i = (sum_k v[j_k] x_k) * s + b`` (the row's stored entries in
   order, repeated columns added), ``dl_i = l'(z_i, y_i)`` (compat: clipped to
   ``[-1e12, 1e12]``), ``w_i`` its sample weight, ``l_i`` its loss.
2. ``S = sum w_i``; a batch with ``S == 0`` is skipped unless compat (no step, t unchanged).
   With ``iprm[4]``: the loss sum gets ``sum w_i l_i + P S`` (compat: ``sum l_i + n_B P``)
   and the weight sum ``S`` (compat: ``n_B``), ``P`` the penalty at the batch's start.
3. ``eta``: constant ``eta0``; optimal ``1 / (alpha (t0 + t - 1))``; invscaling
   ``eta0 / t**power_t``.
4. Each row's coefficient ``c_i = -eta (w_i dl_i / S)`` (compat: ``(-eta dl_i) w_i``);
   ``G = sum c_i``.
5. Penalty: mode 1: ``s *= 1 - eta l2``; mode 2: ``s *= max(0, 1 - (1 - rho) eta alpha)``;
   if then ``|s| < threshold``: ``v *= s; s = 1``.
6. ``v[j] += x * (c_i / s)`` for every entry of every row, rows in order.
7. ``b += G * intercept_decay``.
8. Mode 2 with ``rho > 0``: ``u += rho eta alpha``, then for every entry (rows in order)
   scikit-learn's cumulative penalty: ``z = v[j]``; if ``s z > 0``: ``v[j] = max(0, z - (u
   + q[j]) / s)``; if ``s z < 0``: ``v[j] = min(0, z + (u - q[j]) / s)``; ``q[j] += s (v[j]
   - z)``.
9. ``t += 1``.

With ``batch=1``, compat, mode 2 and ``intercept_decay`` 0.01 this is scikit-learn's
``_plain_sgd`` on sparse input; without compat and with mode 1 (or 0) it is, in exact
arithmetic, fastgd's dense SGD step ``w <- w - eta (g + l2 w)`` on the batch's weighted
mean gradient ``g``.

**One lazy Adam step**: steps 1-2 (s is 1, no compat), then the gradient ``g_j = sum_i
(w_i dl_i / S) x_ij`` (+ ``l2 w_j``) of each column ``j`` of the batch (the batch's
columns only), ``k += 1`` and SparseAdam's update of those columns only (and of the
intercept with ``G``): ``m += (g - m)(1 - beta1)``, ``v2 += (g^2 - v2)(1 - beta2)``,
``w += -(lr sqrt(1 - beta2^k) / (1 - beta1^k)) m / (sqrt(v2) + eps)``
(:func:`fastgd.reference.sparse_adam.sparse_adam_rows`'s arithmetic). The moments live
in :func:`adam_state`'s records, beside the gradient being summed (NaN marks a column not
yet in the batch; the compiled and Numba loops list the batch's columns so).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["sgd_epoch", "adam_epoch", "adam_state", "softmax_epoch", "point"]

_MAX_DLOSS = 1e12


def point(kind: int, z: float, y: float, eps: float) -> tuple[float, float]:
    """(dl/dz, loss) of one sample for loss code ``kind`` (see the module)."""
    if kind == 0:
        r = z - y
        return 2.0 * r, r * r
    if kind == 1:
        r = z - y
        return r, 0.5 * (r * r)
    if kind == 2:
        r = z - y
        ar = abs(r)
        if ar <= eps:
            return r, 0.5 * (r * r)
        return (eps if r > 0 else -eps), eps * (ar - 0.5 * eps)
    if kind == 3:
        r = z - y
        ar = abs(r) - eps
        if ar > 0:
            return (1.0 if r > 0 else -1.0), ar
        return 0.0, 0.0
    if kind == 4:
        e = math.exp(-abs(z))
        if z >= 0:
            p = 1.0 / (1.0 + e)
            q = e * p
        else:
            q = 1.0 / (1.0 + e)
            p = e * q
        return (1.0 - y) * p - y * q, (max(z, 0.0) - y * z) + math.log1p(e)
    t = 1.0 if y > 0 else -1.0
    if t * z <= 1.0:
        return -t, 1.0 - t * z
    return 0.0, 0.0


def _eta(prm, sched: int, t: float) -> float:
    if sched == 1:
        return 1.0 / (prm[0] * (prm[4] + t - 1.0))
    if sched == 2:
        return prm[2] / math.pow(t, prm[3])
    return float(prm[2])


def _penalty(v, st, prm, mode: int) -> float:
    s, alpha, rho = st[0], prm[0], prm[1]
    if mode == 1:
        return 0.5 * alpha * (s * s * st[5])
    if mode == 2:
        l1 = float(np.sum(np.abs(v.astype(np.float64)))) if rho > 0 else 0.0
        return alpha * ((1.0 - rho) * 0.5 * (s * s * st[5]) + rho * (abs(s) * l1))
    return 0.0


def _scale(v, st, prm, f, want) -> None:
    """The penalty's shrinking of every weight, w <- f w, as s <- f s; when |s| falls
    under the threshold prm[7], s is folded into v (and the squared norm st[5] taken
    afresh)."""
    if f != 1.0:
        st[0] *= f
        if abs(st[0]) < prm[7]:
            v[:] = (v.astype(np.float64) * st[0]).astype(v.dtype)
            st[0] = 1.0
            st[5] = float(np.sum(v.astype(np.float64) ** 2)) if want else 0.0


def _rows(data, indices, indptr, y, sw, rows, s, b, kind, eps, compat, v):
    c, wt, ls = [], [], []
    for r in rows:
        k0, k1 = int(indptr[r]), int(indptr[r + 1])
        acc = 0.0
        for k in range(k0, k1):
            acc += float(v[indices[k]]) * float(data[k])
        z = acc * s + b
        dl, loss = point(kind, z, float(y[r]), eps)
        if compat:
            dl = min(max(dl, -_MAX_DLOSS), _MAX_DLOSS)
        c.append(dl)
        wt.append(float(sw[r]) if sw.size else 1.0)
        ls.append(loss)
    return c, wt, ls


def sgd_epoch(data, indices, indptr, y, sw, order, batch, v, b, q, st, prm, iprm,
              work=None) -> None:
    """One epoch of SGD steps over ``order`` in batches of ``batch`` rows (see the
    module); updates ``v``, ``b``, ``q`` and ``st`` in place."""
    T = v.dtype.type
    kind, mode, sched = int(iprm[0]), int(iprm[1]), int(iprm[2])
    compat, want = bool(iprm[3]), bool(iprm[4])
    eps = float(prm[6])
    has_b = b.size > 0
    rho = float(prm[1])
    m = order.shape[0]
    for p0 in range(0, m, batch):
        rows = order[p0:p0 + batch]
        nb = rows.shape[0]
        bval = float(b[0]) if has_b else 0.0
        c, wt, ls = _rows(data, indices, indptr, y, sw, rows, st[0], bval, kind, eps,
                          compat, v)
        S = L = 0.0
        for i in range(nb):
            S += wt[i]
            L += ls[i] if compat else wt[i] * ls[i]
        if not compat and S == 0.0:
            continue
        eta = _eta(prm, sched, st[1])
        if want:
            pen = _penalty(v, st, prm, mode)
            if compat:
                st[3] += L + nb * pen
                st[4] += nb
            else:
                st[3] += L + pen * S
                st[4] += S
        G = 0.0
        for i in range(nb):
            c[i] = (-eta * c[i]) * wt[i] if compat else -eta * ((wt[i] * c[i]) / S)
            G += c[i]
        if mode != 0:
            f = 1.0 - eta * prm[8] if mode == 1 else 1.0 - (1.0 - rho) * eta * prm[0]
            if mode == 2 and f < 0.0:
                f = 0.0
            _scale(v, st, prm, f, want)
        s = st[0]
        dsq = 0.0
        for i in range(nb):
            ci = c[i] / s
            if ci == 0.0:
                continue
            r = rows[i]
            for k in range(int(indptr[r]), int(indptr[r + 1])):
                j = indices[k]
                old = float(v[j])
                v[j] = T(old + float(data[k]) * ci)
                dsq += float(v[j]) ** 2 - old * old
        if has_b and G != 0.0:
            b[0] = T(float(b[0]) + G * prm[5])
        if mode == 2 and rho > 0.0:
            st[2] += rho * eta * prm[0]
            u = st[2]
            for r in rows:
                for k in range(int(indptr[r]), int(indptr[r + 1])):
                    j = indices[k]
                    z = float(v[j])
                    nw = z
                    if s * z > 0.0:
                        nw = max(z - (u + float(q[j])) / s, 0.0)
                    elif s * z < 0.0:
                        nw = min(z + (u - float(q[j])) / s, 0.0)
                    v[j] = T(nw)
                    q[j] = T(float(q[j]) + s * (float(v[j]) - z))
                    dsq += float(v[j]) ** 2 - z * z
        if want:
            st[5] += dsq
        st[1] += 1.0
        st[6] += 1.0


def adam_state(d: int, dtype) -> np.ndarray:
    """The lazy Adam loop's state of d weights and an intercept: ``d + 1`` records
    ``(w, m1, m2, g)`` -- a room for the weight (the caller passes ``state["w"][:-1]`` as
    the loop's ``v``), the moments (of ``dtype``) and the batch's gradient (float64, NaN
    for a column not in the batch) side by side, so that a column's weight and state are
    one memory access (the compiled loop's struct layout)."""
    dt = np.dtype([("w", dtype), ("m1", dtype), ("m2", dtype), ("g", np.float64)],
                  align=True)
    state = np.zeros(d + 1, dtype=dt)
    state["g"] = np.nan
    return state


def adam_epoch(data, indices, indptr, y, sw, order, batch, v, b, state, st, prm, iprm,
               work=None, touched=None) -> None:
    """One epoch of lazy Adam steps (see the module); ``state`` is :func:`adam_state`'s
    (the intercept's moments last, used when ``b`` is not empty)."""
    m1, m2 = state["m1"], state["m2"]
    T = v.dtype.type
    kind, mode, want = int(iprm[0]), int(iprm[1]), bool(iprm[4])
    eps = float(prm[6])
    beta1, beta2, aeps, lr = float(prm[9]), float(prm[10]), float(prm[11]), float(prm[2])
    l2 = float(prm[8]) if mode == 1 else 0.0
    omb1, omb2, ep = T(1.0 - beta1), T(1.0 - beta2), T(aeps)
    has_b = b.size > 0
    d = v.shape[0]
    m = order.shape[0]
    with np.errstate(all="ignore"):
        for p0 in range(0, m, batch):
            rows = order[p0:p0 + batch]
            bval = float(b[0]) if has_b else 0.0
            c, wt, ls = _rows(data, indices, indptr, y, sw, rows, 1.0, bval, kind, eps,
                              False, v)
            S = L = 0.0
            for i in range(len(rows)):
                S += wt[i]
                L += wt[i] * ls[i]
            if S == 0.0:
                continue
            grad: dict[int, float] = {}   # the batch's columns, first appearance order
            G = 0.0
            for i, r in enumerate(rows):
                ci = (wt[i] * c[i]) / S
                G += ci
                for k in range(int(indptr[r]), int(indptr[r + 1])):
                    j = int(indices[k])
                    grad[j] = grad.get(j, 0.0) + ci * float(data[k])
            if want:
                pen = 0.5 * l2 * float(np.sum(v.astype(np.float64) ** 2)) if l2 else 0.0
                st[3] += L + pen * S
                st[4] += S
            st[7] += 1.0
            k_ = st[7]
            bc1, bc2 = 1.0 - beta1 ** k_, 1.0 - beta2 ** k_
            nss = T(-(lr * math.sqrt(bc2) / bc1))
            for j, gj in grad.items():
                gt = T(gj + l2 * float(v[j]))
                mo, vo = m1[j], m2[j]
                mn = T((gt - mo) * omb1) + mo
                vn = T((gt * gt - vo) * omb2) + vo
                m1[j], m2[j] = mn, vn
                v[j] = v[j] + nss * (mn / (T(math.sqrt(float(vn))) + ep))
            if has_b:
                gt = T(G)
                mn = T((gt - m1[d]) * omb1) + m1[d]
                vn = T((gt * gt - m2[d]) * omb2) + m2[d]
                m1[d], m2[d] = mn, vn
                b[0] = b[0] + nss * (mn / (T(math.sqrt(float(vn))) + ep))
            st[1] += 1.0
            st[6] += 1.0


def softmax_epoch(data, indices, indptr, y, sw, order, batch, v, b, st, prm, iprm,
                  work=None) -> None:
    """One epoch of multinomial (softmax) SGD steps: ``v`` is ``(d, k)`` (row-major: each
    stored value touches k contiguous weights), ``b`` ``(k,)`` or empty, ``y`` the class
    labels as values of X's dtype. Per row: ``z = s (x @ V) + b``, ``e = exp(z - max z)``,
    ``dl = e / sum(e) - onehot(y)``, loss ``log(sum e) - (z_y - max z)``; then steps 2-7
    of :func:`sgd_epoch` with ``dl`` a k-vector (penalty mode 0 or 1)."""
    T = v.dtype.type
    mode, sched, want = int(iprm[1]), int(iprm[2]), bool(iprm[4])
    has_b = b.size > 0
    k = v.shape[1]
    m = order.shape[0]
    for p0 in range(0, m, batch):
        rows = order[p0:p0 + batch]
        s = st[0]
        dls, wt, ls = [], [], []
        for r in rows:
            z = np.zeros(k)
            for kk in range(int(indptr[r]), int(indptr[r + 1])):
                x = float(data[kk])
                vr = v[indices[kk]]
                for q in range(k):
                    z[q] += float(vr[q]) * x
            z = z * s + (b.astype(np.float64) if has_b else 0.0)
            mx = float(np.max(z))
            label = int(y[r])
            zl = float(z[label])
            # C's exp of each value, as the compiled and Numba loops call it (NumPy's
            # vectorised exp may differ from it in the last bit)
            e = np.array([math.exp(float(zq)) for zq in z - mx])
            tot = 0.0
            for q in range(k):
                tot += float(e[q])
            dl = e * (1.0 / tot)
            dl[label] -= 1.0
            dls.append(dl)
            ls.append(math.log(tot) - (zl - mx))
            wt.append(float(sw[r]) if sw.size else 1.0)
        S = L = 0.0
        for i in range(len(rows)):
            S += wt[i]
            L += wt[i] * ls[i]
        if S == 0.0:
            continue
        eta = _eta(prm, sched, st[1])
        if want:
            st[3] += L + (0.5 * prm[8] * (s * s * st[5]) if mode == 1 else 0.0) * S
            st[4] += S
        G = np.zeros(k)
        for i in range(len(rows)):
            dls[i] = -eta * ((wt[i] * dls[i]) / S)
            G += dls[i]
        if mode == 1:
            f = 1.0 - eta * prm[8]
            _scale(v, st, prm, f, want)
        s = st[0]
        dsq = 0.0
        for i, r in enumerate(rows):
            ci = dls[i] / s
            for kk in range(int(indptr[r]), int(indptr[r + 1])):
                j = indices[kk]
                old = v[j].astype(np.float64)
                v[j] = (old + float(data[kk]) * ci).astype(v.dtype)
                dsq += float(np.sum(v[j].astype(np.float64) ** 2 - old * old))
        if has_b:
            for q in range(k):
                if G[q] != 0.0:
                    b[q] = T(float(b[q]) + G[q])
        if want:
            st[5] += dsq
        st[1] += 1.0
        st[6] += 1.0
