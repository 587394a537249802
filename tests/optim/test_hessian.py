"""fastgd.optim.hessian: the Gauss-Newton-Bartlett and Hutchinson estimators on problems whose
Hessian (or Gauss-Newton) diagonal is known exactly, to a statistical tolerance (five
standard errors, from the estimates' own spread or the exact variance), and seeded
reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

import fastgd
from fastgd.optim import hessian

# -- softmax and logistic regression ----------------------------------------------------------

def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class SoftmaxRegression:
    """logits = X W^T + b over B examples; the mean cross-entropy and its gradient."""

    def __init__(self, rng, n=12, d=3, c=4):
        self.X = rng.standard_normal((n, d))
        self.W = rng.standard_normal((c, d))
        self.b = rng.standard_normal(c)

    def logits(self):
        return self.X @ self.W.T + self.b

    def grad(self, labels):
        G = _softmax(self.logits())
        G[np.arange(len(labels)), labels] -= 1
        G /= len(labels)
        return [G.T @ self.X, G.sum(axis=0)]

    def gauss_newton_diagonal(self):
        """(1/B) sum_b J_b^T (diag p_b - p_b p_b^T) J_b, diagonal: for W[c, d]
        mean_b p_bc (1 - p_bc) x_bd^2, for b[c] mean_b p_bc (1 - p_bc)."""
        P = _softmax(self.logits())
        v = P * (1 - P)
        return [v.T @ self.X ** 2 / len(self.X), v.mean(axis=0)]


def _mean_and_error(samples):
    """Mean of the estimates of each parameter, and five standard errors of it."""
    stacked = [np.stack(s) for s in zip(*samples)]
    n = len(samples)
    return ([s.mean(axis=0) for s in stacked],
            [5 * s.std(axis=0, ddof=1) / np.sqrt(n) for s in stacked])


def test_gauss_newton_bartlett_is_unbiased_for_softmax_regression():
    model = SoftmaxRegression(np.random.default_rng(0))
    rng = np.random.default_rng(1)
    samples = [hessian.gauss_newton_bartlett(model.logits(), model.grad, rng)
               for _ in range(20000)]
    means, errors = _mean_and_error(samples)
    for mean, error, exact in zip(means, errors, model.gauss_newton_diagonal()):
        assert (np.abs(mean - exact) <= error).all(), (mean, exact, error)
        assert (error < 0.25 * exact).all()  # a tolerance that tells a wrong scale apart
        # without the factor B (the batch size) the mean would be exact / 12: far outside


def test_gauss_newton_bartlett_for_logistic_regression_is_the_hessian():
    # binary logistic regression as two classes with logits [0, x.w]: the Hessian of the
    # mean loss is mean_b s_b (1 - s_b) x_b x_b^T, s = sigmoid(x.w)
    gen = np.random.default_rng(2)
    X, w = gen.standard_normal((10, 4)), gen.standard_normal(4)

    def logits():
        return np.stack([np.zeros(len(X)), X @ w], axis=1)

    def grad(labels):
        s = 1 / (1 + np.exp(-(X @ w)))
        return [X.T @ (s - labels) / len(X)]

    s = 1 / (1 + np.exp(-(X @ w)))
    exact = (s * (1 - s)) @ X ** 2 / len(X)
    rng = np.random.default_rng(3)
    samples = [hessian.gauss_newton_bartlett(logits, grad, rng) for _ in range(20000)]
    (mean,), (error,) = _mean_and_error(samples)
    assert (np.abs(mean - exact) <= error).all() and (error < 0.25 * exact).all()


def test_gauss_newton_bartlett_by_hand():
    # one position, labels drawn by u: logits [0, 0] -> p = [0.5, 0.5]
    rng = np.random.default_rng(4)
    u = np.random.default_rng(4).random(3)
    labels_seen = []

    def grad(labels):
        labels_seen.append(labels.copy())
        return [np.array([1.0, -2.0]) * (labels.sum() + 1), None]

    est = hessian.gauss_newton_bartlett(np.zeros((3, 2)), grad, rng)
    np.testing.assert_array_equal(labels_seen[0], (u >= 0.5).astype(int))
    k = labels_seen[0].sum() + 1
    np.testing.assert_array_equal(est[0], 3 * np.array([1.0, 4.0]) * k * k)
    assert est[1] is None
    est = hessian.gauss_newton_bartlett(np.zeros((3, 2)), grad, rng, batch_size=1)
    k = labels_seen[1].sum() + 1
    np.testing.assert_array_equal(est[0], np.array([1.0, 4.0]) * k * k)


def test_gauss_newton_bartlett_batch_size_counts_positions_and_keeps_dtypes():
    logits = np.zeros((2, 5, 3), np.float32)  # 2 sequences of 5 tokens, 3 classes
    seen = {}

    def grad(labels):
        seen["shape"] = labels.shape
        return [np.ones((2, 2), np.float32), np.ones((), np.float64)]

    est = hessian.gauss_newton_bartlett(lambda: logits, grad, np.random.default_rng(0))
    assert seen["shape"] == (2, 5)
    assert est[0].dtype == np.float32 and (est[0] == 10).all()
    assert est[1].dtype == np.float64 and est[1].shape == () and est[1] == 10


def test_gauss_newton_bartlett_is_reproducible_with_a_seed():
    model = SoftmaxRegression(np.random.default_rng(5))

    def run(seed):
        rng = np.random.default_rng(seed)
        return [hessian.gauss_newton_bartlett(model.logits(), model.grad, rng)
                for _ in range(3)]

    a, b, c = run(7), run(7), run(8)
    for x, y in zip(a, b):
        for p, q in zip(x, y):
            np.testing.assert_array_equal(p, q)
    assert any(not np.array_equal(p, q) for x, y in zip(a, c) for p, q in zip(x, y))


def test_sample_labels_follow_the_softmax():
    logits = np.array([[0.0, 1.0, -1.0, -np.inf], [2.0, 2.0, 2.0, 2.0]])
    rng = np.random.default_rng(6)
    draws = np.stack([hessian.sample_labels(logits, rng) for _ in range(40000)])
    assert draws.shape == (40000, 2) and draws.dtype == np.int64
    p = _softmax(logits)
    for row in range(2):
        freq = np.bincount(draws[:, row], minlength=4) / len(draws)
        error = 5 * np.sqrt(p[row] * (1 - p[row]) / len(draws))
        assert (np.abs(freq - p[row]) <= error).all(), (freq, p[row])
    assert not (draws[:, 0] == 3).any()  # a -inf logit is never drawn


@pytest.mark.parametrize("logits,error,pattern", [
    (np.array([[0.0, np.nan]]), ValueError, "NaN"),
    (np.array([[0.0, np.inf]]), ValueError, r"\+inf"),
    (np.array([[-np.inf, -np.inf]]), ValueError, "finite logit"),
    (np.zeros((2, 0)), ValueError, "at least one class"),
    (np.array(1.0), ValueError, "shape"),
    (np.array([["a", "b"]]), TypeError, "real numbers"),
])
def test_sample_labels_rejects_bad_logits(logits, error, pattern):
    with pytest.raises(error, match=pattern):
        hessian.sample_labels(logits, np.random.default_rng(0))


def test_gauss_newton_bartlett_rejects_bad_arguments():
    zeros = np.zeros((2, 3))
    ok = lambda labels: [np.ones(2)]  # noqa: E731
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        hessian.gauss_newton_bartlett(zeros, ok, np.random.RandomState(0))
    with pytest.raises(ValueError, match="batch_size must be a positive number"):
        hessian.gauss_newton_bartlett(zeros, ok, np.random.default_rng(0), batch_size=0)
    with pytest.raises(TypeError, match="batch_size"):
        hessian.gauss_newton_bartlett(zeros, ok, np.random.default_rng(0), batch_size="2")
    with pytest.raises(TypeError, match="loss_grad must return a list"):
        hessian.gauss_newton_bartlett(zeros, lambda labels: np.ones(2),
                                      np.random.default_rng(0))
    with pytest.raises(TypeError, match="position 0"):
        hessian.gauss_newton_bartlett(zeros, lambda labels: [[1.0, 2.0]],
                                      np.random.default_rng(0))


# -- Hutchinson --------------------------------------------------------------------------------

def _split(vector, shapes):
    out, start = [], 0
    for s in shapes:
        n = int(np.prod(s))
        out.append(vector[start:start + n].reshape(s))
        start += n
    return out


def _quadratic(rng, shapes):
    """The Hessian A of 1/2 theta^T A theta over parameters of these shapes, and its hvp."""
    n = sum(int(np.prod(s)) for s in shapes)
    B = rng.standard_normal((n, n))
    A = B @ B.T / n + np.diag(rng.uniform(0.5, 2.0, n))

    def hvp(vectors):
        return _split(A @ np.concatenate([v.ravel() for v in vectors]), shapes)

    return A, hvp


def test_hutchinson_is_unbiased_with_the_known_variance():
    shapes = [(3, 2), (4,), ()]
    A, hvp = _quadratic(np.random.default_rng(0), shapes)
    params = [np.zeros(s) for s in shapes]
    n = 20000
    est = hessian.hutchinson(hvp, params, np.random.default_rng(1), samples=n)
    # u_i (A u)_i = A_ii + sum_{j != i} A_ij u_i u_j: variance sum_{j != i} A_ij^2
    off = A - np.diag(np.diag(A))
    error = 5 * np.sqrt((off ** 2).sum(axis=1) / n)
    got = np.concatenate([e.ravel() for e in est])
    assert (np.abs(got - np.diag(A)) <= error).all()
    assert (error < 0.1 * np.diag(A)).all()
    assert [e.shape for e in est] == shapes


def test_hutchinson_is_exact_for_a_diagonal_hessian_from_one_sample():
    d = np.array([3.0, -1.5, 0.25, 7.0])
    est = hessian.hutchinson(lambda v: [d[:3] * v[0], d[3:] * v[1]],
                             [np.zeros(3), np.zeros(1)], np.random.default_rng(2))
    np.testing.assert_array_equal(np.concatenate(est), d)


def test_hutchinson_signs_averaging_and_dtypes():
    # the sign vectors: per sample, per parameter, rng.integers(0, 2, shape) -> -1, +1
    seen = []

    def hvp(vectors):
        seen.append([v.copy() for v in vectors])
        return [np.full(v.shape, 2.0, np.float32) for v in vectors]

    params = [np.zeros((2, 2), np.float32), np.zeros(3, np.float32)]
    est = hessian.hutchinson(hvp, params, np.random.default_rng(3), samples=4)
    ref = np.random.default_rng(3)
    expected = [np.zeros((2, 2)), np.zeros(3)]
    for vectors in seen:
        for k, (v, p) in enumerate(zip(vectors, params)):
            assert v.dtype == np.float32
            np.testing.assert_array_equal(v, 2 * ref.integers(0, 2, size=p.shape) - 1)
            expected[k] += 2.0 * v
    assert len(seen) == 4
    for e, x in zip(est, expected):
        assert e.dtype == np.float32
        np.testing.assert_array_equal(e, x / 4)


def test_hutchinson_is_reproducible_with_a_seed():
    shapes = [(5,), (2, 3)]
    _, hvp = _quadratic(np.random.default_rng(4), shapes)
    params = [np.zeros(s) for s in shapes]
    a = hessian.hutchinson(hvp, params, np.random.default_rng(9), samples=3)
    b = hessian.hutchinson(hvp, params, np.random.default_rng(9), samples=3)
    c = hessian.hutchinson(hvp, params, np.random.default_rng(10), samples=3)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p, q)
    assert any(not np.array_equal(p, q) for p, q in zip(a, c))


@pytest.mark.parametrize("call,error,pattern", [
    (lambda: hessian.hutchinson(lambda v: v, [np.zeros(2)], 0), TypeError, "Generator"),
    (lambda: hessian.hutchinson(lambda v: v, [np.zeros(2)], np.random.default_rng(0),
                                samples=0), ValueError, "samples"),
    (lambda: hessian.hutchinson(lambda v: v, [np.zeros(2)], np.random.default_rng(0),
                                samples=2.0), TypeError, "samples"),
    (lambda: hessian.hutchinson(lambda v: v[:1], [np.zeros(2), np.zeros(1)],
                                np.random.default_rng(0)), ValueError, "returned 1 arrays"),
    (lambda: hessian.hutchinson(lambda v: [np.zeros(3)], [np.zeros(2)],
                                np.random.default_rng(0)), ValueError, r"shape \(2,\)"),
    (lambda: hessian.hutchinson(lambda v: v, np.zeros(2), np.random.default_rng(0)),
     TypeError, "params must be a list"),
    (lambda: hessian.hutchinson(None, [np.zeros(2)], np.random.default_rng(0)),
     TypeError, "hvp must be a callable"),
])
def test_hutchinson_rejects_bad_arguments(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


# -- with the optimizer ------------------------------------------------------------------------

def test_sophia_with_hutchinson_on_a_quadratic():
    # the Sophia step with the exact diagonal of a diagonal quadratic, unclipped, is a
    # Newton-like step: p <- p - lr * m / (rho * h); with b1 = 0, b2 = 0 and rho = 1 it
    # lands lr of the way to the minimum each step
    d = np.array([0.5, 2.0, 8.0])
    w = np.array([1.0, -1.0, 0.5])
    opt = fastgd.Sophia([w], lr=0.5, betas=(0.0, 0.0), rho=1.0, weight_decay=0.0, eps=0.0)
    opt.update_hessian(hessian.hutchinson(lambda v: [d * v[0]], [w],
                                          np.random.default_rng(0)))
    for _ in range(3):
        opt.step([d * w])
    np.testing.assert_allclose(w, np.array([1.0, -1.0, 0.5]) * 0.5 ** 3, rtol=1e-15)
