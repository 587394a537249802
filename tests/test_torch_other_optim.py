"""Rprop, ASGD and Adafactor as optimizers: first steps by hand, torch's quirks, ASGD's
averages, Adafactor's per-parameter state shapes, validation of the pair arguments, and
state dicts (fastgd's own and torch's)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import fastgd
from fastgd import reference
from fastgd.registry import OPTIMIZERS


def _torch():
    return pytest.importorskip("torch")


# -- Rprop -----------------------------------------------------------------------------------

def test_rprop_first_steps_by_hand():
    w = np.ones(3)
    opt = fastgd.Rprop([w], lr=0.1)
    opt.step([np.array([1.0, -1.0, 0.0])])  # prev is 0: factor 1, step lr * sign(g)
    np.testing.assert_array_equal(w, [1.0 - 0.1, 1.0 + 0.1, 1.0])
    np.testing.assert_array_equal(opt.state[0]["step_size"], [0.1, 0.1, 0.1])
    opt.step([np.array([1.0, 1.0, 2.0])])   # same sign, flipped, after a zero
    ss = opt.state[0]["step_size"]
    np.testing.assert_array_equal(ss, [0.1 * 1.2, 0.1 * 0.5, 0.1])
    np.testing.assert_array_equal(w, [1.0 - 0.1 - 0.1 * 1.2, 1.0 + 0.1, 1.0 - 0.1])
    np.testing.assert_array_equal(opt.state[0]["prev"], [1.0, 0.0, 2.0])  # zeroed on a flip
    assert opt.state[0]["step"] == 2


def test_rprop_step_sizes_are_clamped_and_lr_only_starts_them():
    w = np.zeros(1)
    opt = fastgd.Rprop([w], lr=0.1, etas=(0.5, 2.0), step_sizes=(0.03, 0.3))
    for _ in range(4):
        opt.step([np.ones(1)])
    assert opt.state[0]["step_size"][0] == 0.3  # 0.1, 0.2, 0.3 (clamped), 0.3
    opt.param_groups[0]["lr"] = 5.0  # torch: lr only fills step_size at the first step
    # a sign change shrinks the step size and zeroes prev, so the next step keeps it:
    # 0.15, 0.15, 0.075, 0.075, 0.0375, 0.0375, 0.01875 -> 0.03 (clamped)
    for sign in (-1.0, 1.0, -1.0, 1.0, -1.0, 1.0):
        opt.step([np.array([sign])])
    assert opt.state[0]["step_size"][0] == 0.0375
    opt.step([np.array([-1.0])])
    assert opt.state[0]["step_size"][0] == 0.03


def test_rprop_min_step_size_above_the_max_gives_the_max_as_torch():
    torch = _torch()
    w = np.zeros(2)
    tw = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = fastgd.Rprop([w], lr=0.1, step_sizes=(0.5, 0.2))
    topt = torch.optim.Rprop([tw], lr=0.1, step_sizes=(0.5, 0.2))
    for g in ([1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]):
        opt.step([np.array(g)])
        tw.grad = torch.tensor(g, dtype=torch.float64)
        topt.step()
    np.testing.assert_array_equal(w, tw.detach().numpy())
    np.testing.assert_array_equal(opt.state[0]["step_size"], [0.2, 0.2])


def test_rprop_maximize_climbs():
    w = np.zeros(2)
    fastgd.Rprop([w], lr=0.1, maximize=True).step([np.array([2.0, -3.0])])
    np.testing.assert_array_equal(w, [0.1, -0.1])


def test_rprop_float32_state_and_parameter_are_bit_identical_to_torch():
    torch = _torch()
    rng = np.random.default_rng(3)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    tw = torch.tensor(w.copy(), requires_grad=True)
    opt = fastgd.Rprop([w], lr=0.07, etas=(0.4, 1.3), step_sizes=(1e-4, 1.0))
    topt = torch.optim.Rprop([tw], lr=0.07, etas=(0.4, 1.3), step_sizes=(1e-4, 1.0))
    for _ in range(30):
        g = (w - 0.5 + 0.1 * rng.standard_normal(w.shape)).astype(np.float32)
        opt.step([g])
        tw.grad = torch.from_numpy(g.copy())
        topt.step()
    np.testing.assert_array_equal(w, tw.detach().numpy())
    for key in ("prev", "step_size"):
        np.testing.assert_array_equal(opt.state[0][key], topt.state[tw][key].numpy())


# -- ASGD ------------------------------------------------------------------------------------

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


# -- Adafactor -------------------------------------------------------------------------------

def test_adafactor_state_shapes_follow_torch():
    params = [np.zeros(()), np.zeros(4), np.zeros((3, 5)), np.zeros((2, 3, 4)),
              np.zeros((5, 1)), np.zeros((2, 1, 3, 1))]
    opt = fastgd.Adafactor(params)
    opt.step([np.ones_like(p) for p in params])
    expected = [{"variance": ()}, {"variance": (4,)},
                {"row_var": (3, 1), "col_var": (1, 5)},
                {"row_var": (2, 3, 1), "col_var": (2, 1, 4)},
                {"row_var": (5, 1), "col_var": (1, 1)},
                {"row_var": (2, 1, 3, 1), "col_var": (2, 1, 1, 1)}]
    for k, shapes in enumerate(expected):
        state = opt.state[k]
        assert set(state) == {"step", *shapes}
        for name, shape in shapes.items():
            assert state[name].shape == shape and state[name].dtype == np.float64


def test_adafactor_first_step_of_a_vector_by_hand():
    w = np.array([3.0, 4.0])
    opt = fastgd.Adafactor([w], lr=0.01)
    opt.step([np.array([1.0, 2.0])])
    # t = 1: beta2 weight 1 (variance = g**2), rho = min(lr, 1) = lr,
    # alpha = max(eps2, RMS(p)) * rho with RMS(p) = 5 / sqrt(2); U = g / |g| = 1, RMS 1
    alpha = (5.0 / math.sqrt(2.0)) * 0.01
    np.testing.assert_allclose(w, [3.0 - alpha, 4.0 - alpha], rtol=1e-15)
    np.testing.assert_array_equal(opt.state[0]["variance"], [1.0, 4.0])


def test_adafactor_first_step_of_a_matrix_by_hand():
    p0 = np.array([[1.0, -1.0], [2.0, 0.5]])
    g = np.array([[1.0, 2.0], [3.0, 4.0]])
    w = p0.copy()
    opt = fastgd.Adafactor([w], lr=0.01, d=1.0)
    opt.step([g])
    row = np.array([[2.5], [12.5]])          # mean of g**2 over each row
    col = np.array([[5.0, 10.0]])            # over each column
    np.testing.assert_allclose(opt.state[0]["row_var"], row, rtol=1e-14)
    np.testing.assert_allclose(opt.state[0]["col_var"], col, rtol=1e-14)
    v = row * col / row.mean()
    u = g / np.sqrt(v)
    rms_u = np.sqrt(np.mean(u * u))
    alpha = max(1e-3, np.sqrt(np.mean(p0 * p0))) * 0.01
    np.testing.assert_allclose(w, p0 - alpha / max(1.0, rms_u) * u, rtol=1e-14)


def test_adafactor_weight_decay_and_rho_cap():
    w = np.full(4, 2.0)
    opt = fastgd.Adafactor([w], lr=10.0, weight_decay=0.01)
    opt.step([np.zeros(4)])  # a zero gradient: U = 0, only the decay
    np.testing.assert_array_equal(w, np.full(4, 2.0 * (1 - 10.0 * 0.01)))
    rho, weight = reference.adafactor_schedule(10.0, -0.8, 4)
    assert rho == 0.5 and weight == 4 ** -0.8  # min(lr, 1/sqrt(t)) once lr is larger


def test_adafactor_eps1_none_uses_the_first_parameters_dtype_for_the_group():
    # torch resolves eps1=None once per group and step from the first parameter with a
    # gradient: a float64 parameter after a float32 one gets float32's epsilon
    torch = _torch()
    a = np.array([1.0, 2.0, 3.0], np.float32)
    b = np.array([1e-9, 2e-9, 1e-9])
    ta, tb = torch.tensor(a.copy(), requires_grad=True), torch.tensor(b.copy(),
                                                                      requires_grad=True)
    opt, topt = fastgd.Adafactor([a, b], lr=0.1), torch.optim.Adafactor([ta, tb], lr=0.1)
    ga, gb = np.full(3, 1e-6, np.float32), np.array([1e-9, -1e-8, 2e-10])
    for _ in range(3):
        opt.step([ga, gb])
        ta.grad, tb.grad = torch.from_numpy(ga.copy()), torch.from_numpy(gb.copy())
        topt.step()
    np.testing.assert_allclose(b, tb.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(a, ta.detach().numpy(), rtol=1e-6)
    # with b first, its own (float64) epsilon applies: a different result
    b2 = np.array([1e-9, 2e-9, 1e-9])
    opt2 = fastgd.Adafactor([b2, np.array([1.0, 2.0, 3.0], np.float32)], lr=0.1)
    for _ in range(3):
        opt2.step([gb, ga])
    assert not np.allclose(b2, b, rtol=1e-6)


def test_adafactor_empty_parameter_is_left_alone():
    # torch divides by the empty parameter's size (ZeroDivisionError); fastgd steps the
    # others and counts the step
    empty, w = np.zeros(0), np.ones(3)
    opt = fastgd.Adafactor([empty, w])
    opt.step([np.zeros(0), np.ones(3)])
    assert opt.state[0]["step"] == 1 and opt.state[0]["variance"].shape == (0,)
    assert (w < 1).all()
    torch = pytest.importorskip("torch")
    t = torch.zeros(0, requires_grad=True)
    t.grad = torch.zeros(0)
    with pytest.raises(ZeroDivisionError):
        torch.optim.Adafactor([t]).step()


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("variant", OPTIMIZERS["Adafactor"].variants,
                         ids=lambda v: "-".join(f"{k}={x}" for k, x in v.items()) or "defaults")
def test_adafactor_trains_like_torch(variant, dtype, rng):
    # the protocol of tests/test_torch_parity.py, on shapes without an empty parameter
    # (torch cannot step one), with more dimensions and degenerate rows and columns
    torch = _torch()
    shapes = [(5,), (3, 4), (), (2, 3, 2), (4, 1), (1, 4), (2, 1, 3, 2)]
    def draw(s, scale=1.0):
        return np.asarray(scale * rng.standard_normal(s), dtype=dtype)
    params = [draw(s) for s in shapes]
    targets = [draw(s) for s in shapes]
    scales = [np.asarray(rng.uniform(0.5, 3.0, s), dtype=dtype) for s in shapes]
    ours = [p.copy() for p in params]
    theirs = [torch.tensor(p.copy(), requires_grad=True) for p in params]

    def groups(ps):
        second = {"params": ps[3:]}
        if "lr" in variant:
            second["lr"] = variant["lr"] * 0.5
        return [{"params": ps[:3]}, second]

    opt = fastgd.Adafactor(groups(ours), **variant)
    topt = torch.optim.Adafactor(groups(theirs), **variant)
    for step in range(40):
        if step == 20:
            for group, tgroup in zip(opt.param_groups, topt.param_groups):
                group["lr"] *= 0.5
                tgroup["lr"] *= 0.5
        skip = 1 if step % 7 == 3 else None
        noise = [draw(s, 0.1) for s in shapes]
        opt.step([None if k == skip else (s * (p - t) + e).astype(dtype)
                  for k, (p, t, s, e) in enumerate(zip(ours, targets, scales, noise))])
        with torch.no_grad():
            for k, (p, t, s, e) in enumerate(zip(theirs, targets, scales, noise)):
                p.grad = None if k == skip else (
                    torch.from_numpy(s) * (p - torch.from_numpy(t)) + torch.from_numpy(e))
        topt.step()
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-4, atol=2e-5)
    for k, (p, tp) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(p, tp.detach().numpy(), **tol, err_msg=f"parameter {k}")
        tstate = topt.state[tp]
        assert set(opt.state[k]) == set(tstate)
        for key, value in tstate.items():
            if key == "step":
                assert opt.state[k]["step"] == int(value)
            else:
                assert opt.state[k][key].shape == tuple(value.shape)
                np.testing.assert_allclose(opt.state[k][key], value.numpy(), **tol)


def test_adafactor_state_dict_from_torch_continues_like_torch():
    torch = _torch()
    tw = torch.tensor(np.linspace(-1, 1, 12).reshape(3, 4), requires_grad=True)
    tv = torch.tensor(np.linspace(1, 2, 5), requires_grad=True)
    topt = torch.optim.Adafactor([tw, tv], lr=0.05)

    def grads(k):
        return [np.cos(np.arange(12.0) + k).reshape(3, 4), np.sin(np.arange(5.0) + k)]

    for k in range(3):
        tw.grad, tv.grad = (torch.from_numpy(g) for g in grads(k))
        topt.step()
    sd = topt.state_dict()
    converted = {"state": {i: {n: v.numpy() for n, v in s.items()}
                           for i, s in sd["state"].items()},
                 "param_groups": sd["param_groups"]}
    w, v = tw.detach().numpy().copy(), tv.detach().numpy().copy()
    opt = fastgd.Adafactor([w, v])
    opt.load_state_dict(converted)
    assert opt.param_groups[0]["lr"] == 0.05 and opt.state[0]["step"] == 3
    for k in range(3, 6):
        opt.step(grads(k))
        tw.grad, tv.grad = (torch.from_numpy(g) for g in grads(k))
        topt.step()
    np.testing.assert_allclose(w, tw.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(v, tv.detach().numpy(), rtol=1e-13)


@pytest.mark.parametrize("mutate,error,pattern", [
    (lambda s: s[0].__setitem__("row_var", np.zeros(3)), ValueError,
     r"row_var has shape \(3,\), expected \(3, 1\)"),
    (lambda s: s[0].__setitem__("col_var", np.zeros((4, 1))), ValueError,
     r"col_var has shape \(4, 1\), expected \(1, 4\)"),
    (lambda s: s[0].__setitem__("variance", np.zeros((3, 4))), ValueError,
     "unexpected entry 'variance'"),
    (lambda s: s[1].__setitem__("row_var", np.zeros((5, 1))), ValueError,
     "unexpected entry 'row_var'"),
    (lambda s: s[0].pop("col_var"), ValueError, "lacks col_var"),
    (lambda s: s[1].pop("step"), ValueError, "lacks step"),
    (lambda s: s[1].__setitem__("variance", np.zeros(5, int)), TypeError, "int64"),
    (lambda s: s.__setitem__(0, [1]), TypeError, "must be a dict"),
])
def test_adafactor_bad_state_dicts_load_nothing(mutate, error, pattern):
    opt = fastgd.Adafactor([np.ones((3, 4)), np.ones(5)])
    opt.step([np.ones((3, 4)), np.ones(5)])
    sd = opt.state_dict()
    mutate(sd["state"])
    before = opt.state_dict()
    with pytest.raises(error, match=pattern):
        opt.load_state_dict(sd)
    after = opt.state_dict()
    for i, state in before["state"].items():
        for key, value in state.items():
            np.testing.assert_array_equal(after["state"][i][key], value)


def test_adafactor_state_loaded_as_float32_for_float32_parameters():
    opt = fastgd.Adafactor([np.ones((3, 4))])
    opt.step([np.ones((3, 4))])
    opt32 = fastgd.Adafactor([np.ones((3, 4), np.float32)])
    opt32.load_state_dict(opt.state_dict())
    assert opt32.state[0]["row_var"].dtype == np.float32
    opt32.step([np.ones((3, 4), np.float32)])


# -- validation of the pair arguments, as torch ----------------------------------------------

@pytest.mark.parametrize("name,settings", [
    ("Rprop", {"etas": (1.0, 1.2)}), ("Rprop", {"etas": (0.0, 1.2)}),
    ("Rprop", {"etas": (0.5, 1.0)}), ("Rprop", {"etas": (0.5, math.nan)}),
    ("Rprop", {"etas": (math.nan, 1.2)}), ("Rprop", {"lr": -1.0, "etas": (2.0, 0.1)}),
    ("Rprop", {"etas": [0.5, 0.9]}),
    ("Adafactor", {"eps": (-1.0, 1e-3)}), ("Adafactor", {"eps": (None, -1.0)}),
    ("Adafactor", {"eps": (math.nan, 1e-3)}), ("Adafactor", {"beta2_decay": 0.1}),
    ("Adafactor", {"d": 0.5}), ("Adafactor", {"lr": -1.0, "d": 0.5}),
    ("Adafactor", {"weight_decay": -1.0}),
])
def test_pair_and_other_rules_match_torch(name, settings):
    torch = _torch()
    with pytest.raises(ValueError) as theirs:
        getattr(torch.optim, name)([torch.zeros(2)], **settings)
    with pytest.raises(ValueError) as ours:
        getattr(fastgd, name)([np.zeros(2)], **settings)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("name,settings", [
    ("Rprop", {"step_sizes": (-1.0, -2.0)}), ("Rprop", {"step_sizes": (0, math.inf)}),
    ("Rprop", {"etas": (0.1, math.inf)}), ("Adafactor", {"eps": (0.0, 0.0)}),
    ("ASGD", {"lambd": -1.0, "alpha": -1.0, "t0": -1.0}), ("ASGD", {"t0": math.inf}),
])
def test_settings_torch_accepts_are_accepted(name, settings):
    getattr(fastgd, name)([np.zeros(2)], **settings)


@pytest.mark.parametrize("name,settings,pattern", [
    ("Rprop", {"step_sizes": (math.nan, 1.0)}, "Invalid step_sizes values: nan, 1.0"),
    ("Rprop", {"step_sizes": (1e-6, math.nan)}, "Invalid step_sizes values: 1e-06, nan"),
    ("ASGD", {"lambd": math.nan}, "Invalid lambd value: nan"),
    ("ASGD", {"alpha": math.nan}, "Invalid alpha value: nan"),
    ("ASGD", {"t0": math.nan}, "Invalid t0 value: nan"),
])
def test_nan_settings_torch_does_not_check_are_refused(name, settings, pattern):
    with pytest.raises(ValueError, match=pattern):
        getattr(fastgd, name)([np.zeros(2)], **settings)


@pytest.mark.parametrize("name,settings,pattern", [
    ("Rprop", {"etas": 0.5}, r"etas must be a pair of real numbers, got 0.5"),
    ("Rprop", {"etas": (0.5,)}, r"etas must be a pair"),
    ("Rprop", {"etas": (0.5, 1.2, 2.0)}, r"etas must be a pair"),
    ("Rprop", {"etas": (0.5, "1.2")}, r"etas\[1\] must be a real number"),
    ("Rprop", {"etas": np.array([0.5, 1.2])}, r"etas must be a pair"),
    ("Rprop", {"step_sizes": (True, 1.0)}, r"step_sizes\[0\] must be a real number"),
    ("Rprop", {"step_sizes": (None, 1.0)}, r"step_sizes\[0\] must be a real number"),
    ("Adafactor", {"eps": (None, None)}, r"eps\[1\] must be a real number"),
    ("Adafactor", {"eps": 1e-3}, r"eps must be a pair \(None or a real number"),
    ("Adafactor", {"eps": ("a", 1e-3)}, r"eps\[0\] must be a real number"),
])
def test_pairs_of_the_wrong_kind_are_type_errors(name, settings, pattern):
    with pytest.raises(TypeError, match=pattern):
        getattr(fastgd, name)([np.zeros(2)], **settings)


def test_pairs_changed_in_a_group_are_validated_before_the_step():
    a = np.ones(2)
    opt = fastgd.Rprop([a], etas=[0.5, 1.2])
    opt.step([np.ones(2)])
    opt.param_groups[0]["etas"][0] = 1.5
    with pytest.raises(ValueError, match="Invalid eta values: 1.5, 1.2"):
        opt.step([np.ones(2)])
    opt.param_groups[0]["etas"] = "fast"
    with pytest.raises(TypeError, match="etas must be a pair"):
        opt.step([np.ones(2)])
    assert opt.state[0]["step"] == 1
