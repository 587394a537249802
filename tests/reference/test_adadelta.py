"""Adadelta: the first steps by hand, and its quirks."""

from __future__ import annotations

import numpy as np

import fastgd


def test_adadelta_first_two_steps_by_hand():
    lr, rho, eps = 0.5, 0.8, 1e-2
    g1, g2 = np.array([2.0, -0.5, 0.0]), np.array([1.0, 1.0, -3.0])
    w = np.ones(3)
    opt = fastgd.Adadelta([w], lr=lr, rho=rho, eps=eps)
    opt.step([g1])
    s = (1 - rho) * g1 * g1
    delta = np.sqrt(eps) / np.sqrt(s + eps) * g1
    d = (1 - rho) * delta * delta
    p = 1 - lr * delta
    np.testing.assert_allclose(w, p, rtol=1e-15)
    opt.step([g2])
    s = rho * s + (1 - rho) * g2 * g2
    delta = np.sqrt(d + eps) / np.sqrt(s + eps) * g2
    d = rho * d + (1 - rho) * delta * delta
    np.testing.assert_allclose(w, p - lr * delta, rtol=1e-15)
    np.testing.assert_allclose(opt.state[0]["square_avg"], s, rtol=1e-15)
    np.testing.assert_allclose(opt.state[0]["acc_delta"], d, rtol=1e-15)
    assert opt.state[0]["step"] == 2


def test_adadelta_learning_rate_does_not_enter_the_state():
    # the accumulated steps are those before lr scales them: with gradients that do not
    # depend on the parameters, the state is the same for any lr
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(4) for _ in range(6)]
    states = []
    for lr in (1.0, 0.01):
        opt = fastgd.Adadelta([np.zeros(4)], lr=lr)
        for g in grads:
            opt.step([g])
        states.append(opt.state[0])
    np.testing.assert_array_equal(states[0]["acc_delta"], states[1]["acc_delta"])
    np.testing.assert_array_equal(states[0]["square_avg"], states[1]["square_avg"])


def test_adadelta_accepts_rho_at_both_ends():
    for rho in (0.0, 1.0):
        w = np.ones(2)
        fastgd.Adadelta([w], rho=rho).step([np.ones(2)])
        assert np.isfinite(w).all() and (w < 1).all()
