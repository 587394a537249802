"""RAdam: torch.optim.RAdam's row and its plan (the variance rectification per step)."""

from __future__ import annotations

from fastgd.optim._planning import stepwise
from fastgd.optim.optimizer import make_class
from fastgd.optim.spec import EPS, LR, MAXIMIZE, WD, OptimizerSpec, StateBuffer, beta_rule, hyper
from fastgd.reference._common import bias_correction, bias_correction_sqrt

SPEC = OptimizerSpec(
    name="RAdam",
    kernel="radam",
    matches="torch.optim.RAdam",
    summary="RAdam: Adam whose adaptive step is rectified once the variance estimate is "
            "tractable (rho_t > 5), plain bias-corrected momentum before that.",
    hyperparameters=(
        hyper("lr", 1e-3, "learning rate"),
        hyper("betas", (0.9, 0.999), "decay rates of the first and second moment averages"),
        hyper("eps", 1e-8, "added to the root of the second moment"),
        hyper("weight_decay", 0.0, "weight decay: an L2 term in the gradient, or decoupled"),
        hyper("decoupled_weight_decay", False, "decay the weights directly instead of L2"),
        MAXIMIZE,
    ),
    rules=(LR, EPS, beta_rule(0), beta_rule(1), WD),
    state=(StateBuffer("exp_avg"), StateBuffer("exp_avg_sq")),
)


def _radam_rectification(beta2: float, step: int) -> tuple[bool, float]:
    """Whether RAdam's step ``step`` is rectified (rho_t > 5) and its rectification term,
    in float64 as torch computes them."""
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * (beta2 ** step) / (1 - beta2 ** step)
    if not rho_t > 5.0:
        return False, 0.0
    return True, ((rho_t - 4) * (rho_t - 2) * rho_inf
                  / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5


def _plan_radam(opt, group, items, needed):
    beta1, beta2 = (float(b) for b in group["betas"])

    def by_step(states, step):
        rectified, rectification = _radam_rectification(beta2, step)
        return "radam", ([s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states]), dict(
            lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
            weight_decay=group["weight_decay"], bias_correction1=bias_correction(beta1, step),
            bias_correction2_sqrt=bias_correction_sqrt(beta2, step), rectification=rectification,
            rectified=rectified, decoupled_weight_decay=group["decoupled_weight_decay"],
            maximize=group["maximize"])

    return stepwise(opt, group, items, needed, by_step)


RAdam = make_class(SPEC, _plan_radam)
