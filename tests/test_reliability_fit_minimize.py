"""Bad input gets a clear error before anything changes: the argument checks of fit,
minimize, the scikit-learn estimators and clipping.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import fastgd

# -- fit, minimize, the estimators, clipping ------------------------------------------------

def _regression(n=60, dtype=np.float64):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, 3)).astype(dtype)
    return X, (X @ np.array([1.0, -2.0, 0.5])).astype(dtype)


def _with_nan(a, index, value=np.nan):
    a = a.copy()
    a[index] = value
    return a


X_REG, Y_REG = _regression()
BAD_FIT = [
    (dict(lr=math.nan), ValueError, "lr must be finite"),
    (dict(lr=math.inf), ValueError, "lr must be finite"),
    (dict(lr=-0.1), ValueError, "lr must be > 0"),
    (dict(lr=None), TypeError, "lr must be a real number"),
    (dict(batch_size=0), ValueError, "batch_size must be >= 1"),
    (dict(batch_size=-2), ValueError, "batch_size must be >= 1"),
    (dict(batch_size=2.5), TypeError, "batch_size must be an int"),
    (dict(batch_size=True), TypeError, "batch_size must be an int"),
    (dict(batch_size="8"), TypeError, "batch_size must be an int"),
    (dict(epochs=0), ValueError, "epochs must be >= 1"),
    (dict(clip_norm=math.nan), ValueError, "clip_norm"),
    (dict(clip_value=-1.0), ValueError, "clip_value"),
    (dict(tol=math.nan), ValueError, "tol"),
    (dict(validation_fraction=math.nan, early_stopping=True), ValueError,
     "validation_fraction"),
    (dict(X=_with_nan(X_REG, (4, 1))), ValueError, "X must be finite, but row 4"),
    (dict(X=_with_nan(X_REG, (7, 0), -np.inf)), ValueError, "X must be finite, but row 7"),
    (dict(y=_with_nan(Y_REG, 9)), ValueError, r"y must be finite, but y\[9\] is nan"),
    (dict(y=_with_nan(Y_REG, 0, np.inf)), ValueError, r"y\[0\] is inf"),
    (dict(X=X_REG.astype(np.complex128)), TypeError, "X must be float32 or float64"),
    (dict(X=X_REG.astype(np.float16)), TypeError, "X must be float32 or float64"),
    (dict(X=X_REG.astype(object)), TypeError, "X must be float32 or float64"),
    (dict(X=X_REG.astype(str)), TypeError, "X must be float32 or float64"),
    (dict(X=X_REG[None]), ValueError, "X must be 2-D"),
    (dict(X=X_REG[:, 0]), ValueError, "X must be 2-D"),
    (dict(X=X_REG[:0], y=Y_REG[:0]), ValueError, "at least one row"),
    (dict(X=X_REG[:, :0]), ValueError, "at least one row and one column"),
    (dict(y=Y_REG[:-1]), ValueError, "y must be 1-D with one value per row"),
    (dict(y=Y_REG[:, None]), ValueError, "y must be 1-D"),
    (dict(y=Y_REG.astype(np.complex128)), TypeError, "y must be numbers"),
    (dict(y=Y_REG.astype(object)), TypeError, "y must be numbers"),
    (dict(sample_weight=np.full(60, np.nan)), ValueError, "sample_weight must be finite"),
    (dict(sample_weight=np.ones(59)), ValueError, "sample_weight must be 1-D"),
    (dict(optimizer="adam", optimizer_kwargs=dict(betas=(1.0, 0.9))), ValueError,
     "Invalid beta parameter at index 0: 1.0"),
    (dict(optimizer="sgd", optimizer_kwargs=dict(nesterov=True)), ValueError,
     "Nesterov momentum requires"),
]


@pytest.mark.parametrize("case", range(len(BAD_FIT)), ids=[c[2][:40] for c in BAD_FIT])
def test_fit_refuses_bad_arguments_before_the_model_changes(case):
    kwargs, error, pattern = BAD_FIT[case]
    kwargs = dict(kwargs)
    X, y = kwargs.pop("X", X_REG), kwargs.pop("y", Y_REG)
    fresh = fastgd.LinearRegression()
    with pytest.raises(error, match=pattern):
        fastgd.fit(fresh, X, y, **kwargs)
    assert fresh.coef_ is None and fresh.intercept_ is None
    warm = fastgd.LinearRegression()
    fastgd.fit(warm, X_REG, Y_REG, epochs=1)
    before = warm.coef_.tobytes(), warm.intercept_.tobytes()
    with pytest.raises(error, match=pattern):
        fastgd.fit(warm, X, y, **kwargs)
    assert (warm.coef_.tobytes(), warm.intercept_.tobytes()) == before


@pytest.mark.parametrize("kwargs,error,pattern", [
    (dict(lr=math.nan), ValueError, "Invalid learning rate: nan"),
    (dict(lr=-1.0), ValueError, "Invalid learning rate: -1.0"),
    (dict(tol=math.nan), ValueError, "tol must be >= 0"),
    (dict(max_iter=True), ValueError, "max_iter must be a whole number"),
    (dict(x0=np.array([1.0, math.nan, 3.0, 4.0, 5.0])), ValueError, "x0 must be finite"),
    (dict(x0=np.ones(5, np.complex128)), TypeError, "x0 must be real numbers"),
    (dict(x0=np.ones(5, object)), TypeError, "x0 must be real numbers"),
    (dict(x0=np.ones(5, np.float16)), TypeError, "x0 must be real numbers"),
    (dict(jac=lambda x: np.ones(5, np.complex128)), TypeError,
     "the gradient must be real numbers"),
    (dict(jac=lambda x: np.ones(4)), ValueError, r"the gradient has shape \(4,\)"),
    (dict(optimizer="adam", betas=(0.9, 1.5)), ValueError, "Invalid beta parameter"),
])
def test_minimize_refuses_bad_arguments(kwargs, error, pattern):
    from fastgd.functions import worked_example as example
    args = dict(x0=example.x0, jac=example.grad, max_iter=3)
    args.update(kwargs)
    x0 = np.array(args["x0"], copy=True)
    with pytest.raises(error, match=pattern):
        fastgd.minimize(example.f, args.pop("x0"), **args)
    np.testing.assert_array_equal(kwargs.get("x0", example.x0), x0)  # x0 is never modified


def test_minimize_stops_on_a_nonfinite_gradient_without_a_step():
    from fastgd.functions import worked_example as example
    result = fastgd.minimize(example.f, example.x0, jac=lambda x: np.full(5, np.nan))
    assert not result.success and result.nit == 0 and "diverged" in result.message
    np.testing.assert_array_equal(result.x, example.x0)


@pytest.mark.parametrize("bad", [dict(lr=math.nan), dict(lr=-0.1), dict(lr=math.inf),
                                 dict(batch_size=0), dict(batch_size=2.5),
                                 dict(batch_size="a"), dict(alpha=math.nan),
                                 dict(tol=math.nan), dict(validation_fraction=0.0),
                                 dict(optimizer_kwargs={"momentum": -1.0})])
def test_estimators_refuse_bad_settings_and_keep_their_fit(bad):
    pytest.importorskip("sklearn")
    from fastgd.sklearn import GDRegressor
    X, y = _regression()
    est = GDRegressor(max_iter=2, tol=None, random_state=0).fit(X, y)
    before = est.coef_.tobytes(), est.intercept_.tobytes()
    est.set_params(**bad)
    with pytest.raises(ValueError):
        est.fit(X, y)
    assert (est.coef_.tobytes(), est.intercept_.tobytes()) == before


@pytest.mark.parametrize("grads,error,pattern", [
    ([np.ones(3, np.float16)], TypeError, r"grads\[0\] has dtype float16"),
    ([np.ones(3), np.ones(3, np.complex128)], TypeError, r"grads\[1\] has dtype complex128"),
    ([np.ones(3, bool)], TypeError, "dtype bool"),
    ([np.ones(3, object)], TypeError, "dtype object"),
    ([np.ones(3, np.int32)], TypeError, "dtype int32"),
    ([np.ones(3), "abc"], TypeError, r"grads\[1\] must be a numpy.ndarray"),
    ([np.ones((4, 4))[::2]], ValueError, "must be contiguous"),
])
@pytest.mark.parametrize("clip", ["norm", "value"])
def test_clipping_refuses_what_it_cannot_scale_in_place(clip, grads, error, pattern):
    ok = np.full(3, 4.0)
    with pytest.raises(error, match=pattern):
        if clip == "norm":
            fastgd.clip_grad_norm_(grads + [ok], 1.0)
        else:
            fastgd.clip_grad_value_(grads + [ok], 1.0)
    np.testing.assert_array_equal(ok, 4.0)


@pytest.mark.parametrize("kwargs,error,pattern", [
    (dict(max_norm=math.inf), None, None),
    (dict(max_norm=-0.0), None, None),
    (dict(max_norm=None), TypeError, "max_norm must be a real number"),
    (dict(max_norm=np.array([1.0])), TypeError, "max_norm must be a real number"),
    (dict(norm_type=-math.inf), None, None),
])
def test_clip_norm_arguments(kwargs, error, pattern):
    g = np.array([3.0, 4.0])
    args = dict(max_norm=1.0)
    args.update(kwargs)
    if error is None:
        fastgd.clip_grad_norm_([g], **args)
        assert np.isfinite(g).all()
    else:
        with pytest.raises(error, match=pattern):
            fastgd.clip_grad_norm_([g], **args)
        np.testing.assert_array_equal(g, [3.0, 4.0])
