"""Which buffers a parameter's state holds is said once, by the kernel's ``needed``: the
optimizers create exactly the buffers their plans pass to the kernel, under every option
set of the parity grid, for parameters of every number of dimensions."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
from parity.optim_db import OPTIM_DB

import fastgd
from fastgd.optim import registry
from fastgd.reference._declare import KERNELS

SHAPES = [(), (5,), (3, 4), (2, 3, 4)]

# options the parity grid leaves out that choose another kernel or flag
EXTRA = {
    "Adam": ({"lr": 0.01, "eps_root": 1e-8, "amsgrad": True}, {"lr": 0.01, "eps_root": 1e-8}),
    "RMSprop": ({"lr": 0.01, "momentum": 0.5, "eps_in_sqrt": True},
                {"lr": 0.01, "centered": True, "eps_in_sqrt": True}),
    "SGD": ({"lr": 0.05, "momentum": 0.5, "dampening": 0.5},),
    "LARS": ({"lr": 0.5, "momentum": 0.0},),
}


def _variants():
    for name in registry.GRADIENT_STEP:
        for k, options in enumerate(OPTIM_DB[name] + EXTRA.get(name, ())):
            yield pytest.param(name, options, id=f"{name}-{k}")


def _role_to_state(spec):
    return {(b.role or b.name): b.name for b in spec.state}


@pytest.mark.parametrize("name", list(registry.GRADIENT_STEP))
def test_state_buffers_are_the_kernels_buffers(name):
    # no buffer the kernel lacks, and every buffer of the kernel kept in the state
    spec = registry.get(name)
    roles = KERNELS[spec.kernel].roles
    assert roles[:2] == ("param", "grad")
    assert sorted(_role_to_state(spec)) == sorted(roles[2:])
    names = [b.name for b in spec.state]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("name,options", list(_variants()))
def test_state_holds_what_the_plan_passes_to_the_kernel(name, options, rng):
    spec = registry.get(name)
    cls = registry.CLASSES[name]
    params = [rng.standard_normal(shape) for shape in SHAPES]
    params.append(rng.standard_normal((3, 2)).astype(np.float32))
    opt = cls(params, **options)
    role_to_state = _role_to_state(spec)
    scalars_and_step = (["step"] if spec.counts_steps else []) + list(spec.scalar_state)
    for _ in range(2):
        grads = [rng.standard_normal(p.shape).astype(p.dtype) for p in params]
        items = [(i, p, g) for i, (p, g) in enumerate(zip(params, grads))]
        group = opt.param_groups[0]
        expected: dict[int, set[str]] = {}
        for call in opt._plan(opt, group, items, opt._needed[0]):
            decl = KERNELS[call.kernel]
            passed = [role for role, lst in zip(decl.roles, call.lists) if lst is not None]
            # the plan passes what the kernel's needed asks for under the scalars it passes
            needed = decl.needed_roles(call.scalars)
            assert passed == [r for r, n in zip(decl.roles, needed) if n]
            for p in call.lists[0]:
                index = next(i for i, q in enumerate(params) if q is p)
                expected[index] = {role_to_state[r] for r in passed[2:]}
        assert sorted(expected) == list(range(len(params)))
        opt.step(grads)
        for i, p in enumerate(params):
            state = opt.state.get(i, {})  # SGD and LARS without momentum keep none
            assert set(state) == expected[i] | set(scalars_and_step), (i, p.shape)
            holds = spec.buffers(group, p)
            assert {b.name for b in holds} == expected[i]
            assert opt._needed_state(group, p) <= state.keys()
            for b in holds:
                shape = p.shape if b.shape is None else b.shape(p.shape)
                assert state[b.name].shape == shape and state[b.name].dtype == p.dtype
    # the state saved is the state loaded, bit for bit, into a new optimizer
    again = cls([p.copy() for p in params], **options)
    again.load_state_dict(opt.state_dict())
    for i in opt.state:
        assert set(again.state[i]) == set(opt.state[i])
        for key, value in opt.state[i].items():
            np.testing.assert_array_equal(again.state[i][key], value)


@pytest.mark.parametrize("name", list(registry.GRADIENT_STEP))
def test_state_before_the_first_step(name):
    # eager rows (Adagrad) hold their buffers from construction; the others hold nothing
    spec = registry.get(name)
    params = [np.ones(shape) for shape in SHAPES]
    opt = registry.CLASSES[name](params, **OPTIM_DB[name][0])
    if not spec.eager_state:
        assert opt.state == {}
        return
    group = opt.param_groups[0]
    for i, p in enumerate(params):
        assert set(opt.state[i]) == {"step", *(b.name for b in spec.buffers(group, p))}


def test_a_group_option_changed_between_steps_adds_the_buffer_it_needs():
    # amsgrad switched on after a step: the next step makes max_exp_avg_sq (from zeros)
    w = np.ones(3)
    opt = fastgd.Adam([w], lr=0.1)
    opt.step([np.ones(3)])
    assert "max_exp_avg_sq" not in opt.state[0]
    opt.param_groups[0]["amsgrad"] = True
    opt.step([np.ones(3)])
    assert set(opt.state[0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}


@pytest.mark.parametrize("shapes", list(itertools.permutations([(3, 4), (5,)])))
def test_adafactor_unexpected_entry_names_the_parameters_state(shapes):
    opt = fastgd.Adafactor([np.ones(s) for s in shapes])
    opt.step([np.ones(s) for s in shapes])
    sd = opt.state_dict()
    sd["state"][0]["exp_avg"] = np.zeros(shapes[0])
    state = "step, row_var, col_var" if len(shapes[0]) == 2 else "step, variance"
    message = (f"state of parameter 0: unexpected entry 'exp_avg' for Adafactor with a "
               f"parameter of shape {shapes[0]} (its state is {state})")
    with pytest.raises(ValueError, match=re.escape(message)):
        opt.load_state_dict(sd)
