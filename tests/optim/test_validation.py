"""Hyperparameter validation of the optimizer classes: signatures, torch's messages (checked
against torch where it has the rule), NaN refused, pairs, and a bad value set in a group
changing nothing. Per-rule options (eps_root, eps_in_sqrt) are in tests/reference/."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
from _problems import _OPTIONS

import fastgd
from fastgd.optim import registry

#: the rules that follow optax (torch has none).
OPTAX_RULES = ["Lion", "AdaBelief", "LAMB", "LARS", "Yogi"]


def _torch():
    return pytest.importorskip("torch")


def test_new_options_are_keyword_only_and_last():
    import inspect
    for name, option in (("Adam", "eps_root"), ("AdamW", "eps_root"),
                         ("RMSprop", "eps_in_sqrt")):
        parameters = [p for p in inspect.signature(getattr(fastgd, name)).parameters.values()
                      if p.name not in ("stochastic_rounding", "seed")]  # every class's
        assert parameters[-1].name == option
        assert parameters[-1].kind is inspect.Parameter.KEYWORD_ONLY
        assert parameters[-1].default in (None, False)


@pytest.mark.parametrize("name,settings", [
    ("Adadelta", {"rho": 1.01}), ("Adadelta", {"rho": -0.1}), ("Adadelta", {"rho": math.nan}),
    ("Adadelta", {"lr": math.nan}), ("Adadelta", {"eps": -1e-9}),
    ("Adamax", {"betas": (0.9, 1.0)}), ("Adamax", {"betas": (math.nan, 0.9)}),
    ("Adamax", {"eps": math.nan}),
    ("NAdam", {"momentum_decay": -1e-3}), ("NAdam", {"momentum_decay": math.nan}),
    ("NAdam", {"weight_decay": math.nan}), ("NAdam", {"lr": -1.0, "eps": -1.0}),
    ("RAdam", {"betas": (1.0, 0.9)}), ("RAdam", {"eps": -1.0, "weight_decay": -1.0}),
    ("RAdam", {"lr": math.nan}),
])
def test_validation_messages_are_torchs(name, settings):
    torch = _torch()
    with pytest.raises(ValueError) as theirs:
        getattr(torch.optim, name)([torch.zeros(2)], **settings)
    with pytest.raises(ValueError) as ours:
        getattr(fastgd, name)([np.zeros(2)], **settings)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("name,expected", [
    ("Lion", "(params, lr=0.0001, betas=(0.9, 0.99), weight_decay=0.0, *, maximize=False, "
             "stochastic_rounding=False, seed=None)"),
    ("AdaBelief", "(params, lr=0.001, betas=(0.9, 0.999), eps=1e-16, eps_root=1e-16, "
                  "weight_decay=0.0, *, maximize=False, stochastic_rounding=False, seed=None)"),
    ("LAMB", "(params, lr=0.001, betas=(0.9, 0.999), eps=1e-06, weight_decay=0.0, *, "
             "maximize=False, stochastic_rounding=False, seed=None)"),
    ("LARS", "(params, lr=1.0, momentum=0.9, weight_decay=0.0, trust_coefficient=0.001, "
             "eps=0.0, nesterov=False, *, maximize=False, stochastic_rounding=False, "
             "seed=None)"),
    ("Yogi", "(params, lr=0.01, betas=(0.9, 0.999), eps=0.001, initial_accumulator_value=1e-06, "
             "*, maximize=False, stochastic_rounding=False, seed=None)"),
])
def test_signatures(name, expected):
    assert str(inspect.signature(getattr(fastgd, name))) == expected


@pytest.mark.parametrize("name,options,message", [
    ("Lion", dict(lr=-1e-3), "Invalid learning rate: -0.001"),
    ("Lion", dict(betas=(1.0, 0.99)), "Invalid beta parameter at index 0: 1.0"),
    ("Lion", dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    ("Lion", dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    ("AdaBelief", dict(eps=-1.0), "Invalid epsilon value: -1.0"),
    ("AdaBelief", dict(eps_root=-1e-9), "Invalid eps_root value: -1e-09"),
    ("AdaBelief", dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
    ("AdaBelief", dict(weight_decay=-1), "Invalid weight_decay value: -1"),
    ("LAMB", dict(lr=-1.0), "Invalid learning rate: -1.0"),
    ("LAMB", dict(eps=-1e-6), "Invalid epsilon value: -1e-06"),
    ("LAMB", dict(betas=(-0.5, 0.9)), "Invalid beta parameter at index 0: -0.5"),
    ("LAMB", dict(weight_decay=-0.01), "Invalid weight_decay value: -0.01"),
    ("LARS", dict(momentum=-0.9), "Invalid momentum value: -0.9"),
    ("LARS", dict(weight_decay=-1e-4), "Invalid weight_decay value: -0.0001"),
    ("LARS", dict(trust_coefficient=0.0), "Invalid trust_coefficient value: 0.0"),
    ("LARS", dict(trust_coefficient=-1e-3), "Invalid trust_coefficient value: -0.001"),
    ("LARS", dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
    ("LARS", dict(nesterov=True, momentum=0.0), "Nesterov momentum requires a momentum"),
    ("Yogi", dict(eps=-1e-3), "Invalid epsilon value: -0.001"),
    ("Yogi", dict(betas=(0.9, 1.5)), "Invalid beta parameter at index 1: 1.5"),
    ("Yogi", dict(initial_accumulator_value=-1.0),
     "Invalid initial_accumulator_value value: -1.0"),
])
def test_invalid_values_are_rejected_in_torch_style(name, options, message):
    with pytest.raises(ValueError) as info:
        getattr(fastgd, name)([np.zeros(2)], **options)
    assert str(info.value) == message


@pytest.mark.parametrize("name", OPTAX_RULES)
def test_nan_is_rejected_for_every_real_hyperparameter(name):
    spec = registry.get(name)
    for h in spec.hyperparameters:
        bad = ([(math.nan, 0.9), (0.9, math.nan)] if h.kind == "betas"
               else [math.nan] if h.kind == "real" else [])
        for value in bad:
            with pytest.raises(ValueError, match="^Invalid .*nan"):
                getattr(fastgd, name)([np.zeros(2)], **{h.name: value})


@pytest.mark.parametrize("name", OPTAX_RULES)
def test_a_bad_value_set_in_a_group_changes_nothing(name):
    params = [np.ones(3), np.ones(2)]
    opt = getattr(fastgd, name)([{"params": params[:1]}, {"params": params[1:]}],
                                **_OPTIONS[name])
    opt.step([np.ones(3), np.ones(2)])
    saved = opt.state_dict()
    before = [p.copy() for p in params]
    opt.param_groups[1]["lr"] = math.nan
    with pytest.raises(ValueError, match="Invalid learning rate: nan"):
        opt.step([np.ones(3), np.ones(2)])
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p, b)
    for k, entries in saved["state"].items():
        for key, value in entries.items():
            np.testing.assert_array_equal(opt.state[k][key], value)


@pytest.mark.parametrize("name,settings", [
    ("Rprop", {"etas": (1.0, 1.2)}), ("Rprop", {"etas": (0.0, 1.2)}),
    ("Rprop", {"etas": (0.5, 1.0)}), ("Rprop", {"etas": (0.5, math.nan)}),
    ("Rprop", {"etas": (math.nan, 1.2)}), ("Rprop", {"lr": -1.0, "etas": (2.0, 0.1)}),
    ("Rprop", {"etas": [0.5, 0.9]}),
    ("Adafactor", {"eps": (-1.0, 1e-3)}), ("Adafactor", {"eps": (None, -1.0)}),
    ("Adafactor", {"eps": (math.nan, 1e-3)}), ("Adafactor", {"beta2_decay": 0.1}),
    ("Adafactor", {"d": 0.5}), ("Adafactor", {"lr": -1.0, "d": 0.5}),
    ("Adafactor", {"weight_decay": -1.0}),
])
def test_pair_and_other_rules_match_torch(name, settings):
    torch = _torch()
    with pytest.raises(ValueError) as theirs:
        getattr(torch.optim, name)([torch.zeros(2)], **settings)
    with pytest.raises(ValueError) as ours:
        getattr(fastgd, name)([np.zeros(2)], **settings)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("name,settings", [
    ("Rprop", {"step_sizes": (-1.0, -2.0)}), ("Rprop", {"step_sizes": (0, math.inf)}),
    ("Rprop", {"etas": (0.1, math.inf)}), ("Adafactor", {"eps": (0.0, 0.0)}),
    ("ASGD", {"lambd": -1.0, "alpha": -1.0, "t0": -1.0}), ("ASGD", {"t0": math.inf}),
])
def test_settings_torch_accepts_are_accepted(name, settings):
    getattr(fastgd, name)([np.zeros(2)], **settings)


@pytest.mark.parametrize("name,settings,pattern", [
    ("Rprop", {"step_sizes": (math.nan, 1.0)}, "Invalid step_sizes values: nan, 1.0"),
    ("Rprop", {"step_sizes": (1e-6, math.nan)}, "Invalid step_sizes values: 1e-06, nan"),
    ("ASGD", {"lambd": math.nan}, "Invalid lambd value: nan"),
    ("ASGD", {"alpha": math.nan}, "Invalid alpha value: nan"),
    ("ASGD", {"t0": math.nan}, "Invalid t0 value: nan"),
])
def test_nan_settings_torch_does_not_check_are_refused(name, settings, pattern):
    with pytest.raises(ValueError, match=pattern):
        getattr(fastgd, name)([np.zeros(2)], **settings)


@pytest.mark.parametrize("name,settings,pattern", [
    ("Rprop", {"etas": 0.5}, r"etas must be a pair of real numbers, got 0.5"),
    ("Rprop", {"etas": (0.5,)}, r"etas must be a pair"),
    ("Rprop", {"etas": (0.5, 1.2, 2.0)}, r"etas must be a pair"),
    ("Rprop", {"etas": (0.5, "1.2")}, r"etas\[1\] must be a real number"),
    ("Rprop", {"etas": np.array([0.5, 1.2])}, r"etas must be a pair"),
    ("Rprop", {"step_sizes": (True, 1.0)}, r"step_sizes\[0\] must be a real number"),
    ("Rprop", {"step_sizes": (None, 1.0)}, r"step_sizes\[0\] must be a real number"),
    ("Adafactor", {"eps": (None, None)}, r"eps\[1\] must be a real number"),
    ("Adafactor", {"eps": 1e-3}, r"eps must be a pair \(None or a real number"),
    ("Adafactor", {"eps": ("a", 1e-3)}, r"eps\[0\] must be a real number"),
])
def test_pairs_of_the_wrong_kind_are_type_errors(name, settings, pattern):
    with pytest.raises(TypeError, match=pattern):
        getattr(fastgd, name)([np.zeros(2)], **settings)


def test_pairs_changed_in_a_group_are_validated_before_the_step():
    a = np.ones(2)
    opt = fastgd.Rprop([a], etas=[0.5, 1.2])
    opt.step([np.ones(2)])
    opt.param_groups[0]["etas"][0] = 1.5
    with pytest.raises(ValueError, match="Invalid eta values: 1.5, 1.2"):
        opt.step([np.ones(2)])
    opt.param_groups[0]["etas"] = "fast"
    with pytest.raises(TypeError, match="etas must be a pair"):
        opt.step([np.ones(2)])
    assert opt.state[0]["step"] == 1
