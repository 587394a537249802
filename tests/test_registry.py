"""The registry is complete and consistent: every row has its class, kernels and docs."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import fastgd
from fastgd import _backend, kernels, reference, registry
from fastgd._checks import ROLES


@pytest.mark.parametrize("name", list(registry.OPTIMIZERS))
def test_every_row_has_a_class_and_kernels(name):
    spec = registry.get(name)
    cls = getattr(fastgd, name)
    assert cls.spec is spec and issubclass(cls, fastgd.Optimizer)
    assert spec.kernel in ROLES
    assert callable(getattr(kernels, spec.kernel)) and callable(getattr(reference, spec.kernel))
    for backend in _backend.available():
        assert callable(getattr(_backend.load(backend), f"{spec.kernel}_many"))
    params = set(inspect.signature(cls).parameters) - {"params"}
    assert params == {h.name for h in spec.hyperparameters if h.argument}


@pytest.mark.parametrize("name", list(registry.OPTIMIZERS))
def test_rows_are_well_formed(name):
    spec = registry.get(name)
    names = [h.name for h in spec.hyperparameters]
    assert len(names) == len(set(names)) and names[0] == "lr"
    assert spec.variants and all(set(v) <= set(names) for v in spec.variants)
    for variant in spec.variants:
        getattr(fastgd, name)([np.zeros(2)], **variant)  # every variant is valid
    for buf in spec.state:
        assert buf.fill is None or buf.fill in names
    assert spec.summary and spec.matches.startswith(("torch.optim.", "optax.", "paper: ")) and \
        reference.__dict__[spec.kernel].__doc__


def test_unknown_name():
    with pytest.raises(KeyError, match="no optimizer named 'Adamm'"):
        registry.get("Adamm")
