"""Adamax: the first step by hand, eps inside the maximum, the infinity norm, and NaN
in the maximum as torch."""

from __future__ import annotations

import numpy as np
import pytest

import fastgd


def _torch():
    return pytest.importorskip("torch")


def test_adamax_first_step_is_lr_times_g_over_abs_g_plus_eps():
    g = np.array([3.0, -0.25, 0.0])
    w = np.ones(3)
    opt = fastgd.Adamax([w], lr=0.1, eps=1e-3)
    opt.step([g])
    # m = (1 - b1) g and bias correction 1 - b1 cancel; u = max(0, |g| + eps)
    np.testing.assert_allclose(w, 1 - 0.1 * g / (np.abs(g) + 1e-3), rtol=1e-15)
    np.testing.assert_allclose(opt.state[0]["exp_inf"], np.abs(g) + 1e-3, rtol=0)


def test_adamax_eps_inside_the_maximum_keeps_zero_gradients_finite():
    w = np.ones(2)
    opt = fastgd.Adamax([w], lr=0.1, betas=(0.9, 0.5))
    for _ in range(5):
        opt.step([np.zeros(2)])
    assert (w == 1).all()
    assert (opt.state[0]["exp_inf"] == 1e-8).all()  # max(0.5 * u, 0 + eps) = eps
    opt.step([np.array([1.0, 0.0])])
    assert w[0] < 1 and w[1] == 1


def test_adamax_infinity_norm_decays_by_beta2():
    w = np.ones(1)
    opt = fastgd.Adamax([w], betas=(0.9, 0.5), eps=0.0)
    opt.step([np.array([8.0])])
    opt.step([np.array([1.0])])
    assert opt.state[0]["exp_inf"][0] == 4.0  # max(0.5 * 8, 1)
    opt.step([np.array([-5.0])])
    assert opt.state[0]["exp_inf"][0] == 5.0  # max(0.5 * 4, |-5|)


def test_adamax_nan_in_the_maximum_propagates_like_torch():
    torch = _torch()
    g = np.array([np.nan, 1.0, -np.inf, 0.0])
    for name in ("Adamax",):
        w = np.ones(4)
        opt = getattr(fastgd, name)([w], lr=0.1)
        opt.step([g])
        t = torch.ones(4, dtype=torch.float64, requires_grad=True)
        topt = getattr(torch.optim, name)([t], lr=0.1)
        t.grad = torch.from_numpy(g.copy())
        topt.step()
        np.testing.assert_array_equal(w, t.detach().numpy())
        np.testing.assert_array_equal(opt.state[0]["exp_inf"], topt.state[t]["exp_inf"].numpy())
        assert np.isnan(opt.state[0]["exp_inf"][0])
