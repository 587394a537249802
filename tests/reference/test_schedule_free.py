"""SGDScheduleFree and AdamWScheduleFree: first steps by hand, warmup, train()/eval(),
state per parameter, validation. Against the schedulefree package and the method written
with x, y and z: tests/parity/test_schedulefree.py; optax's conventions there too."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fastgd

NAMES = ["SGDScheduleFree", "AdamWScheduleFree"]


def test_sgd_first_steps_by_hand():
    w = np.array([1.0, -2.0])
    opt = fastgd.SGDScheduleFree([w], lr=0.5, momentum=0.75)
    g1 = np.array([0.5, 1.0])
    opt.step([g1])
    # c_1 = 1: x = z = y = w0 - lr g1
    np.testing.assert_array_equal(w, [0.75, -2.5])
    np.testing.assert_array_equal(opt.state[0]["z"], [0.75, -2.5])
    assert opt.state[0]["weight_sum"] == 0.25 and opt.state[0]["lr_max"] == 0.5
    opt.step([np.array([1.0, -1.0])])
    # z2 = [0.25, -2], c_2 = 1/2: x2 = [0.5, -2.25], y2 = 0.75 x2 + 0.25 z2
    np.testing.assert_array_equal(opt.state[0]["z"], [0.25, -2.0])
    np.testing.assert_array_equal(w, [0.4375, -2.1875])
    opt.eval()
    np.testing.assert_array_equal(w, [0.5, -2.25])


def test_adamw_first_step_by_hand():
    w = np.array([1.0, -1.0])
    opt = fastgd.AdamWScheduleFree([w], lr=0.1, eps=0.0, weight_decay=0.5)
    opt.step([np.array([3.0, -0.25])])
    # v / (1 - b2) = g^2: u = sign(g) + wd y; c_1 = 1: y = z = w - lr u
    np.testing.assert_allclose(w, [1.0 - 0.1 * 1.5, -1.0 - 0.1 * (-1.0 - 0.5)], rtol=1e-15)


def test_warmup_by_hand():
    w = np.zeros(1)
    opt = fastgd.SGDScheduleFree([w], lr=1.0, warmup_steps=4, momentum=0.5)
    for k in range(6):
        opt.step([np.ones(1)])
        assert opt.state[0]["lr_max"] == min((k + 1) / 4, 1.0)
    # z = -(1/4 + 2/4 + 3/4 + 1 + 1 + 1)
    assert opt.state[0]["z"][0] == -4.5
    # weights (k+1)^0 lr_max^2: 1/16, 4/16, 9/16, 1, 1, 1
    assert opt.state[0]["weight_sum"] == pytest.approx(1 / 16 + 4 / 16 + 9 / 16 + 3)


def test_zero_learning_rate_moves_nothing():
    w = np.array([1.0, 2.0])
    opt = fastgd.AdamWScheduleFree([w], lr=0.0)
    for _ in range(3):
        opt.step([np.ones(2)])
    np.testing.assert_array_equal(w, [1.0, 2.0])
    assert opt.state[0]["weight_sum"] == 0.0  # c = 0/0 taken as 0, as in the package


def test_maximize_is_minimizing_the_negated_gradient():
    for name in NAMES:
        a, b = np.linspace(-1, 1, 5), np.linspace(-1, 1, 5)
        oa = getattr(fastgd, name)([a], lr=0.1, weight_decay=0.1, maximize=True)
        ob = getattr(fastgd, name)([b], lr=0.1, weight_decay=0.1)
        for k in range(5):
            g = np.cos(a + k)
            oa.step([g])
            ob.step([-g])
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_step_in_eval_mode_is_refused_and_changes_nothing(name):
    w = np.ones(3)
    opt = getattr(fastgd, name)([w], lr=0.1)
    opt.step([np.ones(3)])
    opt.eval()
    before = (w.copy(), opt.state_dict())
    with pytest.raises(RuntimeError, match="eval mode.*call train"):
        opt.step([np.ones(3)])
    np.testing.assert_array_equal(w, before[0])
    assert opt.state[0]["step"] == 1
    np.testing.assert_array_equal(opt.state[0]["z"], before[1]["state"][0]["z"])
    opt.train()
    opt.step([np.ones(3)])
    assert opt.state[0]["step"] == 2


@pytest.mark.parametrize("name", NAMES)
def test_modes_before_any_step_and_repeated_switches(name):
    w = np.array([1.0, 2.0])
    opt = getattr(fastgd, name)([w], lr=0.1)
    assert opt.param_groups[0]["train_mode"] is True
    opt.eval()  # no z yet: x = y = the parameters
    np.testing.assert_array_equal(w, [1.0, 2.0])
    assert opt.param_groups[0]["train_mode"] is False
    opt.train()
    for _ in range(3):
        opt.step([np.array([1.0, -1.0])])
    y = w.copy()
    opt.eval()
    x = w.copy()
    opt.eval()  # already in eval mode: nothing
    np.testing.assert_array_equal(w, x)
    opt.train()
    opt.train()
    np.testing.assert_allclose(w, y, rtol=1e-15)
    assert not np.allclose(x, y)


def test_each_group_switches_with_its_own_beta():
    a, b = np.zeros(2), np.zeros(2)
    opt = fastgd.SGDScheduleFree([{"params": [a]}, {"params": [b], "momentum": 0.5}], lr=0.1)
    for k in range(4):
        opt.step([np.array([1.0, float(k)]), np.array([1.0, float(k)])])
    za, zb = opt.state[0]["z"], opt.state[1]["z"]
    ya, yb = a.copy(), b.copy()
    opt.eval()
    np.testing.assert_allclose(a, ya + (1 - 1 / 0.9) * (za - ya), rtol=1e-14)
    np.testing.assert_allclose(b, zb - (zb - yb) * 2.0, rtol=1e-14)  # |1 - 1/0.5| >= 0.5


def test_eval_mode_is_saved_and_loaded():
    w = np.zeros(3)
    opt = fastgd.AdamWScheduleFree([w], lr=0.1)
    for _ in range(3):
        opt.step([np.array([1.0, -1.0, 2.0])])
    y = w.copy()
    opt.eval()  # checkpoints are taken in eval mode: the parameters are x
    saved, x = opt.state_dict(), w.copy()
    assert saved["param_groups"][0]["train_mode"] is False
    v = x.copy()
    opt2 = fastgd.AdamWScheduleFree([v], lr=0.1)
    opt2.load_state_dict(saved)
    with pytest.raises(RuntimeError):
        opt2.step([np.ones(3)])
    opt2.train()
    np.testing.assert_allclose(v, y, rtol=1e-15)


def test_a_bad_z_or_a_bad_hyperparameter_stops_the_switch_before_any_change():
    a, b = np.zeros(2), np.zeros(2)
    opt = fastgd.SGDScheduleFree([{"params": [a]}, {"params": [b]}], lr=0.1)
    opt.step([np.ones(2), np.ones(2)])
    opt.step([np.ones(2), -np.ones(2)])
    before = a.copy(), b.copy()
    opt.state[1]["z"] = np.zeros(3)
    with pytest.raises(ValueError, match="state of parameter 1: z must be an array"):
        opt.eval()
    np.testing.assert_array_equal(a, before[0])
    assert opt.param_groups[0]["train_mode"] and opt.param_groups[1]["train_mode"]
    opt.state[1]["z"] = np.zeros(2)
    opt.param_groups[1]["momentum"] = 1.0
    with pytest.raises(ValueError, match="Momentum must be between 0 and 1 exclusive: 1.0"):
        opt.eval()
    np.testing.assert_array_equal(a, before[0])


def test_a_group_added_in_eval_mode_starts_in_train_mode():
    a, b = np.zeros(2), np.zeros(2)
    opt = fastgd.SGDScheduleFree([a], lr=0.1)
    opt.step([np.ones(2)])
    opt.eval()
    opt.add_param_group({"params": [b]})
    assert opt.param_groups[1]["train_mode"]
    with pytest.raises(RuntimeError):
        opt.step([np.ones(2), np.ones(2)])
    opt.step([None, np.ones(2)])  # the group in train mode alone may step
    opt.train()
    opt.step([np.ones(2), np.ones(2)])


@pytest.mark.parametrize("name", NAMES)
def test_a_parameter_without_gradient_keeps_its_own_schedule(name):
    # unlike the package (one count per group), each parameter counts its own steps and
    # weights, as optax does with a state per parameter
    a, b, c = np.ones(2), np.ones(2), np.ones(2)
    opt = getattr(fastgd, name)([a, b], lr=0.1, warmup_steps=2)
    alone = getattr(fastgd, name)([c], lr=0.1, warmup_steps=2)
    for k in range(5):
        g = np.array([1.0, -0.5]) * (k + 1)
        opt.step([g, None if k in (1, 2) else g])
        if k not in (1, 2):
            alone.step([g])
    np.testing.assert_array_equal(b, c)
    assert opt.state[1]["step"] == 3 and opt.state[0]["step"] == 5


@pytest.mark.parametrize("name", NAMES)
def test_an_overflowing_averaging_weight_is_an_error_before_any_change(name):
    w = np.ones(2)
    opt = getattr(fastgd, name)([w], lr=0.1, r=700.0)
    opt.step([np.ones(2)])
    opt.step([np.ones(2)])  # 2**700 is fine, 3**700 is not a float
    before = w.copy()
    with pytest.raises(ValueError, match="overflows at step 3"):
        opt.step([np.ones(2)])
    np.testing.assert_array_equal(w, before)
    assert opt.state[0]["step"] == 2


@pytest.mark.parametrize("name,options,pattern", [
    ("SGDScheduleFree", dict(momentum=0.0), "Momentum must be between 0 and 1 exclusive: 0.0"),
    ("SGDScheduleFree", dict(lr=-0.1), "Invalid learning rate: -0.1"),
    ("SGDScheduleFree", dict(weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
    ("SGDScheduleFree", dict(warmup_steps=-1), "Invalid warmup_steps value: -1"),
    ("SGDScheduleFree", dict(warmup_steps=2.5), "Invalid warmup_steps value: 2.5"),
    ("SGDScheduleFree", dict(r=-1.0), "Invalid r value: -1.0"),
    ("AdamWScheduleFree", dict(betas=(0.0, 0.999)), "Invalid beta parameter at index 0: 0.0"),
    ("AdamWScheduleFree", dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
    ("AdamWScheduleFree", dict(eps=-1.0), "Invalid epsilon value: -1.0"),
    ("AdamWScheduleFree", dict(weight_lr_power=-2.0), "Invalid weight_lr_power value: -2.0"),
    ("AdamWScheduleFree", dict(warmup_steps=math.inf), "Invalid warmup_steps value: inf"),
])
def test_invalid_hyperparameters(name, options, pattern):
    with pytest.raises(ValueError, match=pattern):
        getattr(fastgd, name)([np.zeros(2)], **options)
