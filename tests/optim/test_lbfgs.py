"""fastgd.LBFGS as an optimizer: arguments and validation, the closure contract and its
errors (all or nothing), state dicts (a resumed run gives the uninterrupted run's bits),
float32, one flat array against several parameters, on every backend."""

from __future__ import annotations

import numpy as np
import pytest

import fastgd
from fastgd.optim import registry


def _least_squares(rng, n=20, shapes=((5,), (3, 5))):
    A = rng.standard_normal((3 * n, n))
    b = rng.standard_normal(3 * n)
    params = [rng.standard_normal(s) for s in shapes]

    def closure():
        x = np.concatenate([p.reshape(-1) for p in params])
        r = A @ x - b
        g = A.T @ r
        grads, offset = [], 0
        for p in params:
            grads.append(g[offset:offset + p.size].reshape(p.shape))
            offset += p.size
        return 0.5 * float(r @ r), grads

    x = np.linalg.lstsq(A, b, rcond=None)[0]
    closure.minimum = 0.5 * float((A @ x - b) @ (A @ x - b))  # type: ignore[attr-defined]
    return params, closure


def test_torch_signature_and_defaults():
    w = np.zeros(3)
    opt = fastgd.LBFGS([w])
    group = opt.param_groups[0]
    assert {k: v for k, v in group.items() if k != "params"} == {
        "lr": 1, "max_iter": 20, "max_eval": 25, "tolerance_grad": 1e-7,
        "tolerance_change": 1e-9, "history_size": 100, "line_search_fn": None}
    assert fastgd.LBFGS([w], max_iter=7).param_groups[0]["max_eval"] == 7 * 5 // 4
    assert registry.lookup("lbfgs") is fastgd.LBFGS
    assert registry.get("LBFGS").closure and "LBFGS" not in registry.TABLE_OPTIMIZERS


@pytest.mark.parametrize("options,error,match", [
    ({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
    ({"lr": float("nan")}, ValueError, "Invalid learning rate"),
    ({"lr": "1"}, TypeError, "lr must be a real number"),
    ({"max_iter": 0}, ValueError, "Invalid max_iter value: 0"),
    ({"max_iter": 2.5}, TypeError, "max_iter must be an int"),
    ({"max_eval": 0}, ValueError, "Invalid max_eval value: 0"),
    ({"history_size": 0}, ValueError, "Invalid history_size value: 0"),
    ({"tolerance_grad": float("nan")}, ValueError, "Invalid tolerance_grad value"),
    ({"line_search_fn": "armijo"}, ValueError, "only 'strong_wolfe' is supported"),
    ({"line_search_fn": 1}, TypeError, "line_search_fn must be None or a string"),
])
def test_validation(options, error, match):
    with pytest.raises(error, match=match):
        fastgd.LBFGS([np.zeros(2)], **options)


def test_one_group_and_one_dtype():
    with pytest.raises(ValueError, match="parameter groups"):
        fastgd.LBFGS([{"params": [np.zeros(2)]}, {"params": [np.zeros(2)]}])
    opt = fastgd.LBFGS([np.zeros(2)])
    with pytest.raises(ValueError, match="parameter groups"):
        opt.add_param_group({"params": [np.zeros(2)]})
    with pytest.raises(TypeError, match="one dtype"):
        fastgd.LBFGS([np.zeros(2), np.zeros(2, np.float32)])
    with pytest.raises(TypeError, match="no per-tensor plan"):
        opt.plan_calls(0, [])


def test_a_changed_group_is_checked_before_the_step(rng):
    params, closure = _least_squares(rng)
    opt = fastgd.LBFGS(params)
    opt.param_groups[0]["history_size"] = -1
    before = [p.copy() for p in params]
    with pytest.raises(ValueError, match="Invalid history_size value: -1"):
        opt.step(closure)
    assert all((a == b).all() for a, b in zip(params, before)) and opt.state == {}


def test_converges_on_every_backend(any_backend, rng):
    params, closure = _least_squares(rng)
    opt = fastgd.LBFGS(params, line_search_fn="strong_wolfe")
    first = opt.step(closure)
    loss = opt.step(closure)
    assert loss < first and loss == pytest.approx(closure.minimum, rel=1e-10)


@pytest.mark.parametrize("bad,error,match", [
    (lambda p: 1.0, TypeError, "must return \\(loss, grads\\)"),
    (lambda p: ("x", [np.zeros_like(q) for q in p]), TypeError, "loss must be a real"),
    (lambda p: (1.0, [np.zeros(2)]), TypeError, "list of 2 arrays"),
    (lambda p: (1.0, [np.zeros(p[0].shape, np.float32), p[1]]), TypeError, "dtype float32"),
    (lambda p: (1.0, [np.zeros(3), p[1]]), ValueError, "grads\\[0\\] has shape"),
    (lambda p: (1.0, [[0.0] * 5, p[1]]), TypeError, "grads\\[0\\] must be a numpy"),
])
def test_a_malformed_closure_result_changes_nothing(rng, bad, error, match):
    params, closure = _least_squares(rng)
    opt = fastgd.LBFGS(params, max_iter=3)  # far from converged: the next step goes on
    opt.step(closure)
    state = opt.state_dict()
    before = [p.copy() for p in params]
    calls = []

    def flaky():  # good results until the third call, inside the step
        calls.append(1)
        return bad(params) if len(calls) == 3 else closure()

    with pytest.raises(error, match=match):
        opt.step(flaky)
    assert len(calls) == 3
    assert all((a == b).all() for a, b in zip(params, before))
    _assert_same_state(opt.state_dict(), state)


def test_an_exception_in_the_closure_restores_the_parameters(rng):
    params, closure = _least_squares(rng)
    opt = fastgd.LBFGS(params, line_search_fn="strong_wolfe")
    before = [p.copy() for p in params]
    calls = []

    def failing():
        calls.append(1)
        if len(calls) == 4:  # inside the line search, with the parameters moved
            raise KeyError("boom")
        return closure()

    with pytest.raises(KeyError):
        opt.step(failing)
    assert all((a == b).all() for a, b in zip(params, before)) and opt.state == {}
    with pytest.raises(TypeError, match="needs a closure"):
        opt.step([np.zeros(5), np.zeros((3, 5))])


def test_none_gradients_count_as_zeros():
    w, v = np.array([1.0, 2.0]), np.array([3.0])
    opt = fastgd.LBFGS([w, v])
    opt.step(lambda: (float(w @ w), [2 * w, None]))
    assert v[0] == 3.0 and np.abs(w).max() < 1e-7


def _assert_same_state(a, b):
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for i in a["state"]:
        sa, sb = a["state"][i], b["state"][i]
        assert sa.keys() == sb.keys()
        for key in sa:
            x, y = sa[key], sb[key]
            if isinstance(x, list):
                assert len(x) == len(y) and all(np.array_equal(p, q) for p, q in zip(x, y))
            else:
                assert np.array_equal(x, y), key


@pytest.mark.parametrize("options", [{"history_size": 2, "max_iter": 4},
                                     {"line_search_fn": "strong_wolfe", "max_iter": 3}])
def test_state_dict_resumes_with_the_same_bits(this_backend, rng, options):
    params, closure = _least_squares(rng)
    start = [p.copy() for p in params]
    opt = fastgd.LBFGS(params, **options)
    for _ in range(2):
        opt.step(closure)
    saved = opt.state_dict()
    assert set(saved["state"][0]) == set(registry.get("LBFGS").global_state)
    losses = [opt.step(closure) for _ in range(3)]
    final = [p.copy() for p in params]
    # again: two steps, a new optimizer loads the state dict and takes the last three
    for p, s in zip(params, start):
        p[...] = s
    first = fastgd.LBFGS(params, **options)
    for _ in range(2):
        first.step(closure)
    resumed = fastgd.LBFGS(params, **options)
    resumed.load_state_dict(saved)
    saved["state"][0]["d"][:] = 0  # the loaded state is a copy
    assert [resumed.step(closure) for _ in range(3)] == losses
    assert all(a.tobytes() == b.tobytes() for a, b in zip(params, final))


def test_load_state_dict_checks_before_replacing(rng):
    params, closure = _least_squares(rng)
    opt = fastgd.LBFGS(params)
    opt.step(closure)
    good = opt.state_dict()
    bad_shape = opt.state_dict()
    bad_shape["state"][0]["d"] = np.zeros(3)
    bad_key = opt.state_dict()
    bad_key["state"][0]["exp_avg"] = np.zeros(20)
    bad_lengths = opt.state_dict()
    bad_lengths["state"][0]["ro"] = bad_lengths["state"][0]["ro"] + [1.0]
    other = fastgd.Adam(params).state_dict()
    for bad, error in ((bad_shape, ValueError), (bad_key, ValueError),
                       (bad_lengths, ValueError), (other, ValueError)):
        with pytest.raises(error):
            opt.load_state_dict(bad)
        _assert_same_state(opt.state_dict(), good)


def test_float32_follows_float64(this_backend, rng):
    params, closure = _least_squares(rng)
    p32 = [p.astype(np.float32) for p in params]

    def closure32():
        for p, q in zip(params, p32):
            p[...] = q
        loss, grads = closure()
        return loss, [g.astype(np.float32) for g in grads]

    optimum = fastgd.LBFGS(params)
    for _ in range(5):
        optimum.step(closure)
    best = closure()[0]
    opt = fastgd.LBFGS(p32, history_size=5)
    for _ in range(5):
        opt.step(closure32)
    assert closure32()[0] == pytest.approx(best, rel=1e-5)
    assert all(p.dtype == np.float32 for p in p32)
    assert opt.state[0]["d"].dtype == np.float32


def test_one_flat_array_steps_as_the_separate_parameters(rng):
    """The dots run over the flat vector in one order, so a ParamBuffer gives the bits of
    the separate parameters."""
    params, closure = _least_squares(rng)
    buffer = fastgd.ParamBuffer.from_arrays([p.copy() for p in params])

    def flat_closure():
        for p, v in zip(params, buffer.views):
            p[...] = v
        loss, grads = closure()
        return loss, [np.concatenate([g.reshape(-1) for g in grads])]

    start = [p.copy() for p in params]
    flat = fastgd.LBFGS([buffer.flat], line_search_fn="strong_wolfe")
    flat_losses = [flat.step(flat_closure) for _ in range(2)]
    for p, s in zip(params, start):
        p[...] = s
    separate = fastgd.LBFGS(params, line_search_fn="strong_wolfe")
    assert [separate.step(closure) for _ in range(2)] == flat_losses
    assert np.concatenate([p.reshape(-1) for p in params]).tobytes() == buffer.flat.tobytes()
