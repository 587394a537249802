"""
Sophia's curvature
==================

:class:`fastgd.Sophia` divides the momentum by an estimate of the Hessian's diagonal,
a Newton step per coordinate, and clips it:

.. math::

    p \\leftarrow p - \\eta\\,\\operatorname{sign}(m)\\,
        \\min\\!\\left(\\frac{|m|}{\\rho\\,h + \\epsilon},\\ 1\\right).

A flat coordinate (small :math:`h`) takes the full step :math:`\\eta`; a sharp one (large
:math:`h`) a step proportional to :math:`m / h`, as Newton's method would. The training
loop refreshes :math:`h` with ``opt.update_hessian(estimates)`` whenever
``opt.hessian_due()`` (every ``update_interval`` steps); here the estimates are the exact
diagonal of a quadratic's Hessian.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastgd

# %%
# The step as a function of the momentum, for three curvatures (rho = 1, lr = 1):
m = np.linspace(-3, 3, 601)
fig, ax = plt.subplots(figsize=(7, 3.5))
for h in (0.5, 2.0, 8.0):
    ax.plot(m, np.sign(m) * np.minimum(np.abs(m) / h, 1.0), label=f"h = {h}")
ax.set(xlabel="momentum m", ylabel="step / lr", title="clipped Newton step per coordinate")
ax.legend()
fig.tight_layout()

# %%
# On :math:`f(p) = \frac12 \sum_i a_i (p_i - c_i)^2` with curvatures 0.5, 5 and 50, the
# distance of each coordinate to its minimum. Gradient descent contracts coordinate i by
# ``1 - lr * a_i`` per step, its rate bounded by the sharpest (``lr < 2/50``), so the
# flattest moves 100 times slower than the sharpest; Sophia moves a far, flat coordinate
# at the full step ``lr`` and scales the sharp ones by their curvature.
a = np.array([0.5, 5.0, 50.0])
c = np.array([3.0, -2.0, 1.0])


def grad(p):
    return a * (p - c)


p_sgd, p_sophia = np.zeros(3), np.zeros(3)
sgd = fastgd.SGD([p_sgd], lr=0.035)
sophia = fastgd.Sophia([p_sophia], lr=0.05, rho=1.0, weight_decay=0.0, update_interval=10)
sophia.update_hessian([a.copy()])
dist = {"SGD": [], "Sophia": []}
refreshes = 0
for _ in range(300):
    sgd.step([grad(p_sgd)])
    sophia.step([grad(p_sophia)])
    if sophia.hessian_due():
        sophia.update_hessian([a.copy()])
        refreshes += 1
    dist["SGD"].append(np.abs(p_sgd - c))
    dist["Sophia"].append(np.abs(p_sophia - c))
print(f"Hessian refreshed {refreshes} times in 300 steps")
fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
for ax, (name, d) in zip(axes, dist.items()):
    d = np.array(d)
    for i in range(3):
        ax.semilogy(d[:, i], label=f"curvature {a[i]:g}")
    ax.set(title=name, xlabel="step")
    print(f"{name:7s} distance after 300 steps: {np.array2string(d[-1], precision=2)}")
axes[0].set_ylabel("|p_i - c_i|")
axes[0].legend()
fig.tight_layout()
# sphinx_gallery_thumbnail_number = 2
