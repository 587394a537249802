"""ASGD: torch.optim.ASGD's row, its plan (eta and mu per step) and the averages."""

from __future__ import annotations

import numpy as np

from fastgd.optim._planning import Call, MixinBase, buckets, state_or_fresh
from fastgd.optim.optimizer import make_class
from fastgd.optim.spec import LR, WD, OptimizerSpec, StateBuffer, hyper, not_nan

SPEC = OptimizerSpec(
    name="ASGD",
    kernel="asgd",
    matches="torch.optim.ASGD",
    summary="Averaged SGD: SGD with a decaying step size and a running average of the "
            "iterates (averaged()), from step t0 on.",
    hyperparameters=(
        hyper("lr", 1e-2, "learning rate"),
        hyper("lambd", 1e-4, "decay term: eta = lr / (1 + lambd * lr * t) ** alpha, and the "
           "parameter shrinks by 1 - lambd * eta each step"),
        hyper("alpha", 0.75, "power of the eta decay"),
        hyper("t0", 1e6, "step at which averaging starts"),
        hyper("weight_decay", 0, "L2 penalty added to the gradient"),
        hyper("maximize", False, "maximize the objective instead of minimizing it"),
    ),
    rules=(
        LR,
        WD,
        not_nan("lambd"),
        not_nan("alpha"),
        not_nan("t0"),
    ),
    state=(StateBuffer("ax"),),
    scalar_state={"eta": lambda g: _asgd_start_eta(g["lr"]), "mu": lambda g: 1.0},
)


def _asgd_start_eta(lr: float) -> float:
    from fastgd.reference import asgd_schedule
    return asgd_schedule(lr, 0.0, 0.0, 0.0, 0)[0]


def _plan_asgd(opt, group, items, needed):
    from fastgd.reference import asgd_schedule

    lr, lambd, alpha, t0 = (group[k] for k in ("lr", "lambd", "alpha", "t0"))
    stated = []
    for i, p, g in items:
        state, fresh = state_or_fresh(opt, group, i, p, needed)
        stated.append((i, p, g, state, fresh))
    # one call per dtype, step count and (eta, mu): parameters that skipped steps, or
    # joined later, have their own
    keys = [(p.dtype, s["step"], s["eta"], s["mu"]) for _, p, _, s, _ in stated]
    calls = []
    for (_, step, eta, mu), bucket in buckets(stated, keys):
        new_eta, new_mu = asgd_schedule(lr, lambd, alpha, t0, step + 1)
        after = {"step": step + 1, "eta": new_eta, "mu": new_mu}
        lists = ([p for _, p, _, _, _ in bucket], [g for _, _, g, _, _ in bucket],
                 [s["ax"] for _, _, _, s, _ in bucket])
        updates = [(i, {**fresh, **after} if fresh else after)
                   for i, _, _, _, fresh in bucket]
        calls.append(Call("asgd", lists, dict(
            eta=eta, lambd=lambd, mu=mu, weight_decay=group["weight_decay"],
            maximize=group["maximize"]), updates))
    return calls


class _ASGDAverages(MixinBase):
    """ASGD's averaged parameters."""

    def averaged(self) -> list[np.ndarray]:
        """The averaged parameters (torch's ``ax`` state), one array per parameter, aligned
        with the parameters of all groups in order: new arrays (copies), which later steps
        do not change. A parameter with no average yet (no step has had a gradient for
        it) gives a copy of itself: its first step makes ``ax`` the parameter.

        Averaging starts after step ``t0``; until then the average follows the
        parameter. Evaluate a model with the averages, e.g.::

            for p, a in zip(params, opt.averaged()):
                p_eval[...] = a
        """
        out = []
        index = 0
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state.get(index)
                ax = state.get("ax") if isinstance(state, dict) else None
                out.append(np.array(p if ax is None else ax, dtype=p.dtype, order="C",
                                    copy=True))
                index += 1
        return out


ASGD = make_class(SPEC, _plan_asgd, mixins=(_ASGDAverages,))
