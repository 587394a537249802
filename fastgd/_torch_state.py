"""Conversions of :mod:`fastgd.torch` between torch's tensors and what fastgd's optimizers
off the element-wise kernel table take and keep: L-BFGS's state (lists of arrays, numbers)
and SparseAdam's sparse COO gradients."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def as_tensors(value: Any, dtype: torch.dtype) -> Any:
    """Arrays (in lists) as tensors sharing their memory; numbers as 0-d tensors."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    if isinstance(value, list):
        return [as_tensors(v, dtype) for v in value]
    if value is None:
        return None
    return torch.tensor(value, dtype=dtype)


def as_arrays(value: Any) -> Any:
    """Tensors (in lists or tuples) as NumPy arrays (lists); anything else as it is."""
    if isinstance(value, torch.Tensor):
        return np.asarray(value.detach().cpu())
    if isinstance(value, (list, tuple)):
        return [as_arrays(v) for v in value]
    return value


class _Entries:
    """A gradient sparse in every dimension of a 2-D parameter, read by the fastgd
    optimizer as a ``scipy.sparse`` COO matrix is read (``shape``, ``tocoo()``,
    ``coords``, ``data``)."""

    def __init__(self, shape: tuple[int, ...], coords: tuple[np.ndarray, ...],
                 data: np.ndarray) -> None:
        self.shape, self.coords, self.data = shape, coords, data

    def tocoo(self) -> _Entries:
        return self


def sparse_grad(index: int, p: torch.Tensor) -> Any:
    """Parameter ``index``'s sparse ``.grad``, coalesced, as the fastgd optimizer takes
    it (None where it has none)."""
    g = p.grad
    if g is None:
        return None
    where = f"the gradient of parameter {index}"
    if g.device.type != "cpu":
        raise TypeError(f"{where} is on device {g.device}; fastgd.torch steps CPU tensors")
    if g.dtype != p.dtype:
        raise TypeError(f"{where} has dtype {g.dtype} but the parameter has dtype {p.dtype}")
    if g.shape != p.shape:
        raise ValueError(f"{where} has shape {tuple(g.shape)} but the parameter has shape "
                         f"{tuple(p.shape)}")
    if g.requires_grad:
        raise ValueError(f"{where} requires grad (made with create_graph=True?); "
                         f"fastgd.torch cannot differentiate through a step")
    g = g.coalesce()
    indices, values = g.indices().numpy(), g.values().numpy()
    if g.sparse_dim() == 1:
        return indices[0], values
    if p.ndim == 2 and g.sparse_dim() == 2:
        return _Entries(tuple(p.shape), (indices[0], indices[1]), values)
    raise ValueError(f"{where} is sparse in {g.sparse_dim()} of its {p.ndim} dimensions; "
                     f"fastgd.torch steps gradients sparse in the first dimension (as "
                     f"nn.Embedding(sparse=True) makes them) or, for a 2-D parameter, in "
                     f"both")
