"""Every optimizer configuration of the registry against torch.optim (skipped without torch).

Each run trains several parameters of different shapes, in two parameter groups, on a
quadratic loss whose gradient each library computes from its own parameters, for 60
steps; some steps give one parameter no gradient, and the learning rate of every group is
halved half-way through. Parameters and every state buffer are compared.
"""

from __future__ import annotations

import numpy as np
import pytest
from parity.optim_db import OPTIM_DB

import fastgd
from fastgd.optim.registry import TABLE_OPTIMIZERS as OPTIMIZERS

torch = pytest.importorskip("torch")

SHAPES = [(5,), (3, 4), (), (0,), (2, 3, 2)]
#: torch's Adafactor divides by a parameter's size and cannot step an empty one
#: (ZeroDivisionError); fastgd leaves it alone (tests/reference/test_adafactor.py).
NO_EMPTY_PARAMETERS = {"Adafactor"}
STEPS = 60
TOLERANCE = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-4, atol=2e-5)}
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}

#: The optimizers that claim torch.optim's behaviour (the others are checked against optax).
TORCH = {name: spec for name, spec in OPTIMIZERS.items()
         if spec.matches.startswith("torch.optim.")}
CASES = [(spec.name, variant) for spec in TORCH.values() for variant in OPTIM_DB[spec.name]]
#: Keyword-only arguments fastgd adds to a torch optimizer, selecting optax's form (their
#: defaults keep torch's): exempt from the signature and param-group comparisons only.
NOT_IN_TORCH = {"Adam": {"eps_root"}, "AdamW": {"eps_root"}, "RMSprop": {"eps_in_sqrt"}}
#: fastgd's own constructor options of every element-wise optimizer (16-bit parameters'
#: rounding), after the library's arguments.
ROUNDING = ("stochastic_rounding", "seed")


def _problem(rng, dtype, shapes=SHAPES):
    def draw(shape, scale=1.0):
        return np.asarray(scale * rng.standard_normal(shape), dtype=dtype)

    params = [draw(s) for s in shapes]
    targets = [draw(s) for s in shapes]
    scales = [np.asarray(rng.uniform(0.5, 3.0, s), dtype=dtype) for s in shapes]
    noise = [[draw(s, 0.1) for s in shapes] for _ in range(STEPS)]
    return params, targets, scales, noise


def _groups(params, variant):
    second = {"params": params[2:]}
    if "lr" in variant:
        second["lr"] = variant["lr"] * 0.5
    return [{"params": params[:2]}, second]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name,variant", CASES,
                         ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in o.items())}"
                              for n, o in CASES])
def test_matches_torch(name, variant, dtype, rng):
    shapes = [s for s in SHAPES if name not in NO_EMPTY_PARAMETERS or np.prod(s) > 0]
    params, targets, scales, noise = _problem(rng, dtype, shapes)
    ours = [p.copy() for p in params]
    theirs = [torch.tensor(p.copy(), dtype=TORCH_DTYPE[dtype], requires_grad=True)
              for p in params]
    opt = getattr(fastgd, name)(_groups(ours, variant), **variant)
    topt = getattr(torch.optim, name)(_groups(theirs, variant), **variant)

    for step in range(STEPS):
        if step == STEPS // 2:
            for group, tgroup in zip(opt.param_groups, topt.param_groups):
                group["lr"] *= 0.5
                tgroup["lr"] *= 0.5
        skip = 1 if step % 7 == 3 else None  # parameter 1 gets no gradient on these steps
        grads = []
        for k, (p, t, s, e) in enumerate(zip(ours, targets, scales, noise[step])):
            grads.append(None if k == skip else (s * (p - t) + e).astype(dtype))
        opt.step(grads)
        with torch.no_grad():
            for k, (p, t, s, e) in enumerate(zip(theirs, targets, scales, noise[step])):
                p.grad = None if k == skip else (
                    torch.from_numpy(s) * (p - torch.from_numpy(t)) + torch.from_numpy(e))
        topt.step()

    for k, (p, tp) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(p, tp.detach().numpy(), **TOLERANCE[dtype],
                                   err_msg=f"parameter {k}")
        tstate = topt.state.get(tp, {})
        ostate = opt.state.get(k, {})
        assert set(ostate) == set(tstate), (k, set(ostate), set(tstate))
        for key, value in tstate.items():
            if key == "step":
                assert ostate["step"] == int(value)
            else:
                np.testing.assert_allclose(ostate[key], value.numpy(), **TOLERANCE[dtype],
                                           err_msg=f"state {key} of parameter {k}")


@pytest.mark.parametrize("name", list(TORCH))
def test_constructor_mirrors_torch(name):
    import inspect
    torch_only = {"foreach", "capturable", "differentiable", "fused", "self"}
    theirs = {n: p for n, p in inspect.signature(getattr(torch.optim, name)).parameters.items()
              if n not in torch_only}
    ours = {n: p for n, p in inspect.signature(getattr(fastgd, name)).parameters.items()
            if n not in NOT_IN_TORCH.get(name, ())}
    assert list(ours)[-2:] == list(ROUNDING)
    ours = {n: p for n, p in ours.items() if n not in ROUNDING}
    assert list(ours) == [n for n in theirs if n in ours] and set(ours) == set(theirs)
    for n, p in ours.items():
        if n != "params":
            assert p.default == theirs[n].default, n
            # torch's RMSprop takes maximize positionally, after its capturable and foreach
            exempt = name == "RMSprop" and n == "maximize"
            assert (p.kind == p.KEYWORD_ONLY) == (theirs[n].kind == p.KEYWORD_ONLY) or exempt, n


@pytest.mark.parametrize("name", list(TORCH))
def test_param_group_keys_and_defaults_match_torch(name):
    tgroup = getattr(torch.optim, name)([torch.zeros(2)]).param_groups[0]
    group = getattr(fastgd, name)([np.zeros(2)]).param_groups[0]
    torch_only = {"foreach", "capturable", "differentiable", "fused"}
    assert set(group) - NOT_IN_TORCH.get(name, set()) == set(tgroup) - torch_only
    for key in NOT_IN_TORCH.get(name, ()):  # the default keeps torch's form
        assert key in group and group[key] in (None, False), key
    for key in set(group) - NOT_IN_TORCH.get(name, set()):
        if key != "params":
            assert group[key] == tgroup[key], key


def _invalid_settings():
    cases = []
    for name, spec in TORCH.items():
        for h in spec.hyperparameters:
            if h.kind == "real":
                cases.append((name, {h.name: -1.0}))
            if h.kind == "betas":
                cases += [(name, {"betas": (1.0, 0.9)}), (name, {"betas": (0.9, -0.1)})]
        if name == "SGD":
            cases += [(name, {"nesterov": True}), (name, {"nesterov": True, "momentum": 0.9,
                                                          "dampening": 0.1})]
    return cases


INVALID = _invalid_settings()


@pytest.mark.parametrize("name,settings", INVALID, ids=[f"{n}-{s}" for n, s in INVALID])
def test_validation_matches_torch(name, settings):
    """Where torch rejects a setting, fastgd rejects it with torch's exact message."""
    try:
        getattr(torch.optim, name)([torch.zeros(2)], **settings)
    except ValueError as exc:
        torch_message = str(exc)
    else:  # torch accepts it (e.g. a negative dampening): so must fastgd
        getattr(fastgd, name)([np.zeros(2)], **settings)
        return
    with pytest.raises(ValueError) as info:
        getattr(fastgd, name)([np.zeros(2)], **settings)
    assert str(info.value) == torch_message
