"""LAMB (and the trust ratio LAMB and LARS share): the first step by hand, a step of lr
times the parameter norm, weight decay in the direction, the zero-norm rules, and a ratio
per tensor."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _problems import _OPTIONS

import fastgd
from fastgd.reference._common import trust_ratio


def test_lamb_first_step_by_hand():
    lr, eps = 0.1, 1e-6
    p = np.array([3.0, -4.0])  # ||p|| = 5
    g = np.array([1.0, 2.0])
    opt = fastgd.LAMB([p], lr=lr, eps=eps)
    opt.step([g])
    u = g / (np.abs(g) + eps)  # m_hat = g, v_hat = g^2 after one step
    ratio = 5.0 / np.linalg.norm(u)
    np.testing.assert_allclose(p, np.array([3.0, -4.0]) - lr * ratio * u, rtol=1e-15)


def test_lamb_step_is_lr_times_the_parameter_norm():
    # tau * ||r|| = ||p||: every tensor moves by lr * ||p||, whatever its gradient scale
    rng = np.random.default_rng(3)
    params = [rng.standard_normal((4, 5)), 1e3 * rng.standard_normal(7)]
    start = [p.copy() for p in params]
    opt = fastgd.LAMB(params, lr=0.01, weight_decay=0.1)
    opt.step([1e-4 * rng.standard_normal((4, 5)), 1e2 * rng.standard_normal(7)])
    for p, s in zip(params, start):
        assert np.linalg.norm(p - s) == pytest.approx(0.01 * np.linalg.norm(s), rel=1e-12)


def test_lamb_weight_decay_enters_the_direction():
    # a zero gradient: r = wd * p, tau = ||p|| / (wd ||p||), so p <- p - lr * p
    p = np.array([1.0, -2.0, 2.0])
    fastgd.LAMB([p], lr=0.1, weight_decay=0.5).step([np.zeros(3)])
    np.testing.assert_allclose(p, 0.9 * np.array([1.0, -2.0, 2.0]), rtol=1e-15)


def test_lamb_zero_norm_rules():
    # ||p|| = 0: ratio 1, the plain Adam step; ||r|| = 0: no step at all
    p = np.zeros(2)
    fastgd.LAMB([p], lr=0.1, eps=0.0).step([np.array([2.0, -3.0])])
    np.testing.assert_allclose(p, [-0.1, 0.1], rtol=1e-15)
    p = np.array([1.0, 2.0])
    opt = fastgd.LAMB([p], lr=0.1)
    opt.step([np.zeros(2)])
    np.testing.assert_array_equal(p, [1.0, 2.0])


@pytest.mark.parametrize("name", ["LAMB", "LARS"])
def test_trust_ratio_is_per_tensor(name, any_backend):
    # each tensor's step depends on its own norms only: stepping it alone gives the same bits,
    # and a NaN gradient in another tensor does not reach it
    rng = np.random.default_rng(2)
    a0, b0 = rng.standard_normal(40), rng.standard_normal((3, 3))
    ga, _gb = rng.standard_normal(40), rng.standard_normal((3, 3))
    a, b = a0.copy(), b0.copy()
    getattr(fastgd, name)([a, b], **_OPTIONS[name]).step([ga, np.full((3, 3), np.nan)])
    alone = a0.copy()
    getattr(fastgd, name)([alone], **_OPTIONS[name]).step([ga])
    np.testing.assert_array_equal(a, alone)
    assert np.isnan(b).all()


def test_reference_trust_ratio_rules():
    ratio = trust_ratio
    assert ratio(0.0, 4.0) == 1.0 and ratio(4.0, 0.0, 0.5, 1.0) == 1.0
    assert ratio(9.0, 4.0) == 1.5
    assert ratio(9.0, 4.0, 0.1, 1.0) == 0.1 * 3.0 / 3.0
    with np.errstate(invalid="ignore"):
        assert math.isnan(ratio(math.nan, 1.0)) and math.isnan(ratio(math.inf, math.inf))
