"""SGD's specification by hand: the first momentum step skips dampening."""

from __future__ import annotations

import numpy as np

from fastgd import reference


def test_reference_sgd_first_momentum_step_skips_dampening():
    p, g, buf = np.array([1.0]), np.array([2.0]), np.empty(1)
    reference.sgd(p, g, buf, lr=0.1, momentum=0.9, dampening=0.5, first_step=True)
    assert buf[0] == 2.0 and p[0] == 1.0 - 0.1 * 2.0
    reference.sgd(p, g, buf, lr=0.1, momentum=0.9, dampening=0.5)
    assert buf[0] == 0.9 * 2.0 + 0.5 * 2.0
