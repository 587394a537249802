"""The optimizers that follow optax (torch has none) against optax itself, with jax in
float64 (``jax_enable_x64``); skipped when jax or optax is not installed (CI installs them).

Each run trains several parameters of different shapes, in two parameter groups, on the
quadratic loss of tests/_problems.py for 60 steps; some steps give one parameter
no gradient, and every group's learning rate is halved half-way through. optax has no
parameter groups and no "no gradient" step: each parameter gets its own optax state, built
from its group's hyperparameters, and a parameter without a gradient is not updated.

Also here: the zero-norm rules of LAMB / LARS, optax.contrib.sophia with Hessian
estimates, and where optax.contrib's schedule-free conventions differ from the
schedulefree package's. The optax forms of Adam, AdamW, RMSprop, Adadelta and Adamax:
test_optax_forms.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from _problems import STEPS, TOLERANCE, _groups, _problem
from parity.optim_db import OPTIM_DB

import fastgd
from fastgd.optim.registry import OPTIMIZERS

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy


#: name -> function(group) -> the optax GradientTransformation with the group's settings.
FACTORIES = {}
#: name -> function(fastgd state of one parameter, optax state of it) -> pairs of arrays
#: that must agree (state entries). Optional.
STATES = {}

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


# Sophia: the parity protocol only steps, so fastgd's Hessian average stays 0; optax is
# given a Hessian estimator that returns zeros, and both take steps lr * sign(m) (optax's
# bias correction of m and its max(gamma * h, eps) do not matter there). The update with
# Hessian estimates is checked in tests/reference/test_sophia.py.
def _zero_hessian():
    def update(updates, state, params=None, **extra):
        return jax.tree.map(jnp.zeros_like, updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


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
# in float64 for both (tests/parity/test_schedulefree.py shows the stock lag).
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

OPTAX = {name: spec for name, spec in OPTIMIZERS.items() if spec.matches.startswith("optax.")}
# Every optimizer with a factory, including those optax matches only in part (Sophia while
# its Hessian estimate is zero).
CASES = [(name, variant) for name in FACTORIES for variant in OPTIM_DB[name]]


def test_every_optax_optimizer_has_a_factory():
    assert set(FACTORIES) >= set(OPTAX)


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


# -- LAMB and LARS: the zero-norm rules ------------------------------------------------------


@pytest.mark.parametrize("name", ["LAMB", "LARS"])
def test_zero_norm_rules_match_optax(name):
    # a zero parameter tensor, and zero gradients, against optax's where(norm == 0, 1, ratio)
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    jax.config.update("jax_enable_x64", True)
    options = dict(lr=0.1, weight_decay=0.0) if name == "LAMB" else dict(lr=0.1, eps=1e-3)
    make = (lambda: optax.lamb(0.1)) if name == "LAMB" else (lambda: optax.lars(0.1, eps=1e-3))
    grads = [np.array([1.0, -2.0, 0.5]), np.zeros(3), np.zeros(3), np.array([0.0, 3.0, -1.0])]
    for start in (np.zeros(3), np.array([0.5, 0.0, -1.0])):
        ours = start.copy()
        opt = getattr(fastgd, name)([ours], **options)
        theirs = jax.numpy.asarray(start)
        tx = make()
        state = tx.init(theirs)
        for g in grads:
            opt.step([g])
            updates, state = tx.update(jax.numpy.asarray(g), state, theirs)
            theirs = optax.apply_updates(theirs, updates)
            np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-14, atol=1e-16)


# -- optax.contrib.sophia with Hessian estimates ------------------------------------------------


def _optax():
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    jax.config.update("jax_enable_x64", True)
    return jax, optax


def _given_estimate():
    """An optax Hessian-diagonal transformation that returns the ``estimate`` argument."""
    _, optax = _optax()

    def update(updates, state, params=None, estimate=None, **extra):
        return estimate, state

    return optax.GradientTransformationExtraArgs(lambda params: optax.EmptyState(), update)


@pytest.mark.parametrize("options", [dict(weight_decay=0.0), dict(weight_decay=0.2),
                                     dict(rho=0.5, update_interval=1)])
def test_matches_optax_sophia_with_hessian_estimates_when_b1_is_0(options):
    # optax divides the bias-corrected momentum by max(gamma h, eps) and decays weights
    # additively (p - lr (u + wd p)); with b1 = 0 (m = g, no bias correction) and tiny eps
    # the update is the official one. optax refreshes h after computing the update of
    # steps 1, k+1, 2k+1, ...: fastgd is given the same estimates after those steps.
    jax, optax = _optax()
    jnp = jax.numpy
    rng = np.random.default_rng(11)
    options = {"lr": 0.05, "betas": (0.0, 0.9), "rho": 0.05, "update_interval": 4,
               "weight_decay": 0.1, **options}
    b1, b2 = options["betas"]
    w = rng.standard_normal(7)
    p = jnp.asarray(w)
    opt = fastgd.Sophia([w], eps=1e-15, **options)
    tx = optax.contrib.sophia(options["lr"], b1=b1, b2=b2, eps=1e-15,
                              weight_decay=options["weight_decay"], gamma=options["rho"],
                              update_interval=options["update_interval"],
                              hessian_diagonal_fn=_given_estimate())
    state = tx.init(p)
    target = rng.standard_normal(7)
    for step in range(1, 41):
        g = 2 * (w - target) + 0.1 * rng.standard_normal(7)
        estimate = rng.uniform(0.5, 40.0, 7)
        opt.step([g])
        if (step - 1) % options["update_interval"] == 0:
            opt.update_hessian([estimate])
        updates, state = tx.update(jnp.asarray(g), state, p, estimate=jnp.asarray(estimate))
        p = optax.apply_updates(p, updates)
        np.testing.assert_allclose(w, np.asarray(p), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(opt.state[0]["hessian"], np.asarray(state[0].nu), rtol=1e-12)
    # ratios below the clip were exercised
    assert np.any(np.abs(opt.state[0]["exp_avg"]) < options["rho"] * opt.state[0]["hessian"])


def test_optax_bias_corrects_the_momentum_and_the_official_code_does_not():
    # the same first step with a Hessian average of 1 differs by the factor 1/(1 - b1)
    jax, optax = _optax()
    jnp = jax.numpy
    w = np.zeros(1)
    opt = fastgd.Sophia([w], lr=1.0, betas=(0.9, 0.0), rho=1.0, weight_decay=0.0)
    opt.update_hessian([np.ones(1)])
    opt.step([np.array([0.5])])
    assert w[0] == pytest.approx(-0.05)  # -lr * (0.1 * 0.5) / 1
    tx = optax.contrib.sophia(1.0, b1=0.9, b2=0.0, weight_decay=0.0, gamma=1.0,
                              update_interval=1, hessian_diagonal_fn=_given_estimate())
    state = tx.init(jnp.zeros(1))
    state = state._replace(nu=jnp.ones(1)) if hasattr(state, "nu") else \
        (state[0]._replace(nu=jnp.ones(1)), *state[1:])
    updates, _ = tx.update(jnp.asarray([0.5]), state, jnp.zeros(1), estimate=jnp.ones(1))
    assert float(updates[0]) == pytest.approx(-0.5)  # -lr * (0.05 / 0.1) / 1


# -- schedule-free: where optax.contrib's conventions differ ------------------------------------


def test_stock_optax_warmup_lags_the_z_step_by_one():
    # optax.contrib.schedule_free_sgd(warmup_steps=W) gives its inner SGD the schedule at
    # its own count, from 0, and the averaging weights the schedule at count k + 1: its
    # first step has lr 0 for z and weight 1 for the average, so nothing moves. The
    # package (and fastgd) use lr (k + 1) / W for both.
    jax, optax = _optax()
    jnp = jax.numpy
    p0, g = np.array([1.0, -2.0]), np.array([0.5, 1.0])
    tx = optax.contrib.schedule_free_sgd(0.4, warmup_steps=4, b1=0.9)
    state = tx.init(jnp.asarray(p0))
    updates, state = tx.update(jnp.asarray(g), state, jnp.asarray(p0))
    np.testing.assert_array_equal(np.asarray(optax.apply_updates(jnp.asarray(p0), updates)),
                                  p0)
    w = p0.copy()
    fastgd.SGDScheduleFree([w], lr=0.4, warmup_steps=4, momentum=0.9).step([g])
    np.testing.assert_allclose(w, p0 - 0.1 * g, rtol=1e-15)  # lr * 1/4


def test_stock_optax_warmup_schedule_is_float32():
    # optax.warmup_constant_schedule at optax's int32 step counts computes in float32 even
    # with x64: its lr after the warmup is float32(lr), so stock optax and fastgd differ by
    # ~1e-8 relative there
    jax, optax = _optax()
    value = optax.warmup_constant_schedule(0.0, 0.1, 4)(jax.numpy.int32(10))
    assert value.dtype == np.float32 and float(value) != 0.1


def test_without_warmup_optax_and_fastgd_agree_and_optax_params_are_y():
    jax, optax = _optax()
    jnp = jax.numpy
    w = np.array([1.0, -2.0, 0.5])
    p = jnp.asarray(w)
    opt = fastgd.AdamWScheduleFree([w], lr=0.05, weight_decay=0.01)
    tx = optax.contrib.schedule_free_adamw(0.05, weight_decay=0.01)
    state = tx.init(p)
    for k in range(20):
        g = np.cos(w + k)
        opt.step([g])
        updates, state = tx.update(jnp.asarray(np.cos(np.asarray(p) + k)), state, p)
        p = optax.apply_updates(p, updates)
    np.testing.assert_allclose(w, np.asarray(p), rtol=1e-12)
    x = np.asarray(optax.contrib.schedule_free_eval_params(state, p))
    opt.eval()
    np.testing.assert_allclose(w, x, rtol=1e-12)
