"""``fastgd.minimize``: gradient descent on any differentiable function given in Python.

The user's function (and gradient) is called once per step; the update is one of the
registry's optimizers, run by the active backend. See :mod:`fastgd.functions` for test
functions with known minima.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fastgd.history import History
from fastgd.optim.registry import lookup
from fastgd.reference import sum_of_squares
from fastgd.reference._checks import real

__all__ = ["minimize", "MinimizeResult"]


@dataclass
class MinimizeResult:
    """The outcome of :func:`minimize`.

    x: the last iterate; fun: the function at x; jac: the gradient at x; nit: steps taken;
    nfev: function evaluations; success: whether the gradient tolerance was met (or, with
    ``tol=None``, whether every step stayed finite); message: why the run stopped;
    history: one row per evaluation (loss, grad_norm, lr, time). The fields are those of
    ``scipy.optimize.OptimizeResult`` of the same names, plus ``history``.

    Example::

        r = fastgd.minimize(lambda x: float(x @ x), np.ones(2), jac=lambda x: 2 * x, lr=0.1)
        assert r.success and r.fun < 1e-10
    """

    x: np.ndarray
    fun: float
    jac: np.ndarray
    nit: int
    nfev: int
    success: bool
    message: str
    history: History = field(repr=False)


def _start(x0: Any) -> np.ndarray:
    x = np.array(x0, copy=True, order="C")
    if x.dtype not in (np.float32, np.float64):
        if x.dtype.kind in "biu":
            x = x.astype(np.float64)
        else:
            raise TypeError(f"x0 must be real numbers (float32 or float64 keep their dtype), "
                            f"got dtype {x.dtype}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x0 must be finite")
    return x


def minimize(fun: Callable, x0: Any, *, jac: Callable | bool, optimizer: Any = "sgd",
             lr: float | None = None, max_iter: int = 1000, tol: float | None = 1e-6,
             callback: Callable | None = None, **optimizer_kwargs: Any) -> MinimizeResult:
    r"""Minimize ``fun`` from ``x0`` by gradient descent with one of fastgd's optimizers.

    At each iterate :math:`x_k` the function and gradient are evaluated once; the run stops
    when :math:`\|\nabla f(x_k)\|_2 \le` ``tol`` (success), after ``max_iter`` steps, when
    ``callback(x, f, g)`` returns True, or when ``f`` or the gradient is not finite (the
    step size is too large for the function, usually; success is False). Otherwise the
    optimizer takes :math:`x_{k+1}` = step(:math:`x_k`, :math:`\nabla f(x_k)`).

    With a closure-driven optimizer (``optimizer="lbfgs"``), each step is
    ``opt.step(closure)``: up to the optimizer's ``max_iter`` L-BFGS iterations (fewer when
    this run's ``max_iter`` runs out), evaluating ``fun`` as often as its line search needs
    (the evaluation at :math:`x_k` above is its first); ``nit`` counts L-BFGS iterations,
    ``nfev`` and ``history`` every evaluation, and ``callback`` runs once per step. A step
    that makes no progress (the gradient within L-BFGS's ``tolerance_grad``, or the iterate
    unchanged) ends the run.

    The interface follows ``scipy.optimize.minimize`` (``fun``, ``x0``, ``jac``,
    ``callback``; a result with scipy's ``x``, ``fun``, ``jac``, ``nit``, ``nfev``,
    ``success``, ``message``), with fastgd's optimizers in place of scipy's methods.

    Args:
        fun: ``fun(x) -> float``; with ``jac=True``, ``fun(x) -> (float, gradient)``. It
            is given the iterate itself, which the next step changes in place: copy it
            to keep it.
        x0: the starting point (any shape; float32/float64 keep their dtype, integers
            become float64). It is copied, never modified.
        jac: ``jac(x) -> gradient`` (an array of x's shape, cast to x's dtype), or True.
        optimizer: a registry name (``"sgd"``, ``"adam"``, ``"lion"``, ... any case) or an
            optimizer class; ``lr`` and ``optimizer_kwargs`` go to its constructor.
        lr: the learning rate; None: 0.01, or for a closure-driven optimizer its own
            default (L-BFGS: 1, the step length tried first).
        max_iter: the most steps to take (>= 0).
        tol: gradient-norm tolerance (>= 0), or None to always take max_iter steps.
        callback: called as ``callback(x, f, g)`` after each evaluation; True stops.

    Example::

        from fastgd.functions import worked_example as ex
        r = fastgd.minimize(ex.f, ex.x0, jac=ex.grad, lr=0.1, max_iter=2000, tol=1e-9)
        r.x   # [25, 12.5, 8.333..., 6.25, 5]
    """
    if not callable(fun):
        raise TypeError(f"fun must be callable, got {type(fun).__name__}")
    if jac is not True and not callable(jac):
        raise TypeError(f"jac must be a callable returning the gradient, or True when fun "
                        f"returns (value, gradient); got {jac!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None, got {callback!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) \
            or max_iter < 0:
        raise ValueError(f"max_iter must be a whole number >= 0, got {max_iter!r}")
    if tol is not None:
        tol = real("tol", tol)
        if not tol >= 0:
            raise ValueError(f"tol must be >= 0 or None, got {tol!r}")
    cls = lookup(optimizer)
    closure_driven = cls.spec.closure
    if lr is None:
        lr = cls.spec.defaults["lr"] if closure_driven else 0.01
    x = _start(x0)
    opt: Any = cls([x], lr=lr, **optimizer_kwargs)

    def evaluate() -> tuple[float, np.ndarray]:
        if jac is True:
            out = fun(x)
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError("with jac=True, fun must return (value, gradient)")
            value, g = out
        else:
            value, g = fun(x), jac(x)
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"fun must return a real number, got {value!r}") from None
        g = np.asarray(g)
        if g.shape != x.shape:
            raise ValueError(f"the gradient has shape {g.shape}, but x has shape {x.shape}")
        if g.dtype.kind not in "fiu":
            raise TypeError(f"the gradient must be real numbers, got dtype {g.dtype}")
        return value, np.asarray(g, dtype=x.dtype, order="C")  # keeps 0-d arrays 0-d

    history = History()
    start = time.perf_counter()
    nit = nfev = 0

    def counted() -> tuple[float, np.ndarray]:
        nonlocal nfev
        value, g = evaluate()
        nfev += 1
        history.append(loss=value, grad_norm=math.sqrt(sum_of_squares(g)),
                       lr=opt.param_groups[0]["lr"], time=time.perf_counter() - start)
        return value, g

    per_step: int = opt.param_groups[0]["max_iter"] if closure_driven else 0
    pending: list[tuple[float, np.ndarray]] = []  # the evaluation at x_k, a step's first

    def closure() -> tuple[float, list[np.ndarray]]:
        value, g = pending.pop() if pending else counted()
        return value, [g]

    while True:
        value, g = counted()
        gnorm = history.grad_norm[-1]
        if not (math.isfinite(value) and math.isfinite(gnorm)):
            success = False
            message = (f"diverged at step {nit}: f = {value}, |grad| = {gnorm}; lower the "
                       f"learning rate (lr={opt.param_groups[0]['lr']}) or rescale the "
                       f"problem")
            break
        if tol is not None and gnorm <= tol:
            success, message = True, f"converged: |grad| = {gnorm:.3g} <= tol = {tol:g}"
            break
        if callback is not None and callback(x.copy(), value, g.copy()) is True:
            success, message = tol is None, "stopped by the callback"
            break
        if nit >= max_iter:
            success = tol is None
            message = (f"max_iter = {max_iter} steps taken" if tol is None else
                       f"max_iter = {max_iter} steps taken without reaching tol = {tol:g} "
                       f"(|grad| = {gnorm:.3g})")
            break
        if not closure_driven:
            opt.step([g])
            nit += 1
            continue
        pending[:] = [(value, g)]
        opt.param_groups[0]["max_iter"] = min(per_step, max_iter - nit)
        before, iterations = x.copy(), opt.state.get(0, {}).get("n_iter", 0)
        opt.step(closure)
        done = opt.state[0]["n_iter"] - iterations
        nit += done
        if done == 0 or np.array_equal(x, before):
            value, g = counted()
            gnorm = history.grad_norm[-1]
            success = tol is None or gnorm <= tol
            message = ("L-BFGS stopped: max |grad| within its tolerance_grad"
                       if done == 0 else "L-BFGS stopped: the iterate did not change (the "
                       "directional derivative or the change of f fell below its "
                       "tolerance_change; lower it for a smaller tol)"
                       ) + f", |grad| = {gnorm:.3g}"
            break
    return MinimizeResult(x=x, fun=value, jac=g.copy(), nit=nit, nfev=nfev, success=success,
                          message=message, history=history)
