"""fastgd.SparseAdam as an optimizer: torch's validation, the gradient forms (rows,
scipy.sparse, dense refused), all-or-nothing steps, None and non-finite gradients, step
counts, state dicts and checkpoints, and the backends."""

from __future__ import annotations

import numpy as np
import pytest

import fastgd
from fastgd import backends


@pytest.mark.parametrize("options, error, match", [
    ({"lr": 0.0}, ValueError, "Invalid learning rate: 0.0"),
    ({"eps": 0.0}, ValueError, "Invalid epsilon value: 0.0"),
    ({"betas": (1.0, 0.0)}, ValueError, "Invalid beta parameter at index 0: 1.0"),
    ({"betas": (0.9, -0.1)}, ValueError, "Invalid beta parameter at index 1"),
    ({"lr": float("nan")}, ValueError, "Invalid learning rate"),
    ({"maximize": "yes"}, TypeError, "maximize must be True or False"),
])
def test_validation(options, error, match):
    with pytest.raises(error, match=match):
        fastgd.SparseAdam([np.zeros((3, 2))], **options)


def test_parameters_must_be_dense_and_real():
    sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(ValueError, match="SparseAdam requires dense parameter tensors"):
        fastgd.SparseAdam([sparse.csr_matrix(np.eye(3))])
    with pytest.raises(ValueError, match="SparseAdam does not support complex parameters"):
        fastgd.SparseAdam([{"params": [np.zeros(3, complex)]}])


def test_gradient_forms_and_their_errors():
    p = np.zeros((5, 3))
    opt = fastgd.SparseAdam([p])
    with pytest.raises(TypeError, match="does not support dense gradients"):
        opt.step([np.ones((5, 3))])
    with pytest.raises(TypeError, match=r"grads\[0\] must be \(indices, rows\)"):
        opt.step([[1, 2, 3]])
    with pytest.raises(ValueError, match="out of range"):
        opt.step([(np.array([5]), np.ones((1, 3)))])
    with pytest.raises(ValueError, match="out of range"):
        opt.step([(np.array([-1]), np.ones((1, 3)))])
    with pytest.raises(TypeError, match="1-D array of integers"):
        opt.step([(np.array([0.5]), np.ones((1, 3)))])
    with pytest.raises(ValueError, match=r"the rows have shape \(2, 3\), expected \(1, 3\)"):
        opt.step([(np.array([1]), np.ones((2, 3)))])
    with pytest.raises(TypeError, match="dtype float32"):
        opt.step([(np.array([1]), np.ones((1, 3), np.float32))])
    with pytest.raises(ValueError, match="0-d"):
        fastgd.SparseAdam([np.zeros(())]).step([(np.array([0]), np.ones(1))])
    assert not p.any() and opt.state == {}


def test_rows_of_a_3d_parameter_and_lists():
    p = np.zeros((4, 2, 3))
    opt = fastgd.SparseAdam([p], lr=0.1)
    opt.step([([2, 0], np.ones((2, 2, 3)))])
    assert (p[[0, 2]] < 0).all() and not p[[1, 3]].any()


def test_scipy_gradients_match_the_row_form():
    sparse = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(0)
    dense = rng.standard_normal((6, 4)) * (rng.random((6, 4)) < 0.3)
    a, b = np.zeros((6, 4)), np.zeros((6, 4))
    fastgd.SparseAdam([a], lr=0.1).step([sparse.csr_matrix(dense)])
    # the entries a CSR matrix stores are those of the dense matrix's non-zeros
    coo = sparse.coo_matrix(dense)
    flat = np.zeros(24)
    fastgd.SparseAdam([flat], lr=0.1).step([(coo.row * 4 + coo.col, coo.data)])
    np.testing.assert_array_equal(a.reshape(-1), flat)
    # row form updates whole rows, zeros included
    touched = np.flatnonzero(np.abs(dense).sum(axis=1))
    fastgd.SparseAdam([b], lr=0.1).step([(touched, dense[touched])])
    assert np.count_nonzero(b) >= np.count_nonzero(a)
    # a 1-D parameter takes a 1 x n matrix, and a wrong shape is refused
    w = np.zeros(4)
    fastgd.SparseAdam([w], lr=0.1).step([sparse.csr_matrix(np.array([[0.0, 1.0, 0.0, 0.0]]))])
    assert w[1] < 0 and not w[[0, 2, 3]].any()
    with pytest.raises(ValueError, match=r"has shape \(4, 6\)"):
        fastgd.SparseAdam([a]).step([sparse.csr_matrix(np.ones((4, 6)))])


def test_a_rejected_step_changes_nothing_and_steps_count_per_parameter():
    p, q = np.zeros((4, 2)), np.zeros(3)
    opt = fastgd.SparseAdam([p, q], lr=0.1)
    opt.step([([1], np.ones((1, 2))), None])
    assert opt.state[0]["step"] == 1 and 1 not in opt.state
    before = opt.state_dict()
    with pytest.raises(ValueError, match=r"grads\[1\]"):
        opt.step([([2], np.ones((1, 2))), ([3], np.ones(1))])
    np.testing.assert_array_equal(p[2], 0.0)
    assert opt.state[0]["step"] == 1 and 1 not in opt.state
    np.testing.assert_array_equal(opt.state[0]["exp_avg"], before["state"][0]["exp_avg"])
    opt.step([(np.array([], int), np.ones((0, 2))), ([0], np.ones(1))])  # an empty gradient
    assert opt.state[0]["step"] == 2 and opt.state[1]["step"] == 1  # counts, as torch's


def test_nonfinite_gradients():
    p = np.zeros((4, 2))
    opt = fastgd.SparseAdam([p], lr=0.1)
    bad = ([1], np.array([[np.nan, 1.0]]))
    assert opt.step([bad], nonfinite="skip") is False
    assert opt.state == {} and not p.any()
    with pytest.raises(FloatingPointError, match=r"grads\[0\]"):
        opt.step([bad], nonfinite="raise")
    assert opt.step([([1], np.ones((1, 2)))], nonfinite="raise") is True
    opt.step([bad])  # by default a NaN propagates into its row only, as in torch
    assert np.isnan(p[1, 0]) and np.isfinite(p[[0, 2, 3]]).all()


def test_rows_that_are_views_of_the_parameter():
    p = np.arange(8.0).reshape(4, 2)
    q = p.copy()
    fastgd.SparseAdam([p], lr=0.1).step([([0, 1], p[2:])])  # read before written
    fastgd.SparseAdam([q], lr=0.1).step([([0, 1], q[2:].copy())])
    np.testing.assert_array_equal(p, q)


def _run(steps=4, dtype=np.float32):
    rng = np.random.default_rng(1)
    p = np.asarray(rng.standard_normal((50, 8)), dtype)
    opt = fastgd.SparseAdam([p], lr=0.05)
    for _ in range(steps):
        idx = rng.integers(0, 50, 30)
        opt.step([(idx, np.asarray(rng.standard_normal((30, 8)), dtype))])
    return p, opt


def test_every_backend_gives_the_same_bits():
    results = []
    for name in backends.available():
        with fastgd.use_backend(name):
            results.append(_run()[0])
    for other in results[1:]:
        np.testing.assert_array_equal(results[0], other)


def test_state_dict_and_checkpoint_round_trips(tmp_path):
    p, opt = _run(2, np.float64)
    twin = p.copy()
    twin_opt = fastgd.SparseAdam([twin], lr=0.5)
    twin_opt.load_state_dict(opt.state_dict())
    fastgd.save(tmp_path / "sa.ckpt", optimizer=opt)
    third = np.zeros_like(p)
    third_opt = fastgd.SparseAdam([third])
    fastgd.load(tmp_path / "sa.ckpt").restore(optimizer=third_opt, params=[third])
    g = ([3, 7, 3], np.ones((3, 8)))
    for o in (opt, twin_opt, third_opt):
        o.step([g])
    np.testing.assert_array_equal(p, twin)
    np.testing.assert_array_equal(p, third)
    assert third_opt.state[0]["step"] == 3


def test_fit_refuses_sparse_adam():
    X = np.random.default_rng(4).standard_normal((20, 3))
    with pytest.raises(ValueError, match="fit does not train with SparseAdam"):
        fastgd.fit(fastgd.LinearRegression(), X, X[:, 0], optimizer="SparseAdam")


def test_cyclic_schedules_drive_lr_and_beta1():
    w = np.ones((3, 2))
    opt = fastgd.SparseAdam([w], lr=0.01)
    sched = fastgd.lr_scheduler.CyclicLR(opt, 0.001, 0.01, step_size_up=2)
    beta1 = []
    for _ in range(4):
        opt.step([([0, 2], w[:2] * 0.5)])
        sched.step()
        beta1.append(opt.param_groups[0]["betas"][0])
    np.testing.assert_allclose(beta1, [0.85, 0.8, 0.85, 0.9], rtol=1e-12)
    assert opt.param_groups[0]["lr"] == 0.001
