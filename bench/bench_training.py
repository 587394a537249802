"""Training a linear model with fastgd.fit.

    pytest bench/bench_training.py --benchmark-json=bench/results/training.json

- "one epoch": one epoch of SGD on float64 data of N_ROWS rows, for batch sizes 1, 32,
  256 and 4096 and 10, 100 or 1000 features (the per-step cost: a loss_grad call, the
  optimizer's step and fit's Python loop);
- "goal": 5 epochs of mini-batch (32) SGD, constant learning rate, on 200,000 x 50
  standardised float64 data, against scikit-learn's SGDRegressor(learning_rate=
  "constant", eta0, max_iter=5, tol=None, penalty=None) on the same data; both R²
  in extra_info.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fastgd

N_ROWS = 8192
BATCH_SIZES = [1, 32, 256, 4096]
FEATURES = [10, 100, 1000]
ETA0 = 1e-3

try:
    from sklearn.linear_model import SGDRegressor
except ImportError:
    SGDRegressor = None


def _data(n, d, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)
    return X, y


@pytest.mark.parametrize("d", FEATURES)
@pytest.mark.parametrize("batch_size", BATCH_SIZES)
def test_one_epoch(benchmark, batch_size, d):
    n = N_ROWS if batch_size > 1 else 2048
    X, y = _data(n, d)
    benchmark.group = f"fit one epoch float64 features={d}"
    benchmark.extra_info.update(rows=n, features=d, batch_size=batch_size)

    def run():
        fastgd.LinearRegression("half_squared_error").fit(
            X, y, optimizer="sgd", lr=ETA0, batch_size=batch_size, epochs=1, random_state=0)

    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)


GOAL = dict(n=200_000, d=50, epochs=5, batch_size=32)


@pytest.fixture(scope="module")
def goal_data():
    X, y = _data(GOAL["n"], GOAL["d"], seed=1)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return X, y


def test_goal_fastgd(benchmark, goal_data):
    X, y = goal_data
    benchmark.group = "goal: 5 epochs mini-batch 32 SGD, 200000 x 50 float64"
    models = []

    def run():
        m = fastgd.LinearRegression("half_squared_error")
        m.fit(X, y, optimizer="sgd", lr=ETA0, batch_size=GOAL["batch_size"],
              epochs=GOAL["epochs"], random_state=0)
        models.append(m)

    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    benchmark.extra_info.update(impl="fastgd.fit", r2=models[-1].score(X, y), **GOAL)


@pytest.mark.skipif(SGDRegressor is None, reason="scikit-learn is not installed")
def test_goal_sklearn(benchmark, goal_data):
    X, y = goal_data
    benchmark.group = "goal: 5 epochs mini-batch 32 SGD, 200000 x 50 float64"
    models = []

    def run():
        m = SGDRegressor(learning_rate="constant", eta0=ETA0, max_iter=GOAL["epochs"],
                         tol=None, penalty=None, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.fit(X, y)
        models.append(m)

    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    benchmark.extra_info.update(impl="sklearn SGDRegressor (per-sample updates)",
                                r2=models[-1].score(X, y), **GOAL)
