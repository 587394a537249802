"""The optimizers that follow optax (torch has none) against optax itself, with jax in
float64 (``jax_enable_x64``); skipped when jax or optax is not installed (CI installs them).

Each run trains several parameters of different shapes, in two parameter groups, on the
quadratic loss of tests/test_torch_parity.py for 60 steps; some steps give one parameter
no gradient, and every group's learning rate is halved half-way through. optax has no
parameter groups and no "no gradient" step: each parameter gets its own optax state, built
from its group's hyperparameters, and a parameter without a gradient is not updated.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastgd
from fastgd.registry import OPTIMIZERS

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

SHAPES = [(5,), (3, 4), (), (0,), (2, 3, 2)]
STEPS = 60
TOLERANCE = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-4, atol=2e-5)}

#: name -> function(group) -> the optax GradientTransformation with the group's settings.
FACTORIES = {}
#: name -> function(fastgd state of one parameter, optax state of it) -> pairs of arrays
#: that must agree (state entries). Optional.
STATES = {}

# ---- begin optax factories: optax (Lion, AdaBelief, LAMB, LARS, Yogi) ----
def _maximizing(group, transform):
    """``transform`` fed ``-g`` when the group maximizes (fastgd negates g first)."""
    return optax.chain(optax.scale(-1.0), transform) if group["maximize"] else transform


def _adabelief(group):
    # fastgd's decoupled weight decay is optax.adamw's: add_decayed_weights before the lr
    b1, b2 = group["betas"]
    return _maximizing(group, optax.chain(
        optax.scale_by_belief(b1=b1, b2=b2, eps=group["eps"], eps_root=group["eps_root"]),
        optax.add_decayed_weights(group["weight_decay"]),
        optax.scale_by_learning_rate(group["lr"])))


FACTORIES["Lion"] = lambda group: _maximizing(group, optax.lion(
    group["lr"], b1=group["betas"][0], b2=group["betas"][1],
    weight_decay=group["weight_decay"]))
FACTORIES["AdaBelief"] = _adabelief
FACTORIES["LAMB"] = lambda group: _maximizing(group, optax.lamb(
    group["lr"], b1=group["betas"][0], b2=group["betas"][1], eps=group["eps"],
    weight_decay=group["weight_decay"]))
FACTORIES["LARS"] = lambda group: _maximizing(group, optax.lars(
    group["lr"], weight_decay=group["weight_decay"],
    trust_coefficient=group["trust_coefficient"], eps=group["eps"],
    momentum=group["momentum"], nesterov=group["nesterov"]))
FACTORIES["Yogi"] = lambda group: _maximizing(group, optax.chain(
    optax.scale_by_yogi(b1=group["betas"][0], b2=group["betas"][1], eps=group["eps"],
                        initial_accumulator_value=group["initial_accumulator_value"]),
    optax.scale_by_learning_rate(group["lr"])))


def _inner(opt_state, kind):
    """The first state of type ``kind`` in a (nested) optax chain state."""
    if isinstance(opt_state, kind):
        return opt_state
    if isinstance(opt_state, tuple):
        for part in opt_state:
            found = _inner(part, kind)
            if found is not None:
                return found
    return None


def _moments(names):
    def pairs(ours, theirs):
        state = _inner(theirs, (optax.ScaleByAdamState, optax.ScaleByBeliefState))
        return [(ours[names[0]], state.mu), (ours[names[1]], state.nu),
                (ours["step"], state.count)]
    return pairs


STATES["Lion"] = lambda ours, theirs: [(ours["exp_avg"],
                                        _inner(theirs, optax.ScaleByLionState).mu)]
STATES["AdaBelief"] = _moments(("exp_avg", "exp_avg_var"))
STATES["LAMB"] = _moments(("exp_avg", "exp_avg_sq"))
STATES["Yogi"] = _moments(("exp_avg", "exp_avg_sq"))
# optax's trace holds the negated steps; fastgd's buffer holds the steps themselves
STATES["LARS"] = lambda ours, theirs: (
    [(ours["momentum_buffer"], -_inner(theirs, optax.TraceState).trace)]
    if "momentum_buffer" in ours else [])
# ---- end optax factories: optax ----

# ---- begin optax factories: sophia-schedulefree (Sophia, SGDScheduleFree, AdamWScheduleFree) ----

# Sophia: the parity protocol only steps, so fastgd's Hessian average stays 0; optax is
# given a Hessian estimator that returns zeros, and both take steps lr * sign(m) (optax's
# bias correction of m and its max(gamma * h, eps) do not matter there). The update with
# Hessian estimates is checked in tests/test_sophia_schedulefree_sophia.py.
def _zero_hessian():
    def update(updates, state, params=None, **extra):
        return jax.tree.map(jnp.zeros_like, updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def _maximizing(group, tx):
    return optax.chain(optax.scale(-1.0), tx) if group["maximize"] else tx


FACTORIES["Sophia"] = lambda group: _maximizing(group, optax.contrib.sophia(
    group["lr"], b1=group["betas"][0], b2=group["betas"][1], eps=group["eps"],
    weight_decay=group["weight_decay"], gamma=group["rho"], clip_threshold=1.0,
    update_interval=group["update_interval"], hessian_diagonal_fn=_zero_hessian()))


def _find(state, has):
    """The first part of a (nested) optax chain state that has the field ``has``."""
    if hasattr(state, has):
        return state
    if isinstance(state, tuple):
        for part in state:
            found = _find(part, has)
            if found is not None:
                return found
    return None


def _sophia_state(ours, theirs):
    sophia = _find(theirs, "hessian_fn_state")
    return [(ours["exp_avg"], sophia.mu), (ours["hessian"], sophia.nu)]


STATES["Sophia"] = _sophia_state


# Schedule-free: optax's params are y, as fastgd's in train mode. Without warmup the stock
# optax.contrib.schedule_free_sgd / schedule_free_adamw. With warmup, optax's own
# construction differs in two ways from the schedulefree package (whose convention fastgd
# follows): its z step reads the warmup schedule one count behind the averaging weights
# (lr 0 on the first step), and its warmup_constant_schedule computes in float32. So the
# factory builds the same optax.contrib.schedule_free around optax.sgd / the
# scale_by_rms chain of schedule_free_adamw, with the package's warmup lr * min((k+1)/W, 1)
# in float64 for both (tests/test_sophia_schedulefree_schedulefree.py shows the stock lag).
def _warmup(group):
    lr, warmup = group["lr"], group["warmup_steps"]
    return lambda count: lr * jnp.minimum(jnp.asarray(count, jnp.float64) / warmup, 1.0)


def _schedule_free_sgd(group):
    momentum, wd, power = group["momentum"], group["weight_decay"], group["weight_lr_power"]
    assert group["r"] == 0  # optax has no polynomial weighting
    if not group["warmup_steps"]:
        return _maximizing(group, optax.contrib.schedule_free_sgd(
            group["lr"], None, momentum, wd, power))
    schedule = _warmup(group)
    base = optax.chain(optax.add_decayed_weights(wd), optax.sgd(lambda c: schedule(c + 1)))
    return _maximizing(group, optax.contrib.schedule_free(base, schedule, momentum, power))


def _schedule_free_adamw(group):
    (b1, b2), eps, wd = group["betas"], group["eps"], group["weight_decay"]
    power = group["weight_lr_power"]
    assert group["r"] == 0
    if not group["warmup_steps"]:
        return _maximizing(group, optax.contrib.schedule_free_adamw(
            group["lr"], None, b1, b2, eps, wd, power))
    schedule = _warmup(group)
    base = optax.chain(
        optax.scale_by_rms(decay=b2, eps=eps, eps_in_sqrt=False, bias_correction=True),
        optax.add_decayed_weights(wd), optax.scale_by_learning_rate(lambda c: schedule(c + 1)))
    return _maximizing(group, optax.contrib.schedule_free(base, schedule, b1, power))


def _schedule_free_state(ours, theirs):
    sf = _find(theirs, "weight_sum")
    pairs = [(ours["z"], sf.z), (ours["weight_sum"], sf.weight_sum),
             (ours["lr_max"], sf.max_lr)]
    if "exp_avg_sq" in ours:
        pairs.append((ours["exp_avg_sq"],
                      _find(sf.base_optimizer_state, "nu").nu))
    return pairs


FACTORIES["SGDScheduleFree"] = _schedule_free_sgd
FACTORIES["AdamWScheduleFree"] = _schedule_free_adamw
STATES["SGDScheduleFree"] = STATES["AdamWScheduleFree"] = _schedule_free_state
# ---- end optax factories: sophia-schedulefree ----

OPTAX = {name: spec for name, spec in OPTIMIZERS.items() if spec.matches.startswith("optax.")}
# Every optimizer with a factory, including those optax matches only in part (Sophia while
# its Hessian estimate is zero).
CASES = [(name, variant) for name in FACTORIES for variant in OPTIMIZERS[name].variants]


def test_every_optax_optimizer_has_a_factory():
    assert set(FACTORIES) >= set(OPTAX)


def _problem(rng, dtype):
    def draw(shape, scale=1.0):
        return np.asarray(scale * rng.standard_normal(shape), dtype=dtype)

    params = [draw(s) for s in SHAPES]
    targets = [draw(s) for s in SHAPES]
    scales = [np.asarray(rng.uniform(0.5, 3.0, s), dtype=dtype) for s in SHAPES]
    noise = [[draw(s, 0.1) for s in SHAPES] for _ in range(STEPS)]
    return params, targets, scales, noise


def _groups(params, variant):
    second = {"params": params[2:]}
    if "lr" in variant:
        second["lr"] = variant["lr"] * 0.5
    return [{"params": params[:2]}, second]


#: Optimizers whose optax update is compiled with jax.jit in the harness: optax.contrib's
#: Sophia branches with lax.cond, which run eagerly traces anew at every call (seconds per
#: step); compiled, XLA may fuse operations, well within the tolerance.
JIT = {"Sophia"}
_COMPILED: dict = {}


def _update(name, group):
    """The optax update function for ``group``'s current hyperparameters."""
    if name not in JIT:
        return FACTORIES[name](group).update
    key = (name, tuple(sorted((k, v) for k, v in group.items() if k != "params")))
    if key not in _COMPILED:
        _COMPILED[key] = jax.jit(FACTORIES[name](group).update)
    return _COMPILED[key]


def run_against_optax(name, variant, dtype, rng, steps=STEPS):
    """Train with fastgd and optax side by side; compare parameters (and state)."""
    params, targets, scales, noise = _problem(rng, dtype)
    ours = [p.copy() for p in params]
    opt = getattr(fastgd, name)(_groups(ours, variant), **variant)
    group_of = [g for g in opt.param_groups for _ in g["params"]]
    theirs = [jnp.asarray(p) for p in params]
    states = [FACTORIES[name](group).init(p) for group, p in zip(group_of, theirs)]

    for step in range(steps):
        if step == steps // 2:
            for group in opt.param_groups:
                group["lr"] *= 0.5
        skip = 1 if step % 7 == 3 else None  # parameter 1 gets no gradient on these steps
        grads = [None if k == skip else (s * (p - t) + e).astype(dtype)
                 for k, (p, t, s, e) in enumerate(zip(ours, targets, scales, noise[step]))]
        opt.step(grads)
        for k, (p, t, s, e) in enumerate(zip(theirs, targets, scales, noise[step])):
            if k == skip:
                continue
            g = jnp.asarray(s) * (p - jnp.asarray(t)) + jnp.asarray(e)
            updates, states[k] = _update(name, group_of[k])(g, states[k], p)
            theirs[k] = optax.apply_updates(p, updates)

    for k, (p, tp) in enumerate(zip(ours, theirs)):
        assert np.asarray(tp).dtype == dtype
        np.testing.assert_allclose(p, np.asarray(tp), **TOLERANCE[dtype],
                                   err_msg=f"parameter {k}")
        if name in STATES and k in opt.state:
            for a, b in STATES[name](opt.state[k], states[k]):
                np.testing.assert_allclose(a, np.asarray(b), **TOLERANCE[dtype],
                                           err_msg=f"state of parameter {k}")
    return opt, ours, theirs


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name,variant", CASES,
                         ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in o.items())}"
                              for n, o in CASES])
def test_matches_optax(name, variant, dtype, rng):
    run_against_optax(name, variant, dtype, rng)
