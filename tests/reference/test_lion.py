"""Lion: the first steps by hand, steps of lr in every coordinate, decoupled weight decay,
and sign(NaN) and sign(-0.0) on every backend."""

from __future__ import annotations

import numpy as np

import fastgd
from fastgd import kernels, reference


def test_lion_first_steps_by_hand():
    p = np.array([1.0, -2.0, 0.5, 3.0])
    g1 = np.array([0.5, -1.0, 0.0, 2.0])
    opt = fastgd.Lion([p], lr=0.1, betas=(0.5, 0.75), weight_decay=0.5)
    opt.step([g1])
    # m starts at 0: the direction is sign(g); sign(0) = 0 leaves that coordinate to the decay
    decay = 1 - 0.1 * 0.5
    np.testing.assert_array_equal(p, np.array([1.0 * decay - 0.1, -2.0 * decay + 0.1,
                                               0.5 * decay, 3.0 * decay - 0.1]))
    np.testing.assert_array_equal(opt.state[0]["exp_avg"], [0.125, -0.25, 0.0, 0.5])
    # second step: beta1 mixes the direction, beta2 the stored momentum
    before = p.copy()
    g2 = np.array([-1.0, 0.25, 0.0, -0.25])
    opt.step([g2])
    # c = 0.5 m + 0.5 g = [-0.4375, 0, 0, 0.125]: m and g cancel in coordinate 1
    np.testing.assert_array_equal(p, before * decay - 0.1 * np.array([-1.0, 0.0, 0.0, 1.0]))
    assert p[1] == before[1] * decay  # sign(0) = 0: no step
    np.testing.assert_array_equal(opt.state[0]["exp_avg"],
                                  [0.125 * 0.75 + 0.25 * -1.0, -0.25 * 0.75 + 0.25 * 0.25,
                                   0.0, 0.5 * 0.75 + 0.25 * -0.25])


def test_lion_steps_are_lr_in_every_coordinate_without_decay():
    rng = np.random.default_rng(0)
    p = rng.standard_normal(50)
    start = p.copy()
    opt = fastgd.Lion([p], lr=0.01)
    opt.step([rng.standard_normal(50)])
    np.testing.assert_allclose(np.abs(p - start), 0.01, rtol=1e-12)


def test_lion_weight_decay_is_decoupled_in_torch_form_and_optax_form_agrees():
    # The kernel rounds p * (1 - lr*wd) - lr*sign(c); optax rounds p - lr*(sign(c) + wd*p).
    p0 = np.array([0.3, -1.7, 2.2])
    g = np.array([1.0, 1.0, -1.0])
    p = p0.copy()
    fastgd.Lion([p], lr=0.1, weight_decay=0.3).step([g])
    np.testing.assert_array_equal(p, p0 * (1 - 0.1 * 0.3) + -0.1 * np.sign(g))
    np.testing.assert_allclose(p, p0 - 0.1 * (np.sign(g) + 0.3 * p0), rtol=1e-15)


def test_lion_sign_of_nan_is_nan_and_of_negative_zero_is_zero(any_backend):
    # as numpy.sign and torch.sign: sign(-0.0) is +0.0, so -0.0 - lr * 0 stays -0.0
    # (jax.numpy.sign(-0.0) is -0.0, which would give +0.0 here)
    p = np.array([1.0, -0.0, 1.0])
    m = np.array([0.0, -0.0, 0.0])
    g = np.array([np.nan, -0.0, 0.0])
    expected_p, expected_m = p.copy(), m.copy()
    reference.lion(expected_p, g, expected_m, lr=0.5, beta1=0.9, beta2=0.99)
    kernels.lion(p, g, m, lr=0.5, beta1=0.9, beta2=0.99)
    assert np.isnan(p[0]) and np.isnan(m[0]) and p[2] == 1.0
    assert p[1] == 0.0 and np.signbit(p[1])
    np.testing.assert_array_equal(np.signbit(p), np.signbit(expected_p))
    np.testing.assert_array_equal(np.signbit(m), np.signbit(expected_m))
