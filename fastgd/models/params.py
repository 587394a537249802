"""What :func:`fastgd.fit`, the linear models, the scikit-learn estimators and the
``fastgd fit`` command accept: every parameter's rule, declared once, and the data checks.

The rules are data, in the style of scikit-learn's ``_parameter_constraints``: each
parameter maps to the constraints a value may meet, any one of them -- an
:class:`Interval` of ints or of reals, ``"boolean"``, or ``None`` -- and the choices
(:data:`PENALTIES`, :data:`SCHEDULES`) are listed here. Three checkers read the same table
and word their errors as their callers always have:

- :func:`check` (``fit`` and :class:`~fastgd.models.LinearModel`): TypeError for a value
  of the wrong type, ValueError for one out of range (``lr must be > 0.0, got 0.0``); it
  returns the value as a Python int, float or bool;
- :func:`check_estimator` (``GDRegressor``/``GDClassifier``, scikit-learn's wording):
  ValueError (``The 'lr' parameter must be > 0.0, got 0``);
- :func:`cli_type` (the options of ``fastgd fit``): an argparse ``type`` converting the
  option's text (``must be a finite number > 0, got 0``).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from numbers import Integral, Real
from typing import Any

import numpy as np

from fastgd import backends
from fastgd.models.sparse import CSR, as_csr, is_sparse

__all__ = ["Interval", "RULES", "ESTIMATOR_RULES", "PENALTIES", "SCHEDULES",
           "CLASSIFICATION", "check", "check_estimator", "cli_type", "cli_converter"]

#: The penalties on coef.
PENALTIES = (None, "l2", "l1", "elasticnet")
#: scikit-learn's learning-rate schedules, by name (``fit(schedule=...)``).
SCHEDULES = ("constant", "optimal", "invscaling", "adaptive")
#: The losses of classifiers.
CLASSIFICATION = ("log_loss", "hinge", "softmax_cross_entropy")


class Interval:
    """Numbers of ``kind`` (``Integral`` or ``Real``) between ``low`` and ``high`` (None:
    unbounded); ``closed`` is ``"left"``, ``"right"``, ``"both"`` or ``"neither"``, as
    scikit-learn's ``Interval``. Bools are never numbers here."""

    __slots__ = ("kind", "low", "high", "closed")

    def __init__(self, kind: type, low: float | None, high: float | None, *,
                 closed: str) -> None:
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    @property
    def strict_low(self) -> bool:
        return self.closed in ("right", "neither")

    @property
    def strict_high(self) -> bool:
        return self.closed in ("left", "neither")

    def above_low(self, value: float) -> bool:
        return self.low is None or (value > self.low if self.strict_low else value >= self.low)

    def below_high(self, value: float) -> bool:
        return self.high is None or (value < self.high if self.strict_high
                                     else value <= self.high)

    def __repr__(self) -> str:
        return (f"Interval({self.kind.__name__}, {self.low}, {self.high}, "
                f"closed={self.closed!r})")


_POSITIVE_INT = Interval(Integral, 1, None, closed="left")
_POSITIVE = Interval(Real, 0.0, None, closed="neither")
_NONNEGATIVE = Interval(Real, 0.0, None, closed="left")

#: The arguments of :func:`fastgd.fit` and the settings of a LinearModel.
RULES: dict[str, list[Any]] = {
    "lr": [_POSITIVE],
    "batch_size": [_POSITIVE_INT, None],
    "epochs": [_POSITIVE_INT],
    "shuffle": ["boolean"],
    # the int form of random_state (fit checks the Generator and SeedSequence forms)
    "random_state": [Interval(Integral, 0, None, closed="left"), None],
    "clip_norm": [_POSITIVE, None],
    "clip_value": [_POSITIVE, None],
    "tol": [_NONNEGATIVE, None],
    "n_iter_no_change": [_POSITIVE_INT],
    "gtol": [_NONNEGATIVE, None],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0.0, 1.0, closed="neither")],
    "record_steps": ["boolean"],
    "alpha": [_NONNEGATIVE],
    "l1_ratio": [Interval(Real, 0.0, 1.0, closed="both")],
    "epsilon": [_NONNEGATIVE, None],
    "fit_intercept": ["boolean"],
}

#: The numeric and boolean parameters of GDRegressor and GDClassifier: fit's rules under
#: scikit-learn's names (``max_iter`` is ``epochs``), with theirs.
ESTIMATOR_RULES: dict[str, list[Any]] = {
    "lr": RULES["lr"],
    "batch_size": RULES["batch_size"],
    "max_iter": RULES["epochs"],
    "tol": RULES["tol"],
    "n_iter_no_change": RULES["n_iter_no_change"],
    "alpha": RULES["alpha"],
    "l1_ratio": RULES["l1_ratio"],
    "epsilon": [_NONNEGATIVE],
    "fit_intercept": RULES["fit_intercept"],
    "shuffle": RULES["shuffle"],
    "early_stopping": RULES["early_stopping"],
    "validation_fraction": RULES["validation_fraction"],
    "warm_start": ["boolean"],
    "verbose": [Interval(Integral, 0, None, closed="left")],
}


def _split(rule: list) -> tuple[Any, bool]:
    """The rule's Interval or ``"boolean"``, and whether None is allowed."""
    return next(c for c in rule if c is not None), None in rule


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def check(name: str, value: Any) -> Any:
    """``value`` of fit's parameter ``name`` checked against :data:`RULES` and returned as
    a Python int, float or bool (or None); TypeError or ValueError naming it otherwise."""
    constraint, allow_none = _split(RULES[name])
    if value is None and allow_none:
        return None
    if constraint == "boolean":
        if not _is_bool(value):
            raise TypeError(f"{name} must be a bool, got {value!r}")
        return bool(value)
    iv = constraint
    if iv.kind is Integral:
        if _is_bool(value) or not isinstance(value, Integral):
            raise TypeError(f"{name} must be an int{' or None' if allow_none else ''}, "
                            f"got {value!r}")
        value = int(value)
    else:
        if _is_bool(value) or not isinstance(value, Real):
            raise TypeError(f"{name} must be a real number"
                            f"{' or None' if allow_none else ''}, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value}")
    if not iv.above_low(value):
        raise ValueError(f"{name} must be {'>' if iv.strict_low else '>='} {iv.low}, "
                         f"got {value}")
    if not iv.below_high(value):
        if iv.strict_high:
            raise ValueError(f"{name} must be < {iv.high}, got {value}")
        raise ValueError(f"{name} must be in [{iv.low:g}, {iv.high:g}], got {value}")
    return value


def check_estimator(estimator: Any) -> None:
    """The numeric and boolean parameters of a GDRegressor/GDClassifier checked against
    :data:`ESTIMATOR_RULES`, in scikit-learn's wording (ValueError)."""
    for name, rule in ESTIMATOR_RULES.items():
        value = getattr(estimator, name)
        constraint, allow_none = _split(rule)
        if value is None and allow_none:
            continue
        if constraint == "boolean":
            if not _is_bool(value):
                raise ValueError(f"The '{name}' parameter must be a bool, got {value!r}")
            continue
        iv = constraint
        if iv.kind is Integral:
            if _is_bool(value) or not isinstance(value, Integral) or not iv.above_low(value):
                raise ValueError(f"The '{name}' parameter must be an int >= {iv.low}"
                                 f"{' or None' if allow_none else ''}, got {value!r}")
            continue
        if _is_bool(value) or not isinstance(value, Real) or not math.isfinite(value):
            raise ValueError(f"The '{name}' parameter must be a finite real number, got "
                             f"{value!r}")
        if not iv.above_low(value):
            raise ValueError(f"The '{name}' parameter must be "
                             f"{'>' if iv.strict_low else '>='} {iv.low}, got {value!r}")
        if not iv.below_high(value):
            raise ValueError(f"The '{name}' parameter must be "
                             f"{'<' if iv.strict_high else '<='} {iv.high}, got {value!r}")


def cli_converter(iv: Interval, none_words: tuple[str, ...] = ()) -> Callable[[str], Any]:
    """An argparse ``type`` reading a number in ``iv`` from the option's text (or None
    for one of ``none_words``, any case); ``argparse.ArgumentTypeError`` otherwise."""
    none_word = f" or {none_words[0]!r}" if none_words else ""
    or_none = f" (or {none_words[0]!r})" if none_words else ""

    def convert(text: str) -> Any:
        if text.lower() in none_words:
            return None
        value: float
        if iv.kind is Integral:
            try:
                value = int(text)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"must be a whole number >= {iv.low}{none_word}, got {text!r}") from None
            if not iv.above_low(value):
                raise argparse.ArgumentTypeError(f"must be >= {iv.low}{or_none}, got {value}")
            return value
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        if not (math.isfinite(value) and iv.above_low(value)):
            raise argparse.ArgumentTypeError(
                f"must be a finite number {'>' if iv.strict_low else '>='} {iv.low:g}, "
                f"got {text}")
        if not iv.below_high(value):
            raise argparse.ArgumentTypeError(
                f"must be between {iv.low:g} and {iv.high:g}, got {text}")
        return value

    return convert


def cli_type(name: str, none_words: tuple[str, ...] = ()) -> Callable[[str], Any]:
    """The argparse ``type`` of fit's parameter ``name`` (:data:`RULES`); ``none_words``
    are the texts that mean None where the rule allows it (``full`` for batch_size)."""
    constraint, allow_none = _split(RULES[name])
    return cli_converter(constraint, none_words if allow_none else ())


def _check_X(X, dtype=None):
    """X checked for training or prediction: a dense array (integers become float64,
    ``dtype`` if given), or a ``scipy.sparse`` matrix or :class:`~fastgd.models.sparse.CSR`
    as a checked CSR (:func:`fastgd.models.sparse.as_csr`: finite values, valid indices;
    never densified)."""
    if not isinstance(X, np.ndarray) and (is_sparse(X) or isinstance(X, CSR)):
        return as_csr(X, dtype=dtype)
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.dtype.kind in "biu":
        X = X.astype(np.float64)
    elif X.dtype not in (np.float32, np.float64):
        raise TypeError(f"X must be float32 or float64 (integers become float64), got "
                        f"dtype {X.dtype}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X must have at least one row and one column, got shape {X.shape}")
    s = X.strides
    if not (X.flags.c_contiguous or X.flags.f_contiguous
            or (min(s) >= 0 and X.itemsize in s)) or not X.flags.aligned \
            or not X.dtype.isnative:
        X = np.array(X, dtype=X.dtype.newbyteorder("="), order="C", copy=True)
    return X if dtype is None else X.astype(dtype, copy=False)


def _check_y(loss, X, y):
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must be 1-D with one value per row of X ({X.shape[0]}), got "
                         f"shape {y.shape}")
    if loss == "softmax_cross_entropy":
        if y.dtype.kind not in "biu":
            if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
                y = y.astype(np.int64)
            else:
                raise ValueError(f"softmax_cross_entropy takes integer class labels "
                                 f"0 .. k-1, got y of dtype {y.dtype}")
        y = y.astype(np.int64, copy=False)
        if y.min() < 0:
            raise ValueError(f"class labels must be 0 .. k-1, got {int(y.min())}")
        return y
    if y.dtype.kind not in "biuf":
        raise TypeError(f"y must be numbers, got dtype {y.dtype}")
    return y.astype(X.dtype, copy=False)


def _check_finite(X, y) -> None:
    """Training data must be finite (a NaN or an infinity would only make the first loss
    non-finite, after the model had changed): ValueError naming the first bad row. (A
    sparse X was checked by :func:`_check_X`.)"""
    bad = -1 if isinstance(X, CSR) else _first_nonfinite_row(X)
    if bad >= 0:
        raise ValueError(f"X must be finite, but row {bad} holds a NaN or an infinity")
    bad = _first_nonfinite_row(y)
    if bad >= 0:
        raise ValueError(f"y must be finite, but y[{bad}] is {y[bad]}")


def _first_nonfinite_row(a: np.ndarray) -> int:
    """The first row of ``a`` (X, or y) holding a NaN or an infinity, or -1: one pass,
    in blocks of rows, so that it needs little memory beside ``a``."""
    if a.dtype.kind != "f":
        return -1
    if a.dtype in (np.float32, np.float64) and a.dtype.isnative \
            and (a.flags.c_contiguous or a.flags.f_contiguous):
        if backends.active().first_nonfinite([a]) < 0:  # one pass, no temporary array
            return -1
    rows = max(1, (1 << 16) // max(1, a.size // max(1, a.shape[0])))
    for start in range(0, a.shape[0], rows):
        finite = np.isfinite(a[start:start + rows])
        if finite.ndim > 1:
            finite = finite.all(axis=tuple(range(1, finite.ndim)))
        if not finite.all():
            return start + int(np.argmin(finite))
    return -1


def _check_sample_weight(sample_weight, X, all_zero_ok=False):
    """sample_weight checked against X (None stays None); all zero is refused unless
    ``all_zero_ok`` (rows that join others before they are run)."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight)
    if w.ndim != 1 or w.shape[0] != X.shape[0]:
        raise ValueError(f"sample_weight must be 1-D with one value per row of X "
                         f"({X.shape[0]}), got shape {w.shape}")
    if w.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight must be numbers, got dtype {w.dtype}")
    w = w.astype(X.dtype, copy=False)
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("sample_weight must be finite and >= 0")
    if not all_zero_ok and not np.any(w > 0):
        raise ValueError("sample_weight must not be all zero")
    return w

