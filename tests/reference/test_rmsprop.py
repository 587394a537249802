"""Adagrad's and RMSprop's specifications by hand, and RMSprop's optax form
(``eps_in_sqrt=True``): its first step by hand, validation and default. The runs against
optax are in tests/parity/test_optax_forms.py."""

from __future__ import annotations

import numpy as np
import pytest

import fastgd
from fastgd import reference


def test_reference_adagrad_and_rmsprop_by_hand():
    p, s = np.array([2.0]), np.array([1.0])
    reference.adagrad(p, np.array([3.0]), s, clr=0.5, eps=0.0)
    assert s[0] == 10.0 and p[0] == 2.0 - 0.5 * 3.0 / np.sqrt(10.0)
    p, v = np.array([2.0]), np.array([0.0])
    reference.rmsprop(p, np.array([2.0]), v, lr=0.1, alpha=0.75, eps=0.0)
    assert v[0] == 0.25 * 4.0 and p[0] == 2.0 - 0.1 * 2.0 / 1.0


def test_rmsprop_eps_in_sqrt_first_step_by_hand():
    g = np.array([2.0, -0.5, 0.0])
    w = np.ones(3)
    fastgd.RMSprop([w], lr=0.1, alpha=0.75, eps=0.01, eps_in_sqrt=True).step([g])
    np.testing.assert_allclose(w, 1 - 0.1 * g / np.sqrt(0.25 * g * g + 0.01), rtol=1e-15)
    w = np.ones(3)
    fastgd.RMSprop([w], lr=0.1, alpha=0.75, eps=0.01).step([g])  # torch's: outside
    np.testing.assert_allclose(w, 1 - 0.1 * g / (np.sqrt(0.25 * g * g) + 0.01), rtol=1e-15)


def test_rmsprop_eps_in_sqrt_validation_and_default():
    with pytest.raises(TypeError, match="eps_in_sqrt must be True or False"):
        fastgd.RMSprop([np.zeros(2)], eps_in_sqrt=1)
    opt = fastgd.RMSprop([np.zeros(2)])
    assert opt.param_groups[0]["eps_in_sqrt"] is False
    with pytest.raises(TypeError, match="positional"):
        fastgd.RMSprop([np.zeros(2)], 0.01, 0.99, 1e-8, 0, 0, False, False, True)
