"""fastgd.torch in the torch-exact mode (fastgd.set_fma): the digits MLP trained in float32
by torch.optim's for-loop path and by fastgd.torch side by side ends with the same bits."""

from __future__ import annotations

import copy

import pytest
from _torch import flat, mlp, torch, torch_class, train
from backends.test_fma import TWIN, _compiled, torch_fuses

import fastgd
import fastgd.torch as ft

#: One option set per rule that torch fuses in (the tests of tests/backends/test_fma.py run
#: every option set on plain arrays).
CASES = [("Adam", {}), ("AdamW", {"amsgrad": True}), ("SGD", {"lr": 0.05, "momentum": 0.9}),
         ("RMSprop", {"lr": 1e-3, "centered": True}), ("Adagrad", {"lr_decay": 1e-3})]
STEPS = 300


def _pair(name, options):
    """The float32 MLP twice: torch.optim's for-loop path on one, fastgd.torch on the other."""
    a = mlp(torch.float32)
    b = copy.deepcopy(a)
    return (a, torch_class(name)(a.parameters(), foreach=False, **options),
            b, getattr(ft, name)(b.parameters(), **options))


@torch_fuses
@pytest.mark.parametrize("name, options", CASES, ids=[c[0] for c in CASES])
def test_digits_mlp_float32_equals_torch_bit_for_bit(name, options):
    a, opt_a, b, opt_b = _pair(name, options)
    with _compiled(TWIN, fma=True):
        losses_a = train(a, opt_a, STEPS)
        losses_b = train(b, opt_b, STEPS)
    assert losses_a == losses_b
    assert flat(a).tobytes() == flat(b).tobytes()
    assert losses_a[-1] < losses_a[0]


@torch_fuses
def test_default_mode_parts_from_torch_in_float32():
    """Without the mode the same run differs (the default kernels never fuse): the test
    above measures something."""
    a, opt_a, b, opt_b = _pair("Adam", {})
    with _compiled(TWIN, fma=False):
        train(a, opt_a, 50)
        train(b, opt_b, 50)
    assert not fastgd.get_fma()
    assert flat(a).tobytes() != flat(b).tobytes()
