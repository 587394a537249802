"""The optax forms of Adam, AdamW and RMSprop (``eps_root=<number>``, ``eps_in_sqrt=True``)
and Adadelta / Adamax against optax as a second oracle beside torch (``run_against``: the
protocol of test_optax.py, with a factory per test), with jax in float64
(``jax_enable_x64``); skipped when jax or optax is not installed (CI installs them). And
the kernels of both forms, and the classes, alike on every backend.
"""

from __future__ import annotations

import numpy as np
import pytest
from _problems import STEPS, TOLERANCE, _groups, _problem

import fastgd
from fastgd import backends, kernels

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])


# -- the optax forms of Adam, AdamW and RMSprop, Adadelta and Adamax: run_against a factory --


def run_against(name, factory, variant, dtype, rng, *, halve_lr=True, second=None,
                state_pairs=None):
    """Train fastgd.<name>(**variant) and, per parameter, ``factory(group)`` side by side;
    compare parameters and the pairs ``state_pairs(fastgd state, optax state, group)``."""
    params, targets, scales, noise = _problem(rng, dtype)
    ours = [p.copy() for p in params]
    opt = getattr(fastgd, name)(_groups(ours, variant, second), **variant)
    group_of = [g for g in opt.param_groups for _ in g["params"]]
    theirs = [jnp.asarray(p) for p in params]
    states = [factory(group).init(p) for group, p in zip(group_of, theirs)]
    for step in range(STEPS):
        if halve_lr and step == STEPS // 2:
            for group in opt.param_groups:
                group["lr"] *= 0.5
        skip = 1 if step % 7 == 3 else None
        grads = [None if k == skip else (s * (p - t) + e).astype(dtype)
                 for k, (p, t, s, e) in enumerate(zip(ours, targets, scales, noise[step]))]
        opt.step(grads)
        for k, (p, t, s, e) in enumerate(zip(theirs, targets, scales, noise[step])):
            if k == skip:
                continue
            g = jnp.asarray(s) * (p - jnp.asarray(t)) + jnp.asarray(e)
            updates, states[k] = factory(group_of[k]).update(g, states[k], p)
            theirs[k] = optax.apply_updates(p, updates)
    for k, (p, tp) in enumerate(zip(ours, theirs)):
        assert np.asarray(tp).dtype == dtype
        np.testing.assert_allclose(p, np.asarray(tp), **TOLERANCE[dtype],
                                   err_msg=f"parameter {k}")
        if state_pairs is not None:
            pairs = state_pairs(opt.state[k], states[k], group_of[k])
            assert pairs
            for key, a, b in pairs:
                np.testing.assert_allclose(a, np.asarray(b), **TOLERANCE[dtype],
                                           err_msg=f"{key} of parameter {k}")
    return opt, ours


def _get(state, key):
    return optax.tree_utils.tree_get(state, key)


# -- Adam / AdamW with eps_root: optax.adam, optax.adamw, optax.amsgrad -----------------------


def _adam_factory(group):
    """The optax chain equal to a fastgd Adam/AdamW group with eps_root set."""
    b1, b2 = group["betas"]
    lr, eps, eps_root, wd = group["lr"], group["eps"], group["eps_root"], group["weight_decay"]
    decoupled = group["decoupled_weight_decay"]
    parts = [optax.scale(-1.0)] if group["maximize"] else []
    if wd and not decoupled:  # L2: the decay enters the gradient, before the moments
        parts.append(optax.add_decayed_weights(wd))
    if group["amsgrad"]:
        if decoupled:  # optax has no amsgrad alias with decoupled decay: adamw's chain
            parts.append(optax.chain(
                optax.scale_by_amsgrad(b1, b2, eps, eps_root),
                optax.add_decayed_weights(wd), optax.scale_by_learning_rate(lr)))
        else:
            parts.append(optax.amsgrad(lr, b1, b2, eps, eps_root))
    elif decoupled:
        parts.append(optax.adamw(lr, b1, b2, eps, eps_root, weight_decay=wd))
    else:
        parts.append(optax.adam(lr, b1, b2, eps, eps_root))
    return optax.chain(*parts)


def _adam_state_pairs(ours, theirs, group):
    pairs = [("exp_avg", ours["exp_avg"], _get(theirs, "mu")),
             ("exp_avg_sq", ours["exp_avg_sq"], _get(theirs, "nu"))]
    if group["amsgrad"]:
        pairs.append(("max_exp_avg_sq", ours["max_exp_avg_sq"], _get(theirs, "nu_max")))
    return pairs


ADAM_VARIANTS = [
    ("Adam", {"lr": 0.01, "eps_root": 0.0}),
    ("Adam", {"lr": 0.01, "eps_root": 1e-8, "betas": (0.8, 0.9)}),
    ("Adam", {"lr": 0.01, "eps_root": 1e-3, "eps": 0.0}),
    ("Adam", {"lr": 0.01, "eps_root": 1e-8, "weight_decay": 0.05}),
    ("Adam", {"lr": 0.01, "eps_root": 1e-8, "amsgrad": True, "betas": (0.8, 0.9)}),
    ("Adam", {"lr": 0.01, "eps_root": 0.0, "amsgrad": True, "weight_decay": 0.05,
              "maximize": True}),
    ("Adam", {"lr": 0.01, "eps_root": 1e-8, "weight_decay": 0.1,
              "decoupled_weight_decay": True}),
    ("Adam", {"lr": 0.01, "eps_root": 1e-8, "weight_decay": 0.1,
              "decoupled_weight_decay": True, "amsgrad": True}),
    ("AdamW", {"lr": 0.01, "eps_root": 0.0}),
    ("AdamW", {"lr": 0.01, "eps_root": 1e-8, "weight_decay": 0.3, "amsgrad": True}),
    ("AdamW", {"lr": 0.01, "eps_root": 1e-6, "weight_decay": 0.1, "maximize": True,
               "betas": (0.0, 0.5)}),
]


@DTYPES
@pytest.mark.parametrize("name,variant", ADAM_VARIANTS,
                         ids=[f"{n}-{v}" for n, v in ADAM_VARIANTS])
def test_adam_with_eps_root_matches_optax(name, variant, dtype, rng):
    run_against(name, _adam_factory, variant, dtype, rng, state_pairs=_adam_state_pairs)


@DTYPES
def test_adamw_weight_decay_off_in_a_group_is_optax_mask(dtype, rng):
    # optax.adamw(mask=...) skips the decay of some parameters; in fastgd that is a group
    # with weight_decay=0 (the Adam moments still run on every parameter)
    def factory(group):
        return optax.adamw(group["lr"], *group["betas"], group["eps"], group["eps_root"],
                           weight_decay=0.2, mask=group["weight_decay"] != 0)

    run_against("AdamW", factory, {"lr": 0.01, "eps_root": 1e-8, "weight_decay": 0.2},
                dtype, rng, second={"weight_decay": 0.0}, state_pairs=_adam_state_pairs)


# -- RMSprop with eps_in_sqrt: optax.rmsprop --------------------------------------------------


def _rmsprop_factory(group):
    momentum = group["momentum"]
    parts = [optax.scale(-1.0)] if group["maximize"] else []
    if group["weight_decay"]:
        parts.append(optax.add_decayed_weights(group["weight_decay"]))
    parts.append(optax.rmsprop(group["lr"], decay=group["alpha"], eps=group["eps"],
                               eps_in_sqrt=True, centered=group["centered"],
                               momentum=momentum if momentum > 0 else None))
    return optax.chain(*parts)


def _rmsprop_state_pairs(ours, theirs, group):
    pairs = [("square_avg", ours["square_avg"], _get(theirs, "nu"))]
    if group["centered"]:
        pairs.append(("grad_avg", ours["grad_avg"], _get(theirs, "mu")))
    if group["momentum"] > 0:  # optax's trace holds -lr times torch's buffer
        pairs.append(("momentum_buffer", ours["momentum_buffer"],
                      _get(theirs, "trace") / -group["lr"]))
    return pairs


RMSPROP_VARIANTS = [
    {"lr": 0.01, "eps_in_sqrt": True},
    {"lr": 0.01, "eps_in_sqrt": True, "alpha": 0.9, "eps": 1e-3},
    {"lr": 0.01, "eps_in_sqrt": True, "centered": True, "alpha": 0.9},
    {"lr": 0.01, "eps_in_sqrt": True, "weight_decay": 0.1, "maximize": True},
    {"lr": 0.01, "eps_in_sqrt": True, "centered": True, "weight_decay": 0.1, "alpha": 0.3},
]


# optax applies momentum to updates already scaled by the learning rate: the same only
# while the learning rate stays constant (see fastgd.reference.rmsprop)
RMSPROP_MOMENTUM_VARIANTS = [
    {"lr": 0.01, "eps_in_sqrt": True, "momentum": 0.9},
    {"lr": 0.01, "eps_in_sqrt": True, "momentum": 0.5, "centered": True, "weight_decay": 0.1},
]


@DTYPES
@pytest.mark.parametrize("variant", RMSPROP_VARIANTS, ids=str)
def test_rmsprop_eps_in_sqrt_matches_optax(variant, dtype, rng):
    run_against("RMSprop", _rmsprop_factory, variant, dtype, rng,
                state_pairs=_rmsprop_state_pairs)


@DTYPES
@pytest.mark.parametrize("variant", RMSPROP_MOMENTUM_VARIANTS, ids=str)
def test_rmsprop_eps_in_sqrt_with_momentum_matches_optax_at_constant_lr(variant, dtype, rng):
    run_against("RMSprop", _rmsprop_factory, variant, dtype, rng, halve_lr=False,
                state_pairs=_rmsprop_state_pairs)


def test_rmsprop_momentum_buffer_keeps_torchs_meaning_after_an_lr_change(rng):
    # after the learning rate changes, fastgd (torch's buffer, lr applied to all of it)
    # and optax (a trace of lr-scaled updates) part ways: the documented difference
    variant = RMSPROP_MOMENTUM_VARIANTS[0]
    with pytest.raises(AssertionError):
        run_against("RMSprop", _rmsprop_factory, variant, np.float64, rng, halve_lr=True)


# -- the kernels of both forms, and the classes, alike on every backend -----------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name,variant", ADAM_VARIANTS + [
    ("RMSprop", v) for v in RMSPROP_VARIANTS + RMSPROP_MOMENTUM_VARIANTS],
    ids=lambda x: str(x))
def test_classes_with_optax_forms_agree_on_every_backend(any_backend, name, variant, dtype):
    start = [np.asarray(np.random.default_rng(1).standard_normal(s), dtype=dtype)
             for s in [(4, 3), (7,), ()]]
    results = {}
    for backend in (fastgd.backend(), "numpy"):
        with fastgd.use_backend(backend):
            params = [p.copy() for p in start]
            opt = getattr(fastgd, name)(params, **variant)
            rng = np.random.default_rng(7)
            for step in range(30):
                grads = [np.asarray(rng.standard_normal(p.shape), dtype=dtype) for p in params]
                if step % 5 == 1:
                    grads[0] = None
                opt.step(grads)
            results[backend] = (params, opt.state_dict()["state"])
    (ours, ours_state), (ref, ref_state) = results[fastgd.backend()], results["numpy"]
    for a, b in zip(ours, ref):
        np.testing.assert_array_equal(a, b)
    assert ours_state.keys() == ref_state.keys()
    for k in ours_state:
        for key, value in ours_state[k].items():
            np.testing.assert_array_equal(value, ref_state[k][key])


def test_kernel_adam_eps_root_calls_the_active_backend():
    p = np.ones(3)
    kernels.adam_eps_root(p, np.ones(3), np.zeros(3), np.zeros(3), lr=0.1, beta1=0.9,
                          beta2=0.999, eps=0.0, bias_correction1=0.1, bias_correction2=0.001)
    np.testing.assert_allclose(p, 0.9, rtol=1e-15)
    assert backends.active().adam_eps_root_many is not None


# -- Adadelta and Adamax: optax as a second oracle --------------------------------------------


@DTYPES
@pytest.mark.parametrize("variant", [
    {"lr": 1.0},
    {"lr": 0.5, "rho": 0.5, "weight_decay": 0.1, "eps": 1e-3},
], ids=str)
def test_adadelta_matches_optax_adadelta(variant, dtype, rng):
    def factory(group):
        return optax.adadelta(group["lr"], rho=group["rho"], eps=group["eps"],
                              weight_decay=group["weight_decay"])

    run_against("Adadelta", factory, variant, dtype, rng, state_pairs=lambda o, t, g: [
        ("square_avg", o["square_avg"], _get(t, "e_g")),
        ("acc_delta", o["acc_delta"], _get(t, "e_x"))])


@DTYPES
@pytest.mark.parametrize("variant", [{"lr": 0.01}, {"lr": 0.01, "betas": (0.5, 0.8),
                                                     "eps": 1e-3}], ids=str)
def test_adamax_matches_optax_adamax(variant, dtype, rng):
    def factory(group):
        return optax.adamax(group["lr"], *group["betas"], eps=group["eps"])

    run_against("Adamax", factory, variant, dtype, rng, state_pairs=lambda o, t, g: [
        ("exp_avg", o["exp_avg"], _get(t, "mu")), ("exp_inf", o["exp_inf"], _get(t, "nu"))])
