"""SparseAdam (torch.optim.SparseAdam): Adam on the rows a sparse gradient touches. The
NumPy spec: the step's scalars, the coalescing of a gradient's rows and the row update.

SparseAdam is not an element-wise rule over whole tensors: it has no entry in the kernel
table. Each backend provides :func:`sparse_adam_rows` (this one is the numpy backend's);
all of them check their arguments with :func:`check_rows` before writing anything.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["sparse_adam", "sparse_adam_rows", "sparse_adam_scalars", "coalesce_rows",
           "check_rows"]


def sparse_adam_scalars(lr: float, beta1: float, beta2: float, step: int) -> dict:
    """The row kernel's scalars at step ``step`` (from 1), in float64 as torch computes
    them: ``1 - beta1``, ``1 - beta2`` and ``-lr sqrt(1 - beta2^t) / (1 - beta1^t)``.

    Example::

        from fastgd.reference.sparse_adam import sparse_adam_scalars
        assert sparse_adam_scalars(0.1, 0.5, 0.75, 1)["neg_step_size"] == -0.1 * 0.5 / 0.5
    """
    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step
    step_size = lr * math.sqrt(bias_correction2) / bias_correction1
    return {"one_minus_beta1": 1 - beta1, "one_minus_beta2": 1 - beta2,
            "neg_step_size": -step_size}


def coalesce_rows(indices: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(indices, rows)`` with the indices sorted and each index once, the rows of a
    repeated index summed in the order given (as torch's ``coalesce``). Returned as they
    are when already sorted and unique.

    Example::

        from fastgd.reference.sparse_adam import coalesce_rows
        idx, rows = coalesce_rows(np.array([3, 1, 3]), np.array([[1.0], [2.0], [4.0]]))
        assert idx.tolist() == [1, 3] and rows.tolist() == [[2.0], [5.0]]
    """
    if indices.size < 2 or bool(np.all(indices[1:] > indices[:-1])):
        return indices, rows
    order = np.argsort(indices)  # quicksort: 5x a stable sort's speed
    ordered = indices[order]
    first = np.concatenate(([True], ordered[1:] != ordered[:-1]))
    if first.all():  # distinct: any sort gives this order
        return ordered, np.take(rows, order, axis=0)
    order = np.argsort(indices, kind="stable")  # repeats: summed in the order given
    ordered = indices[order]
    group = np.cumsum(first) - 1
    sorted_rows = np.take(rows, order, axis=0)
    summed = sorted_rows[first]  # a copy: each index's first row, then the others in turn
    np.add.at(summed, group[~first], sorted_rows[~first])
    return ordered[first], summed


def check_rows(param, exp_avg, exp_avg_sq, indices, rows) -> None:
    """TypeError/ValueError unless the row kernel's arguments fit: ``param``, ``exp_avg``
    and ``exp_avg_sq`` C-contiguous 2-D arrays of one shape and float dtype (the first two
    writeable), ``indices`` a 1-D int64 array of distinct values in ``[0, rows of param)``
    (sorted), ``rows`` a C-contiguous ``(len(indices), columns)`` array of that dtype."""
    for name, a in (("param", param), ("exp_avg", exp_avg), ("exp_avg_sq", exp_avg_sq),
                    ("rows", rows)):
        if not isinstance(a, np.ndarray) or a.ndim != 2 or a.dtype not in (
                np.float32, np.float64) or not a.flags.c_contiguous:
            raise TypeError(f"sparse_adam_rows: {name} must be a C-contiguous 2-D float32 or "
                            f"float64 array")
        if a.dtype != param.dtype:
            raise TypeError(f"sparse_adam_rows: {name} has dtype {a.dtype}, param {param.dtype}")
        if name != "rows" and not a.flags.writeable:
            raise ValueError(f"sparse_adam_rows: {name} is read-only")
    if exp_avg.shape != param.shape or exp_avg_sq.shape != param.shape:
        raise ValueError(f"sparse_adam_rows: the moments must have the parameter's shape "
                         f"{param.shape}")
    if not isinstance(indices, np.ndarray) or indices.dtype != np.int64 or indices.ndim != 1:
        raise TypeError("sparse_adam_rows: indices must be a 1-D int64 array")
    if rows.shape != (indices.size, param.shape[1]):
        raise ValueError(f"sparse_adam_rows: rows has shape {rows.shape}, expected "
                         f"{(indices.size, param.shape[1])}")
    if indices.size and (indices[0] < 0 or indices[-1] >= param.shape[0]
                         or not bool(np.all(indices[1:] > indices[:-1]))):
        raise ValueError(f"sparse_adam_rows: indices must be sorted, distinct and in "
                         f"[0, {param.shape[0]})")


def sparse_adam_rows(param, exp_avg, exp_avg_sq, indices, rows, *, one_minus_beta1,
                     one_minus_beta2, eps, neg_step_size, maximize=False,
                     check_only=False) -> None:
    """The row update of :func:`sparse_adam` on 2-D views, with the step's scalars of
    :func:`sparse_adam_scalars` (each rounded once to the arrays' dtype): the numpy
    backend's function, and the order of operations every backend follows."""
    check_rows(param, exp_avg, exp_avg_sq, indices, rows)
    if check_only or indices.size == 0:
        return
    T = param.dtype.type
    g = -rows if maximize else rows
    m_old = exp_avg[indices]
    v_old = exp_avg_sq[indices]
    with np.errstate(all="ignore"):  # inf and NaN propagate silently, as in the kernels
        m_update = (g - m_old) * T(one_minus_beta1)
        v_update = (g * g - v_old) * T(one_minus_beta2)
        m_new = m_update + m_old
        v_new = v_update + v_old
        denom = np.sqrt(v_new) + T(eps)
        step = T(neg_step_size) * (m_new / denom)
    exp_avg[indices] = m_new
    exp_avg_sq[indices] = v_new
    param[indices] += step


def sparse_adam(param, indices, rows, exp_avg, exp_avg_sq, *, lr, beta1, beta2, eps, step,
                maximize=False) -> None:
    r"""One SparseAdam step on the rows ``indices`` of ``param``, as
    ``torch.optim.SparseAdam`` with a gradient holding ``rows`` at ``indices`` (repeated
    indices summed). ``param`` is viewed as ``(len(param), -1)``: rows of a 2-D parameter,
    entries of a 1-D one. Rows not in ``indices`` and their moments are left as they are.

    .. math::
        m_i &\leftarrow m_i + (1-\beta_1)(g_i - m_i) \\
        v_i &\leftarrow v_i + (1-\beta_2)(g_i^2 - v_i) \\
        p_i &\leftarrow p_i - \eta\,\frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}\,
              \frac{m_i}{\sqrt{v_i} + \epsilon}
        \quad\text{for each row } i \text{ of the gradient}

    ``t`` is the parameter's step count (each step with a gradient counts, as in torch,
    whatever rows it touches); ``g = -g`` under ``maximize``.

    Example::

        p = np.zeros((4, 2))
        m, v = np.zeros((4, 2)), np.zeros((4, 2))
        fastgd.reference.sparse_adam(p, np.array([2]), np.array([[1.0, -1.0]]), m, v,
                                     lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, step=1)
        # row 2 moved by about -lr * sign(g); the other rows are untouched
    """
    view = (param.shape[0], -1) if param.ndim else (1, -1)
    indices, rows = coalesce_rows(np.asarray(indices, dtype=np.int64),
                                  np.asarray(rows, dtype=param.dtype))
    rows = np.ascontiguousarray(rows.reshape(indices.size, -1))
    sparse_adam_rows(param.reshape(view), exp_avg.reshape(view), exp_avg_sq.reshape(view),
                     indices, rows, eps=eps, maximize=maximize,
                     **sparse_adam_scalars(lr, beta1, beta2, step))
