"""Adam and AdamW: torch.optim.Adam's and AdamW's rows (amsgrad, optax's eps_root) and
their plan."""

from __future__ import annotations

from fastgd.optim._planning import stepwise
from fastgd.optim.optimizer import make_class
from fastgd.optim.spec import (
    EPS,
    LR,
    MAXIMIZE,
    WD,
    Hyperparameter,
    OptimizerSpec,
    Rule,
    StateBuffer,
    beta_rule,
    hyper,
)
from fastgd.reference import bias_corrections
from fastgd.reference._common import bias_correction


def _none_or_at_least_zero(name: str) -> Rule:
    """A hyperparameter that is None or a real number >= 0 (NaN rejected); its type is
    checked before the rules, as kind ``"real_or_none"``."""
    return Rule(lambda g: g[name] is None or 0.0 <= g[name],
                "Invalid " + name + " value: {" + name + "}")


# eps_root is not a torch.optim.Adam argument: None (the default) keeps torch's form, a
# number selects optax's (fastgd.reference.adam_eps_root). Its rule comes after torch's.
_EPS_ROOT = Hyperparameter(
    "eps_root", None, "real_or_none",
    "None: torch.optim.Adam's form, eps added to sqrt(v) / sqrt(1 - b2^t) (torch's "
    "default); a number >= 0: optax's form, m_hat / (sqrt(v_hat + eps_root) + eps) with "
    "v_hat = v / (1 - b2^t), as optax.adam (optax's default eps_root is 0.0), optax.adamw "
    "with decoupled weight decay (p - lr * (update + wd * p)), optax.amsgrad with amsgrad "
    "(maximum over the bias-corrected v_hat)",
    keyword_only=True)

_ADAM_HYPERPARAMETERS = (
    hyper("lr", 1e-3, "learning rate"),
    hyper("betas", (0.9, 0.999), "decay rates of the first and second moment averages"),
    hyper("eps", 1e-8, "added to the bias-corrected root of the second moment"),
    hyper("weight_decay", 0.0, "weight decay: an L2 term in the gradient, or decoupled"),
    hyper("amsgrad", False, "use the maximum of past second moments (AMSGrad)"),
    MAXIMIZE,
    hyper("decoupled_weight_decay", False, "decay the weights directly (AdamW) instead of L2",
       keyword_only=True),
    _EPS_ROOT,
)
_ADAM_RULES = (LR, EPS, beta_rule(0), beta_rule(1), WD, _none_or_at_least_zero("eps_root"))
_ADAM_STATE = (
    StateBuffer("exp_avg"),
    StateBuffer("exp_avg_sq"),
    StateBuffer("max_exp_avg_sq"),
)

ADAM_SPEC = OptimizerSpec(
    name="Adam",
    kernel="adam",
    matches="torch.optim.Adam",
    summary="Adam: bias-corrected moment estimates; eps after the bias correction.",
    hyperparameters=_ADAM_HYPERPARAMETERS,
    rules=_ADAM_RULES,
    state=_ADAM_STATE,
    optional_on_load=frozenset({"eps_root"}),
)

ADAMW_SPEC = OptimizerSpec(
    name="AdamW",
    kernel="adam",
    matches="torch.optim.AdamW",
    summary="Adam with decoupled weight decay, p <- p * (1 - lr * weight_decay).",
    hyperparameters=tuple(
        hyper("weight_decay", 1e-2, h.doc) if h.name == "weight_decay"
        else hyper("decoupled_weight_decay", True, h.doc, argument=False)
        if h.name == "decoupled_weight_decay"
        else h
        for h in _ADAM_HYPERPARAMETERS),
    rules=_ADAM_RULES,
    state=_ADAM_STATE,
    optional_on_load=frozenset({"eps_root"}),
    fixed_on_load={"decoupled_weight_decay": True},
)


def _plan_adam(opt, group, items, needed):
    beta1, beta2 = group["betas"]
    amsgrad = group["amsgrad"]
    eps_root = group["eps_root"]  # None: torch's form; a number: optax's

    def by_step(states, step):
        buffers = ([s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states],
                   [s["max_exp_avg_sq"] for s in states] if amsgrad else None)
        if eps_root is not None:
            return "adam_eps_root", buffers, dict(
                lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"], eps_root=eps_root,
                weight_decay=group["weight_decay"], bias_correction1=bias_correction(beta1, step),
                bias_correction2=bias_correction(beta2, step), amsgrad=amsgrad,
                decoupled_weight_decay=group["decoupled_weight_decay"],
                maximize=group["maximize"])
        bc1, bc2_sqrt = bias_corrections(beta1, beta2, step)
        return "adam", buffers, dict(
            lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
            weight_decay=group["weight_decay"], bias_correction1=bc1,
            bias_correction2_sqrt=bc2_sqrt, amsgrad=amsgrad,
            decoupled_weight_decay=group["decoupled_weight_decay"], maximize=group["maximize"])

    return stepwise(opt, group, items, needed, by_step)


Adam = make_class(ADAM_SPEC, _plan_adam)
AdamW = make_class(ADAMW_SPEC, _plan_adam)
