"""fastgd.Muon as an optimizer: torch's validation, 2-D parameters only, all-or-nothing
steps, None gradients, non-finite gradients, state dicts, checkpoints and the backends."""

from __future__ import annotations

import numpy as np
import pytest

import fastgd
from fastgd import backends


def _problem(seed=0, shapes=((6, 4), (3, 5))):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s) for s in shapes]
    grads = [[rng.standard_normal(s) for s in shapes] for _ in range(4)]
    return params, grads


@pytest.mark.parametrize("options, error, match", [
    ({"lr": -1.0}, ValueError, "Learning rate should be >= 0 but is: -1.0"),
    ({"momentum": -0.5}, ValueError, "momentum should be >= 0 but is: -0.5"),
    ({"weight_decay": -0.1}, ValueError, "weight decay should be >= 0 but is: -0.1"),
    ({"adjust_lr_fn": "arbitrary"}, ValueError, "Adjust learning rate function arbitrary"),
    ({"ns_steps": 100}, ValueError, "less than 100"),
    ({"ns_steps": 2.5}, ValueError, "Invalid ns_steps value: 2.5"),
    ({"ns_coefficients": (1.0, 2.0)}, ValueError, "exactly 3 values"),
    ({"ns_coefficients": (1.0, "b", 2.0)}, TypeError, r"ns_coefficients\[1\]"),
    ({"ns_dtype": "float16"}, ValueError, "ns_dtype must be 'bfloat16' or 'float32'"),
    ({"eps": float("nan")}, ValueError, "Invalid eps value"),
    ({"nesterov": 1}, TypeError, "nesterov must be True or False"),
    ({"lr": "0.1"}, TypeError, "lr must be a real number"),
])
def test_validation(options, error, match):
    with pytest.raises(error, match=match):
        fastgd.Muon([np.zeros((2, 2))], **options)


@pytest.mark.parametrize("shape", [(3,), (2, 3, 4), ()])
def test_only_two_dimensional_parameters(shape):
    with pytest.raises(ValueError, match="Muon only supports 2D parameters"):
        fastgd.Muon([np.zeros(shape)])
    opt = fastgd.Muon([np.zeros((2, 2))])
    with pytest.raises(ValueError, match="Muon only supports 2D parameters"):
        opt.add_param_group({"params": iter([np.zeros(shape)])})
    assert len(opt.param_groups) == 1
    with pytest.raises(RuntimeError, match="Muon does not support complex parameters"):
        fastgd.Muon([np.zeros((2, 2), complex)])


def test_a_rejected_step_changes_nothing():
    params, grads = _problem()
    opt = fastgd.Muon(params, lr=0.02)
    opt.step(grads[0])
    before = [p.copy() for p in params]
    state = opt.state_dict()
    with pytest.raises(ValueError, match=r"grads\[1\] has shape"):
        opt.step([grads[1][0], np.zeros((5, 3))])
    opt.param_groups[0]["ns_steps"] = 200
    with pytest.raises(ValueError, match="less than 100"):
        opt.step(grads[1])
    opt.param_groups[0]["ns_steps"] = 5
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p, b)
    for i in (0, 1):
        np.testing.assert_array_equal(opt.state[i]["momentum_buffer"],
                                      state["state"][i]["momentum_buffer"])


def test_none_gradients_and_nonfinite_gradients():
    params, grads = _problem()
    opt = fastgd.Muon(params, lr=0.02)
    opt.step([grads[0][0], None])
    assert 1 not in opt.state and 0 in opt.state
    before = [p.copy() for p in params]
    bad = [grads[1][0], np.full((3, 5), np.nan)]
    assert opt.step(bad, nonfinite="skip") is False
    np.testing.assert_array_equal(params[0], before[0])
    with pytest.raises(FloatingPointError, match=r"grads\[1\]"):
        opt.step(bad, nonfinite="raise")
    assert opt.step(grads[1], nonfinite="raise") is True


def test_first_step_is_the_reference():
    params, grads = _problem()
    expected = [p.copy() for p in params]
    bufs = [np.zeros_like(p) for p in params]
    opt = fastgd.Muon(params, lr=0.05, weight_decay=0.01, momentum=0.9)
    opt.step(grads[0])
    for p, g, b in zip(expected, grads[0], bufs):
        fastgd.reference.muon(p, g, b, lr=0.05, weight_decay=0.01, momentum=0.9)
    for i, (p, e, b) in enumerate(zip(params, expected, bufs)):
        np.testing.assert_array_equal(p, e)
        np.testing.assert_array_equal(opt.state[i]["momentum_buffer"], b)


def _run(seed, steps, **options):
    params, grads = _problem(seed)
    params = [p.astype(np.float32) for p in params]
    opt = fastgd.Muon(params, lr=0.02, **options)
    for g in grads[:steps]:
        opt.step([x.astype(np.float32) for x in g])
    return params, opt


def test_every_backend_gives_the_same_bits():
    results = []
    for name in backends.available():
        with fastgd.use_backend(name):
            params, _ = _run(1, 4)
        results.append(params)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_state_dict_and_checkpoint_round_trips_continue_bit_identically(tmp_path):
    params, grads = _problem(2)
    opt = fastgd.Muon(params, lr=0.02, ns_dtype="float32")
    for g in grads[:2]:
        opt.step(g)
    twin = [p.copy() for p in params]
    twin_opt = fastgd.Muon(twin, lr=0.5)
    twin_opt.load_state_dict(opt.state_dict())
    assert twin_opt.param_groups[0]["ns_dtype"] == "float32"
    fastgd.save(tmp_path / "muon.ckpt", optimizer=opt)
    third = [np.zeros_like(p) for p in params]
    third_opt = fastgd.Muon(third)
    fastgd.load(tmp_path / "muon.ckpt").restore(optimizer=third_opt, params=third)
    for o, g in ((opt, grads[2]), (twin_opt, grads[2]), (third_opt, grads[2])):
        o.step(g)
    for a, b, c in zip(params, twin, third):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    with pytest.raises(ValueError, match="not a state dict of Muon"):
        fastgd.Muon([np.zeros((2, 2))]).load_state_dict(
            fastgd.SGD([np.zeros((2, 2))]).state_dict())


def test_lr_zero_and_zero_gradient():
    params, _ = _problem(3)
    before = [p.copy() for p in params]
    opt = fastgd.Muon(params, lr=0.0)
    opt.step([np.ones_like(p) for p in params])
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p, b)
    opt = fastgd.Muon(params, lr=0.1, weight_decay=0.0)
    opt.step([np.zeros_like(p) for p in params])  # the eps floor: no NaN, no step
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p, b)


def test_fit_refuses_muon_and_minimize_takes_it():
    X = np.random.default_rng(4).standard_normal((20, 3))
    with pytest.raises(ValueError, match="fit does not train with Muon"):
        fastgd.fit(fastgd.SoftmaxRegression(), X, np.arange(20) % 3, optimizer="muon")
    target = np.arange(12.0).reshape(4, 3)
    result = fastgd.minimize(lambda x: (float(np.sum((x - target) ** 2)), 2 * (x - target)),
                             np.zeros((4, 3)), jac=True, optimizer="muon", lr=0.5,
                             max_iter=300, weight_decay=0.0)
    assert result.fun < 0.5


def test_cyclic_schedules_drive_lr_and_momentum():
    w = np.ones((3, 2))
    opt = fastgd.Muon([w], lr=0.01)
    sched = fastgd.lr_scheduler.CyclicLR(opt, 0.001, 0.01, step_size_up=2)
    momenta = []
    for _ in range(4):
        opt.step([w * 0.5])
        sched.step()
        momenta.append(opt.param_groups[0]["momentum"])
    np.testing.assert_allclose(momenta, [0.85, 0.8, 0.85, 0.9], rtol=1e-12)
    assert opt.param_groups[0]["lr"] == 0.001
