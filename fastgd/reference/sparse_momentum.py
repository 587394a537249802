r"""The specification of the O(nnz)-per-step loop of SGD with momentum (or Nesterov) on a
CSR design matrix (:mod:`fastgd.models.sparse_training`, path ``"sgd_momentum"``), written
plainly in NumPy. The compiled (``src/models/sparse_momentum.h``) and Numba
(``fastgd/backends/numba_sparse_momentum.py``) loops follow it operation by operation.

**The step it equals.** :func:`fastgd.fit`'s dense step with ``torch.optim.SGD``'s
momentum (:func:`fastgd.reference.sgd`) at a constant learning rate ``lr``: on the batch's
weighted-mean loss gradient ``g`` (zero for a column absent from the batch),

.. math::
    g_j &\leftarrow g_j + \lambda w_j \qquad (\lambda = \alpha_{L2} + wd) \\
    b_j &\leftarrow g_j \ \text{(first step)}, \quad \mu b_j + (1-\tau) g_j
          \ \text{(later)} \\
    w_j &\leftarrow w_j - lr\,(g_j + \mu b_j) \ \text{(nesterov)}
          \quad\text{or}\quad w_j - lr\, b_j

and the intercept the same way, with its loss gradient plus ``wd`` times itself.

**Lazy columns.** A column absent from a step has ``g_j = lambda w_j``: its pair
``x = (w_j, b_j)`` moves by a constant 2x2 matrix, ``x <- A x`` (``A0`` on the first step).
Each column keeps the step count it is current at (``stamp``); when it appears in a batch
(and at the end of the epoch, for every column) it is brought to the current step ``t``
over its ``k`` skipped steps at once: ``A0`` first if it was never updated, then ``A^k``
from the table of :func:`momentum_table` -- one matrix for ``k < 1024`` (a step of an
epoch of up to 1024 batches), one more per set bit of ``k // 1024`` beyond: O(1 + log k)
per column, exact to rounding.

**The loss.** With the L2 penalty, its value ``0.5 alpha ||w||^2`` at each step needs every
weight's current value. The loop keeps ``C``, the sum over all columns of ``x x^T``
(3 numbers: ``sum w^2``, ``sum w b``, ``sum b^2`` in ``st[5]``, ``st[8]``, ``st[9]``), at the
current step: each step ``C <- M C M^T`` (``M`` the step's matrix ``A0`` or ``A``), then, for
each of the batch's columns, its ``(M x)(M x)^T`` is replaced by its updated ``x x^T``. At the
end of the epoch it is summed afresh.

**Arrays** (updated in place unless said):

- ``data, indices, indptr, y, sw, order, batch``: as :func:`fastgd.reference.sparse_sgd.sgd_epoch`.
- ``state`` (d,) records (:func:`momentum_state`): ``v = state["w"]`` the weights, ``mb =
  state["m"]`` the momentum buffers, ``g = state["g"]`` the batch's gradient (zero between
  steps), ``stamp = state["stamp"]`` the step count each column is current at.
- ``b`` (1,) the intercept or empty; ``bm`` (1,) its momentum buffer.
- ``touched`` (int64): room for the batch's distinct columns.
- ``pw`` (1089, 4) float64, read only: :func:`momentum_table`.
- ``st`` float64: ``[1]`` the schedule's t (added to), ``[3]``, ``[4]`` the loss and weight
  sums (when ``iprm[4]``), ``[5]``, ``[8]``, ``[9]``: ``C`` (kept when ``iprm[4]`` and
  ``prm[8] != 0``), ``[6]`` the steps taken: the step count ``t``.
- ``prm`` float64: ``[2]`` lr, ``[6]`` the loss's epsilon, ``[8]`` the L2 penalty's alpha,
  ``[12]`` mu, ``[13]`` dampening, ``[14]`` weight decay.
- ``iprm`` int64: ``[0]`` the loss code, ``[4]`` compute the loss, ``[7]`` nesterov.

**One step** on the batch ``B`` (rows ``order[p0:p0 + batch]``), ``t = st[6]``:

1. For each row ``i``, its stored entries in order: each column not current at ``t`` is
   brought to ``t`` (:func:`catch_up`); ``z_i = sum_k v[j_k] x_k + b``,
   ``dl_i = l'(z_i, y_i)``, ``w_i`` its sample weight, ``l_i`` its loss.
2. ``S = sum w_i``; a batch with ``S == 0`` is skipped (no step). With ``iprm[4]``: the loss
   sum gets ``sum w_i l_i + P S``, ``P = 0.5 alpha C[0]`` (0 without L2), the weight sum
   ``S``.
3. ``c_i = (w_i dl_i) / S``; ``G = sum c_i``; ``g[j] += c_i x`` for every entry, rows in
   order, listing each column at its first entry (``stamp[j] = t + 1``).
4. With the loss and L2: ``C <- M C M^T``.
5. Each listed column, in list order: ``gj = (g[j] + alpha w) + wd w``, the momentum update
   above (in float64, stored in v's dtype), ``g[j] = 0``; with the loss and L2, ``C`` loses
   ``(M x)(M x)^T`` of the old pair and gains ``x x^T`` of the new one.
6. The intercept: ``gb = G + wd b``, the same update with ``bm[0]``.
7. ``t += 1`` (``st[6]``, and ``st[1]``).

At the end of the epoch every column is brought to ``t`` and ``C`` summed afresh (column
order).
"""

from __future__ import annotations

import numpy as np

from fastgd.reference.sparse_sgd import point

__all__ = ["LOW", "FIRST", "momentum_table", "catch_up", "momentum_state", "momentum_epoch"]


def _mul(p, q) -> tuple[float, float, float, float]:
    """The 2x2 product p q of row-major 4-tuples."""
    return (p[0] * q[0] + p[1] * q[2], p[0] * q[1] + p[1] * q[3],
            p[2] * q[0] + p[3] * q[2], p[2] * q[1] + p[3] * q[3])


#: rows of :func:`momentum_table` holding ``A^r`` for the low bits ``r`` of a count
LOW = 1024
#: the row of the first step's matrix ``A0``
FIRST = LOW + 64


def momentum_table(lr: float, mu: float, dampening: float, nesterov: bool,
                   lam: float) -> np.ndarray:
    """(LOW + 65, 4) float64, row-major 2x2 matrices of a skipped step on the pair (w, b)
    -- ``g = lam w``, then the momentum update: rows ``r < LOW`` ``A^r`` (``A^0 = I``,
    each the previous one times ``A``), rows ``LOW + i`` ``A^(LOW 2^i)`` (each the previous
    one squared), row ``FIRST`` the first step's ``A0`` (``b <- g``, no dampening)."""
    a10 = (1.0 - dampening) * lam
    if nesterov:
        a = (1.0 - lr * (lam + mu * a10), -lr * (mu * mu), a10, mu)
        a0 = (1.0 - lr * (lam + mu * lam), 0.0, lam, 0.0)
    else:
        a = (1.0 - lr * a10, -lr * mu, a10, mu)
        a0 = (1.0 - lr * lam, 0.0, lam, 0.0)
    pw = np.zeros((FIRST + 1, 4))
    p: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 1.0)
    for r in range(LOW):
        pw[r] = p
        p = _mul(p, a)
    for i in range(64):
        pw[LOW + i] = p
        p = _mul(p, p)
    pw[FIRST] = a0
    return pw


def catch_up(w: float, m: float, last: int, t: int, pw) -> tuple[float, float]:
    """The pair (w, b) of a column current at step ``last`` brought to step ``t`` over the
    skipped steps: ``A0`` if ``last == 0``; then, of the remaining count ``k``,
    ``A^(k mod LOW)`` (unless 0) and ``A^(LOW 2^i)`` for each set bit ``i`` of
    ``k // LOW``, lowest first."""
    k = t - last
    if last == 0:
        r = pw[FIRST]
        w, m = r[0] * w + r[1] * m, r[2] * w + r[3] * m
        k -= 1
    low = k & (LOW - 1)
    if low:
        r = pw[low]
        w, m = r[0] * w + r[1] * m, r[2] * w + r[3] * m
    k >>= 10
    i = LOW
    while k:
        if k & 1:
            r = pw[i]
            w, m = r[0] * w + r[1] * m, r[2] * w + r[3] * m
        k >>= 1
        i += 1
    return w, m


def _bring(v, mb, stamp, j, t, pw, T) -> None:
    w, m = catch_up(float(v[j]), float(mb[j]), int(stamp[j]), t, pw)
    v[j] = T(w)
    mb[j] = T(m)
    stamp[j] = t


def _update(gj, w, m, first, lr, mu, damp, nesterov) -> tuple[float, float]:
    """One momentum step of a pair (w, b) on the gradient ``gj`` (float64)."""
    m = gj if first else mu * m + (1.0 - damp) * gj
    d = gj + mu * m if nesterov else m
    return w - lr * d, m


def momentum_state(d: int, dtype) -> np.ndarray:
    """The loop's state of d columns: records ``(w, m, g, stamp)`` -- the weight and the
    momentum buffer (of ``dtype``), the batch's gradient (float64) and the step count the
    column is current at (int64) side by side, so that a column's state is one memory
    access (the compiled loop's struct layout)."""
    dt = np.dtype([("w", dtype), ("m", dtype), ("g", np.float64), ("stamp", np.int64)],
                  align=True)
    return np.zeros(d, dtype=dt)


def momentum_epoch(data, indices, indptr, y, sw, order, batch, state, b, bm, touched, pw,
                   st, prm, iprm, work=None) -> None:
    """One epoch of SGD-with-momentum steps over ``order`` in batches of ``batch`` rows (see
    the module) on ``state`` (:func:`momentum_state`), the intercept ``b`` and its momentum
    buffer ``bm`` (1,); every column is current at the end."""
    v, mb, g, stamp = state["w"], state["m"], state["g"], state["stamp"]
    T = v.dtype.type
    kind, want, nesterov = int(iprm[0]), bool(iprm[4]), bool(iprm[7])
    eps, lr, alpha = float(prm[6]), float(prm[2]), float(prm[8])
    mu, damp, wd = float(prm[12]), float(prm[13]), float(prm[14])
    track = want and alpha != 0.0
    has_b = b.size > 0
    d = v.shape[0]
    m = order.shape[0]
    for p0 in range(0, m, batch):
        rows = order[p0:p0 + batch]
        t = int(st[6])
        bval = float(b[0]) if has_b else 0.0
        c, wt, ls = [], [], []
        for r in rows:                                   # 1. bring up to t, the rows
            acc = 0.0
            for k in range(int(indptr[r]), int(indptr[r + 1])):
                j = indices[k]
                if stamp[j] != t:
                    _bring(v, mb, stamp, j, t, pw, T)
                acc += float(v[j]) * float(data[k])
            dl, loss = point(kind, acc + bval, float(y[r]), eps)
            c.append(dl)
            wt.append(float(sw[r]) if sw.size else 1.0)
            ls.append(loss)
        S = L = 0.0                                      # 2.
        for i in range(len(rows)):
            S += wt[i]
            L += wt[i] * ls[i]
        if S == 0.0:
            continue
        if want:
            st[3] += L + (0.5 * alpha * st[5] if track else 0.0) * S
            st[4] += S
        G = 0.0                                          # 3.
        nt = 0
        for i, r in enumerate(rows):
            ci = (wt[i] * c[i]) / S
            G += ci
            for k in range(int(indptr[r]), int(indptr[r + 1])):
                j = indices[k]
                if stamp[j] == t:
                    stamp[j] = t + 1
                    touched[nt] = j
                    nt += 1
                g[j] += ci * float(data[k])
        M = pw[FIRST] if t == 0 else pw[1]
        if track:                                        # 4. C <- M C M^T
            c00, c01, c11 = st[5], st[8], st[9]
            r0, r1 = M[0] * c00 + M[1] * c01, M[0] * c01 + M[1] * c11
            s0, s1 = M[2] * c00 + M[3] * c01, M[2] * c01 + M[3] * c11
            st[5] = r0 * M[0] + r1 * M[1]
            st[8] = r0 * M[2] + r1 * M[3]
            st[9] = s0 * M[2] + s1 * M[3]
        for q in range(nt):                              # 5.
            j = touched[q]
            w0, m0 = float(v[j]), float(mb[j])
            gj = (g[j] + alpha * w0) + wd * w0
            g[j] = 0.0
            w1, m1 = _update(gj, w0, m0, t == 0, lr, mu, damp, nesterov)
            v[j] = T(w1)
            mb[j] = T(m1)
            if track:
                y0, y1 = M[0] * w0 + M[1] * m0, M[2] * w0 + M[3] * m0
                w1, m1 = float(v[j]), float(mb[j])
                st[5] += w1 * w1 - y0 * y0
                st[8] += w1 * m1 - y0 * y1
                st[9] += m1 * m1 - y1 * y1
        if has_b:                                        # 6.
            b0 = float(b[0])
            b1, mb1 = _update(G + wd * b0, b0, float(bm[0]), t == 0, lr, mu, damp, nesterov)
            b[0] = T(b1)
            bm[0] = T(mb1)
        st[1] += 1.0                                     # 7.
        st[6] += 1.0
    t = int(st[6])
    c00 = c01 = c11 = 0.0
    for j in range(d):
        if stamp[j] != t:
            _bring(v, mb, stamp, j, t, pw, T)
        if track:
            w0, m0 = float(v[j]), float(mb[j])
            c00 += w0 * w0
            c01 += w0 * m0
            c11 += m0 * m0
    if track:
        st[5], st[8], st[9] = c00, c01, c11
