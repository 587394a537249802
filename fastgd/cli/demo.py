"""``fastgd demo``: a tour of gradient descent on generated data, and the runs that
``fastgd plot`` draws (the classic optimizers, trajectories, the learning-rate effect)."""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import fastgd
from fastgd.cli._common import (
    CLIError,
    _backend_line,
    _fmt_time,
    _out,
    _plot_dir,
    _set_backend,
    _table,
)

__all__ = ["cmd_demo", "CLASSIC", "TRAJECTORIES", "regression_problem",
           "classification_problem", "worked_example", "compare_flavours",
           "compare_optimizers", "lr_effect", "trajectory_runs"]


#: The classic optimizers of the demo and ``fastgd plot losses``: (label, class, options).
CLASSIC = [
    ("SGD", "SGD", dict(lr=0.1)),
    ("momentum", "SGD", dict(lr=0.05, momentum=0.9)),
    ("Nesterov", "SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("AdaGrad", "Adagrad", dict(lr=0.1)),
    ("RMSProp", "RMSprop", dict(lr=0.005)),
    ("Adam", "Adam", dict(lr=0.01)),
    ("AdamW", "AdamW", dict(lr=0.01, weight_decay=0.01)),
    ("Lion", "Lion", dict(lr=0.003)),
]

#: Optimizer paths over the 2-D test functions: function -> (steps, bounds, runs).
TRAJECTORIES = {
    "rosenbrock": (1000, (-2.0, 2.0, -1.0, 3.0), [
        ("SGD lr=1.5e-3", "SGD", dict(lr=1.5e-3)),
        ("momentum 0.9 lr=3e-4", "SGD", dict(lr=3e-4, momentum=0.9)),
        ("AdaGrad lr=0.5", "Adagrad", dict(lr=0.5)),
        ("RMSProp lr=0.01", "RMSprop", dict(lr=0.01)),
        ("Adam lr=0.05", "Adam", dict(lr=0.05)),
        ("Lion lr=0.01", "Lion", dict(lr=0.01))]),
    "himmelblau": (300, (-5.0, 5.0, -5.0, 5.0), [
        ("SGD lr=0.01", "SGD", dict(lr=0.01)),
        ("momentum 0.9 lr=2e-3", "SGD", dict(lr=0.002, momentum=0.9)),
        ("AdaGrad lr=0.5", "Adagrad", dict(lr=0.5)),
        ("RMSProp lr=0.05", "RMSprop", dict(lr=0.05)),
        ("Adam lr=0.1", "Adam", dict(lr=0.1)),
        ("Lion lr=0.05", "Lion", dict(lr=0.05))]),
    "beale": (1000, (-1.0, 4.5, -1.5, 2.0), [
        ("SGD lr=0.01", "SGD", dict(lr=0.01)),
        ("momentum 0.9 lr=2e-3", "SGD", dict(lr=0.002, momentum=0.9)),
        ("AdaGrad lr=0.5", "Adagrad", dict(lr=0.5)),
        ("RMSProp lr=0.01", "RMSprop", dict(lr=0.01)),
        ("Adam lr=0.05", "Adam", dict(lr=0.05)),
        ("Lion lr=0.01", "Lion", dict(lr=0.01))]),
    "saddle": (60, (-1.5, 1.5, -1.5, 1.5), [
        ("SGD lr=0.05", "SGD", dict(lr=0.05)),
        ("momentum 0.9 lr=0.01", "SGD", dict(lr=0.01, momentum=0.9)),
        ("AdaGrad lr=0.5", "Adagrad", dict(lr=0.5)),
        ("RMSProp lr=0.01", "RMSprop", dict(lr=0.01)),
        ("Adam lr=0.05", "Adam", dict(lr=0.05)),
        ("Lion lr=0.02", "Lion", dict(lr=0.02))]),
}


def regression_problem(n: int = 4000, d: int = 8, seed: int = 0):
    """``X`` (n, d) standard normal, ``y = X @ c + 3 + 0.5 * noise`` with ``c`` uniform
    in [-3, 3]: the demo's regression data (the best mean squared error is about 0.25)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    c = rng.uniform(-3.0, 3.0, d)
    return X, X @ c + 3.0 + 0.5 * rng.standard_normal(n)


def classification_problem(n: int = 3000, d: int = 10, k: int = 3, seed: int = 1):
    """Three overlapping Gaussian classes in ``d`` dimensions (unit variance, centres
    drawn from N(0, 0.64)): ``(X_train, y_train, X_test, y_test)``, 80/20, labels 0 .. k-1."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, d)) * 0.8
    labels = rng.integers(0, k, n)
    X = centres[labels] + rng.standard_normal((n, d))
    cut = int(0.8 * n)
    return X[:cut], labels[:cut], X[cut:], labels[cut:]


def _timed_fit(model, X, y, **kwargs):
    """Warm up on 64 rows (Numba compiles on first use), then fit and time it."""
    warm = copy.deepcopy(model)
    fastgd.fit(warm, X[:64], y[:64], **{**kwargs, "epochs": 1})
    start = time.perf_counter()
    history = fastgd.fit(model, X, y, **kwargs)
    return history, time.perf_counter() - start


def worked_example(lr: float = 0.1, tol: float = 1e-9):
    """Plain gradient descent on :data:`fastgd.functions.worked_example`: the
    :class:`fastgd.MinimizeResult` and the iterates (one row per evaluation)."""
    ex = fastgd.functions.worked_example
    points = []
    result = fastgd.minimize(ex.f, ex.x0, jac=ex.grad, optimizer="sgd", lr=lr, tol=tol,
                             max_iter=5000, callback=lambda x, f, g: points.append(x))
    if len(points) == result.nit:  # the callback does not see the iterate that converged
        points.append(result.x.copy())
    return result, np.array(points)


def compare_flavours(X, y):
    """Batch, stochastic and mini-batch gradient descent (plain SGD) on (X, y):
    [(label, batch_size, lr, epochs, model, history, seconds)]."""
    runs = [("batch", None, 0.2, 100), ("stochastic", 1, 0.005, 2),
            ("mini-batch", 32, 0.05, 5)]
    out = []
    for label, bs, lr, epochs in runs:
        model = fastgd.LinearRegression()
        history, seconds = _timed_fit(model, X, y, optimizer="sgd", lr=lr, batch_size=bs,
                                      epochs=epochs, random_state=0)
        out.append((label, bs, lr, epochs, model, history, seconds))
    return out


def compare_optimizers(X, y, epochs: int = 10, batch_size: int = 64):
    """:data:`CLASSIC` on softmax regression: [(label, options, model, history, s)]."""
    out = []
    for label, name, options in CLASSIC:
        model = fastgd.SoftmaxRegression()
        options = dict(options)
        lr = options.pop("lr")
        history, seconds = _timed_fit(model, X, y, optimizer=name, lr=lr,
                                      batch_size=batch_size, epochs=epochs, random_state=0,
                                      optimizer_kwargs=options)
        out.append((label, dict(lr=lr, **options), model, history, seconds))
    return out


def _keep_history(store: dict[str, Any]) -> Callable[[int, Any, Any], None]:
    """A ``fit`` callback that keeps the latest History in ``store["h"]``."""
    def callback(epoch: int, history: Any, model: Any) -> None:
        store.update(h=history)
    return callback


def _collect_iterates(points: list[np.ndarray]) -> Callable[[np.ndarray, float, np.ndarray], None]:
    """A :func:`fastgd.minimize` callback that appends each iterate to ``points``."""
    def callback(x: np.ndarray, f: float, g: np.ndarray) -> None:
        points.append(x)
    return callback


def lr_effect(X, y, epochs: int = 200):
    """Batch gradient descent with a too small, a good and a too large learning rate.

    The loss is quadratic with Hessian ``H = 2/n A^T A`` (``A = [X, 1]``): plain gradient
    descent converges exactly when ``lr < 2 / lambda_max(H)``. Returns ``lr_max`` and
    [(label, lr, status, losses per epoch, final loss or None)]."""
    A = np.column_stack([X, np.ones(X.shape[0])])
    lam = float(np.linalg.eigvalsh(2.0 / X.shape[0] * (A.T @ A))[-1])
    lr_max = 2.0 / lam
    out: list[tuple[str, float, str | None, list[float], float | None]] = []
    for label, factor in (("too small", 0.005), ("right", 0.5), ("too large", 5.0)):
        lr = float(f"{factor * lr_max:.3g}")
        model = fastgd.LinearRegression()
        seen: dict[str, Any] = {}
        try:
            fastgd.fit(model, X, y, optimizer="sgd", lr=lr, batch_size=None, epochs=epochs,
                       callbacks=[_keep_history(seen)])
        except FloatingPointError:
            losses = list(seen["h"].loss) if "h" in seen else []
            out.append((label, lr, "diverged", losses, None))
            continue
        losses = list(seen["h"].loss)
        out.append((label, lr, None, losses, model.loss_value(X, y)))
    best = min(final for *_, final in out if final is not None)
    result = []
    for label, lr, status, losses, final in out:
        if status is None:  # a finished run, whose final loss is known
            assert final is not None
            status = "converged" if final <= best * 1.01 + 1e-12 else (
                "diverging" if final > losses[0] else "slow")
        result.append((label, lr, status, losses, final))
    return lr_max, result


def trajectory_runs(function: str, steps: int | None = None) -> dict[str, np.ndarray]:
    """The paths of :data:`TRAJECTORIES`'s optimizers on a test function of
    :mod:`fastgd.functions`: label -> iterates ``(steps + 1, 2)``."""
    default_steps, _, runs = TRAJECTORIES[function]
    fn = getattr(fastgd.functions, function)
    paths = {}
    for label, name, options in runs:
        points: list[np.ndarray] = []
        options = dict(options)
        lr = options.pop("lr")
        result = fastgd.minimize(fn.f, fn.x0, jac=fn.grad, optimizer=name, lr=lr,
                                 max_iter=steps or default_steps, tol=None,
                                 callback=_collect_iterates(points), **options)
        if len(points) == result.nit:
            points.append(result.x.copy())
        paths[label] = np.array(points)
    return paths


def _options(options: dict) -> str:
    return ", ".join(k if v is True else f"{k}={v}" for k, v in options.items())


def cmd_demo(args) -> int:
    _set_backend(args)
    if args.plot:
        from fastgd import plot
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise CLIError(plot.MISSING, 1) from None
        _plot_dir(args.plot)
    start = time.perf_counter()
    say = (lambda *a: None) if args.quiet else _out
    # the version and backend lines are printed even with --quiet (CI greps the second)
    _out(f"fastgd {fastgd.__version__}")
    _out(_backend_line())

    # ---- 1. the worked example
    ex = fastgd.functions.worked_example
    result, points = worked_example()
    losses = result.history.loss
    g0 = ex.grad(ex.x0)
    say("\n== 1. Gradient descent, step by step ==\n")
    say("Five weights w, inputs x = [1, 2, 3, 4, 5], target y = 25, and the loss\n"
        "    L(w) = 1/5 sum_i (w_i x_i - y)^2,   dL/dw_i = 2/5 x_i (w_i x_i - y).\n"
        "Each step moves w against the gradient, w <- w - lr * dL/dw (lr = 0.1 here).\n"
        f"Start: w = {ex.x0.tolist()}, L = {ex.f(ex.x0):.3f},\n"
        f"       gradient = {np.round(g0, 3).tolist()};\n"
        f"so the first step takes w1 to 4.2 - 0.1 * ({g0[0]:.2f}) = {points[1][0]:.3f}, "
        f"and w5 to {points[1][4]:.3f}.\n")
    shown = [k for k in (0, 1, 2, 3, 5, 10, 20, 50, 100, 200, 400) if k < len(points) - 1]
    shown.append(len(points) - 1)
    rows = [[k, f"{losses[k]:.6g}"] + [f"{v:.4f}" for v in points[k]] for k in shown]
    say(_table(["step", "loss"] + [f"w{i}" for i in range(1, 6)], rows, "><>>>>>"))
    say(f"\nAfter {result.nit} steps the gradient is below 1e-9 and w = 25/x = "
        f"{np.round(25.0 / np.arange(1, 6), 4).tolist()}.\n"
        "w5 lands in one step: its curvature 2/5 * 5^2 = 10 times lr is exactly 1. w1 is "
        "the slowest:\nits error shrinks by 1 - lr * 2/5 * 1^2 = 0.96 per step. Above "
        "lr = 2/10 = 0.2 the w5 step would\novershoot by more than it corrects, and "
        "gradient descent diverges (part 4).")

    # ---- 2. batch, stochastic, mini-batch
    Xr, yr = regression_problem()
    say("\n== 2. Batch, stochastic and mini-batch gradient descent ==\n")
    say(f"Linear regression (squared error), {Xr.shape[0]} rows x {Xr.shape[1]} features, "
        f"y = X c + 3 + noise\n(noise variance 0.25: the best possible loss). Plain SGD "
        f"steps; a step uses the gradient\nof all rows (batch), of one row (stochastic) "
        f"or of 32 rows (mini-batch).\n")
    rows = []
    for label, bs, lr, epochs, model, history, seconds in compare_flavours(Xr, yr):
        rows.append([label, "all" if bs is None else bs, lr, epochs, history.n_steps,
                     f"{model.loss_value(Xr, yr):.5f}", f"{model.score(Xr, yr):.5f}",
                     _fmt_time(seconds)])
    say(_table(["flavour", "batch", "lr", "epochs", "steps", "final loss", "R^2", "time"],
               rows))
    say("\nA batch step follows the exact gradient but reads every row; stochastic steps "
        "are cheap and\nnoisy (a small lr keeps the noise down); mini-batches sit "
        "between.")

    # ---- 3. the classic optimizers
    Xtr, ytr, Xte, yte = classification_problem()
    say("\n== 3. The classic optimizers ==\n")
    say(f"Softmax regression, 3 classes, {Xtr.shape[0]} training rows x {Xtr.shape[1]} "
        f"features ({Xte.shape[0]} more rows held out\nfor the test accuracy); "
        f"mini-batches of 64, 10 epochs (380 steps) each. 1st epoch:\nthe mean loss of "
        f"the first epoch's batches (how fast a method starts).\n")
    compared = compare_optimizers(Xtr, ytr)
    rows = []
    for label, options, model, history, seconds in compared:
        rest = {k: v for k, v in options.items() if k != "lr"}
        rows.append([label, options["lr"], _options(rest) or "-", f"{history.loss[0]:.4f}",
                     f"{model.loss_value(Xtr, ytr):.4f}", f"{model.score(Xtr, ytr):.3f}",
                     f"{model.score(Xte, yte):.3f}", _fmt_time(seconds)])
    say(_table(["optimizer", "lr", "options", "1st epoch", "final loss", "train acc",
                "test acc", "time"], rows, "<><>>>>>"))
    say("\nMomentum and Nesterov accumulate past gradients; AdaGrad, RMSProp and Adam "
        "scale each weight's\nstep by its gradient history; AdamW adds decoupled weight "
        "decay; Lion steps by the sign of a\nmomentum. The problem is convex: all reach "
        "about the same loss, at different speeds.")

    # ---- 4. the learning rate
    lr_max, effect = lr_effect(Xr, yr)
    say("\n== 4. The learning rate ==\n")
    say(f"Batch gradient descent on part 2's regression, 200 epochs. The loss is quadratic, "
        f"so plain\ngradient descent converges exactly when lr < 2 / lambda_max = "
        f"{lr_max:.3f} (lambda_max: the largest\neigenvalue of the Hessian "
        f"2/n [X 1]^T [X 1]).\n")
    rows = []
    for label, lr, status, losses, final in effect:
        rows.append([label, f"{lr:g}", f"{lr / lr_max:.3g}", len(losses),
                     "-" if final is None else f"{final:.5g}", status])
    say(_table(["learning rate", "lr", "lr / lr_max", "epochs", "final loss", "result"],
               rows, "<>>>><"))
    say("\nToo small: every step is safe but tiny, and the epochs run out first. Too "
        "large: each step\novershoots the minimum by more than it started from, the loss "
        "grows until it overflows, and\nfastgd.fit raises FloatingPointError (reported "
        "here as diverged).")

    if args.plot:
        from fastgd import plot
        fmt = args.format
        written = [os.path.join(args.plot, f"{name}.{fmt}")
                   for name in ("losses", "trajectories", "lr")]
        try:
            plot.loss_curves({label: h.loss for label, _, _, h, _ in compared}, written[0],
                             title="softmax regression, mini-batches of 64: loss per epoch",
                             fmt=fmt)
            _, bounds, _ = TRAJECTORIES["rosenbrock"]
            plot.trajectories(fastgd.functions.rosenbrock, trajectory_runs("rosenbrock"),
                              written[1], bounds=bounds, fmt=fmt)
            plot.lr_effect({f"{label} (lr={lr:g})": (losses, status)
                            for label, lr, status, losses, _ in effect}, written[2], fmt=fmt)
        except OSError as exc:
            raise CLIError(f"cannot write the pictures: {exc.strerror or exc}", 1) from None
        say(f"\npictures: {', '.join(written)}")
    say(f"\nThe demo took {time.perf_counter() - start:.1f} s. More: 'fastgd fit --help', "
        f"'fastgd bench', 'fastgd plot all'.")
    return 0
