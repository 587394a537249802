"""Adadelta, Adamax, NAdam and RAdam beyond the registry-driven parity runs: first steps by
hand, each optimizer's quirks, NAdam's float32 mu_product, checkpoints (fastgd's and
torch's), validation. The torch comparisons are skipped without torch."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fastgd
from fastgd.optim import _radam_rectification

NAMES = ["Adadelta", "Adamax", "NAdam", "RAdam"]


def _torch():
    return pytest.importorskip("torch")


# -- first steps by hand ----------------------------------------------------------------------

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


def _nadam_mu(beta1, psi, t):
    return beta1 * (1.0 - 0.5 * 0.96 ** (t * psi))


def test_nadam_first_step_by_hand():
    lr, b1, b2, eps, psi = 0.1, 0.9, 0.99, 1e-3, 0.5
    g = np.array([2.0, -0.5, 0.0])
    w = np.ones(3)
    opt = fastgd.NAdam([w], lr=lr, betas=(b1, b2), eps=eps, momentum_decay=psi)
    opt.step([g])
    mu1, mu2 = _nadam_mu(b1, psi, 1), _nadam_mu(b1, psi, 2)
    product = float(np.float32(mu1))  # kept as torch's float32 tensor
    assert opt.state[0]["mu_product"] == product
    m = (1 - b1) * g
    denom = np.sqrt((1 - b2) * g * g / (1 - b2)) + eps
    expected = 1 - lr * (1 - mu1) / (1 - product) * g / denom
    expected = expected - lr * mu2 / (1 - product * mu2) * m / denom
    np.testing.assert_allclose(w, expected, rtol=1e-15)


def test_nadam_mu_product_is_the_float32_product_of_the_schedule():
    opt = fastgd.NAdam([np.zeros(2)], momentum_decay=0.3)
    product = np.float32(1.0)
    for t in range(1, 41):
        opt.step([np.ones(2)])
        product = np.float32(product * np.float32(_nadam_mu(0.9, 0.3, t)))
        assert opt.state[0]["mu_product"] == float(product)
        assert type(opt.state[0]["mu_product"]) is float
    # and not the float64 product, which differs by then
    exact = math.prod(_nadam_mu(0.9, 0.3, t) for t in range(1, 41))
    assert opt.state[0]["mu_product"] != exact
    assert opt.state[0]["mu_product"] == pytest.approx(exact, rel=1e-6)


def test_nadam_without_momentum_decay_has_a_constant_mu():
    # psi = 0: mu_t = beta1 / 2 for every t
    w = np.ones(1)
    opt = fastgd.NAdam([w], lr=0.1, betas=(0.8, 0.5), eps=0.0, momentum_decay=0.0)
    opt.step([np.array([1.0])])
    product = float(np.float32(0.4))
    expected = 1 - 0.1 * (1 - 0.4) / (1 - product) - 0.1 * 0.4 / (1 - product * 0.4) * 0.2
    assert w[0] == pytest.approx(expected, rel=1e-15)


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


# -- torch: the quirks, bit for bit where the arithmetic allows ---------------------------------

def _torch_run(torch, name, options, params, grad_fn, steps, default_dtype=None, reload_at=None):
    """torch.optim.<name> on copies of ``params``; grad_fn(step, k, p) gives a gradient
    (a NumPy array) or None."""
    previous = torch.get_default_dtype()
    if default_dtype is not None:
        torch.set_default_dtype(default_dtype)
    try:
        theirs = [torch.tensor(p.copy(), requires_grad=True) for p in params]
        topt = getattr(torch.optim, name)(theirs, **options)
        for step in range(steps):
            if step == reload_at:
                topt.load_state_dict(topt.state_dict())
            with torch.no_grad():
                for k, p in enumerate(theirs):
                    g = grad_fn(step, k, p.detach().numpy())
                    p.grad = None if g is None else torch.from_numpy(g)
            topt.step()
    finally:
        torch.set_default_dtype(previous)
    return theirs, topt


def _ours_run(name, options, params, grad_fn, steps):
    ours = [p.copy() for p in params]
    opt = getattr(fastgd, name)(ours, **options)
    for step in range(steps):
        opt.step([grad_fn(step, k, p) for k, p in enumerate(ours)])
    return ours, opt


def _quadratic(dtype, seed=0):
    rng = np.random.default_rng(seed)
    targets = [rng.standard_normal(s).astype(dtype) for s in [(6,), (2, 3)]]
    noise = rng.standard_normal((200, 6)).astype(dtype)

    def grad(step, k, p):
        if k == 1 and step % 5 == 2:
            return None
        return (p - targets[k] + noise[step, :p.size].reshape(p.shape)).astype(dtype)

    params = [rng.standard_normal(t.shape).astype(dtype) for t in targets]
    return params, grad


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_nadam_mu_product_equals_torchs_bit_for_bit(dtype):
    torch = _torch()
    params, grad = _quadratic(dtype)
    options = dict(lr=0.05, momentum_decay=0.2, betas=(0.8, 0.9))
    theirs, topt = _torch_run(torch, "NAdam", options, params, grad, 150)
    ours, opt = _ours_run("NAdam", options, params, grad, 150)
    for k, tp in enumerate(theirs):
        tstate = topt.state[tp]
        assert tstate["mu_product"].dtype == torch.float32
        assert opt.state[k]["mu_product"] == tstate["mu_product"].item()
        assert opt.state[k]["step"] == int(tstate["step"]) == (150 if k == 0 else 120)
        tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-4,
                                                                            atol=2e-5)
        np.testing.assert_allclose(ours[k], tp.detach().numpy(), **tol)


@pytest.mark.parametrize("case", ["torch default float64", "torch load_state_dict"])
def test_nadam_where_torch_keeps_mu_product_in_float64(case):
    # Under torch.set_default_dtype(torch.float64), and after torch's load_state_dict has
    # cast mu_product to a float64 parameter's dtype, torch multiplies mu_product in
    # float64; fastgd always rounds it to float32 (torch's default). The product then
    # differs by its accumulated float32 rounding (relative ~1e-7 after 60 steps) and the
    # parameters by ~1e-9 absolute: allowed here to 1e-8 (measured: <= 7e-10 absolute).
    torch = _torch()
    params, grad = _quadratic(np.float64, seed=4)
    options = dict(lr=0.05, momentum_decay=0.3, betas=(0.8, 0.9), weight_decay=0.1)
    kwargs = (dict(default_dtype=torch.float64) if case.startswith("torch default")
              else dict(reload_at=3))
    theirs, topt = _torch_run(torch, "NAdam", options, params, grad, 60, **kwargs)
    assert topt.state[theirs[0]]["mu_product"].dtype == torch.float64
    ours, opt = _ours_run("NAdam", options, params, grad, 60)
    for k, tp in enumerate(theirs):
        np.testing.assert_allclose(ours[k], tp.detach().numpy(), rtol=1e-8, atol=1e-8)
        product = topt.state[tp]["mu_product"].item()
        assert opt.state[k]["mu_product"] == pytest.approx(product, rel=1e-6)
        assert opt.state[k]["mu_product"] != product  # the documented difference is real


def test_nadam_parameters_at_different_mu_products_in_one_step():
    # Two parameters reach the same step count with different mu_product (the schedule
    # changed while each in turn had no gradient): one step must use each its own.
    torch = _torch()
    params = [np.array([1.0, -2.0]), np.array([0.5, 3.0])]
    plan = [(0.004, [np.array([1.0, 2.0]), None]),
            (0.5, [None, np.array([-1.0, 0.5])]),
            (0.5, [np.array([0.3, -0.2]), np.array([2.0, 1.0])]),
            (0.5, [np.array([0.1, 0.7]), np.array([-0.4, 0.9])])]
    ours = [p.copy() for p in params]
    opt = fastgd.NAdam(ours, lr=0.1)
    theirs = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    topt = torch.optim.NAdam(theirs, lr=0.1)
    for psi, grads in plan:
        opt.param_groups[0]["momentum_decay"] = psi
        topt.param_groups[0]["momentum_decay"] = psi
        opt.step(grads)
        for p, g in zip(theirs, grads):
            p.grad = None if g is None else torch.from_numpy(g.copy())
        topt.step()
    products = [opt.state[k]["mu_product"] for k in range(2)]
    assert products[0] != products[1]
    for k, tp in enumerate(theirs):
        assert products[k] == topt.state[tp]["mu_product"].item()
        np.testing.assert_allclose(ours[k], tp.detach().numpy(), rtol=1e-13)


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


@pytest.mark.parametrize("name", NAMES)
def test_a_torch_checkpoint_loads_and_continues_like_torch(name):
    # torch's state_dict (tensors made arrays) loads into fastgd: same names, same
    # meaning, mu_product and step as 0-d values; both then go on alike
    torch = _torch()
    params, grad = _quadratic(np.float64, seed=2)
    options = dict(lr=0.05, weight_decay=0.01)
    theirs, topt = _torch_run(torch, name, options, params, grad, 12)
    saved = topt.state_dict()
    converted = {
        "state": {i: {k: v.numpy() for k, v in s.items()} for i, s in saved["state"].items()},
        "param_groups": [{k: v for k, v in g.items()
                          if k not in ("foreach", "capturable", "differentiable", "fused")}
                         for g in saved["param_groups"]]}
    ours = [tp.detach().numpy().copy() for tp in theirs]
    opt = getattr(fastgd, name)(ours, **options)
    opt.load_state_dict(converted)
    for step in range(12, 30):
        opt.step([grad(step, k, p) for k, p in enumerate(ours)])
        with torch.no_grad():
            for k, tp in enumerate(theirs):
                g = grad(step, k, tp.detach().numpy())
                tp.grad = None if g is None else torch.from_numpy(g)
        topt.step()
    for k, tp in enumerate(theirs):
        np.testing.assert_allclose(ours[k], tp.detach().numpy(), rtol=1e-10, atol=1e-12)
        assert set(opt.state[k]) == set(topt.state[tp])


@pytest.mark.parametrize("name,settings", [
    ("Adadelta", {"rho": 1.01}), ("Adadelta", {"rho": -0.1}), ("Adadelta", {"rho": math.nan}),
    ("Adadelta", {"lr": math.nan}), ("Adadelta", {"eps": -1e-9}),
    ("Adamax", {"betas": (0.9, 1.0)}), ("Adamax", {"betas": (math.nan, 0.9)}),
    ("Adamax", {"eps": math.nan}),
    ("NAdam", {"momentum_decay": -1e-3}), ("NAdam", {"momentum_decay": math.nan}),
    ("NAdam", {"weight_decay": math.nan}), ("NAdam", {"lr": -1.0, "eps": -1.0}),
    ("RAdam", {"betas": (1.0, 0.9)}), ("RAdam", {"eps": -1.0, "weight_decay": -1.0}),
    ("RAdam", {"lr": math.nan}),
])
def test_validation_messages_are_torchs(name, settings):
    torch = _torch()
    with pytest.raises(ValueError) as theirs:
        getattr(torch.optim, name)([torch.zeros(2)], **settings)
    with pytest.raises(ValueError) as ours:
        getattr(fastgd, name)([np.zeros(2)], **settings)
    assert str(ours.value) == str(theirs.value)


def test_adadelta_accepts_rho_at_both_ends():
    for rho in (0.0, 1.0):
        w = np.ones(2)
        fastgd.Adadelta([w], rho=rho).step([np.ones(2)])
        assert np.isfinite(w).all() and (w < 1).all()


# -- fastgd checkpoints -----------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_state_dict_round_trip_resumes_bit_for_bit(name, dtype):
    params, grad = _quadratic(dtype, seed=5)
    options = dict(lr=0.05, weight_decay=0.01)
    straight, opt = _ours_run(name, options, params, grad, 20)
    first, opt1 = _ours_run(name, options, params, grad, 8)
    saved = opt1.state_dict()
    resumed = [p.copy() for p in first]
    opt2 = getattr(fastgd, name)(resumed, **options)
    opt2.load_state_dict(saved)
    for step in range(8, 20):
        opt2.step([grad(step, k, p) for k, p in enumerate(resumed)])
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a, b)
    assert opt2.state_dict()["state"].keys() == opt.state_dict()["state"].keys()
    for k, state in opt.state.items():
        for key, value in state.items():
            np.testing.assert_array_equal(opt2.state[k][key], value)


def test_nadam_checkpoint_without_mu_product_is_refused():
    opt = fastgd.NAdam([np.zeros(2)])
    opt.step([np.ones(2)])
    saved = opt.state_dict()
    del saved["state"][0]["mu_product"]
    with pytest.raises(ValueError, match="lacks mu_product"):
        opt.load_state_dict(saved)
    saved = opt.state_dict()
    saved["state"][0]["mu_product"] = "0.5"
    with pytest.raises(TypeError, match="mu_product must be a real number"):
        opt.load_state_dict(saved)


@pytest.mark.parametrize("name,keys", [
    ("Adadelta", {"step", "square_avg", "acc_delta"}),
    ("Adamax", {"step", "exp_avg", "exp_inf"}),
    ("NAdam", {"step", "exp_avg", "exp_avg_sq", "mu_product"}),
    ("RAdam", {"step", "exp_avg", "exp_avg_sq"}),
])
def test_state_keys_are_torchs(name, keys):
    w = np.zeros((2, 2), np.float32)
    opt = getattr(fastgd, name)([w, np.zeros(3, np.float32)])
    opt.step([np.ones((2, 2), np.float32), None])
    assert set(opt.state[0]) == keys and 1 not in opt.state
    for key in keys - {"step", "mu_product"}:
        assert opt.state[0][key].dtype == np.float32 and opt.state[0][key].shape == (2, 2)
