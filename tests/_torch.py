"""Shared by tests/test_torch*.py: the digits MLP (64-256-256-10 on scikit-learn's digits,
batch 32), a 200-tensor model, training loops and the cases per optimizer of the
registry."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fastgd  # noqa: E402
import fastgd.torch as ft  # noqa: E402
from fastgd.optim.registry import OPTIMIZERS, TABLE_OPTIMIZERS  # noqa: E402

BATCH = 32


@pytest.fixture(autouse=True)
def one_thread():
    """torch on one thread (its kernels' results do not depend on it; the tests' time
    does, on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@functools.cache
def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def mlp(dtype, seed: int = 0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256),
        torch.nn.ReLU(), torch.nn.Linear(256, 10)).to(dtype)


def wide(dtype, seed: int = 0) -> list:
    """200 tensors: 100 x ([64, 64] weight, [64] bias)."""
    gen = torch.Generator().manual_seed(seed)
    shapes = [(64, 64), (64,)] * 100
    return [torch.nn.Parameter(0.1 * torch.randn(s, generator=gen, dtype=dtype))
            for s in shapes]


def wide_loss(params: list, step: int):
    """A loss of the 200 tensors whose gradients change with the step."""
    total = 0.0
    for k in range(0, len(params), 2):
        w, b = params[k], params[k + 1]
        x = torch.full((64,), 0.01 * ((step + k) % 7 - 3), dtype=w.dtype)
        total = total + ((w @ x + b).tanh() ** 2).sum() + 1e-3 * (w ** 2).sum()
    return total


def batch(step: int, dtype):
    X, y = digits()
    i = (step * BATCH) % (len(X) - BATCH)
    return (torch.tensor(X[i:i + BATCH], dtype=dtype), torch.tensor(y[i:i + BATCH]))


def train(model, opt, steps: int, scheduler=None, first: int = 0) -> list[float]:
    """``steps`` steps of cross-entropy on the digits; the losses."""
    dtype = next(model.parameters()).dtype
    losses = []
    for s in range(first, first + steps):
        X, y = batch(s, dtype)
        loss = torch.nn.functional.cross_entropy(model(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if scheduler is not None:
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(round(float(loss.detach()), 1))
            else:
                scheduler.step()
    return losses


def flat(model) -> np.ndarray:
    params = model.parameters() if hasattr(model, "parameters") else model
    return np.concatenate([p.detach().numpy().ravel() for p in params])


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(a))


def torch_class(name: str):
    """torch.optim's class that fastgd's optimizer ``name`` matches, or None."""
    matches = OPTIMIZERS[name].matches
    if not matches.startswith("torch.optim."):
        return None
    return getattr(torch.optim, matches.rsplit(".", 1)[1], None)


#: Options per optimizer for the digits MLP (the defaults where none are given).
OPTIONS: dict[str, list[dict]] = {
    "SGD": [{"lr": 0.05}, {"lr": 0.05, "momentum": 0.9, "nesterov": True},
            {"lr": 0.05, "momentum": 0.9, "dampening": 0.1, "weight_decay": 1e-3}],
    "Adam": [{}, {"amsgrad": True, "weight_decay": 1e-3}],
    "AdamW": [{}],
    "RMSprop": [{"lr": 1e-3}, {"lr": 1e-4, "momentum": 0.5, "centered": True}],
    "Adagrad": [{}, {"lr_decay": 1e-3, "initial_accumulator_value": 0.1}],
    "Rprop": [{"lr": 1e-4, "step_sizes": (1e-6, 1e-3)}],  # full-batch steps by default
}

#: The registry's optimizers fastgd.torch offers (all but fastgd.torch.NOT_ADAPTED, the
#: low-bit ones, checked by name in test_torch.py).
NAMES = [name for name in OPTIMIZERS if name not in ft.NOT_ADAPTED]
#: The optimizers of the element-wise kernel table: each steps every parameter from its
#: dense ``.grad``, so that the generic tests train the MLP (with its biases) with them.
#: L-BFGS (closure), Muon (matrices) and SparseAdam (sparse gradients):
#: test_torch_offtable.py.
TABLE_NAMES = list(TABLE_OPTIMIZERS)
TORCH_NAMES = [name for name in TABLE_NAMES if torch_class(name) is not None]
CASES = [pytest.param(name, options, id=f"{name}-{k}")
         for name in TABLE_NAMES for k, options in enumerate(OPTIONS.get(name, [{}]))]
TORCH_CASES = [case for case in CASES if case.values[0] in TORCH_NAMES]


def pair(name: str, options: dict, dtype,
         model: Callable = mlp) -> tuple[object, object, object, object]:
    """Two copies of a model, with torch.optim's ``name`` on the first and fastgd.torch's
    on the second."""
    a = model(dtype)
    b = copy.deepcopy(a)
    pa = a.parameters() if hasattr(a, "parameters") else a
    pb = b.parameters() if hasattr(b, "parameters") else b
    return a, torch_class(name)(pa, **options), b, getattr(ft, name)(pb, **options)


__all__ = ["torch", "fastgd", "ft", "digits", "mlp", "wide", "wide_loss", "batch", "train",
           "flat", "rel", "torch_class", "OPTIONS", "NAMES", "TABLE_NAMES", "TORCH_NAMES", "CASES",
           "TORCH_CASES", "pair"]
