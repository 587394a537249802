"""SparseAdam's reference: the first steps by hand, coalescing, and the row kernel of every
backend against the numpy one, bit for bit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fastgd import backends, reference
from fastgd.reference.sparse_adam import check_rows, coalesce_rows, sparse_adam_scalars


def test_first_steps_by_hand():
    p = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    m, v = np.zeros_like(p), np.zeros_like(p)
    reference.sparse_adam(p, [1], np.array([[2.0, -4.0]]), m, v, lr=0.1, beta1=0.5,
                          beta2=0.75, eps=0.0, step=1)
    # m = 0.5 g, v = 0.25 g^2; step size 0.1 * sqrt(0.25) / 0.5 = 0.1: p -= 0.1 * sign(g)
    np.testing.assert_array_equal(m, [[0, 0], [1.0, -2.0], [0, 0]])
    np.testing.assert_array_equal(v, [[0, 0], [1.0, 4.0], [0, 0]])
    np.testing.assert_array_equal(p, [[1.0, 2.0], [2.9, 4.1], [5.0, 6.0]])
    # second step on rows 0 and 1: row 1 at its own moments, row 0 from zero moments
    reference.sparse_adam(p, [0, 1], np.array([[1.0, 1.0], [0.0, 0.0]]), m, v, lr=0.1,
                          beta1=0.5, beta2=0.75, eps=0.0, step=2, maximize=True)
    step_size = 0.1 * math.sqrt(1 - 0.75**2) / (1 - 0.5**2)
    np.testing.assert_array_equal(m, [[-0.5, -0.5], [0.5, -1.0], [0, 0]])
    np.testing.assert_array_equal(v, [[0.25, 0.25], [0.75, 3.0], [0, 0]])
    np.testing.assert_allclose(p[0], np.array([1.0, 2.0]) + step_size, rtol=1e-15)
    np.testing.assert_allclose(p[1], [2.9 - step_size * 0.5 / math.sqrt(0.75),
                                      4.1 + step_size * 1.0 / math.sqrt(3.0)], rtol=1e-15)
    assert p[2].tolist() == [5.0, 6.0]


def test_one_dimensional_parameters_update_entries():
    p = np.zeros(5)
    m, v = np.zeros(5), np.zeros(5)
    reference.sparse_adam(p, [4, 0], np.array([1.0, -1.0]), m, v, lr=0.1, beta1=0.9,
                          beta2=0.999, eps=1e-8, step=1)
    assert p[1:4].tolist() == [0.0, 0.0, 0.0] and p[4] < 0 < p[0]


def test_coalesce_sums_repeats_in_the_order_given():
    idx, rows = coalesce_rows(np.array([2, 0, 2, 2]),
                              np.array([[1.0], [5.0], [2.0**53], [-(2.0**53)]]))
    assert idx.tolist() == [0, 2]
    # (1 + 2^53) rounds to 2^53, then - 2^53: 0, not 1 (the order given, one after another)
    assert rows.tolist() == [[5.0], [0.0]]
    sorted_idx = np.array([0, 3])
    same = np.ones((2, 1))
    out_idx, out_rows = coalesce_rows(sorted_idx, same)
    assert out_idx is sorted_idx and out_rows is same  # sorted and distinct: as they are


def test_scalars():
    s = sparse_adam_scalars(0.01, 0.9, 0.999, 3)
    assert s["one_minus_beta1"] == 1 - 0.9 and s["one_minus_beta2"] == 1 - 0.999
    assert s["neg_step_size"] == -(0.01 * math.sqrt(1 - 0.999**3) / (1 - 0.9**3))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("maximize", [False, True])
def test_every_backend_gives_the_numpy_bits(dtype, maximize):
    rng = np.random.default_rng(0)
    n, width, k = 300, 7, 90
    start = [np.asarray(rng.standard_normal((n, width)), dtype),
             np.asarray(rng.standard_normal((n, width)), dtype),
             np.asarray(rng.random((n, width)), dtype)]
    idx = np.sort(rng.choice(n, k, replace=False)).astype(np.int64)
    rows = np.asarray(rng.standard_normal((k, width)) * 10.0 ** rng.integers(-20, 20, (k, 1)),
                      dtype)
    rows[0, 0], rows[1, 1] = np.nan, np.inf
    scalars = dict(sparse_adam_scalars(0.01, 0.9, 0.999, 7), eps=1e-8, maximize=maximize)
    results = {}
    for name in backends.available():
        arrays = [a.copy() for a in start]
        backends.load(name).sparse_adam_rows(*arrays, idx, rows.copy(), **scalars)
        results[name] = arrays
    for name, arrays in results.items():
        for a, b in zip(arrays, results["numpy"]):
            # the same bits, but a NaN's sign (the hardware's default NaN is negative)
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=name)
            ok = ~np.isnan(b)
            np.testing.assert_array_equal(a[ok].view(np.uint8), b[ok].view(np.uint8),
                                          err_msg=name)
    untouched = np.setdiff1d(np.arange(n), idx)
    for a, s in zip(results["numpy"], start):
        np.testing.assert_array_equal(a[untouched], s[untouched])


@pytest.mark.parametrize("backend", backends.available())
def test_every_backend_checks_before_writing(backend):
    function = backends.load(backend).sparse_adam_rows
    p, m, v = np.zeros((4, 2)), np.zeros((4, 2)), np.zeros((4, 2))
    rows = np.ones((2, 2))
    scalars = dict(sparse_adam_scalars(0.1, 0.9, 0.999, 1), eps=1e-8)
    for idx, error in ((np.array([0, 4]), ValueError), (np.array([1, 0]), ValueError),
                       (np.array([-1, 2]), ValueError), (np.array([0, 1], np.int32), TypeError)):
        with pytest.raises(error):
            function(p, m, v, idx, rows, **scalars)
    with pytest.raises(TypeError):
        function(p, m.astype(np.float32), v, np.array([0, 1]), rows, **scalars)
    with pytest.raises(ValueError):
        function(p, m, v, np.array([0, 1]), np.ones((3, 2)), **scalars)
    assert not p.any() and not m.any() and not v.any()
    check_rows(p, m, v, np.array([0, 3]), rows)  # fine
