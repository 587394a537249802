"""state_dict and load_state_dict of the rules: the state's keys (torch's names), round trips
that resume bit for bit, and torch's checkpoints loaded and continued like torch."""

from __future__ import annotations

import numpy as np
import pytest
from _problems import _OPTIONS, _ours_run, _quadratic, _steps, _torch_run

import fastgd

#: torch's rules added with Adam's family.
TORCH_ADAM_RULES = ["Adadelta", "Adamax", "NAdam", "RAdam"]
#: the rules that follow optax (torch has none).
OPTAX_RULES = ["Lion", "AdaBelief", "LAMB", "LARS", "Yogi"]


def _torch():
    return pytest.importorskip("torch")


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


@pytest.mark.parametrize("name", TORCH_ADAM_RULES)
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


@pytest.mark.parametrize("name", TORCH_ADAM_RULES)
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


@pytest.mark.parametrize("name", OPTAX_RULES)
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
