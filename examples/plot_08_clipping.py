"""
Clipping exploding gradients
============================

Where the loss steepens quickly, one large gradient throws the parameters far away, where
the gradient is larger still: on :math:`f(x) = x^4` from :math:`x = 3` the gradient
:math:`4x^3` is 108, and a step of learning rate 0.1 lands at :math:`x = -7.8`, where it
is -1898. :func:`fastgd.clip_grad_norm_` rescales the gradients (in place, as
``torch.nn.utils.clip_grad_norm_``) so that their total norm is at most ``max_norm``;
:func:`fastgd.clip_grad_value_` clips each entry. ``fit(..., clip_norm=...)`` does the
same in a training loop.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastgd


def run(clip=None, steps=40):
    x = np.array([3.0])
    opt = fastgd.SGD([x], lr=0.1)
    path = [x[0]]
    for _ in range(steps):
        g = 4 * x**3
        if clip is not None:
            fastgd.clip_grad_norm_([g], max_norm=clip)
        opt.step([g])
        path.append(x[0])
        if not np.isfinite(x[0]) or abs(x[0]) > 1e6:
            break
    return np.array(path)


fig, ax = plt.subplots(figsize=(8, 4))
for label, clip in (("no clipping", None), ("clip_grad_norm_(max_norm=10)", 10.0),
                    ("clip_grad_norm_(max_norm=2)", 2.0)):
    path = run(clip)
    ax.plot(np.abs(path), "o-", ms=3, label=label)
    print(f"{label:30s} steps {len(path) - 1:3d}, |x| at the end {abs(path[-1]):.3g}")
ax.set(yscale="log", xlabel="step", ylabel="|x|", title="f(x) = x⁴, lr 0.1, from x = 3")
ax.legend()
fig.tight_layout()

# %%
# The norm is returned (before clipping), so a loop can log it; with
# ``error_if_nonfinite=True`` a NaN or infinite norm raises before anything is scaled.
grads = [np.array([3.0, 4.0]), np.array([12.0])]
total = fastgd.clip_grad_norm_(grads, max_norm=1.0)
print(f"total norm {total:.1f}; clipped: {grads[0]}, {grads[1]}")
