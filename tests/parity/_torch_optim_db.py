"""torch's own test data for an optimizer (``optim_db`` of
``torch.testing._internal.common_optimizers``: its configurations and error inputs), read
as NumPy: a 1-element tensor becomes a float, a tensor an array (the same tensor twice the
same array twice), a sparse tensor a scipy.sparse matrix."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
common_optimizers = pytest.importorskip("torch.testing._internal.common_optimizers")


def optim_info(name):
    return next(info for info in common_optimizers.optim_db if info.optim_cls.__name__ == name)


def numpy_value(value):
    """A torch value of a configuration as NumPy's: a 1-element tensor lr -> its float."""
    if isinstance(value, torch.Tensor):
        return value.numpy() if value.numel() != 1 else np.float64(value.item())
    return value


#: torch's generic error inputs without a NumPy meaning or where fastgd differs on purpose
#: for every optimizer: named parameters (fastgd has none); the same array twice in a group
#: (a UserWarning in torch, a ValueError in fastgd); a 2-element array as lr (ValueError in
#: torch; fastgd's TypeError for a hyperparameter that is not a real number).
SKIPPED_ERROR_INPUTS = {
    "all optimizer params should be with/without names",
    "all optimizer param groups should be with/without names.",
    "a param group cannot have duplicate parameters",
    "Tensor lr must be 1-element",
}


def _numpy_params(params):
    arrays: dict[int, object] = {}  # the same tensor twice is the same array twice

    def convert(p):
        if isinstance(p, torch.Tensor):
            if id(p) not in arrays:
                if p.is_sparse:
                    sparse = pytest.importorskip("scipy.sparse")
                    arrays[id(p)] = sparse.csr_matrix(p.to_dense().numpy())
                else:
                    arrays[id(p)] = p.detach().numpy().copy()
            return arrays[id(p)]
        if isinstance(p, dict):
            return {k: convert(v) if k == "params" else v for k, v in p.items()}
        if isinstance(p, (list, tuple)):
            return [convert(q) for q in p]
        return p
    if params is None:
        return [np.zeros((2, 3))]
    if isinstance(params, torch.Tensor):
        return convert(params)
    return [convert(p) for p in params]


def check_error_inputs(name, cls, grad_of):
    """Each torch error input of ``name`` with a NumPy meaning raises the same class (and,
    for those of ``name`` itself rather than of every optimizer, torch's message)."""
    generic = {e.optimizer_error_input.desc for e in
               common_optimizers.get_error_inputs_for_all_optims("cpu", torch.float64)}
    checked = 0
    for error in optim_info(name).optim_error_inputs_func("cpu", torch.float64):
        config = error.optimizer_error_input
        if config.desc in SKIPPED_ERROR_INPUTS:
            continue
        params = _numpy_params(config.params)
        options = {k: numpy_value(v) for k, v in config.kwargs.items()}
        match = None if config.desc in generic else error.error_regex
        with pytest.raises(error.error_type, match=match):
            opt = cls(params, **options)
            opt.step([grad_of(p) for g in opt.param_groups for p in g["params"]])
        checked += 1
    return checked
