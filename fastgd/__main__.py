"""``python -m fastgd``: what is installed, and a small worked example on the active backend.

The example: five weights ``w``, inputs ``x = [1, 2, 3, 4, 5]`` and the loss
``L(w) = mean((w * x - 25)**2)``, whose minimum is ``w = 25 / x``. Each classic optimizer
starts from ``w = 0`` and takes the same number of steps (Lion's steps have a fixed size,
lr, so with a constant lr it ends within about lr of the answer).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import fastgd
from fastgd import _backend

X = np.arange(1.0, 6.0)
Y = 25.0
STEPS = 300

OPTIMIZERS = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.02, momentum=0.9)),
    ("SGD", dict(lr=0.02, momentum=0.9, nesterov=True)),
    ("Adagrad", dict(lr=5.0)),
    ("RMSprop", dict(lr=0.1)),
    ("Adam", dict(lr=0.5)),
    ("AdamW", dict(lr=0.5, weight_decay=1e-4)),
    ("NAdam", dict(lr=0.5)),
    ("AdaBelief", dict(lr=0.5)),
    ("Lion", dict(lr=0.3)),
]


def loss_and_grad(w: np.ndarray) -> tuple[float, np.ndarray]:
    residual = w * X - Y
    return float(np.mean(residual**2)), 2.0 * residual * X / X.size


def run(name: str, options: dict, steps: int = STEPS) -> tuple[float, float, float]:
    w = np.zeros_like(X)
    opt = getattr(fastgd, name)([w], **options)
    start = time.perf_counter()
    for _ in range(steps):
        _, g = loss_and_grad(w)
        opt.step([g])
    elapsed = time.perf_counter() - start
    loss, _ = loss_and_grad(w)
    return loss, float(np.max(np.abs(w - Y / X))), elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastgd", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=fastgd.BACKENDS,
                        help="run the example on this backend (default: the active one)")
    args = parser.parse_args(argv)
    if args.backend:
        fastgd.set_backend(args.backend)
    module = _backend.active()
    openmp = getattr(module, "OPENMP", None)
    print(f"fastgd {fastgd.__version__}")
    print(f"backend: {fastgd.backend()} ({module.__file__})"
          + (f", OpenMP {'on' if openmp else 'off'}" if openmp is not None else ""))
    print(f"\nMinimise mean((w*x - 25)^2) for x = {X.astype(int).tolist()}; "
          f"the answer is w = 25/x. {STEPS} steps from w = 0:\n")
    header = f"{'optimizer':<44} {'final loss':>11} {'max |w - 25/x|':>15} {'time':>9}"
    print(header)
    print("-" * len(header))
    for name, options in OPTIMIZERS:
        run(name, options, steps=1)  # warm-up: Numba compiles on first use
        loss, error, elapsed = run(name, options)
        label = f"{name}({', '.join(f'{k}={v}' for k, v in options.items())})"
        print(f"{label:<44} {loss:>11.3e} {error:>15.3e} {elapsed * 1e3:>7.1f}ms")
    print(f"\nw = 25/x = {np.round(Y / X, 4).tolist()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
