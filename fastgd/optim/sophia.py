"""Sophia: the official SophiaG's row, its plan and the Hessian-average methods."""

from __future__ import annotations

import numpy as np

from fastgd import backends
from fastgd.optim._aliasing import overlapping_by_bounds
from fastgd.optim._lowp import compute_dtype, is_low_precision, widened
from fastgd.optim._planning import Call, MixinBase, apply, buckets, state_or_fresh, stepwise
from fastgd.optim.optimizer import check_nonfinite_option, make_class
from fastgd.optim.spec import (
    EPS,
    LR,
    MAXIMIZE,
    WD,
    OptimizerSpec,
    StateBuffer,
    at_least_zero,
    beta_rule,
    hyper,
    whole_number,
)

SPEC = OptimizerSpec(
    name="Sophia",
    kernel="sophia",
    matches="paper: SophiaG, the official code of Liu et al. (2023)",
    summary="Sophia (the official SophiaG update): momentum divided by a diagonal Hessian "
            "estimate, clipped to at most lr per coordinate; the Hessian estimates come from "
            "the caller through update_hessian() (see fastgd.optim.hessian for the estimators).",
    hyperparameters=(
        hyper("lr", 1e-4, "learning rate: the largest step of a coordinate"),
        hyper("betas", (0.965, 0.99), "decay rates of the momentum and of the average of the "
           "Hessian estimates"),
        hyper("rho", 0.04, "scale of the Hessian estimate in the denominator (the paper's "
           "gamma)"),
        hyper("weight_decay", 0.1, "decoupled weight decay, p <- p * (1 - lr * weight_decay)"),
        hyper("eps", 1e-15, "added to rho * h in the denominator"),
        hyper("update_interval", 10, "steps between Hessian refreshes: hessian_due() is True "
           "after every update_interval-th step (the step itself does not use it)"),
        MAXIMIZE,
    ),
    rules=(
        LR,
        beta_rule(0),
        beta_rule(1),
        at_least_zero("rho", "rho value"),
        WD,
        EPS,
        whole_number("update_interval", 1),
    ),
    state=(StateBuffer("exp_avg"), StateBuffer("hessian")),
    # Against optax.contrib.sophia with a zero Hessian estimate (the only setting the
    # step-only parity protocol can share): see tests/test_sophia_schedulefree_sophia.py
    # for the update with Hessian estimates.
)


def _plan_sophia(opt, group, items, needed):
    def by_step(states, step):
        buffers = ([s["exp_avg"] for s in states], [s["hessian"] for s in states])
        return "sophia", buffers, dict(
            lr=group["lr"], beta1=group["betas"][0], rho=group["rho"], eps=group["eps"],
            weight_decay=group["weight_decay"], maximize=group["maximize"])

    return stepwise(opt, group, items, needed, by_step)


class _SophiaMixin(MixinBase):
    """Sophia's Hessian estimates: :meth:`update_hessian` and :meth:`hessian_due`.

    The step divides the momentum by ``rho * h + eps``, where ``h`` is the moving average
    of the diagonal Hessian estimates given to :meth:`update_hessian`; until the first
    estimate ``h`` is 0 and the steps are ``lr * sign(m)``. The official training loop
    refreshes ``h`` every ``update_interval`` steps, right after the step and on the same
    batch::

        from fastgd.optim import hessian

        opt = fastgd.Sophia(params, lr=3e-4, rho=0.05, weight_decay=0.2)
        rng = np.random.default_rng(0)
        for batch in batches:
            opt.step(grads_of(batch))
            if opt.hessian_due():  # after steps update_interval, 2 * update_interval, ...
                opt.update_hessian(hessian.gauss_newton_bartlett(
                    logits_of(batch), lambda labels: grads_of(batch, labels), rng))

    ``grads_of(batch, labels)``: the gradients of the mean cross-entropy on the batch with
    those labels instead of the batch's own (the official code: ``update_hessian()``
    after a backward pass on labels sampled from the model).
    """

    def update_hessian(self, estimates, *, nonfinite: str | None = None) -> bool | None:
        """``h <- beta2 * h + (1 - beta2) * estimate`` for each parameter, ``beta2`` its
        group's ``betas[1]`` (the official SophiaG's ``update_hessian``, there with
        ``estimate = g * g``).

        ``estimates`` is a list aligned with the parameters of all groups, in order: for
        each, an array of the parameter's shape and dtype (a diagonal Hessian estimate:
        :func:`fastgd.optim.hessian.gauss_newton_bartlett` or
        :func:`fastgd.optim.hessian.hutchinson`), or None to leave its average alone. A
        parameter without state yet gets it (zero momentum and average, step 0), as in the
        official code. Everything is checked before any state changes.

        ``nonfinite`` treats a NaN or an infinity in the estimates as :meth:`step` does in
        the gradients: None lets it into the averages, ``"raise"`` raises
        FloatingPointError naming the estimate, ``"skip"`` drops the whole update. Returns
        None; with ``nonfinite`` given, True when the averages were updated and False when
        ``"skip"`` dropped the update.
        """
        if nonfinite is not None:
            check_nonfinite_option(nonfinite)
        if not isinstance(estimates, (list, tuple)):
            raise TypeError("estimates must be a list of arrays (or None) aligned with the "
                            f"parameters, got {type(estimates).__name__}")
        n_params = sum(len(g["params"]) for g in self.param_groups)
        if len(estimates) != n_params:
            raise ValueError(f"update_hessian() got {len(estimates)} estimates for {n_params} "
                             f"parameters")
        self._revalidate_groups()
        work, index = [], 0
        for k, group in enumerate(self.param_groups):
            for p in group["params"]:
                e = estimates[index]
                if e is not None:
                    e = _checked_estimate(index, p, e)
                    state, fresh = state_or_fresh(self, group, index, p, self._needed[k])
                    work.append((group, compute_dtype(p.dtype), index, state["hessian"], e,
                                 fresh))
                index += 1
        kernels = backends.active()
        for k, (group, dtype, index, h, e, fresh) in enumerate(work):
            if e.dtype != dtype:  # a 16-bit estimate of a 16-bit parameter
                work[k] = (group, dtype, index, h, widened(kernels, e), fresh)
        overlapping = overlapping_by_bounds([e for *_, e, _ in work],
                                             [h for *_, h, _, _ in work])
        for k in overlapping:  # read an estimate that is some average as it was passed
            group, dtype, index, h, e, fresh = work[k]
            work[k] = (group, dtype, index, h, e.copy(), fresh)
        keys = [(id(group), dtype) for group, dtype, *_ in work]
        calls = []
        for _, bucket in (buckets(work, keys) if work else ()):
            group = bucket[0][0]
            calls.append(Call("sophia_hessian", ([h for *_, h, _, _ in bucket],
                                                  [e for *_, e, _ in bucket]),
                               dict(beta2=group["betas"][1]),
                               [(i, fresh) for _, _, i, _, _, fresh in bucket if fresh]))
        scanned = [(i, e) for _, _, i, _, e, _ in work]
        if not apply(calls, kernels, self.state, nonfinite, scanned,
                     lambda i: f"estimates[{i}] holds a NaN or an infinity; the Hessian "
                               f"averages were not updated (nonfinite='raise')"):
            return False
        return None if nonfinite is None else True

    def hessian_call(self, group_index: int = 0) -> tuple[str, list, float]:
        """What a loop that runs :meth:`update_hessian`'s update itself needs (the fused
        training loop of :func:`fastgd.fit`): the kernel's name, the Hessian averages of
        the group's parameters (the state arrays, updated in place; every parameter must
        have its state) and the group's ``beta2``."""
        first = sum(len(g["params"]) for g in self.param_groups[:group_index])
        group = self.param_groups[group_index]
        averages = [self.state[i]["hessian"] for i in range(first, first + len(group["params"]))]
        return "sophia_hessian", averages, float(group["betas"][1])

    def hessian_due(self) -> bool:
        """Whether the Hessian average should be refreshed now, after a step: True when the
        latest step of some group (the largest step count among its parameters) is a
        positive multiple of its ``update_interval``, i.e. after steps ``update_interval``,
        ``2 * update_interval``, ... as in the official training loop. (The paper refreshes
        before steps 1, k + 1, 2k + 1, ...; optax after them: call :meth:`update_hessian`
        on your own schedule for those.)"""
        self._revalidate_groups()
        index = 0
        for group in self.param_groups:
            steps = [self.state[i].get("step", 0)
                     for i in range(index, index + len(group["params"])) if i in self.state]
            index += len(group["params"])
            latest = max(steps, default=0)
            if latest > 0 and latest % group["update_interval"] == 0:
                return True
        return False


def _checked_estimate(index: int, p: np.ndarray, e) -> np.ndarray:
    """A Hessian estimate checked against its parameter: C-contiguous, aligned, its dtype."""
    if not isinstance(e, (np.ndarray, np.generic)):
        raise TypeError(f"estimates[{index}] must be a numpy.ndarray or None, got "
                        f"{type(e).__name__}")
    e = np.asarray(e)
    if e.dtype != p.dtype and not (is_low_precision(p.dtype) and (
            e.dtype == np.float32 or is_low_precision(e.dtype))):
        raise TypeError(f"estimates[{index}] has dtype {e.dtype} but its parameter has dtype "
                        f"{p.dtype}")
    if e.shape != p.shape:
        raise ValueError(f"estimates[{index}] has shape {e.shape} but its parameter has shape "
                         f"{p.shape}")
    if not (e.flags.c_contiguous and e.flags.aligned):
        e = np.array(e, order="C", copy=True)
    return e


Sophia = make_class(SPEC, _plan_sophia, mixins=(_SophiaMixin,))
