"""fastgd.lr_scheduler.plateau: ReduceLROnPlateau against torch's (skipped without torch)
after a parameter group is added, and in training."""

from __future__ import annotations

import numpy as np
import pytest
from lr_scheduler._cases import _optimizer, _train, needs_torch, tls, torch

from fastgd import lr_scheduler as fls


@needs_torch
def test_plateau_after_a_group_is_added():
    for min_lr, expected in [([0.0, 0.0, 0.0], RuntimeError), (0.001, None)]:
        results = []
        for lib, module in [("fastgd", fls), ("torch", tls)]:
            opt = _optimizer(lib, "SGD")
            sched = module.ReduceLROnPlateau(opt, patience=0, min_lr=min_lr)
            extra = np.zeros(3) if lib == "fastgd" else torch.zeros(3, requires_grad=True)
            opt.add_param_group({"params": [extra], "lr": 0.5})
            sched.step(1.0)
            if expected:
                with pytest.raises(expected) as error:
                    sched.step(2.0)
                results.append(str(error.value))
            else:
                sched.step(2.0)
                results.append((sched.get_last_lr(), sched.min_lrs))
        assert results[0] == results[1]


@needs_torch
def test_training_with_reduce_on_plateau_matches_torch():
    def make(m, o):
        return m.ReduceLROnPlateau(o, patience=2, factor=0.5, threshold=0.2)
    ours, lrs = _train("fastgd", "SGD", {"lr": 0.01, "momentum": 0.3}, make, metric=True)
    theirs, tlrs = _train("torch", "SGD", {"lr": 0.01, "momentum": 0.3}, make, metric=True)
    assert lrs == tlrs and lrs[-1] != lrs[0]
    for p, tp in zip(ours, theirs):
        np.testing.assert_allclose(p, tp, rtol=1e-10, atol=1e-12)
