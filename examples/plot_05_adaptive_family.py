"""
The adaptive family on Rosenbrock and Beale
===========================================

Adaptive optimizers scale each coordinate's step by a running estimate of its gradient's
size. On Rosenbrock's curved valley (minimum at (1, 1)) and Beale's plateaus (minimum at
(3, 0.5)), from the functions' customary starting points, each optimizer below runs 3000
steps through :func:`fastgd.minimize`; the paths are drawn over the contours.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastgd
from fastgd.functions import beale, rosenbrock

OPTIMIZERS = {"Adagrad": {"lr": 0.5}, "RMSprop": {"lr": 0.01}, "Adam": {"lr": 0.05},
              "AdaBelief": {"lr": 0.05}, "Yogi": {"lr": 0.05}, "Lion": {"lr": 0.005}}


def path(function, name, lr):
    points = [function.x0.copy()]
    result = fastgd.minimize(function.f, function.x0, jac=function.grad, optimizer=name,
                             lr=lr, max_iter=3000, tol=None,
                             callback=lambda x, f, g: points.append(x.copy()))
    return np.array(points), result


# %%
# Above, the paths over the contours (the dot is the start, the star the minimum); below,
# the value along each path. Paths that look alike on the contours can differ by many
# orders of magnitude at the end.

fig, axes = plt.subplots(2, 2, figsize=(12, 9), height_ratios=(3, 2))
for col, function, box in ((0, rosenbrock, (-2, 2, -1, 3)), (1, beale, (-1, 4.5, -1.5, 2))):
    ax, below = axes[0, col], axes[1, col]
    xx, yy = np.meshgrid(np.linspace(box[0], box[1], 300), np.linspace(box[2], box[3], 300))
    zz = np.vectorize(lambda a, b, f=function.f: f(np.array([a, b])))(xx, yy)
    ax.contour(xx, yy, np.log1p(zz), levels=25, colors="0.8", linewidths=0.7)
    for name, options in OPTIMIZERS.items():
        points, result = path(function, name, **options)
        ax.plot(points[:, 0], points[:, 1], lw=1.3, label=name)
        below.semilogy([max(function.f(p), 1e-32) for p in points], lw=1.2, label=name)
        print(f"{function.name:10s} {name:9s} f = {result.fun:.2e} at {np.round(result.x, 3)}")
    ax.plot(*function.x0, "ko", ms=6)
    ax.plot(*function.minima.T, "k*", ms=14)
    ax.set(xlim=box[:2], ylim=box[2:], title=function.name, xlabel="x", ylabel="y")
    below.set(xlabel="step", ylabel="f (log scale)", ylim=(1e-32, None))
axes[0, 0].legend(loc="lower right")
fig.tight_layout()
