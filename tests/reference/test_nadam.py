"""NAdam: the first step by hand, the mu schedule, and mu_product kept in float32 as
torch keeps it (bit for bit against torch where torch does too); checkpoints without it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _problems import _ours_run, _quadratic, _torch_run

import fastgd


def _torch():
    return pytest.importorskip("torch")


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
