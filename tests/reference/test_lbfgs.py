"""L-BFGS's vector operations: the eight-lane order by hand, the two-loop recursion against
the dense BFGS inverse Hessian, the first iterations of a step by hand, and every backend
against the reference bit for bit (float32 and float64, history of several pairs)."""

from __future__ import annotations

import numpy as np
import pytest

import fastgd
from fastgd import backends
from fastgd.reference import lbfgs as ref

DTYPES = (np.float32, np.float64)


def test_dot_sums_eight_lanes_then_pairs():
    # x . y with products 1e16, 1, -1e16, 1, ... : the lanes decide what survives
    x = np.array([1e16, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, -1e16, 1.0])
    y = np.ones(10)
    # lane 0: 1e16 + -1e16 = 0; lane 1: 1 + 1 = 2; lanes 2..7: 1 each -> 0 + 2 + 6 = 8
    assert ref.lbfgs_dot(x, y) == 8.0
    # NumPy's pairwise sum would lose the ones next to 1e16; the lanes keep them apart
    assert ref.lbfgs_abs_sum(np.array([1.0, -2.0, 3.0])) == 6.0
    assert ref.lbfgs_dot(np.empty(0), np.empty(0)) == 0.0
    assert ref.lbfgs_abs_max(np.array([1.0, -3.0, 2.0])) == 3.0
    assert np.isnan(ref.lbfgs_abs_max(np.array([1.0, np.nan, 2.0])))
    assert ref.lbfgs_abs_max(np.empty(0)) == 0.0


def test_float32_products_are_exact_in_float64():
    x = np.array([1 + 2.0**-23] * 3, dtype=np.float32)
    exact = 3 * (1 + 2.0**-23) ** 2
    assert ref.lbfgs_dot(x, x) == exact  # float32 arithmetic would round each product


def test_memory_writes_the_pair_and_returns_its_products():
    g, g_prev, d = np.array([1.0, 2.0]), np.array([0.5, -1.0]), np.array([2.0, -4.0])
    y, s = np.empty(2), np.empty(2)
    ys, yy = ref.lbfgs_memory(y, s, g, g_prev, d, 0.25)
    np.testing.assert_array_equal(y, [0.5, 3.0])
    np.testing.assert_array_equal(s, [0.5, -1.0])
    assert (ys, yy) == (0.25 - 3.0, 0.25 + 9.0)


def _bfgs_inverse(pairs, h0, n):
    """The dense inverse Hessian of BFGS from H = h0 I over the pairs (s, y), oldest first:
    H <- (I - rho s y^T) H (I - rho y s^T) + rho s s^T."""
    H = h0 * np.eye(n)
    for s, y in pairs:
        rho = 1.0 / (y @ s)
        V = np.eye(n) - rho * np.outer(y, s)
        H = V.T @ H @ V + rho * np.outer(s, s)
    return H


def test_two_loop_is_the_bfgs_inverse_times_the_gradient(rng):
    n = 6
    M = rng.standard_normal((n, n))
    A = M @ M.T + n * np.eye(n)  # positive definite: y = A s has y . s > 0
    pairs = [(s, A @ s) for s in rng.standard_normal((4, n))]
    g = rng.standard_normal(n)
    h = float(pairs[-1][0] @ pairs[-1][1] / (pairs[-1][1] @ pairs[-1][1]))
    d, al = np.empty(n), np.empty(4)
    ref.lbfgs_two_loop(d, g, [y for _, y in pairs], [s for s, _ in pairs],
                       [1.0 / (y @ s) for s, y in pairs], h, al)
    np.testing.assert_allclose(d, -_bfgs_inverse(pairs, h, n) @ g, rtol=1e-10, atol=1e-12)


def test_two_loop_without_history_is_minus_the_gradient():
    g = np.array([1.0, -2.0, 0.5])
    d = np.empty(3)
    ref.lbfgs_two_loop(d, g, [], [], [], 1.0, np.empty(0))
    np.testing.assert_array_equal(d, -g)


def test_first_two_iterations_by_hand():
    """f(w) = sum(a_i w_i^2) / 2 from w = [1, 1], lr = 1, no line search."""
    a = np.array([1.0, 3.0])
    w = np.array([1.0, 1.0])

    def closure():
        return float(0.5 * (a * w * w).sum()), [a * w]

    opt = fastgd.LBFGS([w], max_iter=2, max_eval=10)  # default max_eval: 2 * 5 // 4 = 2
    assert opt.step(closure) == 2.0
    # iteration 1: d = -g = [-1, -3], t = min(1, 1/|g|_1) * lr = 1/4
    w1 = np.array([1.0, 1.0]) + 0.25 * np.array([-1.0, -3.0])
    # iteration 2: s = t d, y = a s, rho = 1/(y.s), H0 = (y.s)/(y.y), then the two loops
    g1 = a * w1
    s, y = 0.25 * np.array([-1.0, -3.0]), a * 0.25 * np.array([-1.0, -3.0])
    h = (y @ s) / (y @ y)
    d2 = -_bfgs_inverse([(s, y)], h, 2) @ g1
    np.testing.assert_allclose(w, w1 + d2, rtol=1e-15)
    st = opt.state[0]
    assert st["n_iter"] == 2 and st["func_evals"] == 2 and st["t"] == 1
    np.testing.assert_allclose(st["old_stps"][0], s, rtol=1e-15)
    np.testing.assert_allclose(st["old_dirs"][0], y, rtol=1e-15)
    assert st["ro"] == [pytest.approx(1 / (y @ s), rel=1e-15)]
    assert st["H_diag"] == pytest.approx(h, rel=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 1000, 70_001])
def test_every_backend_gives_the_reference_bits(any_backend, dtype, n):
    rng = np.random.default_rng(n)
    k = backends.active()

    def draw():
        return rng.standard_normal(n).astype(dtype)

    x, y = draw(), draw()
    for name in ("lbfgs_dot", "lbfgs_abs_sum", "lbfgs_abs_max"):
        args = (x, y) if name == "lbfgs_dot" else (x,)
        assert getattr(k, name)(*args) == getattr(ref, name)(*args), name
    z, z_ref = y.copy(), y.copy()
    k.lbfgs_axpy(z, -0.37, x)
    ref.lbfgs_axpy(z_ref, -0.37, x)
    assert z.tobytes() == z_ref.tobytes()
    pairs = [(draw(), draw()) for _ in range(5)]
    ro = [0.3, -0.2, 0.7, 0.1, 1.3]
    outs = []
    for impl in (k, ref):
        d, al = np.empty(n, dtype), np.zeros(5)
        impl.lbfgs_two_loop(d, x, [p[0] for p in pairs], [p[1] for p in pairs], ro, 0.6, al)
        yy, ss = np.empty(n, dtype), np.empty(n, dtype)
        products = impl.lbfgs_memory(yy, ss, x, y, d, 0.3)
        outs.append((d.tobytes(), al.tobytes(), yy.tobytes(), ss.tobytes(), products))
    assert outs[0] == outs[1]


def test_the_backends_check_their_arrays(any_backend):
    k = backends.active()
    x = np.ones(4)
    with pytest.raises(ValueError, match="lbfgs_dot: y has 3 elements"):
        k.lbfgs_dot(x, np.ones(3))
    with pytest.raises(TypeError, match="lbfgs_dot: y has dtype float32"):
        k.lbfgs_dot(x, np.ones(4, np.float32))
    with pytest.raises(ValueError, match="1-D, C-contiguous"):
        k.lbfgs_abs_max(np.ones(8)[::2])
    frozen = np.ones(4)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        k.lbfgs_axpy(frozen, 1.0, x)
    with pytest.raises(TypeError, match="must be a numpy.ndarray"):
        k.lbfgs_abs_sum([1.0, 2.0])
    d = np.zeros(4)
    with pytest.raises(ValueError, match="old_stps\\[0\\] has 3 elements"):
        k.lbfgs_two_loop(d, x, [np.ones(4)], [np.ones(3)], [1.0], 1.0, np.zeros(1))
    assert (d == 0).all()  # nothing written before the checks passed
