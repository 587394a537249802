"""fastgd.reference.sparse_momentum: the closed-form catch-up of a column's skipped steps
against the steps taken one by one (torch.optim.SGD's update on the gradient lam * w)."""

from __future__ import annotations

import numpy as np
import pytest

from fastgd.reference.sparse_momentum import FIRST, LOW, catch_up, momentum_table


def _steps(w, m, last, t, lr, mu, damp, nesterov, lam):
    for step in range(last, t):
        g = lam * w
        m = g if step == 0 else mu * m + (1.0 - damp) * g
        w = w - lr * (g + mu * m if nesterov else m)
    return w, m


@pytest.mark.parametrize("mu,damp,nesterov,lam", [(0.9, 0.0, False, 0.0),
                                                   (0.99, 0.3, False, 0.0),
                                                   (0.9, 0.0, True, 0.05),
                                                   (0.5, 0.5, False, 0.2),
                                                   (0.999, 0.0, True, 1e-3)])
def test_catch_up_equals_the_steps(mu, damp, nesterov, lam):
    lr = 0.1
    pw = momentum_table(lr, mu, damp, nesterov, lam)
    rng = np.random.default_rng(0)
    for last, k in [(0, 1), (0, 2), (3, 1), (0, 37), (5, 1000), (1, 4095), (0, 6000),
                    (2, 1024), (0, 1025), (7, 20000)]:
        w0, m0 = rng.standard_normal(), 0.0 if last == 0 else rng.standard_normal()
        want = _steps(w0, m0, last, last + k, lr, mu, damp, nesterov, lam)
        got = catch_up(w0, m0, last, last + k, pw)
        scale = max(abs(w0), abs(m0))
        assert abs(got[0] - want[0]) <= 1e-12 * scale
        assert abs(got[1] - want[1]) <= 1e-12 * scale


def test_table():
    pw = momentum_table(0.1, 0.9, 0.0, False, 0.0)
    assert pw.shape == (FIRST + 1, 4) and pw.dtype == np.float64
    np.testing.assert_array_equal(pw[0], [1.0, 0.0, 0.0, 1.0])
    np.testing.assert_array_equal(pw[1], [1.0, -0.1 * 0.9, 0.0, 0.9])
    np.testing.assert_array_equal(pw[FIRST], [1.0, 0.0, 0.0, 0.0])
    a = pw[1].reshape(2, 2)
    np.testing.assert_allclose(pw[37].reshape(2, 2), np.linalg.matrix_power(a, 37),
                               rtol=1e-14)
    np.testing.assert_allclose(pw[LOW + 2].reshape(2, 2),
                               np.linalg.matrix_power(a, 4 * LOW), rtol=1e-12)
