"""LARS: steps by hand (with and without Nesterov momentum), the zero-norm rules, and a
buffer of lr-scaled steps."""

from __future__ import annotations

import numpy as np
import pytest

import fastgd


def test_lars_steps_by_hand():
    lr, mom, wd, tc = 0.5, 0.9, 0.1, 0.01
    p = np.array([3.0, 4.0])
    opt = fastgd.LARS([p], lr=lr, momentum=mom, weight_decay=wd, trust_coefficient=tc)
    g1 = np.array([1.0, -1.0])
    opt.step([g1])
    u = g1 + wd * np.array([3.0, 4.0])  # the norm of g + wd p, not ||g|| + wd ||p||
    ratio = tc * 5.0 / np.linalg.norm(u)
    buf = lr * ratio * u
    np.testing.assert_allclose(opt.state[0]["momentum_buffer"], buf, rtol=1e-15)
    np.testing.assert_allclose(p, np.array([3.0, 4.0]) - buf, rtol=1e-15)
    before = p.copy()
    g2 = np.array([0.5, 2.0])
    opt.step([g2])
    u = g2 + wd * before
    buf = mom * buf + lr * (tc * np.linalg.norm(before) / np.linalg.norm(u)) * u
    np.testing.assert_allclose(opt.state[0]["momentum_buffer"], buf, rtol=1e-15)
    np.testing.assert_allclose(p, before - buf, rtol=1e-15)


def test_lars_nesterov_by_hand():
    p = np.array([3.0, 4.0])
    opt = fastgd.LARS([p], lr=1.0, momentum=0.5, nesterov=True, trust_coefficient=0.1)
    g = np.array([0.0, 2.0])
    opt.step([g])
    step = 1.0 * (0.1 * 5.0 / 2.0) * g
    np.testing.assert_allclose(p, np.array([3.0, 4.0]) - (step + 0.5 * step), rtol=1e-15)


def test_lars_without_momentum_moves_by_lr_times_tc_times_norm():
    rng = np.random.default_rng(5)
    p = rng.standard_normal(30)
    start = p.copy()
    fastgd.LARS([p], lr=0.5, momentum=0.0, trust_coefficient=0.02).step(
        [1e5 * rng.standard_normal(30)])
    assert np.linalg.norm(p - start) == pytest.approx(0.5 * 0.02 * np.linalg.norm(start),
                                                      rel=1e-12)


def test_lars_zero_norm_rules():
    # ||p|| = 0: ratio 1 (not 0), so a zero-initialised tensor still learns, by lr * g
    p = np.zeros(2)
    fastgd.LARS([p], lr=0.1, momentum=0.0).step([np.array([1.0, -2.0])])
    np.testing.assert_allclose(p, [-0.1, 0.2], rtol=1e-15)
    # ||g|| = 0 (eps > 0 too): ratio 1, and the momentum keeps moving p
    p = np.array([1.0, 1.0])
    opt = fastgd.LARS([p], lr=0.1, momentum=0.5, eps=1e-3)
    opt.step([np.array([1.0, 1.0])])
    buf = opt.state[0]["momentum_buffer"].copy()
    before = p.copy()
    opt.step([np.zeros(2)])
    np.testing.assert_array_equal(opt.state[0]["momentum_buffer"], 0.5 * buf)
    np.testing.assert_array_equal(p, before - 0.5 * buf)


def test_lars_buffer_holds_lr_scaled_steps():
    # unlike torch's SGD, halving lr leaves the momentum already built unchanged
    a, b = np.array([1.0, 2.0]), np.array([1.0, 2.0])
    opt_a = fastgd.LARS([a], lr=0.4, momentum=0.9)
    opt_b = fastgd.LARS([b], lr=0.4, momentum=0.9)
    g = np.array([0.3, -0.1])
    opt_a.step([g])
    opt_b.step([g])
    opt_b.param_groups[0]["lr"] = 0.2
    opt_a.step([np.zeros(2)])
    opt_b.step([np.zeros(2)])
    np.testing.assert_array_equal(a, b)


def test_lars_momentum_switched_on_later_starts_its_buffer_at_zero():
    p, q = np.array([1.0, 2.0]), np.array([1.0, 2.0])
    opt = fastgd.LARS([p], lr=0.5, momentum=0.0)
    opt.step([np.array([0.5, 0.5])])
    q[...] = p
    opt.param_groups[0]["momentum"] = 0.9
    opt.step([np.array([1.0, -1.0])])
    fresh = fastgd.LARS([q], lr=0.5, momentum=0.9)
    fresh.step([np.array([1.0, -1.0])])
    np.testing.assert_array_equal(p, q)
    np.testing.assert_array_equal(opt.state[0]["momentum_buffer"],
                                  fresh.state[0]["momentum_buffer"])
