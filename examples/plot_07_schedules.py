"""
Learning-rate schedules: warm-up, cosine, one-cycle
===================================================

:mod:`fastgd.lr_scheduler` holds torch.optim.lr_scheduler's schedulers (the same
numbers, bit for bit) for fastgd's optimizers. Each is stepped after the optimizer; the
curves below are ``scheduler.get_last_lr()`` over 1000 steps.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastgd
from fastgd import lr_scheduler


def curve(make, steps=1000, lr=0.1, **options):
    w = np.zeros(3)
    opt = fastgd.SGD([w], lr=lr, momentum=0.9, **options)
    sched = make(opt)
    lrs = []
    for _ in range(steps):
        lrs.append(sched.get_last_lr()[0])
        opt.step([np.ones(3)])
        sched.step()
    return lrs


schedules = {
    "linear warm-up (100 steps), then cosine": lambda opt: lr_scheduler.SequentialLR(
        opt, [lr_scheduler.LinearLR(opt, start_factor=0.01, total_iters=100),
              lr_scheduler.CosineAnnealingLR(opt, T_max=900)], milestones=[100]),
    "cosine with warm restarts (T_0=250)": lambda opt: lr_scheduler.CosineAnnealingWarmRestarts(
        opt, T_0=250),
    "one-cycle (max_lr=0.5)": lambda opt: lr_scheduler.OneCycleLR(
        opt, max_lr=0.5, total_steps=1000),
    "step decay (x0.5 every 200)": lambda opt: lr_scheduler.StepLR(opt, 200, gamma=0.5),
}
fig, ax = plt.subplots(figsize=(9, 4.5))
for label, make in schedules.items():
    lrs = curve(make)
    ax.plot(lrs, label=label)
    print(f"{label:40s} first {lrs[0]:.4f}  max {max(lrs):.4f}  last {lrs[-1]:.2e}")
ax.set(xlabel="step", ylabel="learning rate", title="schedules over 1000 steps (base lr 0.1)")
ax.legend()
fig.tight_layout()

# %%
# One-cycle also cycles the momentum, inversely to the learning rate, as torch's does:
w = np.zeros(3)
opt = fastgd.SGD([w], lr=0.1, momentum=0.9)
sched = lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=1000)
momenta = []
for _ in range(1000):
    momenta.append(opt.param_groups[0]["momentum"])
    opt.step([np.ones(3)])
    sched.step()
fig, ax = plt.subplots(figsize=(9, 3))
ax.plot(momenta)
ax.set(xlabel="step", ylabel="momentum", title="one-cycle's momentum")
fig.tight_layout()
