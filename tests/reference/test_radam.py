"""RAdam: the rectification schedule, and the steps before and without rectification."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fastgd
from fastgd.optim.radam import _radam_rectification


def test_radam_rectification_schedule():
    rho_inf = 2 / (1 - 0.999) - 1
    rhos = [rho_inf - 2 * t * 0.999**t / (1 - 0.999**t) for t in range(1, 7)]
    np.testing.assert_allclose(rhos, [1.0, 1.9995, 2.9987, 3.9975, 4.9960, 5.9942], atol=1e-4)
    assert [_radam_rectification(0.999, t)[0] for t in range(1, 8)] == [False] * 5 + [True] * 2
    rectified, r = _radam_rectification(0.999, 6)
    expected = math.sqrt((rhos[5] - 4) * (rhos[5] - 2) * rho_inf
                         / ((rho_inf - 4) * (rho_inf - 2) * rhos[5]))
    assert r == expected and 0 < r < 1
    assert not any(_radam_rectification(0.6, t)[0] for t in range(1, 1000))  # rho_inf = 4
    # the term tends to 1 as rho_t tends to rho_inf
    assert _radam_rectification(0.999, 10**6)[1] == pytest.approx(1.0, abs=1e-5)


def test_radam_before_rectification_steps_by_the_bias_corrected_momentum():
    # steps 1-5: p -= lr * m / (1 - b1^t); the second moment plays no part
    w = np.zeros(1)
    opt = fastgd.RAdam([w], lr=0.1, betas=(0.5, 0.999))
    gs = [2.0, -1.0, 4.0, 0.5, 3.0]
    m, p = 0.0, 0.0
    for t, g in enumerate(gs, start=1):
        opt.step([np.array([g])])
        m = 0.5 * m + 0.5 * g
        p -= 0.1 * m / (1 - 0.5**t)
        assert w[0] == pytest.approx(p, rel=1e-15, abs=1e-16)
    # step 6 is rectified: it now depends on the second moment
    before = w.copy()
    v = opt.state[0]["exp_avg_sq"].copy()
    state = opt.state_dict()
    opt.step([np.array([1.0])])
    first = w - before
    w[...] = before
    state["state"][0]["exp_avg_sq"] = v * 4
    opt.load_state_dict(state)
    opt.step([np.array([1.0])])
    assert not np.allclose(w - before, first, rtol=1e-6)


def test_radam_never_rectified_is_bias_corrected_momentum_sgd():
    rng = np.random.default_rng(3)
    w, p = np.zeros(5), np.zeros(5)
    opt = fastgd.RAdam([w], lr=0.01, betas=(0.9, 0.5))
    m = np.zeros(5)
    for t in range(1, 101):
        g = rng.standard_normal(5)
        opt.step([g])
        m = m + 0.1 * (g - m)
        p = p - m / (1 - 0.9**t) * 0.01
    np.testing.assert_allclose(w, p, rtol=1e-12, atol=1e-15)
