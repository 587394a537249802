"""LAMB: optax.lamb's row (per-tensor trust ratio) and its plan."""

from __future__ import annotations

from fastgd.optim._planning import adam_like_plan
from fastgd.optim.optimizer import make_class
from fastgd.optim.spec import BETAS_RULES, EPS, LR, MAXIMIZE, WD, OptimizerSpec, StateBuffer, hyper

SPEC = OptimizerSpec(
    name="LAMB",
    elementwise=False,
    kernel="lamb",
    matches="optax.lamb",
    summary="LAMB: the Adam step plus weight decay, scaled per tensor by ||p|| / ||step||.",
    hyperparameters=(
        hyper("lr", 1e-3, "learning rate"),
        hyper("betas", (0.9, 0.999), "decay rates of the first and second moment averages"),
        hyper("eps", 1e-6, "added to the bias-corrected root of the second moment"),
        hyper("weight_decay", 0.0, "weight decay added to the Adam step before the trust ratio"),
        MAXIMIZE,
    ),
    rules=(LR, EPS, *BETAS_RULES, WD),
    state=(StateBuffer("exp_avg"), StateBuffer("exp_avg_sq")),
)


_plan_lamb = adam_like_plan("lamb", ("exp_avg", "exp_avg_sq"), ("eps", "weight_decay"))


LAMB = make_class(SPEC, _plan_lamb)
