"""fastgd.mlp: the NumPy MLP's loss and gradients against torch's autograd, its argument
checks, and a short training run on the digits: float32 and bfloat16 weights with
stochastic rounding well above chance and close to each other."""

from __future__ import annotations

import numpy as np
import pytest

import fastgd
from fastgd import mlp


def test_loss_and_gradients_match_torch_autograd(rng):
    torch = pytest.importorskip("torch")
    net = mlp.MLP((7, 6, 5, 4), seed=3)
    for p in net.params[1::2]:  # non-zero biases, so that their gradients matter
        p[...] = rng.standard_normal(p.shape).astype(np.float32)
    X = rng.standard_normal((11, 7)).astype(np.float32)
    y = rng.integers(0, 4, 11)
    loss, grads = net.loss_and_grads(X, y)
    theirs = [torch.tensor(p.astype(np.float64), requires_grad=True) for p in net.params]
    h = torch.tensor(X.astype(np.float64))
    for k in range(0, len(theirs), 2):
        h = h @ theirs[k] + theirs[k + 1]
        if k + 2 < len(theirs):
            h = torch.relu(h)
    expected = torch.nn.functional.cross_entropy(h, torch.tensor(y))
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-5)
    assert net.loss(X, y) == pytest.approx(loss, rel=1e-6)
    for g, t in zip(grads, theirs):
        assert g.dtype == np.float32 and g.shape == tuple(t.shape)
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(net.predict(X), h.argmax(1).numpy())


def test_parameters_of_other_dtypes():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    net = mlp.MLP((4, 3, 2), seed=0, dtype=ml_dtypes.bfloat16)
    assert all(p.dtype == ml_dtypes.bfloat16 for p in net.params)
    loss, grads = net.loss_and_grads(np.ones((2, 4), np.float32), np.array([0, 1]))
    assert np.isfinite(loss) and all(g.dtype == np.float32 for g in grads)


@pytest.mark.parametrize("call, message", [
    (lambda: mlp.MLP((4,)), "sizes must be at least two positive ints"),
    (lambda: mlp.MLP((4, 0, 2)), "sizes must be at least two positive ints"),
    (lambda: mlp.train("adamw", _tiny(), epochs=0), "epochs must be an int >= 1"),
    (lambda: mlp.train("adamw", _tiny(), batch_size=1.5), "batch_size must be an int"),
    (lambda: mlp.train("nosuch", _tiny()), "optimizer must be one of"),
])
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def _tiny():
    rng = np.random.default_rng(0)
    X = rng.random((20, 64), dtype=np.float32)
    y = rng.integers(0, 10, 20)
    return mlp.Digits(X, y, X, y)


def test_digits_float32_and_bfloat16_with_stochastic_rounding():
    """4 epochs on the digits (one seed): both well above chance (10%), and the bfloat16
    weights with stochastic rounding within 4 points of float32 (the benchmark's 5 seeds
    of 30 epochs measure the gap precisely: bench/bench_lowp_accuracy.py)."""
    pytest.importorskip("sklearn")
    ml_dtypes = pytest.importorskip("ml_dtypes")
    data = mlp.load_digits_split()
    assert data.X_train.shape == (1347, 64) and data.X_test.shape == (450, 64)
    full = mlp.train(fastgd.AdamW, data, {"lr": 3e-3}, epochs=4, seed=1)
    low = mlp.train(fastgd.AdamW, data, {"lr": 3e-3, "stochastic_rounding": True, "seed": 1},
                    epochs=4, seed=1, param_dtype=ml_dtypes.bfloat16)
    assert full.history.loss[-1] < full.history.loss[0]
    assert all(p.dtype == ml_dtypes.bfloat16 for p in low.model.params)
    a, b = full.history.test_accuracy[-1], low.history.test_accuracy[-1]
    assert a > 0.85 and b > 0.85
    assert abs(a - b) < 0.04
