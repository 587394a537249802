"""Lion, AdaBelief, LAMB, LARS and Yogi: first steps worked out by hand, the quirks of each
(sign(0), trust-ratio zero-norm rules, Yogi's starting moments, where weight decay goes),
maximize, validation and checkpoints. Parity with optax over many steps is in
tests/test_optax_parity.py; bit-for-bit parity of the backends in tests/test_kernels.py."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

import fastgd
from fastgd import _backend, kernels, reference

NAMES = ["Lion", "AdaBelief", "LAMB", "LARS", "Yogi"]


def _steps(opt, grads):
    for g in grads:
        opt.step(g)


# -- signatures and defaults ----------------------------------------------------------------

@pytest.mark.parametrize("name,expected", [
    ("Lion", "(params, lr=0.0001, betas=(0.9, 0.99), weight_decay=0.0, *, maximize=False)"),
    ("AdaBelief", "(params, lr=0.001, betas=(0.9, 0.999), eps=1e-16, eps_root=1e-16, "
                  "weight_decay=0.0, *, maximize=False)"),
    ("LAMB", "(params, lr=0.001, betas=(0.9, 0.999), eps=1e-06, weight_decay=0.0, *, "
             "maximize=False)"),
    ("LARS", "(params, lr=1.0, momentum=0.9, weight_decay=0.0, trust_coefficient=0.001, "
             "eps=0.0, nesterov=False, *, maximize=False)"),
    ("Yogi", "(params, lr=0.01, betas=(0.9, 0.999), eps=0.001, initial_accumulator_value=1e-06, "
             "*, maximize=False)"),
])
def test_signatures(name, expected):
    assert str(inspect.signature(getattr(fastgd, name))) == expected


def test_state_names():
    expected = {
        "Lion": {"exp_avg"},
        "AdaBelief": {"step", "exp_avg", "exp_avg_var"},
        "LAMB": {"step", "exp_avg", "exp_avg_sq"},
        "LARS": {"momentum_buffer"},
        "Yogi": {"step", "exp_avg", "exp_avg_sq"},
    }
    for name, keys in expected.items():
        opt = getattr(fastgd, name)([np.ones(2)])
        assert opt.state == {}, name  # made by the first step
        opt.step([np.ones(2)])
        assert set(opt.state[0]) == keys, name
    opt = fastgd.LARS([np.ones(2)], momentum=0.0)
    opt.step([np.ones(2)])
    assert 0 not in opt.state  # no buffer without momentum, no step count


# -- Lion -----------------------------------------------------------------------------------

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


# -- AdaBelief --------------------------------------------------------------------------------

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


# -- LAMB -------------------------------------------------------------------------------------

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


# -- LARS -------------------------------------------------------------------------------------

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


# -- Yogi -------------------------------------------------------------------------------------

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


# -- every optimizer ----------------------------------------------------------------------

_OPTIONS = {"Lion": dict(lr=0.01, weight_decay=0.1), "AdaBelief": dict(lr=0.01, weight_decay=0.1),
            "LAMB": dict(lr=0.01, weight_decay=0.1),
            "LARS": dict(lr=0.5, weight_decay=0.1, nesterov=True),
            "Yogi": dict(lr=0.05)}


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", NAMES)
def test_maximize_is_minimizing_the_negated_gradient_bit_for_bit(any_backend, name, dtype):
    rng = np.random.default_rng(11)
    start = [rng.standard_normal(s).astype(dtype) for s in [(3, 4), (5,)]]
    grads = [[rng.standard_normal(p.shape).astype(dtype) for p in start] for _ in range(6)]
    up = [p.copy() for p in start]
    down = [p.copy() for p in start]
    _steps(getattr(fastgd, name)(up, maximize=True, **_OPTIONS[name]), grads)
    _steps(getattr(fastgd, name)(down, **_OPTIONS[name]), [[-g for g in gs] for gs in grads])
    for a, b in zip(up, down):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(up, start))


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


@pytest.mark.parametrize("name", ["LAMB", "LARS"])
def test_norms_do_not_depend_on_the_thread_count(name):
    # a buffer above the threading threshold, stepped with 1, 2 and 3 threads, and by the
    # NumPy reference
    if fastgd.backend() != "cython":
        pytest.skip("only the compiled core runs on several threads")
    core = _backend.load("cython")
    before = core.thread_override()
    rng = np.random.default_rng(4)
    p0 = rng.standard_normal((1 << 16) + 5).astype(np.float32)
    g = rng.standard_normal(p0.size).astype(np.float32)
    results = []
    try:
        for n in (1, 2, 3):
            fastgd.set_num_threads(n)
            p = p0.copy()
            getattr(fastgd, name)([p], **_OPTIONS[name]).step([g])
            results.append(p)
    finally:
        core.set_num_threads(before)
    expected = p0.copy()
    with fastgd.use_backend("numpy"):
        getattr(fastgd, name)([expected], **_OPTIONS[name]).step([g])
    for p in results:
        np.testing.assert_array_equal(p, expected)


def test_mixed_dtypes_in_one_group(any_backend):
    for name in NAMES:
        a, b = np.linspace(-1, 1, 6), np.linspace(-1, 1, 6).astype(np.float32)
        opt = getattr(fastgd, name)([a, b], **_OPTIONS[name])
        for _ in range(3):
            opt.step([np.cos(a), np.cos(b)])
        a1, b1 = np.linspace(-1, 1, 6), np.linspace(-1, 1, 6).astype(np.float32)
        opt1 = getattr(fastgd, name)([a1], **_OPTIONS[name])
        opt2 = getattr(fastgd, name)([b1], **_OPTIONS[name])
        for _ in range(3):
            opt1.step([np.cos(a1)])
            opt2.step([np.cos(b1)])
        np.testing.assert_array_equal(a, a1, err_msg=name)
        np.testing.assert_array_equal(b, b1, err_msg=name)
        assert b.dtype == np.float32


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip(name):
    rng = np.random.default_rng(9)
    grads = [[rng.standard_normal(4), np.asarray(rng.standard_normal(()))]
             for _ in range(6)]
    params = [np.linspace(-1, 1, 4), np.array(0.5)]
    opt = getattr(fastgd, name)(params, **_OPTIONS[name])
    _steps(opt, grads[:3])
    saved = opt.state_dict()
    copies = [p.copy() for p in params]
    other = getattr(fastgd, name)(copies, **_OPTIONS[name])
    other.load_state_dict(saved)
    _steps(opt, grads[3:])
    _steps(other, grads[3:])
    for a, b in zip(params, copies):
        np.testing.assert_array_equal(a, b)
    assert set(other.state[0]) == set(opt.state[0])


# -- validation -------------------------------------------------------------------------------

@pytest.mark.parametrize("name,options,message", [
    ("Lion", dict(lr=-1e-3), "Invalid learning rate: -0.001"),
    ("Lion", dict(betas=(1.0, 0.99)), "Invalid beta parameter at index 0: 1.0"),
    ("Lion", dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    ("Lion", dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    ("AdaBelief", dict(eps=-1.0), "Invalid epsilon value: -1.0"),
    ("AdaBelief", dict(eps_root=-1e-9), "Invalid eps_root value: -1e-09"),
    ("AdaBelief", dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
    ("AdaBelief", dict(weight_decay=-1), "Invalid weight_decay value: -1"),
    ("LAMB", dict(lr=-1.0), "Invalid learning rate: -1.0"),
    ("LAMB", dict(eps=-1e-6), "Invalid epsilon value: -1e-06"),
    ("LAMB", dict(betas=(-0.5, 0.9)), "Invalid beta parameter at index 0: -0.5"),
    ("LAMB", dict(weight_decay=-0.01), "Invalid weight_decay value: -0.01"),
    ("LARS", dict(momentum=-0.9), "Invalid momentum value: -0.9"),
    ("LARS", dict(weight_decay=-1e-4), "Invalid weight_decay value: -0.0001"),
    ("LARS", dict(trust_coefficient=0.0), "Invalid trust_coefficient value: 0.0"),
    ("LARS", dict(trust_coefficient=-1e-3), "Invalid trust_coefficient value: -0.001"),
    ("LARS", dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
    ("LARS", dict(nesterov=True, momentum=0.0), "Nesterov momentum requires a momentum"),
    ("Yogi", dict(eps=-1e-3), "Invalid epsilon value: -0.001"),
    ("Yogi", dict(betas=(0.9, 1.5)), "Invalid beta parameter at index 1: 1.5"),
    ("Yogi", dict(initial_accumulator_value=-1.0),
     "Invalid initial_accumulator_value value: -1.0"),
])
def test_invalid_values_are_rejected_in_torch_style(name, options, message):
    with pytest.raises(ValueError) as info:
        getattr(fastgd, name)([np.zeros(2)], **options)
    assert str(info.value) == message


@pytest.mark.parametrize("name", NAMES)
def test_nan_is_rejected_for_every_real_hyperparameter(name):
    spec = fastgd.registry.get(name)
    for h in spec.hyperparameters:
        bad = ([(math.nan, 0.9), (0.9, math.nan)] if h.kind == "betas"
               else [math.nan] if h.kind == "real" else [])
        for value in bad:
            with pytest.raises(ValueError, match="^Invalid .*nan"):
                getattr(fastgd, name)([np.zeros(2)], **{h.name: value})


@pytest.mark.parametrize("name", NAMES)
def test_a_bad_value_set_in_a_group_changes_nothing(name):
    params = [np.ones(3), np.ones(2)]
    opt = getattr(fastgd, name)([{"params": params[:1]}, {"params": params[1:]}],
                                **_OPTIONS[name])
    opt.step([np.ones(3), np.ones(2)])
    saved = opt.state_dict()
    before = [p.copy() for p in params]
    opt.param_groups[1]["lr"] = math.nan
    with pytest.raises(ValueError, match="Invalid learning rate: nan"):
        opt.step([np.ones(3), np.ones(2)])
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p, b)
    for k, entries in saved["state"].items():
        for key, value in entries.items():
            np.testing.assert_array_equal(opt.state[k][key], value)


def test_reference_trust_ratio_rules():
    ratio = reference._trust_ratio
    assert ratio(0.0, 4.0) == 1.0 and ratio(4.0, 0.0, 0.5, 1.0) == 1.0
    assert ratio(9.0, 4.0) == 1.5
    assert ratio(9.0, 4.0, 0.1, 1.0) == 0.1 * 3.0 / 3.0
    with np.errstate(invalid="ignore"):
        assert math.isnan(ratio(math.nan, 1.0)) and math.isnan(ratio(math.inf, math.inf))


@pytest.mark.parametrize("name", ["LAMB", "LARS"])
def test_zero_norm_rules_match_optax(name):
    # a zero parameter tensor, and zero gradients, against optax's where(norm == 0, 1, ratio)
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    jax.config.update("jax_enable_x64", True)
    options = dict(lr=0.1, weight_decay=0.0) if name == "LAMB" else dict(lr=0.1, eps=1e-3)
    make = (lambda: optax.lamb(0.1)) if name == "LAMB" else (lambda: optax.lars(0.1, eps=1e-3))
    grads = [np.array([1.0, -2.0, 0.5]), np.zeros(3), np.zeros(3), np.array([0.0, 3.0, -1.0])]
    for start in (np.zeros(3), np.array([0.5, 0.0, -1.0])):
        ours = start.copy()
        opt = getattr(fastgd, name)([ours], **options)
        theirs = jax.numpy.asarray(start)
        tx = make()
        state = tx.init(theirs)
        for g in grads:
            opt.step([g])
            updates, state = tx.update(jax.numpy.asarray(g), state, theirs)
            theirs = optax.apply_updates(theirs, updates)
            np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-14, atol=1e-16)
