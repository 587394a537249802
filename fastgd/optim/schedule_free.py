"""Schedule-free SGD and AdamW (the schedulefree package's): rows, plans, train()/eval()."""

from __future__ import annotations

import numpy as np

from fastgd import backends
from fastgd.optim._lowp import compute_dtype, widened
from fastgd.optim._planning import Call, MixinBase, buckets, state_or_fresh
from fastgd.optim.optimizer import make_class
from fastgd.optim.spec import (
    EPS,
    LR,
    MAXIMIZE,
    WD,
    OptimizerSpec,
    Rule,
    StateBuffer,
    at_least_zero,
    beta_rule,
    hyper,
    whole_number,
)
from fastgd.reference._common import bias_correction

_SCHEDULE_FREE_COMMON = (
    hyper("warmup_steps", 0, "steps of linear learning-rate warmup: lr * (k + 1) / warmup_steps "
       "at step k (from 0)"),
    hyper("r", 0.0, "polynomial weighting of the average: weight (k + 1)**r * lr_max**"
       "weight_lr_power"),
    hyper("weight_lr_power", 2.0, "power of the largest learning rate so far in the averaging "
       "weights"),
    MAXIMIZE,
    hyper("train_mode", True, "whether the parameters hold y (train(), for steps) or x "
       "(eval(), for evaluation)", argument=False),
)
_SCHEDULE_FREE_RULES = (
    whole_number("warmup_steps", 0),
    at_least_zero("r", "r value"),
    at_least_zero("weight_lr_power", "weight_lr_power value"),
)
_SCHEDULE_FREE_SCALARS = {"weight_sum": lambda g: 0.0, "lr_max": lambda g: 0.0}

SGD_SCHEDULE_FREE_SPEC = OptimizerSpec(
    name="SGDScheduleFree",
    kernel="sgd_schedule_free",
    matches="optax.contrib.schedule_free_sgd",
    summary="Schedule-Free SGD (Defazio et al. 2024; the schedulefree package's "
            "SGDScheduleFree): gradients at y, steps on z, x the weighted average of the z; "
            "train() and eval() switch the parameters between y and x.",
    hyperparameters=(
        hyper("lr", 1.0, "learning rate (after the warmup)"),
        hyper("momentum", 0.9, "interpolation y = momentum * x + (1 - momentum) * z, in (0, 1)"),
        hyper("weight_decay", 0.0, "L2 penalty, at y, added to the gradient"),
        *_SCHEDULE_FREE_COMMON,
    ),
    rules=(
        LR,
        WD,
        Rule(lambda g: 0.0 < g["momentum"] < 1.0,
             "Momentum must be between 0 and 1 exclusive: {momentum}"),
        *_SCHEDULE_FREE_RULES,
    ),
    state=(StateBuffer("z", from_param=True),),
    scalar_state=_SCHEDULE_FREE_SCALARS,
)

ADAMW_SCHEDULE_FREE_SPEC = OptimizerSpec(
    name="AdamWScheduleFree",
    kernel="adamw_schedule_free",
    matches="optax.contrib.schedule_free_adamw",
    summary="Schedule-Free AdamW (Defazio et al. 2024; the schedulefree package's "
            "AdamWScheduleFree): Adam-normalised gradients at y, steps on z, x the weighted "
            "average of the z; train() and eval() switch the parameters between y and x.",
    hyperparameters=(
        hyper("lr", 0.0025, "learning rate (after the warmup)"),
        hyper("betas", (0.9, 0.999), "interpolation y = beta1 * x + (1 - beta1) * z, in (0, 1); "
           "decay rate of the second moment"),
        hyper("eps", 1e-8, "added to the bias-corrected root of the second moment"),
        hyper("weight_decay", 0.0, "weight decay at y, added to the normalised gradient"),
        *_SCHEDULE_FREE_COMMON,
    ),
    rules=(
        LR,
        Rule(lambda g: 0.0 < g["betas"][0] < 1.0,
             "Invalid beta parameter at index 0: {betas[0]}"),
        beta_rule(1),
        EPS,
        WD,
        *_SCHEDULE_FREE_RULES,
    ),
    state=(StateBuffer("z", from_param=True), StateBuffer("exp_avg_sq")),
    scalar_state=_SCHEDULE_FREE_SCALARS,
)


def _schedule_free_weights(group, state) -> tuple[float, float, float, float]:
    """The schedulefree package's per-step numbers for a parameter at step k =
    ``state["step"]`` (from 0), in float64: the scheduled learning rate, the averaging
    weight c_{k+1}, and the new lr_max and weight_sum."""
    k = state["step"]
    warmup = float(group["warmup_steps"])
    lr = float(group["lr"]) * ((k + 1) / warmup if k < warmup else 1.0)
    lr_max = max(lr, state["lr_max"])
    try:
        weight = (k + 1) ** float(group["r"]) * lr_max ** float(group["weight_lr_power"])
    except OverflowError:
        raise ValueError(f"the averaging weight (k + 1)**r * lr_max**weight_lr_power "
                         f"overflows at step {k + 1} (r={group['r']}, lr_max={lr_max}, "
                         f"weight_lr_power={group['weight_lr_power']})") from None
    weight_sum = state["weight_sum"] + weight
    try:
        ckp1 = weight / weight_sum
    except ZeroDivisionError:  # every weight so far is 0 (lr = 0)
        ckp1 = 0.0
    return lr, ckp1, lr_max, weight_sum


def _plan_schedule_free(opt, group, items, needed, kernel):
    if not group["train_mode"]:
        raise RuntimeError(f"{type(opt).__name__}.step() called in eval mode: the parameters "
                           f"hold the averaged point x; call train() before the steps and "
                           f"eval() before evaluating")
    adamw = kernel == "adamw_schedule_free"
    planned = []
    for i, p, g in items:
        state, fresh = state_or_fresh(opt, group, i, p, needed)
        lr, ckp1, lr_max, weight_sum = _schedule_free_weights(group, state)
        update = {**(fresh or {}), "step": state["step"] + 1, "lr_max": lr_max,
                  "weight_sum": weight_sum}
        planned.append(((i, p, g, state, update), (p.dtype, state["step"], lr, ckp1)))
    calls = []
    for (_, step, lr, ckp1), bucket in buckets([x for x, _ in planned],
                                                [key for _, key in planned]):
        lists = ([p for _, p, _, _, _ in bucket], [g for _, _, g, _, _ in bucket],
                 [s["z"] for _, _, _, s, _ in bucket])
        updates = [(i, update) for i, _, _, _, update in bucket]
        if adamw:
            beta1, beta2 = group["betas"]
            calls.append(Call(kernel, (*lists, [s["exp_avg_sq"] for _, _, _, s, _ in bucket]),
                               dict(lr=lr, beta1=beta1, beta2=beta2, eps=group["eps"],
                                    weight_decay=group["weight_decay"], ckp1=ckp1,
                                    bias_correction2=bias_correction(beta2, step + 1),
                                    maximize=group["maximize"]), updates))
        else:
            calls.append(Call(kernel, lists, dict(
                lr=lr, momentum=group["momentum"], weight_decay=group["weight_decay"],
                ckp1=ckp1, maximize=group["maximize"]), updates))
    return calls


def _plan_sgd_schedule_free(opt, group, items, needed):
    return _plan_schedule_free(opt, group, items, needed, "sgd_schedule_free")


def _plan_adamw_schedule_free(opt, group, items, needed):
    return _plan_schedule_free(opt, group, items, needed, "adamw_schedule_free")


def _torch_lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> None:
    """``start <- torch.lerp(start, end, weight)`` in place, the weight rounded to the
    dtype: ``start + w * (end - start)`` when ``|w| < 0.5``, else
    ``end - (end - start) * (1 - w)`` (torch tests ``|w|``: eval()'s weight is negative)."""
    T = start.dtype.type
    w = T(weight)
    with np.errstate(all="ignore"):
        if abs(w) < 0.5:
            start += w * (end - start)
        else:
            start[...] = end - (end - start) * (T(1) - w)


class _ScheduleFreeMixin(MixinBase):
    """train() / eval() of the schedule-free optimizers, as in the schedulefree package.

    The optimizer keeps z (the SGD/Adam iterate) in its state; x is the weighted average
    of the z so far and y = beta * x + (1 - beta) * z, beta being ``momentum`` (SGD) or
    ``betas[0]`` (AdamW). In train mode (the mode a new optimizer starts in) the
    parameters hold y, where the gradients are taken; :meth:`eval` sets them to x, the
    point to evaluate, test and checkpoint; :meth:`train` sets them back to y. ``step()``
    in eval mode raises RuntimeError. The mode is each group's ``train_mode`` entry (saved
    by ``state_dict()``).
    """

    def train(self) -> None:
        """Parameters to y (for the steps): ``p <- lerp(x, z, 1 - beta)``; no-op in train
        mode."""
        self._switch_mode(True)

    def eval(self) -> None:
        """Parameters to x (for evaluation): ``p <- lerp(y, z, 1 - 1/beta)``; no-op in eval
        mode."""
        self._switch_mode(False)

    def _switch_mode(self, train: bool) -> None:
        self._revalidate_groups()
        moves, index = [], 0
        for group in self.param_groups:
            beta = float(group["betas"][0] if "betas" in group else group["momentum"])
            for p in group["params"]:
                state = self.state.get(index)
                if group["train_mode"] != train and state is not None and "z" in state:
                    z = state["z"]
                    dtype = compute_dtype(p.dtype)
                    if not isinstance(z, np.ndarray) or z.shape != p.shape \
                            or z.dtype != dtype:
                        raise ValueError(f"state of parameter {index}: z must be an array "
                                         f"of the parameter's shape {p.shape} and dtype "
                                         f"{dtype}")
                    if not p.flags.writeable:
                        raise ValueError(f"parameter {index} is read-only; the optimizer "
                                         f"updates it in place")
                    moves.append((p, z, 1 - beta if train else 1 - 1 / beta))
                index += 1
        kernels = backends.active()
        for p, z, weight in moves:
            if p.dtype.itemsize == 2:  # bfloat16, float16: in float32, rounded to nearest
                wide = widened(kernels, p)
                _torch_lerp_(wide, z, weight)
                kernels.lowp_narrow(wide, p, -1)
            else:
                _torch_lerp_(p, z, weight)
        for group in self.param_groups:
            group["train_mode"] = train


SGDScheduleFree = make_class(SGD_SCHEDULE_FREE_SPEC, _plan_sgd_schedule_free,
                             mixins=(_ScheduleFreeMixin,))
AdamWScheduleFree = make_class(ADAMW_SCHEDULE_FREE_SPEC, _plan_adamw_schedule_free,
                               mixins=(_ScheduleFreeMixin,))
