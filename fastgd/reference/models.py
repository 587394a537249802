r"""The ``numpy`` backend of :mod:`fastgd.models` (losses and clipping): the readable
specification of the model kernels, in vectorised NumPy.

Every function here takes arrays that :mod:`fastgd.models` has already checked (dtypes,
shapes, layouts); the compiled kernels (``src/models/models_impl.h``) and the Numba ones
(:mod:`fastgd.backends.numba_models`) compute the same mathematics in one fixed
order of operations, which this module does not reproduce to the last bit (NumPy's sums
are pairwise, its ``exp`` is its own): they agree with it to about 1e-15 relative in
float64.

Everything is computed in float64 whatever the dtype of the arrays; the outputs are
rounded once to that dtype.

Per-sample losses, with decision value :math:`z` and target :math:`y` (``r = z - y``):

==========================  =============================================  ============================  ====================
kind                        :math:`\ell(z, y)`                             :math:`\ell'`                 :math:`\ell''`
==========================  =============================================  ============================  ====================
``squared_error``           :math:`r^2`                                    :math:`2r`                    :math:`2`
``half_squared_error``      :math:`r^2/2`                                  :math:`r`                     :math:`1`
``huber``                   :math:`r^2/2` if :math:`|r|\le\epsilon`,       :math:`r` /                   :math:`1` /
                            else :math:`\epsilon(|r| - \epsilon/2)`        :math:`\epsilon\,\mathrm{sign}(r)`  :math:`0`
``epsilon_insensitive``     :math:`\max(0, |r| - \epsilon)`                :math:`\mathrm{sign}(r)` if   :math:`0`
                                                                           :math:`|r|>\epsilon`, else 0
``log_loss``                :math:`\log(1 + e^z) - yz`                     :math:`\sigma(z) - y`         :math:`\sigma(z)\sigma(-z)`
``hinge``                   :math:`\max(0, 1 - tz)`, :math:`t = \pm 1`     :math:`-t` if :math:`tz\le1`  :math:`0`
``softmax_cross_entropy``   :math:`\log\sum_c e^{z_c} - z_y`               :math:`p_c - [c = y]`         :math:`p_c(1 - p_c)`
==========================  =============================================  ============================  ====================
"""

from __future__ import annotations

import numpy as np

from fastgd.reference._common import sum_of_squares

NAME = "numpy"

#: Loss kinds, by their code (the C enum in src/models/models.h has the same order).
KINDS = ("squared_error", "half_squared_error", "huber", "epsilon_insensitive", "log_loss",
         "hinge", "softmax_cross_entropy")
SOFTMAX = KINDS.index("softmax_cross_entropy")

#: What a loss call returns (status codes of src/models/models.h); BAD_INDEX: a CSR row
#: read by the batch has a malformed index pointer or a column out of range.
OK, BAD_ROW, BAD_LABEL, BAD_WEIGHT, ZERO_WEIGHT, NO_MEMORY, BAD_INDEX = range(7)

#: Norm modes of :func:`norm_part` (FGDM_NORM_* in src/models/models.h).
NORM_SUMSQ, NORM_SUMABS, NORM_MAXABS, NORM_MINABS, NORM_COUNT, NORM_SUMPOW = range(6)


# ----------------------------------------------------------------- per-sample losses ---

def _squared_error(z, y, eps):
    r = z - y
    return r * r, 2.0 * r, np.full_like(r, 2.0)


def _half_squared_error(z, y, eps):
    r = z - y
    return 0.5 * (r * r), r, np.ones_like(r)


def _huber(z, y, eps):
    r = z - y
    ar = np.abs(r)
    quad = ar <= eps
    nan = np.isnan(r)
    loss = np.where(quad, 0.5 * (r * r), eps * (ar - 0.5 * eps))
    dl = np.where(quad, r, np.where(r > 0, eps, np.where(r < 0, -eps, r)))
    h = np.where(quad, 1.0, np.where(nan, r, 0.0))
    return loss, dl, h


def _epsilon_insensitive(z, y, eps):
    r = z - y
    excess = np.abs(r) - eps
    out = excess > 0
    nan = np.isnan(excess)
    loss = np.where(out, excess, np.where(nan, excess, 0.0))
    dl = np.where(out, np.sign(r), np.where(nan, excess, 0.0))
    h = np.where(nan, excess, 0.0)
    return loss, dl, h


def _log_loss(z, y, eps):
    # p = sigmoid(z) and q = 1 - p = sigmoid(-z), each from e = exp(-|z|) <= 1: no
    # overflow, and no cancellation in q for large z.
    e = np.exp(-np.abs(z))
    den = 1.0 + e
    pos = z >= 0
    p = np.where(pos, 1.0 / den, e / den)
    q = np.where(pos, e / den, 1.0 / den)
    loss = (np.where(z > 0, z, 0.0) - y * z) + np.log1p(e)
    return loss, (1.0 - y) * p - y * q, p * q


def _hinge(z, y, eps):
    t = np.where(y > 0, 1.0, -1.0)      # 0 and -1 both denote the negative class
    tz = t * z
    nan = np.isnan(tz)
    loss = np.where(tz > 1, 0.0, 1.0 - tz)
    dl = np.where(tz > 1, 0.0, np.where(nan, tz, -t))
    h = np.where(nan, tz, 0.0)
    return loss, dl, h


_POINTS = {0: _squared_error, 1: _half_squared_error, 2: _huber, 3: _epsilon_insensitive,
           4: _log_loss, 5: _hinge}


def _softmax(z, labels):
    """Loss, dl/dz and the diagonal of d2l/dz2 of each row of z (n, k).

    With m the row maximum (first index cm), e_c = exp(z_c - m), s' = sum of e_c over
    c != cm and s = 1 + s': loss = log1p(s') - (z_y - m); p_c = e_c / s; 1 - p_c is
    s'/s for cm and (s - e_c)/s for the others, so no probability near 1 loses its
    complement to cancellation.
    """
    n, k = z.shape
    at = np.arange(n)
    cm = np.argmax(z, axis=1)
    m = z[at, cm]
    e = np.exp(z - m[:, None])
    e[at, cm] = 1.0
    others = e.copy()
    others[at, cm] = 0.0
    sp = others.sum(axis=1)
    s = 1.0 + sp
    one_minus_p = (s[:, None] - e) / s[:, None]
    one_minus_p[at, cm] = sp / s
    p = e / s[:, None]
    is_label = np.arange(k)[None, :] == labels[:, None]
    loss = np.log1p(sp) - (z[at, labels] - m)
    return loss, np.where(is_label, -one_minus_p, p), p * one_minus_p


# ------------------------------------------------------------------------- checks ---

def first_error(kind, X, y, sample_weight, rows, k):
    """(status, batch position) of the first invalid row index, target or weight, in
    batch order (per position: the row, then the target, then the weight); (OK, -1) if
    none. Targets: log_loss in [0, 1], hinge in {-1, 0, 1}, softmax labels in [0, k);
    weights finite and >= 0."""
    n_samples = X.shape[0]
    if rows is None:
        index = np.arange(n_samples)
        bad_row = np.zeros(n_samples, dtype=bool)
    else:
        bad_row = (rows < 0) | (rows >= n_samples)
        index = np.where(bad_row, 0, rows)
    bad_label = np.zeros_like(bad_row)
    if kind in (4, 5, SOFTMAX):
        yb = y[index]
        if kind == 4:
            bad_label = ~((yb >= 0) & (yb <= 1))
        elif kind == 5:
            bad_label = ~((yb == 1) | (yb == 0) | (yb == -1))
        else:
            bad_label = (yb < 0) | (yb >= k)
    bad_weight = np.zeros_like(bad_row)
    if sample_weight is not None:
        wb = sample_weight[index]
        bad_weight = ~((wb >= 0) & np.isfinite(wb))
    code = np.where(bad_row, BAD_ROW, np.where(bad_label, BAD_LABEL,
                                               np.where(bad_weight, BAD_WEIGHT, OK)))
    where = np.flatnonzero(code)
    if where.size:
        return int(code[where[0]]), int(where[0])
    return OK, -1


# ------------------------------------------------------------------ loss and gradient ---

def loss_grad(kind, X, y, coef, intercept, sample_weight, rows, a1, a2, eps,
              grad_coef, grad_intercept, hess_coef, hess_intercept):
    r"""The (weighted) mean loss of a linear model on a batch, its gradient and the
    diagonal of its Hessian; returns ``(status, batch position, loss)``.

    With the batch's rows :math:`x_i`, targets :math:`y_i`, weights :math:`w_i` (1 without
    ``sample_weight``) and :math:`W = \sum_i w_i`, decision values
    :math:`z_i = x_i^\top \beta + b` (a row of ``k`` of them for softmax):

    .. math::
        L &= \frac{1}{W}\sum_i w_i\,\ell(z_i, y_i) + a_1\|\beta\|_1
             + \frac{a_2}{2}\|\beta\|_2^2 \\
        \nabla_\beta L &= \frac{1}{W}\sum_i w_i\,\ell'(z_i, y_i)\,x_i
             + a_1\,\mathrm{sign}(\beta) + a_2\beta, \qquad
        \nabla_b L = \frac{1}{W}\sum_i w_i\,\ell'(z_i, y_i) \\
        \mathrm{diag}\,\nabla^2_\beta L &= \frac{1}{W}\sum_i w_i\,\ell''(z_i, y_i)\,x_i^2
             + a_2, \qquad
        \nabla^2_b L = \frac{1}{W}\sum_i w_i\,\ell''(z_i, y_i)

    (for softmax, :math:`\ell'` and :math:`\ell''` are per class and
    :math:`\nabla_\beta L = X^\top G / W`, coef of shape ``(d, k)``). Outputs that are
    ``None`` are not computed. Nothing is written unless the status is OK.
    """
    status, pos = first_error(kind, X, y, sample_weight, rows, coef.shape[1]
                              if coef.ndim == 2 else 1)
    if status != OK:
        return status, pos, 0.0
    index = slice(None) if rows is None else rows
    Xb = np.asarray(X[index], dtype=np.float64)
    yb = y[index]
    n = Xb.shape[0]
    wb = np.ones(n) if sample_weight is None else sample_weight[index].astype(np.float64)
    W = float(wb.sum())
    if W == 0.0:
        return ZERO_WEIGHT, -1, 0.0
    beta = coef.astype(np.float64)
    with np.errstate(all="ignore"):
        z = Xb @ beta
        if intercept is not None:
            z = z + intercept.astype(np.float64).reshape(-1)
        if kind == SOFTMAX:
            losses, dl, h = _softmax(z, yb)
            g, hw = wb[:, None] * dl, wb[:, None] * h
        else:
            losses, dl, h = _POINTS[kind](z, yb.astype(np.float64), eps)
            g, hw = wb * dl, wb * h
        loss = float(np.sum(wb * losses) / W)
        if a1 != 0.0:
            loss += a1 * float(np.sum(np.abs(beta)))
        if a2 != 0.0:
            loss += 0.5 * a2 * float(np.sum(beta * beta))
        if grad_coef is not None:
            gc = Xb.T @ g / W
            if a1 != 0.0:
                gc = gc + a1 * np.sign(beta)
            if a2 != 0.0:
                gc = gc + a2 * beta
            gb = g.sum(axis=0) / W
        if hess_coef is not None:
            hc = (Xb * Xb).T @ hw / W
            if a2 != 0.0:
                hc = hc + a2
            hb = hw.sum(axis=0) / W
    if grad_coef is not None:
        grad_coef[...] = gc
        if grad_intercept is not None:
            grad_intercept[...] = np.reshape(gb, grad_intercept.shape)
    if hess_coef is not None:
        hess_coef[...] = hc
        if hess_intercept is not None:
            hess_intercept[...] = np.reshape(hb, hess_intercept.shape)
    return OK, -1, loss


# ------------------------------------------------------------------------- CSR X ---

def _csr_entries(indices, indptr, n_cols, cap, index):
    """The stored entries of the batch's rows ``index``: (positions in data/indices, batch
    position owning each), or (None, p) with p the first batch position whose row has a
    malformed index pointer (not ``0 <= start <= end <= cap``) or a column outside
    ``[0, n_cols)``."""
    s = indptr[index].astype(np.int64)
    e = indptr[index + 1].astype(np.int64)
    bad = (s < 0) | (e < s) | (e > cap)
    lens = np.where(bad, 0, e - s)
    owner = np.repeat(np.arange(index.shape[0]), lens)
    pos = np.arange(owner.shape[0]) + np.repeat(s - (np.cumsum(lens) - lens), lens)
    cols = indices[pos]
    bad_col = (cols < 0) | (cols >= n_cols)
    if bad_col.any():
        bad[owner[bad_col]] = True
    if bad.any():
        return None, int(np.argmax(bad))
    return pos, owner


def csr_loss_grad(kind, data, indices, indptr, n_cols, y, coef, intercept, sample_weight,
                  rows, a1, a2, eps, grad_coef, grad_intercept, hess_coef, hess_intercept):
    r""":func:`loss_grad` for X in compressed-sparse-row form: the values ``data``, their
    column ``indices`` and the row pointers ``indptr`` (row ``i`` holds
    ``data[indptr[i]:indptr[i+1]]``; repeated columns add) of an X with ``n_cols``
    columns; the same mathematics, the same status codes, plus ``BAD_INDEX`` (checked
    after the rows, targets and weights) for a row of the batch whose index pointer or
    columns are malformed.

    .. math::
        z_i = \sum_{v \in \mathrm{row}\ i} x_v\,\beta_{j_v} + b, \qquad
        \nabla_\beta L = \frac{1}{W}\sum_i w_i \ell'_i \sum_{v \in \mathrm{row}\ i}
        x_v e_{j_v} + \nabla R(\beta)
    """
    n_samples = indptr.shape[0] - 1
    k = coef.shape[1] if coef.ndim == 2 else 1
    shape_only = np.empty((n_samples, 0))
    status, pos = first_error(kind, shape_only, y, sample_weight, rows, k)
    if status != OK:
        return status, pos, 0.0
    index = np.arange(n_samples) if rows is None else rows
    at, owner = _csr_entries(indices, indptr, n_cols, min(data.shape[0], indices.shape[0]),
                             index)
    if at is None:
        return BAD_INDEX, owner, 0.0
    vals = data[at].astype(np.float64)
    cols = indices[at].astype(np.int64)
    n = index.shape[0]
    yb = y[index]
    wb = np.ones(n) if sample_weight is None else sample_weight[index].astype(np.float64)
    W = float(wb.sum())
    if W == 0.0:
        return ZERO_WEIGHT, -1, 0.0
    beta = coef.astype(np.float64).reshape(n_cols, k)
    with np.errstate(all="ignore"):
        z = np.zeros((n, k))
        np.add.at(z, owner, vals[:, None] * beta[cols])
        if intercept is not None:
            z = z + intercept.astype(np.float64).reshape(-1)
        if kind == SOFTMAX:
            losses, dl, h = _softmax(z, yb)
        else:
            losses, dl, h = _POINTS[kind](z[:, 0], yb.astype(np.float64), eps)
            dl, h = dl[:, None], h[:, None]
        g, hw = wb[:, None] * dl, wb[:, None] * h
        loss = float(np.sum(wb * losses) / W)
        if a1 != 0.0:
            loss += a1 * float(np.sum(np.abs(beta)))
        if a2 != 0.0:
            loss += 0.5 * a2 * float(np.sum(beta * beta))
        if grad_coef is not None:
            gc = np.zeros((n_cols, k))
            np.add.at(gc, cols, vals[:, None] * g[owner])
            gc = gc / W
            if a1 != 0.0:
                gc = gc + a1 * np.sign(beta)
            if a2 != 0.0:
                gc = gc + a2 * beta
            gb = g.sum(axis=0) / W
        if hess_coef is not None:   # repeated columns of a row add before squaring
            key, merged = np.unique(owner * n_cols + cols, return_inverse=True)
            xsum = np.bincount(merged, weights=vals, minlength=key.shape[0])
            hc = np.zeros((n_cols, k))
            np.add.at(hc, key % n_cols, (xsum * xsum)[:, None] * hw[key // n_cols])
            hc = hc / W
            if a2 != 0.0:
                hc = hc + a2
            hb = hw.sum(axis=0) / W
    if grad_coef is not None:
        grad_coef[...] = gc.reshape(grad_coef.shape)
        if grad_intercept is not None:
            grad_intercept[...] = np.reshape(gb, grad_intercept.shape)
    if hess_coef is not None:
        hess_coef[...] = hc.reshape(hess_coef.shape)
        if hess_intercept is not None:
            hess_intercept[...] = np.reshape(hb, hess_intercept.shape)
    return OK, -1, loss


def csr_decision(data, indices, indptr, n_cols, coef, intercept, rows, out):
    """The decision values ``X[rows] @ coef + intercept`` of a CSR X into ``out``
    (``(n,)`` or ``(n, k)``, X's dtype; computed in float64, rounded once); returns
    ``(status, batch position)``: OK, or BAD_INDEX for a malformed row (nothing written)."""
    n_samples = indptr.shape[0] - 1
    k = coef.shape[1] if coef.ndim == 2 else 1
    index = np.arange(n_samples) if rows is None else rows
    at, owner = _csr_entries(indices, indptr, n_cols, min(data.shape[0], indices.shape[0]),
                             index)
    if at is None:
        return BAD_INDEX, owner
    beta = coef.astype(np.float64).reshape(n_cols, k)
    z = np.zeros((index.shape[0], k))
    with np.errstate(all="ignore"):
        np.add.at(z, owner, data[at].astype(np.float64)[:, None] * beta[indices[at]])
        if intercept is not None:
            z = z + intercept.astype(np.float64).reshape(-1)
    out[...] = z.reshape(out.shape)
    return OK, -1


# ----------------------------------------------------------------------- clipping ---

def _lane_sum(values):
    """Sum of float64 ``values`` in eight lanes (lane j: the elements i = j mod 8 in index
    order), combined ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)): the order of
    :func:`fastgd.reference.sum_of_squares`, which the compiled and Numba kernels use."""
    m = -(-values.size // 8)
    if m == 0:
        return 0.0
    padded = np.zeros(8 * m)
    padded[:values.size] = values
    lanes = np.cumsum(padded.reshape(m, 8).T, axis=1)[:, -1]
    return float(((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
                 + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7])))


def norm_part(x, mode, p):
    """One flat buffer's part of a total norm: the sum of squares, of ``|x|`` or of
    ``|x|**p`` (eight-lane order), the largest or smallest ``|x|`` (NaN if any element is
    NaN), or the number of nonzero elements (NaN counts), in float64."""
    a = np.abs(x.astype(np.float64))
    if mode == NORM_SUMSQ:
        return sum_of_squares(x)
    if mode == NORM_SUMABS:
        return _lane_sum(a)
    if mode == NORM_SUMPOW:
        with np.errstate(all="ignore"):
            return _lane_sum(a ** p)
    if mode == NORM_MAXABS:
        return float(np.max(a))
    if mode == NORM_MINABS:
        return float(np.min(a))
    return float(np.count_nonzero(x))


def scale(x, c):
    """``x *= c`` in place, ``c`` rounded once to x's dtype."""
    with np.errstate(invalid="ignore"):   # inf * 0 is NaN, silently, as in C and torch
        x *= x.dtype.type(c)


def clamp(x, lo, hi):
    """``x = min(max(x, lo), hi)`` in place (NaN kept, as ``torch.clamp``), the bounds
    rounded to x's dtype."""
    T = x.dtype.type
    np.maximum(x, T(lo), out=x)
    np.minimum(x, T(hi), out=x)
