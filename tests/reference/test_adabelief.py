"""AdaBelief: the first step by hand, decoupled weight decay, and eps_root kept in the state."""

from __future__ import annotations

import numpy as np
import pytest
from _problems import _steps

import fastgd


def test_adabelief_first_step_by_hand():
    lr, b1, b2, eps, eps_root = 0.1, 0.9, 0.999, 1e-16, 1e-16
    p = np.array([1.0, -1.0, 2.0])
    g = np.array([2.0, -0.5, 0.0])
    opt = fastgd.AdaBelief([p], lr=lr, betas=(b1, b2), eps=eps, eps_root=eps_root)
    opt.step([g])
    m = (1 - b1) * g
    s = (1 - b2) * (g - m) ** 2 + eps_root  # the prediction error uses the new m
    np.testing.assert_array_equal(opt.state[0]["exp_avg"], m)
    np.testing.assert_array_equal(opt.state[0]["exp_avg_var"], s)
    expected = np.array([1.0, -1.0, 2.0]) - lr * (m / (1 - b1)) / (np.sqrt(s / (1 - b2)) + eps)
    np.testing.assert_allclose(p, expected, rtol=1e-15)
    # about lr / b1 per coordinate with a gradient: |m_hat| = |g|, sqrt(s_hat) ~ b1 |g|
    np.testing.assert_allclose(p[:2], [1.0 - lr / b1, -1.0 + lr / b1], rtol=1e-9)
    assert p[2] == 2.0
    assert opt.state[0]["step"] == 1


def test_adabelief_weight_decay_is_decoupled():
    # with a zero gradient the moments stay at zero (s at eps_root), so only the decay acts;
    # an L2 term in the gradient would have moved p through the moments instead
    p = np.array([1.0, -3.0])
    opt = fastgd.AdaBelief([p], lr=0.1, weight_decay=0.2)
    opt.step([np.zeros(2)])
    np.testing.assert_array_equal(p, np.array([1.0, -3.0]) * (1 - 0.1 * 0.2))
    assert (opt.state[0]["exp_avg"] == 0).all()


def test_adabelief_eps_root_accumulates_in_the_state():
    p = np.zeros(1)
    opt = fastgd.AdaBelief([p], betas=(0.9, 0.5), eps_root=1e-3)
    _steps(opt, [[np.zeros(1)]] * 3)
    assert opt.state[0]["exp_avg_var"][0] == pytest.approx(1e-3 * (1 + 0.5 + 0.25), rel=1e-15)
