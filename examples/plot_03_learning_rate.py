"""
The learning rate: too small, right, too large
==============================================

On :math:`f(x) = \\frac{\\lambda}{2} x^2` a gradient step is
:math:`x \\leftarrow (1 - \\eta \\lambda)\\,x`: it converges for
:math:`0 < \\eta < 2 / \\lambda` and diverges beyond. With :math:`\\lambda = 2` the bound
is 1: a step of 0.05 crawls, 0.45 converges in a few steps, 1.05 overshoots further at
every step.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastgd


def f(x):
    return float(x @ x)       # lambda = 2


def grad(x):
    return 2 * x


xs = np.linspace(-3, 3, 200)
fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), sharey=True)
for ax, lr, verdict in zip(axes, (0.05, 0.45, 1.05), ("too small", "right", "too large")):
    x = np.array([2.5])
    opt = fastgd.SGD([x], lr=lr)
    path = [x[0]]
    for _ in range(12):
        opt.step([grad(x)])
        path.append(x[0])
    path = np.array(path)
    ax.plot(xs, xs**2, color="0.6")
    ax.plot(path, path**2, "o-", ms=4)
    ax.set(title=f"lr = {lr}: {verdict}", xlabel="x", xlim=(-3.2, 3.2), ylim=(-0.5, 10))
    print(f"lr = {lr}: x after 12 steps = {path[-1]: .4g} (factor {1 - 2 * lr:+.2f} per step)")
axes[0].set_ylabel("f(x) = x²")
fig.tight_layout()

# %%
# The same on a real problem: :func:`fastgd.fit` on standardised regression data, where
# the bound is ``2 / lambda_max`` of the loss's Hessian ``2 X^T X / n``. A rate above it
# makes the loss grow at every epoch; once it is no longer finite, ``fit`` raises
# :class:`FloatingPointError` and leaves the model at its last finite parameters.

rng = np.random.default_rng(0)
X = rng.normal(size=(500, 5)) * [1, 1, 1, 1, 3]
y = X @ np.ones(5)
lam_max = np.linalg.eigvalsh(2 * X.T @ X / len(X)).max()
print(f"2 / lambda_max = {2 / lam_max:.3f}")
fig, ax = plt.subplots(figsize=(7, 4))
for lr in (0.02 / lam_max, 1.0 / lam_max, 2.05 / lam_max):
    model = fastgd.LinearRegression()
    model.fit(X, y, optimizer="sgd", lr=lr, batch_size=None, epochs=40)
    print(f"lr = {lr:.4f}: loss {model.history_.loss[0]:.3g} -> {model.history_.loss[-1]:.3g}")
    ax.semilogy(model.history_.loss, label=f"lr = {lr:.3f} ({lr * lam_max / 2:.2f} of the bound)")
ax.set(xlabel="epoch", ylabel="loss", title="batch gradient descent, three rates")
ax.legend()
fig.tight_layout()
