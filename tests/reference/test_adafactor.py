"""Adafactor: per-parameter state shapes as torch's, first steps by hand (vector, matrix),
weight decay and the rho cap, training and state dicts like torch."""

from __future__ import annotations

import math

import numpy as np
import pytest
from parity.optim_db import OPTIM_DB

import fastgd
from fastgd import reference


def _torch():
    return pytest.importorskip("torch")


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
@pytest.mark.parametrize("variant", OPTIM_DB["Adafactor"],
                         ids=lambda v: "-".join(f"{k}={x}" for k, x in v.items()) or "defaults")
def test_adafactor_trains_like_torch(variant, dtype, rng):
    # the protocol of tests/parity/test_torch.py, on shapes without an empty parameter
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
