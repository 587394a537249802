"""
The worked example, step by step
=================================

Five inputs ``x = [1, 2, 3, 4, 5]``, one target ``y = 25`` and five weights: the loss

.. math::

    L(w) = \\frac{1}{5} \\sum_{i=1}^{5} (w_i x_i - y)^2,
    \\qquad \\frac{\\partial L}{\\partial w_i} = \\frac{2}{5} x_i (w_i x_i - y),

is zero exactly at :math:`w_i = 25 / x_i`. Gradient descent starts from
``w = [4.2, 3.6, 1.5, 0.7, 0.1]`` (loss 452.564) and moves each weight against its
gradient, :math:`w \\leftarrow w - \\eta \\nabla L(w)`: the ball rolling downhill.
The function and its exact gradient are :data:`fastgd.functions.worked_example`.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastgd
from fastgd.functions import worked_example as ex

# %%
# The first steps by hand
# -----------------------
# With the learning rate 0.1 each weight moves by ``0.1 * 2/5 * x_i * (w_i x_i - 25)``.
# :class:`fastgd.SGD` takes the same steps in place.

w = ex.x0.copy()
opt = fastgd.SGD([w], lr=0.1)
print(f"step 0: w = {np.round(w, 4)}, loss {ex.f(w):.3f}")
for step in range(1, 4):
    by_hand = w - 0.1 * ex.grad(w)
    opt.step([ex.grad(w)])
    assert np.allclose(w, by_hand)
    print(f"step {step}: w = {np.round(w, 4)}, loss {ex.f(w):.3f}")

# %%
# To the minimum
# --------------
# :func:`fastgd.minimize` runs the same optimizer until the gradient vanishes; every
# weight reaches ``25 / x_i``.

result = fastgd.minimize(ex.f, ex.x0, jac=ex.grad, optimizer="sgd", lr=0.1, tol=1e-9)
print(result.nit, "steps:", np.round(result.x, 6))
print("25 / x_i:", np.round(ex.minima[0], 6))

# %%
# The weights and the loss along the way: the weight of the largest input (``x_5 = 5``)
# has the steepest slope and converges first.

path = [ex.x0.copy()]
w = ex.x0.copy()
opt = fastgd.SGD([w], lr=0.1)
for _ in range(60):
    opt.step([ex.grad(w)])
    path.append(w.copy())
path = np.array(path)

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
for i in range(5):
    line, = left.plot(path[:, i], label=f"$w_{i + 1}$ ($x_{i + 1}$ = {i + 1})")
    left.axhline(25 / (i + 1), color=line.get_color(), ls=":", lw=1)
left.set(xlabel="step", ylabel="weight", title="weights (dotted: 25 / $x_i$)")
left.legend()
right.semilogy([ex.f(p) for p in path])
right.set(xlabel="step", ylabel="loss", title="loss")
fig.tight_layout()
