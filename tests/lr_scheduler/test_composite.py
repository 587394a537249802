"""fastgd.lr_scheduler.composite: SequentialLR and ChainedScheduler refuse schedulers of
different optimizers as torch does (skipped without torch)."""

from __future__ import annotations

import pytest
from lr_scheduler._cases import _optimizer, needs_torch, tls

from fastgd import lr_scheduler as fls


@needs_torch
def test_different_optimizers_are_refused_as_torch_does():
    messages = []
    for lib, module in [("fastgd", fls), ("torch", tls)]:
        a, b = _optimizer(lib, "SGD"), _optimizer(lib, "SGD")
        def sequential(module=module, a=a, b=b):
            return module.SequentialLR(a, [module.StepLR(a, 2), module.StepLR(b, 3)], [4])

        def chained(module=module, a=a, b=b):
            return module.ChainedScheduler([module.StepLR(a, 2), module.StepLR(b, 3)])

        for make in [sequential, chained]:
            with pytest.raises(ValueError) as caught:
                make()
            message = str(caught.value)
            assert message.endswith(", which is different from SGD.")
            messages.append(message.split(" has ")[0])  # the rest is the optimizer's repr
    assert messages[:2] == messages[2:]
    assert messages[0] == ("SequentialLR expects all schedulers to belong to the same "
                           "optimizer, but got scheduler StepLR at index 1")
