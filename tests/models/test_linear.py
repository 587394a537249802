"""The linear model classes (fastgd/models/linear.py): predict, decision_function,
predict_proba, score and loss_value, fit_intercept, dtypes, and warm starts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _problems import binary, regression

import fastgd


def test_warm_start_continues():
    X, y = regression()
    m = fastgd.LinearRegression().fit(X, y, lr=0.01, epochs=2, shuffle=False)
    m.fit(X, y, lr=0.01, epochs=2, shuffle=False, optimizer="sgd")
    one = fastgd.LinearRegression().fit(X, y, lr=0.01, epochs=4, shuffle=False)
    # plain SGD has no state: two runs of 2 epochs are one run of 4.
    assert m.coef_.tobytes() == one.coef_.tobytes()


def test_model_api():
    X, y = binary()
    m = fastgd.LinearModel("hinge").fit(X, y, lr=0.01, epochs=5, random_state=0)
    assert set(np.unique(m.predict(X))) <= {0, 1} and m.score(X, y) > 0.8
    with pytest.raises(ValueError, match="probabilities"):
        m.predict_proba(X)
    assert m.decision_function(X).shape == (len(y),)
    assert math.isfinite(m.loss_value(X, y))
    with pytest.raises(RuntimeError, match="not fitted"):
        fastgd.LinearRegression().predict(X)
    r = fastgd.LinearRegression(fit_intercept=False).fit(X, y, epochs=1)
    assert r.intercept_ is None
    X32 = X.astype(np.float32)
    r32 = fastgd.LinearRegression().fit(X32, y, epochs=1)
    assert r32.coef_.dtype == np.float32
