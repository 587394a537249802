"""fastgd.minimize and the test functions of fastgd.functions."""

from __future__ import annotations

import numpy as np
import pytest

import fastgd
from fastgd import functions
from fastgd.functions import beale, himmelblau, quadratic_bowl, rosenbrock, saddle
from fastgd.functions import worked_example as example

ALL = [example, rosenbrock, himmelblau, beale, saddle, quadratic_bowl((1.0, 3.0, 10.0))]


def test_worked_example_starts_at_its_published_loss_and_reaches_25_over_x():
    assert example.f(example.x0) == pytest.approx(452.564, abs=1e-9)
    result = fastgd.minimize(example.f, example.x0, jac=example.grad, optimizer="sgd",
                             lr=0.1, max_iter=5000, tol=1e-9)
    assert result.success and "converged" in result.message
    np.testing.assert_allclose(result.x, 25 / np.arange(1.0, 6.0), rtol=0, atol=1e-6)
    assert result.history.loss[0] == pytest.approx(452.564)
    assert result.history.loss[-1] < 1e-12
    assert len(result.history) == result.nfev == result.nit + 1
    assert np.all(np.diff(result.history.loss) <= 0)  # plain GD, lr below 2/curvature


@pytest.mark.parametrize("fn", ALL, ids=lambda f: f.name.split()[0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gradients_match_finite_differences(fn, dtype):
    rng = np.random.default_rng(0)
    x = (fn.x0 + 0.3 * rng.standard_normal(fn.x0.shape)).astype(np.float64)
    g = fn.grad(x)
    h = 1e-6
    numeric = np.array([(fn.f(x + h * e) - fn.f(x - h * e)) / (2 * h)
                        for e in np.eye(x.size)])
    np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-5)
    assert fn.grad(x.astype(dtype)).dtype == dtype
    for m in fn.minima:
        assert fn.f(m) == pytest.approx(fn.minimum, abs=1e-8)
        np.testing.assert_allclose(fn.grad(m), 0, atol=1e-4)


@pytest.mark.parametrize("fn,optimizer,lr", [(rosenbrock, "adam", 0.01),
                                             (himmelblau, "sgd", 0.01),
                                             (beale, "Adam", 0.01)],
                         ids=["rosenbrock", "himmelblau", "beale"])
def test_classic_functions_reach_a_minimum(fn, optimizer, lr):
    result = fastgd.minimize(fn.f, fn.x0, jac=fn.grad, optimizer=optimizer, lr=lr,
                             max_iter=20000, tol=1e-6)
    assert result.success, result.message
    distance = np.min(np.linalg.norm(fn.minima - result.x, axis=1))
    assert distance < 1e-4 and result.fun < 1e-10


def test_the_update_is_exactly_the_optimizers():
    x = example.x0.copy()
    opt = fastgd.Adam([x], lr=0.05, betas=(0.8, 0.9))
    for _ in range(25):
        opt.step([example.grad(x)])
    result = fastgd.minimize(example.f, example.x0, jac=example.grad, optimizer=fastgd.Adam,
                             lr=0.05, betas=(0.8, 0.9), max_iter=25, tol=None)
    np.testing.assert_array_equal(result.x, x)
    assert result.nit == 25 and result.nfev == 26 and result.success


def test_jac_true_takes_value_and_gradient_from_fun_and_keeps_float32():
    calls = []

    def both(x):
        calls.append(1)
        return example.f(x), example.grad(x)

    x0 = example.x0.astype(np.float32)
    result = fastgd.minimize(both, x0, jac=True, lr=0.1, max_iter=10, tol=None)
    assert result.x.dtype == np.float32 and len(calls) == 11
    assert (x0 == example.x0.astype(np.float32)).all()  # x0 untouched


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the bowl's own
def test_divergence_stops_with_advice():
    bowl = quadratic_bowl((1.0, 10.0))
    result = fastgd.minimize(bowl.f, bowl.x0, jac=bowl.grad, lr=5.0, max_iter=10000)
    assert not result.success and "lower the learning rate" in result.message
    assert result.nit < 10000


def test_max_iter_and_callback_stop_the_run():
    result = fastgd.minimize(rosenbrock.f, rosenbrock.x0, jac=rosenbrock.grad, lr=1e-4,
                             max_iter=7)
    assert not result.success and result.nit == 7 and "max_iter = 7" in result.message
    seen = []
    result = fastgd.minimize(rosenbrock.f, rosenbrock.x0, jac=rosenbrock.grad, lr=1e-4,
                             callback=lambda x, f, g: seen.append(f) or len(seen) == 3)
    assert result.nit == 2 and len(seen) == 3 and "callback" in result.message
    zero = fastgd.minimize(rosenbrock.f, rosenbrock.x0, jac=rosenbrock.grad, max_iter=0,
                           tol=None)
    assert zero.nit == 0 and zero.success and (zero.x == rosenbrock.x0).all()


def test_a_gradient_that_is_the_iterate_itself_is_handled():
    # grad of |x|^2 / 2 is x: the returned gradient aliases the array being updated
    result = fastgd.minimize(lambda x: 0.5 * float(x @ x), np.ones(3), jac=lambda x: x,
                             lr=0.5, max_iter=3, tol=None)
    np.testing.assert_array_equal(result.x, np.full(3, 0.125))
    assert result.jac is not result.x


@pytest.mark.parametrize("kwargs,error,pattern", [
    (dict(optimizer="adamm"), ValueError, "optimizer must be one of"),
    (dict(optimizer=3), ValueError, "optimizer must be one of"),
    (dict(max_iter=-1), ValueError, "max_iter must be"),
    (dict(max_iter=2.5), ValueError, "max_iter must be"),
    (dict(tol=-1.0), ValueError, "tol must be"),
    (dict(tol="small"), TypeError, "tol must be a real"),
    (dict(lr=-1.0), ValueError, "Invalid learning rate"),
    (dict(jac=None), TypeError, "jac must be"),
    (dict(callback=3), TypeError, "callback must be"),
    (dict(momentum=0.9, optimizer="adam"), TypeError, "momentum"),
])
def test_bad_arguments_are_named(kwargs, error, pattern):
    args = dict(jac=example.grad)
    args.update(kwargs)
    with pytest.raises(error, match=pattern):
        fastgd.minimize(example.f, example.x0, **args)


def test_bad_functions_and_starts_are_named():
    with pytest.raises(ValueError, match=r"gradient has shape \(4,\)"):
        fastgd.minimize(example.f, example.x0, jac=lambda x: np.ones(4))
    with pytest.raises(TypeError, match="fun must return a real number"):
        fastgd.minimize(lambda x: "a", example.x0, jac=example.grad)
    with pytest.raises(TypeError, match=r"fun must return \(value, gradient\)"):
        fastgd.minimize(example.f, example.x0, jac=True)
    with pytest.raises(ValueError, match="x0 must be finite"):
        fastgd.minimize(example.f, [np.nan] * 5, jac=example.grad)
    with pytest.raises(TypeError, match="x0 must be real"):
        fastgd.minimize(example.f, ["a"] * 5, jac=example.grad)
    with pytest.raises(ValueError, match=r"must have shape \(5,\)"):
        example.f(np.ones(3))
    with pytest.raises(ValueError, match="positive"):
        quadratic_bowl((1.0, -1.0))
    assert fastgd.minimize(example.f, [4, 3, 1, 0, 0], jac=example.grad,
                           max_iter=1).x.dtype == np.float64


def test_history_columns():
    h = fastgd.History()
    h.append(loss=1.0, grad_norm=2.0, lr=0.1, time=0.0)
    assert h.loss == [1.0] and h["lr"] == [0.1] and len(h) == 1
    with pytest.raises(ValueError, match="missing"):
        h.append(loss=1.0)
    with pytest.raises(ValueError, match="unknown column"):
        h.append(loss=1.0, grad_norm=2.0, lr=0.1, time=0.0, val_loss=3.0)
    with pytest.raises(AttributeError, match="no column 'nope'"):
        _ = h.nope
    assert h.as_dict()["grad_norm"] == [2.0] and "1 rows" in repr(h)
    assert functions.saddle.minimum is None and functions.saddle.minima.shape == (0, 2)


# -- a closure-driven optimizer: L-BFGS ---------------------------------------------------

@pytest.mark.parametrize("line_search", [None, "strong_wolfe"])
def test_lbfgs_reaches_the_minimum_in_few_iterations(line_search):
    for fn, tol in ((example, 1e-9), (rosenbrock, 1e-8)):
        r = fastgd.minimize(fn.f, fn.x0, jac=fn.grad, optimizer="lbfgs", tol=tol,
                            line_search_fn=line_search, tolerance_change=0.0,
                            tolerance_grad=0.0)
        assert r.success and "converged" in r.message, (fn.name, r.message)
        np.testing.assert_allclose(r.x, fn.minima[0], atol=1e-6)
        assert r.nit < 100 and len(r.history) == r.nfev >= r.nit


def test_lbfgs_in_minimize_is_the_optimizers_step():
    """minimize's iterates are those of LBFGS.step(closure) called directly, with the
    evaluation at each iterate reused as the step's first."""
    r = fastgd.minimize(rosenbrock.f, rosenbrock.x0, jac=rosenbrock.grad,
                        optimizer="LBFGS", max_iter=40, tol=None, history_size=5)
    x = np.array(rosenbrock.x0, dtype=float)
    opt = fastgd.LBFGS([x], history_size=5)
    calls = []

    def closure():
        calls.append(1)
        return rosenbrock.f(x), [rosenbrock.grad(x)]

    for _ in range(2):  # 2 x 20 iterations
        opt.step(closure)
    assert r.nit == 40 and r.x.tobytes() == x.tobytes()
    assert r.nfev == len(calls) + 1  # and the evaluation at the end


def test_lbfgs_stops_when_it_makes_no_progress():
    r = fastgd.minimize(example.f, example.x0, jac=example.grad, optimizer="lbfgs",
                        tol=1e-12)
    assert not r.success and "tolerance_change" in r.message and r.nit < 1000
    r = fastgd.minimize(lambda x: float(x @ x), np.zeros(3), jac=lambda x: 2 * x,
                        optimizer="lbfgs", tol=None)
    assert r.success and "tolerance_grad" in r.message and r.nit == 0 and r.nfev == 2
