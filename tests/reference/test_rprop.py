"""Rprop: the first steps by hand, clamped step sizes, and torch's quirks (float32 bits)."""

from __future__ import annotations

import numpy as np
import pytest

import fastgd


def _torch():
    return pytest.importorskip("torch")


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
