"""Test functions for gradient descent, each with its exact gradient and known minima.

Every function is an object with ``f(x) -> float``, ``grad(x) -> array`` (same shape and
dtype as ``x``), ``x0`` (the customary starting point) and ``minima`` (the minimizers, one
per row). They take float32 or float64 arrays and compute in that dtype.

- :data:`worked_example`: the example people meet first. Inputs ``x = [1, 2, 3, 4, 5]``,
  target ``y = 25``, five weights and the loss ``L(w) = 1/5 sum (w_i x_i - y)^2``; from
  ``w = [4.2, 3.6, 1.5, 0.7, 0.1]`` (loss 452.564) the minimum is ``w_i = 25 / x_i``.
- :func:`quadratic_bowl`: ``1/2 sum a_i x_i^2``, minimum 0 at the origin.
- :data:`rosenbrock`: ``(a - x)^2 + b (y - x^2)^2`` with a = 1, b = 100; minimum at (1, 1).
- :data:`himmelblau`: ``(x^2 + y - 11)^2 + (x + y^2 - 7)^2``; four minima, all 0.
- :data:`beale`: ``(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2``;
  minimum 0 at (3, 0.5).
- :data:`saddle`: ``x^2 - y^2``, a saddle point at the origin (no minimum).

Example::

    import fastgd
    from fastgd.functions import rosenbrock
    result = fastgd.minimize(rosenbrock.f, rosenbrock.x0, jac=rosenbrock.grad,
                             optimizer="adam", lr=0.02, max_iter=5000)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["TestFunction", "worked_example", "quadratic_bowl", "rosenbrock", "himmelblau",
           "beale", "saddle"]


@dataclass(frozen=True)
class TestFunction:
    """A differentiable function with its gradient, a starting point and its minima.

    ``f(x)`` (also ``self(x)``) the value, ``grad(x)`` the gradient, ``x0`` the usual
    starting point, ``minima`` one minimizer per row, ``minimum`` the value there (None
    for a function without a minimum, such as :data:`saddle`). The formulas are the
    standard optimization test functions' (their names; see the module's docstring).

    Example::

        from fastgd.functions import rosenbrock
        assert rosenbrock(rosenbrock.minima[0]) == rosenbrock.minimum == 0.0
        assert np.allclose(rosenbrock.grad(rosenbrock.minima[0]), 0.0)
        r = fastgd.minimize(rosenbrock.f, rosenbrock.x0, jac=rosenbrock.grad,
                            optimizer="adam", lr=0.05, max_iter=3000, tol=None)
        assert np.allclose(r.x, rosenbrock.minima[0], atol=1e-2)
    """

    name: str
    f: Callable[[np.ndarray], float]
    grad: Callable[[np.ndarray], np.ndarray]
    x0: np.ndarray
    minima: np.ndarray  # one minimizer per row (empty for a function without minimum)
    minimum: float | None

    def __call__(self, x: np.ndarray) -> float:
        return self.f(x)

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        return self.f(x), self.grad(x)


def _vector(x, size: int, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name}: x must be a float32 or float64 array, got dtype {x.dtype}")
    if x.shape != (size,):
        raise ValueError(f"{name}: x must have shape ({size},), got {x.shape}")
    return x


# -- the worked example ------------------------------------------------------------------

_X = np.arange(1.0, 6.0)
_Y = 25.0


def _example_f(w):
    w = _vector(w, 5, "worked_example")
    residual = w * _X.astype(w.dtype) - w.dtype.type(_Y)
    return float(np.mean(residual * residual))


def _example_grad(w):
    w = _vector(w, 5, "worked_example")
    x = _X.astype(w.dtype)
    residual = w * x - w.dtype.type(_Y)
    return (w.dtype.type(2.0 / 5.0) * residual * x).astype(w.dtype)


worked_example = TestFunction(
    "worked example: 1/5 sum (w_i x_i - 25)^2, x = 1..5", _example_f, _example_grad,
    np.array([4.2, 3.6, 1.5, 0.7, 0.1]), (_Y / _X)[None, :], 0.0)


# -- classic functions ---------------------------------------------------------------------

def quadratic_bowl(scales: ArrayLike = (1.0, 10.0)) -> TestFunction:
    r"""``1/2 sum a_i x_i^2`` with curvatures ``a = scales`` (all > 0); gradient ``a * x``.
    Plain gradient descent converges for ``lr < 2 / max(a)``:

    .. math::
        f(x) = \tfrac12 \sum_i a_i x_i^2, \qquad
        x_i \leftarrow x_i - \eta a_i x_i = (1 - \eta a_i)\, x_i

    Example::

        bowl = fastgd.functions.quadratic_bowl([1.0, 10.0])
        r = fastgd.minimize(bowl.f, bowl.x0, jac=bowl.grad, lr=0.19, tol=1e-8)
        assert r.success  # 0.19 < 2 / 10
    """
    a = np.asarray(scales, dtype=np.float64)
    if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)) or not np.all(a > 0):
        raise ValueError(f"scales must be a non-empty list of positive numbers, got {scales!r}")
    n = a.size

    def f(x):
        x = _vector(x, n, "quadratic_bowl")
        return float(0.5 * np.sum(a.astype(x.dtype) * x * x))

    def grad(x):
        x = _vector(x, n, "quadratic_bowl")
        return a.astype(x.dtype) * x

    return TestFunction(f"quadratic bowl, curvatures {a.tolist()}", f, grad, np.ones(n),
                        np.zeros((1, n)), 0.0)


def _rosenbrock_f(v):
    x, y = _vector(v, 2, "rosenbrock")
    return float((1 - x) ** 2 + 100 * (y - x * x) ** 2)


def _rosenbrock_grad(v):
    v = _vector(v, 2, "rosenbrock")
    x, y = v
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)], dtype=v.dtype)


rosenbrock = TestFunction("Rosenbrock (a=1, b=100)", _rosenbrock_f, _rosenbrock_grad,
                          np.array([-1.5, 2.0]), np.array([[1.0, 1.0]]), 0.0)


def _himmelblau_f(v):
    x, y = _vector(v, 2, "himmelblau")
    return float((x * x + y - 11) ** 2 + (x + y * y - 7) ** 2)


def _himmelblau_grad(v):
    v = _vector(v, 2, "himmelblau")
    x, y = v
    a, b = x * x + y - 11, x + y * y - 7
    return np.array([4 * x * a + 2 * b, 2 * a + 4 * y * b], dtype=v.dtype)


himmelblau = TestFunction(
    "Himmelblau", _himmelblau_f, _himmelblau_grad, np.array([0.0, 0.0]),
    np.array([[3.0, 2.0], [-2.805118, 3.131312], [-3.779310, -3.283186],
              [3.584428, -1.848126]]), 0.0)


def _beale_terms(x, y):
    return 1.5 - x + x * y, 2.25 - x + x * y * y, 2.625 - x + x * y**3


def _beale_f(v):
    x, y = _vector(v, 2, "beale")
    a, b, c = _beale_terms(x, y)
    return float(a * a + b * b + c * c)


def _beale_grad(v):
    v = _vector(v, 2, "beale")
    x, y = v
    a, b, c = _beale_terms(x, y)
    dx = 2 * a * (y - 1) + 2 * b * (y * y - 1) + 2 * c * (y**3 - 1)
    dy = 2 * a * x + 2 * b * 2 * x * y + 2 * c * 3 * x * y * y
    return np.array([dx, dy], dtype=v.dtype)


beale = TestFunction("Beale", _beale_f, _beale_grad, np.array([1.0, 1.0]),
                     np.array([[3.0, 0.5]]), 0.0)


def _saddle_f(v):
    x, y = _vector(v, 2, "saddle")
    return float(x * x - y * y)


def _saddle_grad(v):
    v = _vector(v, 2, "saddle")
    return np.array([2 * v[0], -2 * v[1]], dtype=v.dtype)


saddle = TestFunction("saddle x^2 - y^2", _saddle_f, _saddle_grad, np.array([1.0, 1e-3]),
                      np.zeros((0, 2)), None)
