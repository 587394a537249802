"""
Batch, stochastic and mini-batch gradient descent
=================================================

The three flavours differ only in how many rows each step's gradient averages:
all of them (batch), one (stochastic) or a few (mini-batch). :func:`fastgd.fit` runs
each with ``batch_size=None``, ``1`` or ``32`` on the same regression problem.
Batch steps are exact but few (one per epoch); stochastic steps are many and noisy;
mini-batches trade between the two.
"""

import time

import matplotlib.pyplot as plt
import numpy as np

import fastgd

rng = np.random.default_rng(0)
X = rng.normal(size=(2000, 10))
y = X @ rng.normal(size=10) + 0.5 + 0.1 * rng.normal(size=2000)

# %%
# One model per flavour, the same optimizer (plain SGD) and the same 20 epochs.

runs = {"batch (all 2000 rows)": (None, 0.1), "stochastic (1 row)": (1, 0.002),
        "mini-batch (32 rows)": (32, 0.02)}
fig, ax = plt.subplots(figsize=(7, 4))
for label, (batch_size, lr) in runs.items():
    model = fastgd.LinearRegression()
    start = time.perf_counter()
    model.fit(X, y, optimizer="sgd", lr=lr, batch_size=batch_size, epochs=20,
              random_state=0)
    took = time.perf_counter() - start
    steps = 20 * (1 if batch_size is None else -(-len(X) // batch_size))
    print(f"{label:24s} lr={lr:<6} {steps:6d} steps  final loss "
          f"{model.history_.loss[-1]:.5f}  R² {model.score(X, y):.5f}  {took * 1e3:.0f} ms")
    ax.semilogy(np.arange(1, 21), model.history_.loss, marker="o", ms=3, label=label)
ax.set(xlabel="epoch", ylabel="training loss (MSE)", title="the same 20 epochs")
ax.legend()
fig.tight_layout()

# %%
# Per epoch, the stochastic run moves furthest (2000 steps against one), but its
# last steps still jitter around the minimum with a constant learning rate; a decaying
# schedule (see the schedules example) or a larger batch removes the jitter.
