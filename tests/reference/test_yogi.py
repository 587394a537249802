"""Yogi: the first step by hand, the additive second moment, and the state's start."""

from __future__ import annotations

import numpy as np

import fastgd


def test_yogi_first_step_by_hand():
    lr, b1, b2, eps, init = 0.05, 0.9, 0.999, 1e-3, 1e-6
    p = np.array([1.0, -1.0, 0.5])
    g = np.array([2.0, 1e-4, 0.0])
    opt = fastgd.Yogi([p], lr=lr, betas=(b1, b2), eps=eps, initial_accumulator_value=init)
    opt.step([g])
    m = b1 * init + (1 - b1) * g  # both moments start at the initial value, as in optax
    # v - g^2 is negative where g^2 > 1e-6 (v grows), positive where g^2 < 1e-6 (v shrinks)
    v = init - (1 - b2) * np.sign(init - g * g) * g * g
    assert v[0] > init and v[1] < init and v[2] == init
    np.testing.assert_allclose(opt.state[0]["exp_avg"], m, rtol=1e-15)
    np.testing.assert_allclose(opt.state[0]["exp_avg_sq"], v, rtol=1e-15)
    expected = np.array([1.0, -1.0, 0.5]) - lr * (m / (1 - b1)) / (np.sqrt(v / (1 - b2)) + eps)
    np.testing.assert_allclose(p, expected, rtol=1e-15)


def test_yogi_second_moment_moves_additively():
    # Adam would move v by (1 - b2) (g^2 - v); Yogi by (1 - b2) g^2 towards g^2
    p = np.zeros(1)
    opt = fastgd.Yogi([p], betas=(0.9, 0.5), initial_accumulator_value=10.0)
    opt.step([np.array([2.0])])  # v = 10 > g^2 = 4: v -= 0.5 * 4
    assert opt.state[0]["exp_avg_sq"][0] == 8.0
    opt.step([np.array([3.0])])  # 8 < 9: v += 0.5 * 9
    assert opt.state[0]["exp_avg_sq"][0] == 12.5


def test_yogi_state_starts_at_the_group_value_and_dtype():
    w = np.zeros(3, np.float32)
    opt = fastgd.Yogi([w], initial_accumulator_value=0.25)
    opt.step([np.zeros(3, np.float32)])
    assert opt.state[0]["exp_avg"].dtype == np.float32
    np.testing.assert_array_equal(opt.state[0]["exp_avg"], np.float32(0.9) * np.float32(0.25))
    np.testing.assert_array_equal(opt.state[0]["exp_avg_sq"], np.float32(0.25))
