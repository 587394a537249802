r"""Gradient clipping with ``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``
semantics, on NumPy arrays, run by the active backend.

.. code-block:: python

    total = fastgd.clip_grad_norm_([gw, gb], max_norm=1.0)     # scales gw, gb in place
    fastgd.clip_grad_value_([gw, gb], clip_value=0.5)          # clamps them in place
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Real

import numpy as np

from fastgd import backends
from fastgd.reference.models import (
    NORM_COUNT,
    NORM_MAXABS,
    NORM_MINABS,
    NORM_SUMABS,
    NORM_SUMPOW,
    NORM_SUMSQ,
)

__all__ = ["clip_grad_norm_", "clip_grad_value_"]

_byte_bounds = np.lib.array_utils.byte_bounds


def _impl():
    """The clipping kernels of the active backend."""
    return backends.active_models()


def _grad_arrays(grads):
    """The arrays of ``grads`` (one array, or an iterable of arrays and Nones), checked,
    as flat views in memory order; empty arrays and Nones left out."""
    if isinstance(grads, np.ndarray):
        items = [grads]
    else:
        try:
            items = list(grads)
        except TypeError:
            raise TypeError(f"grads must be a numpy.ndarray or an iterable of them, got "
                            f"{type(grads).__name__}") from None
    flats, spans = [], []
    for i, a in enumerate(items):
        if a is None:
            continue
        if not isinstance(a, np.ndarray):
            raise TypeError(f"grads[{i}] must be a numpy.ndarray or None, got "
                            f"{type(a).__name__}")
        if not a.dtype.isnative:
            raise TypeError(f"grads[{i}] has non-native byte order ({a.dtype})")
        if a.dtype != np.float32 and a.dtype != np.float64:
            raise TypeError(f"grads[{i}] has dtype {a.dtype}; fastgd clips float32 or "
                            f"float64 arrays")
        if not (a.flags.c_contiguous or a.flags.f_contiguous):
            raise ValueError(f"grads[{i}] must be contiguous (C or F order): it is scaled "
                             f"in place")
        if not a.flags.aligned:
            raise ValueError(f"grads[{i}] is not aligned in memory")
        if not a.flags.writeable:
            raise ValueError(f"grads[{i}] is read-only")
        if a.size == 0:
            continue
        spans.append((*_byte_bounds(a), i))
        flats.append(a.ravel(order="K"))
    if len(spans) > 1:
        spans.sort()
        end, owner = spans[0][1], spans[0][2]
        for lo, hi, i in spans[1:]:
            if lo < end:
                first, second = sorted((owner, i))
                raise ValueError(f"grads[{second}] shares memory with grads[{first}]; "
                                 f"clipping would scale it twice")
            if hi > end:
                end, owner = hi, i
    return flats


def _norm_type(norm_type):
    if isinstance(norm_type, str):
        try:
            value = float(norm_type)
        except ValueError:
            raise ValueError(f"norm_type must be a real number or 'inf', got "
                             f"{norm_type!r}") from None
    elif isinstance(norm_type, (bool, np.bool_)) or not isinstance(norm_type, Real):
        raise TypeError(f"norm_type must be a real number or 'inf', got {norm_type!r}")
    else:
        value = float(norm_type)
    if math.isnan(value):
        raise ValueError(f"norm_type must not be NaN, got {norm_type!r}")
    return value


def _nonnegative(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not value >= 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def _total_norm(impl, flats, p):
    """The p-norm of all elements of flats together, in float64, as torch's total norm."""
    if p == math.inf or p == -math.inf:
        parts = [impl.norm_part(x, NORM_MAXABS if p > 0 else NORM_MINABS, p) for x in flats]
        total = parts[0]
        for v in parts[1:]:
            if v != v or (v > total if p > 0 else v < total):
                total = v
            if total != total:
                break
        return total
    if p == 0:
        # torch: the 0-"norm" of the per-array counts, i.e. how many arrays have a nonzero
        # (or NaN) element.
        return float(sum(1 for x in flats if impl.norm_part(x, NORM_COUNT, p) != 0))
    mode = NORM_SUMSQ if p == 2 else NORM_SUMABS if p == 1 else NORM_SUMPOW
    s = 0.0
    for x in flats:
        s += impl.norm_part(x, mode, p)   # in list order (not sum(): it compensates on 3.12+)
    if p == 2:
        return math.sqrt(s)
    if p == 1:
        return s
    with np.errstate(all="ignore"):
        return float(np.power(np.float64(s), 1.0 / p))


def clip_grad_norm_(grads: np.ndarray | Iterable[np.ndarray | None], max_norm: float,
                    norm_type: float | str = 2.0, error_if_nonfinite: bool = False) -> float:
    r"""Scale ``grads`` in place so that their total norm is at most ``max_norm``, as
    ``torch.nn.utils.clip_grad_norm_`` (torch 2.13) does; return the total norm.

    The total norm is the ``norm_type``-norm of all elements of all arrays together,

    .. math::
        \|g\|_p = \Big(\sum_t \sum_i |g_{t,i}|^p\Big)^{1/p}, \qquad
        \|g\|_\infty = \max_{t,i} |g_{t,i}|, \qquad \|g\|_{-\infty} = \min_{t,i} |g_{t,i}|,

    computed in float64 (sums in the eight-lane order of
    :func:`fastgd.reference.sum_of_squares`, arrays added in list order; NaN anywhere gives
    NaN). For ``norm_type=0`` torch's rule is kept: its total is the 0-"norm" of the
    per-array norms, i.e. the number of arrays having a nonzero (or NaN) element -- not the
    number of nonzero elements.

    Then every array is multiplied by

    .. math::
        c = \min\Big(\frac{\text{max\_norm}}{\text{total} + 10^{-6}},\ 1\Big)

    computed as torch computes it: in the arrays' dtype (float64 if any array is float64,
    else float32), as ``reciprocal(total + 1e-6) * max_norm`` then clamped to 1 (NaN stays
    NaN), and rounded to each array's dtype; every array is multiplied, also when ``c`` is
    1. A NaN total makes every gradient NaN; an infinite one multiplies by 0 (NaN where a
    gradient is infinite), as in torch.

    Args:
        grads: an array, or an iterable of arrays (``None`` entries are skipped): float32
            or float64, C- or F-contiguous, writable, not sharing memory with each other.
        max_norm: the largest total norm allowed (>= 0).
        norm_type: the p of the p-norm, a real number, ``inf`` or ``-inf`` (``'inf'``
            accepted as in torch).
        error_if_nonfinite: raise RuntimeError (torch's message) if the total norm is NaN
            or infinite, before anything is scaled.

    Returns:
        The total norm, a Python float (in float64; torch returns it as a tensor of the
        gradients' dtype). 0.0 for no elements at all (then nothing is scaled).

    Deviations from torch: ``max_norm`` NaN or negative is refused (torch would flip or
    NaN every gradient); empty arrays are skipped (torch raises for the inf norms).

    Example::

        grads = [np.array([3.0, 0.0]), np.array([4.0])]
        total = fastgd.clip_grad_norm_(grads, max_norm=1.0)  # 5.0; grads now have norm ~1
        assert total == 5.0
    """
    max_norm = _nonnegative("max_norm", max_norm)
    p = _norm_type(norm_type)
    if not isinstance(error_if_nonfinite, (bool, np.bool_)):
        raise TypeError(f"error_if_nonfinite must be True or False, got "
                        f"{error_if_nonfinite!r}")
    flats = _grad_arrays(grads)
    if not flats:
        return 0.0
    impl = _impl()
    total = _total_norm(impl, flats, p)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {p} for gradients from "
            "`parameters` is non-finite, so it cannot be clipped. To disable "
            "this error and scale the gradients by the non-finite norm anyway, "
            "set `error_if_nonfinite=False`")
    T = np.result_type(*flats).type
    with np.errstate(all="ignore"):
        coef = (T(1) / (T(total) + T(1e-6))) * T(max_norm)
    if coef > 1:
        coef = T(1)
    for x in flats:
        impl.scale(x, float(coef))
    return float(total)


def clip_grad_value_(grads: np.ndarray | Iterable[np.ndarray | None],
                     clip_value: float) -> None:
    r"""Clamp every element of ``grads`` to ``[-clip_value, clip_value]`` in place, as
    ``torch.nn.utils.clip_grad_value_``: ``clamp_min(-c)`` then ``clamp_max(c)``, with ``c``
    rounded to each array's dtype; NaN stays NaN:

    .. math::
        g_i \leftarrow \min(\max(g_i, -c), c)

    Args:
        grads: an array, or an iterable of arrays (``None`` entries are skipped): float32
            or float64, C- or F-contiguous, writable, not sharing memory with each other.
        clip_value: the bound, >= 0 (torch accepts a negative one and sets every element
            to it; fastgd refuses it, and NaN).

    Example::

        g = np.array([-3.0, 0.5, 2.0])
        fastgd.clip_grad_value_([g], clip_value=1.0)
        assert g.tolist() == [-1.0, 0.5, 1.0]
    """
    c = _nonnegative("clip_value", clip_value)
    flats = _grad_arrays(grads)
    if not flats:
        return
    impl = _impl()
    for x in flats:
        impl.clamp(x, -c, c)
