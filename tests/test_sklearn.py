"""fastgd.sklearn: scikit-learn's estimator checks and comparisons with SGDRegressor /
SGDClassifier."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.linear_model import SGDClassifier, SGDRegressor  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from fastgd.sklearn import GDClassifier, GDRegressor, expected_failed_checks  # noqa: E402


@parametrize_with_checks([GDRegressor(), GDClassifier(),
                          GDClassifier(loss="hinge")],
                         expected_failed_checks=expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
