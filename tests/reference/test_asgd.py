"""ASGD: eta and mu in float32 as torch keeps them, the first step by hand, the averages,
and torch's state dict."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fastgd
from fastgd import reference


def _torch():
    return pytest.importorskip("torch")


def test_asgd_eta_and_mu_are_kept_in_float32_as_torch_does():
    w = np.zeros(2)  # float64 parameters: eta is still rounded to float32 by torch
    opt = fastgd.ASGD([w], lr=0.1, lambd=1e-3, alpha=0.75, t0=2)
    opt.step([np.ones(2)])
    eta1 = float(np.float32(0.1))
    np.testing.assert_array_equal(w, [-eta1, -eta1])  # the first step uses eta = lr
    state = opt.state[0]
    assert state["eta"] == float(np.float32(0.1 / (1 + 1e-3 * 0.1 * 1) ** 0.75))
    assert state["eta"] != 0.1 / (1 + 1e-3 * 0.1) ** 0.75
    assert state["mu"] == 1.0 and state["step"] == 1
    for _ in range(3):
        opt.step([np.ones(2)])
    assert opt.state[0]["mu"] == float(np.float32(1 / (4 - 2)))
    assert reference.asgd_schedule(0.1, 1e-3, 0.75, 2, 0) == (eta1, 1.0)


def test_asgd_first_step_by_hand_with_weight_decay():
    w = np.array([2.0, -1.0])
    fastgd.ASGD([w], lr=0.5, lambd=0.1, weight_decay=0.2).step([np.array([1.0, 1.0])])
    eta = 0.5  # exact in float32
    expected = np.array([2.0, -1.0]) * (1 - 0.1 * eta) + (-eta) * (
        np.array([1.0, 1.0]) + 0.2 * np.array([2.0, -1.0]))
    np.testing.assert_array_equal(w, expected)


def test_asgd_averages_the_iterates_from_step_t0_plus_2():
    rng = np.random.default_rng(7)
    w = rng.standard_normal(5)
    opt = fastgd.ASGD([w], lr=0.05, t0=3)
    iterates = []
    for _ in range(12):
        opt.step([w - 1.0 + 0.1 * rng.standard_normal(5)])
        iterates.append(w.copy())
    # mu = 1 / max(1, t - t0) is used at step t + 1: steps 1..t0+2 copy the parameter,
    # then the average runs over the iterates from step t0 + 2 on (mu in float32: 1e-7)
    (ax,) = opt.averaged()
    np.testing.assert_allclose(ax, np.mean(iterates[4:], axis=0), rtol=1e-6)
    assert not np.allclose(ax, np.mean(iterates[3:], axis=0), rtol=1e-6)
    np.testing.assert_array_equal(ax, opt.state[0]["ax"])


def test_asgd_averaged_gives_copies_aligned_with_all_groups():
    a, b, c = np.ones(2), np.ones(3, np.float32), np.full((2, 2), 4.0)
    opt = fastgd.ASGD([{"params": [a, b]}, {"params": [c], "lr": 0.5}], lr=0.1)
    before = opt.averaged()  # no step yet: the parameters themselves
    assert [x.shape for x in before] == [(2,), (3,), (2, 2)]
    assert before[1].dtype == np.float32
    for x, p in zip(before, (a, b, c)):
        np.testing.assert_array_equal(x, p)
        assert not np.shares_memory(x, p)
    opt.step([np.ones(2), None, np.ones((2, 2))])
    averages = opt.averaged()
    np.testing.assert_array_equal(averages[0], a)
    np.testing.assert_array_equal(averages[1], np.ones(3))  # never stepped: itself
    np.testing.assert_array_equal(averages[2], c)
    averages[0][:] = 99  # a copy: the state is not changed
    assert (opt.state[0]["ax"] != 99).all()
    assert opt.averaged()[0] is not opt.state[0]["ax"]


def test_asgd_parameters_at_different_etas_run_apart():
    # a parameter that joins later starts at the group's lr while the first one has
    # decayed: one call each, each with its own eta, as torch keeps eta per parameter
    torch = _torch()
    a, b = np.ones(3), np.ones(3)
    ta, tb = (torch.ones(3, dtype=torch.float64, requires_grad=True) for _ in range(2))
    opt = fastgd.ASGD([a, b], lr=0.5, lambd=0.5, t0=1)
    topt = torch.optim.ASGD([ta, tb], lr=0.5, lambd=0.5, t0=1)
    for step in range(6):
        ga = np.full(3, 0.5)
        gb = None if step < 3 else np.full(3, -0.25)
        opt.step([ga, gb])
        ta.grad = torch.from_numpy(ga.copy())
        tb.grad = None if gb is None else torch.from_numpy(gb.copy())
        topt.step()
    for k, (p, tp) in enumerate(((a, ta), (b, tb))):
        np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-12)
        for key in ("eta", "mu", "ax"):
            np.testing.assert_allclose(opt.state[k][key], topt.state[tp][key].numpy(),
                                       rtol=1e-12)
    assert opt.state[0]["eta"] != opt.state[1]["eta"]


def test_asgd_negative_base_keeps_the_real_part_as_torch_does():
    torch = _torch()
    w = np.zeros(3)
    tw = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = fastgd.ASGD([w], lr=1.0, lambd=-0.7, alpha=0.75)
    topt = torch.optim.ASGD([tw], lr=1.0, lambd=-0.7, alpha=0.75)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that it drops the imaginary part
        for _ in range(4):
            opt.step([np.ones(3)])
            tw.grad = torch.ones(3, dtype=torch.float64)
            topt.step()
    assert opt.state[0]["eta"] == topt.state[tw]["eta"].item()
    np.testing.assert_array_equal(w, tw.detach().numpy())


def test_asgd_eta_that_cannot_be_computed_is_a_value_error_before_any_write():
    a, b = np.ones(2), np.ones(2)
    # 1 + lambd * lr * 1 == 0 in the second group: lr / 0 ** alpha
    opt = fastgd.ASGD([{"params": [a]}, {"params": [b], "lambd": -1.0, "lr": 1.0}], lr=0.1)
    with pytest.raises(ValueError, match="eta = lr / .* at step 1"):
        opt.step([np.ones(2), np.ones(2)])
    assert (a == 1).all() and (b == 1).all() and opt.state == {}


def test_asgd_state_dict_from_torch_loads():
    torch = _torch()
    tw = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    topt = torch.optim.ASGD([tw], lr=0.1, t0=1)
    for _ in range(3):
        tw.grad = torch.ones(3, dtype=torch.float64)
        topt.step()
    sd = topt.state_dict()
    converted = {"state": {k: {n: v.numpy() for n, v in s.items()}
                           for k, s in sd["state"].items()},
                 "param_groups": sd["param_groups"]}
    w = tw.detach().numpy().copy()
    opt = fastgd.ASGD([w])
    opt.load_state_dict(converted)
    assert type(opt.state[0]["eta"]) is float and opt.state[0]["step"] == 3
    for _ in range(2):
        opt.step([np.ones(3)])
        tw.grad = torch.ones(3, dtype=torch.float64)
        topt.step()
    np.testing.assert_allclose(w, tw.detach().numpy(), rtol=1e-14)
    np.testing.assert_allclose(opt.averaged()[0], topt.state[tw]["ax"].numpy(), rtol=1e-14)
