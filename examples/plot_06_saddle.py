"""
Escaping a saddle point
=======================

At a saddle point the gradient vanishes without a minimum: :math:`f(x, y) = x^2 - y^2`
curves up along x and down along y. Started almost on the ridge, at
:math:`(1, 10^{-3})`, plain gradient descent first slides to the saddle, where the
gradient is tiny, and leaves it only as fast as the small y grows by
:math:`(1 + 2\\eta)` per step. Momentum keeps the speed it gathered; Adam divides each
coordinate by its own gradient scale, so the tiny y-gradient still produces full-size
steps. (:data:`fastgd.functions.saddle`.)
"""

import matplotlib.pyplot as plt
import numpy as np

import fastgd
from fastgd.functions import saddle

runs = {"SGD": ("sgd", {"lr": 0.05}), "SGD, momentum 0.9": ("sgd", {"lr": 0.05,
                                                                    "momentum": 0.9}),
        "Adam": ("adam", {"lr": 0.05}), "RMSprop": ("rmsprop", {"lr": 0.05})}
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
xx, yy = np.meshgrid(np.linspace(-1.2, 1.2, 200), np.linspace(-1.6, 1.6, 200))
left.contour(xx, yy, xx**2 - yy**2, levels=20, cmap="RdBu_r", linewidths=0.8)
for label, (name, options) in runs.items():
    points = [saddle.x0.copy()]
    fastgd.minimize(saddle.f, saddle.x0, jac=saddle.grad, optimizer=name, max_iter=60,
                    tol=None, callback=lambda x, f, g, seen=points: seen.append(x.copy()),
                    **options)
    points = np.array(points)
    left.plot(points[:, 0], points[:, 1], "o-", ms=2.5, lw=1, label=label)
    right.plot(np.abs(points[:, 1]), label=label)
    away = np.flatnonzero(np.abs(points[:, 1]) > 1)
    print(f"{label:18s}", f"|y| > 1 after {away[0]} steps" if away.size
          else f"|y| = {abs(points[-1, 1]):.3f} after 60 steps")
left.plot(0, 0, "kx", ms=10)
left.set(xlim=(-1.2, 1.2), ylim=(-1.6, 1.6), xlabel="x", ylabel="y",
         title="f = x² - y², from (1, 0.001)")
left.legend(loc="lower left")
right.set(yscale="log", xlabel="step", ylabel="|y|", title="distance from the ridge")
right.legend()
fig.tight_layout()
