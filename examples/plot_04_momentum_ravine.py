"""
Momentum and Nesterov in a ravine
=================================

A ravine is a valley much steeper across than along: here
:math:`f(x, y) = \\frac{1}{2}(x^2 + 25 y^2)`, curvatures 1 and 25. Plain gradient descent
must keep its learning rate below :math:`2/25` for the steep direction (here 0.05) and crawls
along the flat one. Momentum (:class:`fastgd.SGD` with ``momentum=0.8``) accumulates the
consistent part of the gradient and damps the oscillation; Nesterov's variant
(``nesterov=True``) looks ahead before it steps and overshoots less.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastgd

A = np.array([1.0, 25.0])


def f(p):
    return 0.5 * float(A @ p**2)


def grad(p):
    return A * p


def path_of(**options):
    p = np.array([-9.0, 1.5])
    opt = fastgd.SGD([p], lr=0.05, **options)
    points = [p.copy()]
    for _ in range(60):
        opt.step([grad(p)])
        points.append(p.copy())
    return np.array(points)


runs = {"gradient descent": {}, "momentum 0.8": {"momentum": 0.8},
        "Nesterov 0.8": {"momentum": 0.8, "nesterov": True}}
paths = {label: path_of(**options) for label, options in runs.items()}

xx, yy = np.meshgrid(np.linspace(-10, 2, 300), np.linspace(-2.2, 2.2, 200))
fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7))
top.contour(xx, yy, 0.5 * (xx**2 + 25 * yy**2), levels=np.geomspace(0.05, 80, 14),
            colors="0.75", linewidths=0.8)
for label, path in paths.items():
    top.plot(path[:, 0], path[:, 1], "o-", ms=2.5, lw=1, label=label)
top.plot(0, 0, "k*", ms=12)
top.set(xlabel="x (flat)", ylabel="y (steep)", title="60 steps of lr 0.05 from (-9, 1.5)")
top.legend(loc="lower right")
for label, path in paths.items():
    bottom.semilogy([f(p) for p in path], label=label)
    print(f"{label:17s} f after 60 steps: {f(path[-1]):.2e}")
bottom.set(xlabel="step", ylabel="f", title="the loss")
bottom.legend()
fig.tight_layout()
