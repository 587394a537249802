"""The argument checks of :mod:`fastgd.models.losses`: every array, name and number that
``loss_grad``, ``loss_value`` and ``decision_function`` take, checked before anything is
written, and the errors for a kernel's status codes. Each error names the argument and
the value."""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from fastgd.models import _sparse_losses as _sparse
from fastgd.models.params import PENALTIES
from fastgd.reference.models import (
    BAD_INDEX,
    BAD_LABEL,
    BAD_ROW,
    BAD_WEIGHT,
    KINDS,
    NO_MEMORY,
    SOFTMAX,
    ZERO_WEIGHT,
)

__all__: list[str] = []

#: The loss names, by kernel code.
LOSSES = KINDS

_EPSILON_DEFAULT = 0.1
_USES_EPSILON = ("huber", "epsilon_insensitive")

_F32, _F64, _I64 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64)


def _array(name, a):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
    dt = a.dtype
    if (dt is _F64 or dt is _F32 or dt is _I64) and a.flags.aligned:
        return a    # the common case, checked with identity comparisons only
    if not dt.isnative:
        raise TypeError(f"{name} has non-native byte order ({a.dtype}); pass "
                        f"{name}.astype({a.dtype.newbyteorder('=')})")
    if not a.flags.aligned:
        raise ValueError(f"{name} is not aligned in memory; pass np.require({name}, "
                         f"requirements='A')")
    return a


def _same_dtype(name, a, dtype, what="X"):
    if a.dtype is not dtype and a.dtype != dtype:
        raise TypeError(f"{name} has dtype {a.dtype} but {what} has {dtype}; pass "
                        f"{name}.astype(np.{dtype}) (once, outside the training loop)")


def _vector(name, a, length, dtype):
    _array(name, a)
    if a.ndim != 1 or a.shape[0] != length:
        raise ValueError(f"{name} must have shape ({length},) like X's rows, got shape "
                         f"{a.shape}")
    if dtype is not None:
        _same_dtype(name, a, dtype)
    if a.strides[0] < 0 or a.strides[0] % a.itemsize:
        raise ValueError(f"{name} has stride {a.strides[0]}; fastgd takes non-negative "
                         f"strides in whole elements (pass np.ascontiguousarray({name}))")


def _real(name, value):
    kind = type(value)
    if kind is float or kind is int:
        return float(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    return float(value)


def _loss_kind(loss):
    if not isinstance(loss, str):
        raise TypeError(f"loss must be a string, one of {', '.join(LOSSES)}; got {loss!r}")
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    return LOSSES.index(loss)


def _check_X(X):
    """A dense X checked (returned as is), or a sparse one as a CSR."""
    if not isinstance(X, np.ndarray):
        return _sparse.csr_X(X)
    _array("X", X)
    if X.dtype is not _F64 and X.dtype is not _F32 and X.dtype not in (_F64, _F32):
        raise TypeError(f"X has dtype {X.dtype}; fastgd models take float32 or float64")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    n_samples, d = X.shape
    if n_samples == 0 or d == 0:
        raise ValueError(f"X must have at least one row and one column, got shape {X.shape}")
    s0, s1 = X.strides
    unit = X.itemsize
    if (s0 < 0 or s1 < 0 or s0 % unit or s1 % unit
            or not (d == 1 or s1 == unit or n_samples == 1 or s0 == unit)):
        raise ValueError(f"X must be C- or F-ordered (one unit stride, strides >= 0), got "
                         f"strides {X.strides} for shape {X.shape}; pass "
                         f"np.ascontiguousarray(X)")
    return X


def _check_model(loss, X, coef, intercept):
    """Validate coef and intercept against X and the loss; return k (classes or 1)."""
    d = X.shape[1]
    _array("coef", coef)
    _same_dtype("coef", coef, X.dtype)
    if loss == "softmax_cross_entropy":
        if coef.ndim != 2 or coef.shape[0] != d or coef.shape[1] < 1:
            raise ValueError(f"softmax_cross_entropy takes coef of shape (n_features, "
                             f"n_classes) = ({d}, k), got shape {coef.shape}")
        k = coef.shape[1]
        ishape = ((k,),)
    else:
        if coef.shape != (d,):
            raise ValueError(f"{loss} takes coef of shape ({d},) (X has {d} features), got "
                             f"shape {coef.shape}")
        k = 1
        ishape = ((1,), ())
    if not coef.flags.c_contiguous:
        raise ValueError("coef must be C-contiguous; pass np.ascontiguousarray(coef)")
    if intercept is not None:
        _array("intercept", intercept)
        _same_dtype("intercept", intercept, X.dtype)
        if intercept.shape not in ishape:
            want = " or ".join(str(s) for s in ishape)
            raise ValueError(f"{loss} takes intercept of shape {want}, got shape "
                             f"{intercept.shape}")
        if not intercept.flags.c_contiguous:
            raise ValueError("intercept must be C-contiguous")
    return k


def _check_batch(loss, kind, X, y, sample_weight, rows):
    n_samples = X.shape[0]
    _array("y", y)
    if kind == SOFTMAX:
        if y.dtype is not _I64 and y.dtype != _I64:
            raise TypeError(f"softmax_cross_entropy takes integer class labels y of dtype "
                            f"int64, got {y.dtype}; pass y.astype(np.int64)")
        _vector("y", y, n_samples, None)
    else:
        if y.dtype is not X.dtype and y.dtype != X.dtype:
            raise TypeError(f"y has dtype {y.dtype} but X has {X.dtype}; {loss} takes y of "
                            f"X's dtype: pass y.astype(np.{X.dtype}) (once, outside the "
                            f"training loop)")
        _vector("y", y, n_samples, None)
    if sample_weight is not None:
        _vector("sample_weight", sample_weight, n_samples, X.dtype)
    if rows is not None:
        _array("rows", rows)
        if rows.dtype is not _I64 and rows.dtype != _I64:
            raise TypeError(f"rows must be an int64 array of row indices, got dtype "
                            f"{rows.dtype}; pass rows.astype(np.int64)")
        if rows.ndim != 1:
            raise ValueError(f"rows must be 1-D, got shape {rows.shape}")
        if rows.shape[0] == 0:
            raise ValueError("rows is empty: a batch needs at least one row")
        if rows.strides[0] < 0 or rows.strides[0] % 8:
            raise ValueError(f"rows has stride {rows.strides[0]}; pass "
                             f"np.ascontiguousarray(rows)")


def _penalty_weights(penalty, alpha, l1_ratio):
    """(a1, a2): the penalty is a1 * ||coef||_1 + a2 / 2 * ||coef||^2."""
    if penalty is not None and not isinstance(penalty, str):
        raise TypeError(f"penalty must be None or one of 'l2', 'l1', 'elasticnet', got "
                        f"{penalty!r}")
    if penalty not in PENALTIES:
        raise ValueError(f"unknown penalty {penalty!r}; choose None, 'l2', 'l1' or "
                         f"'elasticnet'")
    alpha = _real("alpha", alpha)
    if not (alpha >= 0 and math.isfinite(alpha)):
        raise ValueError(f"alpha must be finite and >= 0, got {alpha}")
    l1_ratio = _real("l1_ratio", l1_ratio)
    if not 0 <= l1_ratio <= 1:
        raise ValueError(f"l1_ratio must be in [0, 1], got {l1_ratio}")
    if penalty is None:
        if alpha != 0:
            raise ValueError(f"alpha={alpha} has no effect with penalty=None; choose "
                             f"penalty='l2', 'l1' or 'elasticnet'")
        return 0.0, 0.0
    if penalty == "l2":
        return 0.0, alpha
    if penalty == "l1":
        return alpha, 0.0
    return alpha * l1_ratio, alpha * (1.0 - l1_ratio)


def _epsilon(loss, epsilon):
    if loss not in _USES_EPSILON:
        if epsilon is not None:
            raise ValueError(f"epsilon applies to the huber and epsilon_insensitive losses "
                             f"only, not {loss}")
        return 0.0
    if epsilon is None:
        return _EPSILON_DEFAULT
    epsilon = _real("epsilon", epsilon)
    if loss == "huber" and not (epsilon > 0 and math.isfinite(epsilon)):
        raise ValueError(f"huber takes epsilon finite and > 0, got {epsilon}")
    if not (epsilon >= 0 and math.isfinite(epsilon)):
        raise ValueError(f"epsilon_insensitive takes epsilon finite and >= 0, got {epsilon}")
    return epsilon


def _output(name, a, like, given):
    """A given output array checked against the array it is the gradient of, or a new one."""
    if a is None:
        return np.empty_like(like), False
    _array(name, a)
    if a.dtype is not like.dtype and a.dtype != like.dtype:
        raise TypeError(f"{name} has dtype {a.dtype}, expected {like.dtype} like X")
    if a.shape != like.shape:
        raise ValueError(f"{name} has shape {a.shape}, expected {like.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    if not a.flags.writeable:
        raise ValueError(f"{name} is read-only")
    for other_name, other in given:
        if np.may_share_memory(a, other):
            raise ValueError(f"{name} shares memory with {other_name}; pass separate arrays")
    given.append((name, a))
    return a, True


def _raise_status(status, pos, loss, X, y, sample_weight, rows, k):
    row = pos if rows is None else int(rows[pos])
    where = f"y[{row}]" if rows is None else f"y[{row}] (rows[{pos}])"
    if status == BAD_ROW:
        raise ValueError(f"rows[{pos}] = {row} is out of range for X with {X.shape[0]} rows "
                         f"(0 <= row < {X.shape[0]})")
    if status == BAD_LABEL:
        value = y[row]
        if loss == "softmax_cross_entropy":
            raise ValueError(f"{where} = {value} is not a class label in 0..{k - 1} (coef "
                             f"has {k} columns)")
        if loss == "log_loss":
            raise ValueError(f"{where} = {value}: log_loss takes y in [0, 1] (labels 0/1 or "
                             f"probabilities); for labels in {{-1, 1}} pass (y + 1) / 2")
        raise ValueError(f"{where} = {value}: hinge takes labels in {{0, 1}} or {{-1, 1}}")
    if status == BAD_WEIGHT:
        w_where = f"sample_weight[{row}]" + ("" if rows is None else f" (rows[{pos}])")
        raise ValueError(f"{w_where} = {sample_weight[row]}: weights must be finite and "
                         f">= 0")
    if status == ZERO_WEIGHT:
        raise ValueError("sample_weight sums to 0 over the batch: the weighted mean loss is "
                         "undefined")
    if status == BAD_INDEX:
        raise _sparse.bad_row(X, pos, rows)
    if status == NO_MEMORY:
        raise MemoryError("fastgd.models: out of memory for the partial sums")
    raise RuntimeError(f"fastgd.models: unexpected status {status}")
