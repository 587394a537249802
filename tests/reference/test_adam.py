"""Adam and AdamW: the reference's first step by hand, and optax's form (``eps_root=<number>``):
its first step by hand, how it differs from torch's form, validation, and the state it keeps.
The runs against optax itself are in tests/parity/test_optax_forms.py."""

from __future__ import annotations

import numpy as np
import pytest

import fastgd
from fastgd import reference


def test_reference_adam_first_step_is_lr_times_sign():
    # After one step m_hat = g and v_hat = g^2, so the step is lr * g / (|g| + eps).
    p, g = np.array([1.0, 1.0]), np.array([3.0, -0.25])
    m, v = np.zeros(2), np.zeros(2)
    bc1, bc2 = reference.bias_corrections(0.9, 0.999, 1)
    reference.adam(p, g, m, v, lr=0.1, beta1=0.9, beta2=0.999, eps=0.0, bias_correction1=bc1,
                   bias_correction2_sqrt=bc2)
    np.testing.assert_allclose(p, [0.9, 1.1], rtol=1e-15)


def test_eps_root_first_step_by_hand():
    # step 1: m_hat = g, v_hat = g^2, so u = g / (sqrt(g^2 + eps_root) + eps)
    g = np.array([3.0, -0.25, 0.0])
    w = np.ones(3)
    fastgd.Adam([w], lr=0.1, eps=1e-3, eps_root=0.5).step([g])
    expected = 1 - 0.1 * g / (np.sqrt(g * g + 0.5) + 1e-3)
    np.testing.assert_allclose(w, expected, rtol=1e-15)


def test_eps_root_changes_the_form_not_only_the_epsilon(rng):
    # eps_root=0 is optax's form, eps after sqrt(v / bc2): close to torch's form but not
    # the same bits, and the amsgrad maximum is over the bias-corrected v in optax's form
    p0 = rng.standard_normal(50)
    grads = [rng.standard_normal(50) for _ in range(20)]
    runs = {}
    for key, options in {"torch": {}, "optax": {"eps_root": 0.0}}.items():
        for amsgrad in (False, True):
            w = p0.copy()
            opt = fastgd.Adam([w], lr=0.01, amsgrad=amsgrad, **options)
            for g in grads:
                opt.step([g])
            runs[key, amsgrad] = (w, opt.state[0])
    np.testing.assert_allclose(runs["torch", False][0], runs["optax", False][0], rtol=1e-12)
    assert not np.array_equal(runs["torch", False][0], runs["optax", False][0])
    # torch keeps max(v) raw, optax max(v / bc2): after 20 steps bc2 = 1 - 0.999**20
    raw, corrected = (runs[k, True][1]["max_exp_avg_sq"] for k in ("torch", "optax"))
    assert not np.allclose(raw, corrected, rtol=1e-3)
    assert np.all(corrected >= runs["optax", True][1]["exp_avg_sq"] / (1 - 0.999 ** 20)
                  * (1 - 1e-12))


def test_adamw_eps_root_decays_like_optax_not_like_torch():
    # one step from p = 1, g = 0 and wd = 0.5, lr = 0.1: the Adam direction is 0, so the
    # whole step is the decay; both forms give 1 - lr * wd = 0.95 here, rounded differently
    # in general: optax p - lr * (0 + wd * p), torch p * (1 - lr * wd)
    for eps_root in (None, 0.0):
        w = np.array([1.0, 3.0])
        fastgd.AdamW([w], lr=0.1, weight_decay=0.5, eps_root=eps_root).step([np.zeros(2)])
        np.testing.assert_allclose(w, [0.95, 2.85], rtol=1e-15)
    w = np.array([3.0])
    fastgd.AdamW([w], lr=0.1, weight_decay=0.5, eps_root=0.0).step([np.zeros(1)])
    assert w[0] == 3.0 + -0.1 * (0.0 + 0.5 * 3.0)


def test_default_eps_root_none_is_torch_bit_for_bit(rng):
    p0 = rng.standard_normal(40)
    grads = [rng.standard_normal(40) for _ in range(10)]
    runs = []
    for options in ({}, {"eps_root": None}):
        w = p0.copy()
        opt = fastgd.Adam([w], lr=0.01, amsgrad=True, **options)
        for g in grads:
            opt.step([g])
        runs.append(w)
    expected = p0.copy()
    m, v, vmax = np.zeros(40), np.zeros(40), np.zeros(40)
    for t, g in enumerate(grads, start=1):
        bc1, bc2 = reference.bias_corrections(0.9, 0.999, t)
        reference.adam(expected, g, m, v, vmax, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8,
                       bias_correction1=bc1, bias_correction2_sqrt=bc2, amsgrad=True)
    np.testing.assert_array_equal(runs[0], expected)
    np.testing.assert_array_equal(runs[1], expected)


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
@pytest.mark.parametrize("value,error,pattern", [
    (-1.0, ValueError, "Invalid eps_root value: -1.0"),
    (float("nan"), ValueError, "Invalid eps_root value: nan"),
    ("0.1", TypeError, "eps_root must be None or a real number, got '0.1'"),
    (True, TypeError, "eps_root must be None or a real number, got True"),
    (np.array([0.1]), TypeError, "eps_root must be None or a real number"),
    (10**400, ValueError, "eps_root is too large for a float"),
])
def test_eps_root_validation(name, value, error, pattern):
    with pytest.raises(error, match=pattern):
        getattr(fastgd, name)([np.zeros(2)], eps_root=value)
    # a group changed later is checked before the next step writes anything
    w = np.zeros(2)
    opt = getattr(fastgd, name)([w], lr=0.1, eps_root=0.0)
    opt.step([np.ones(2)])
    before = (w.copy(), opt.state_dict())
    opt.param_groups[0]["eps_root"] = value
    with pytest.raises(error, match=pattern):
        opt.step([np.ones(2)])
    np.testing.assert_array_equal(w, before[0])
    assert opt.state[0]["step"] == 1


def test_eps_root_accepts_numpy_and_int_values():
    for value in (np.float32(1e-8), 0, np.int64(0), 1e-8):
        w = np.ones(2)
        fastgd.Adam([w], eps_root=value).step([np.ones(2)])
        assert np.isfinite(w).all() and (w < 1).all()


def test_eps_root_is_in_param_groups_and_state_dict():
    w = np.zeros(2)
    opt = fastgd.Adam([{"params": [w], "eps_root": 1e-8}, {"params": [np.zeros(1)]}])
    assert opt.param_groups[0]["eps_root"] == 1e-8 and opt.param_groups[1]["eps_root"] is None
    opt.step([np.ones(2), np.ones(1)])
    saved = opt.state_dict()
    assert [g["eps_root"] for g in saved["param_groups"]] == [1e-8, None]
    # a state dict without the key (as torch writes it) loads with the default
    for group in saved["param_groups"]:
        del group["eps_root"]
    opt.load_state_dict(saved)
    assert [g["eps_root"] for g in opt.param_groups] == [None, None]


def test_switching_eps_root_mid_run_keeps_the_moments(rng):
    # the state buffers mean the same in both forms (m, v), except max_exp_avg_sq
    w = rng.standard_normal(6)
    opt = fastgd.Adam([w], lr=0.01)
    for _ in range(3):
        opt.step([rng.standard_normal(6)])
    m, v = opt.state[0]["exp_avg"].copy(), opt.state[0]["exp_avg_sq"].copy()
    opt.param_groups[0]["eps_root"] = 0.0
    g = rng.standard_normal(6)
    p = w.copy()
    opt.step([g])
    m = 0.1 * g + 0.9 * m
    v = 0.001 * (g * g) + 0.999 * v
    u = (m / (1 - 0.9**4)) / (np.sqrt(v / (1 - 0.999**4)) + 1e-8)
    np.testing.assert_allclose(w, p - 0.01 * u, rtol=1e-14)
    assert opt.state[0]["step"] == 4
