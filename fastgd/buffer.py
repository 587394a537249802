"""``ParamBuffer``: many parameters in one contiguous array, so a step is one pass.

An optimizer given ``[buffer.flat]`` updates every parameter of a model with one native
call over one contiguous array: the fastest layout for the element-wise optimizers, whose
results are the same bits as with the arrays one by one. Optimizers with per-tensor
quantities (LAMB's and LARS's trust ratios, Adafactor's factored moments; their registry
rows have ``elementwise=False``) see the flat array as one tensor: give them the views.

Example::

    params = fastgd.ParamBuffer.from_arrays([W1, b1, W2, b2])
    W1, b1, W2, b2 = params.views           # use these in the model from now on
    grads = params.zeros_like()              # a second buffer of the same layout
    opt = fastgd.Adam([params.flat], lr=1e-3)
    ...                                      # write gradients into grads.views[i]
    opt.step([grads.flat])
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from numbers import Integral

import numpy as np
from numpy.typing import DTypeLike

from fastgd.reference._declare import FLOAT_DTYPES

__all__ = ["ParamBuffer"]


def _shape(index: int, shape) -> tuple[int, ...]:
    if isinstance(shape, Integral):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"shapes[{index}] must be a tuple of sizes, got {shape!r}") from None
    if not all(isinstance(d, Integral) and not isinstance(d, bool) and int(d) >= 0
               for d in shape):
        raise ValueError(f"shapes[{index}] must hold whole numbers >= 0, got {shape!r}")
    return tuple(int(d) for d in shape)


class ParamBuffer(Sequence):
    """One C-contiguous array (``flat``) and a view of it per parameter (``views``).

    Args:
        shapes: the shape of each parameter, in order.
        dtype: float32 or float64 (default float64).

    The buffer starts at zero. The views are C-contiguous, writable and disjoint. The same
    idea as torch's flattened parameters (``torch.nn.utils.parameters_to_vector``), but
    shared rather than copied: a step on ``flat`` updates every view.

    Example::

        params = fastgd.ParamBuffer([(2, 3), (3,)])
        W, b = params.views
        grads = params.zeros_like()
        grads.views[0][:] = 1.0
        fastgd.SGD([params.flat], lr=0.1).step([grads.flat])
        assert (W == -0.1).all() and (b == 0.0).all()
    """

    def __init__(self, shapes: Iterable, dtype: DTypeLike = np.float64) -> None:
        dtype = np.dtype(dtype)
        if dtype not in FLOAT_DTYPES:
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        if isinstance(shapes, (str, bytes)) or not isinstance(shapes, Iterable):
            raise TypeError(f"shapes must be a list of shapes, got {type(shapes).__name__}")
        self.shapes: tuple[tuple[int, ...], ...] = tuple(
            _shape(i, s) for i, s in enumerate(shapes))
        sizes = [math.prod(s) for s in self.shapes]  # Python ints: no silent overflow
        self.offsets: tuple[int, ...] = (0, *itertools.accumulate(sizes))
        self.flat: np.ndarray = np.zeros(self.offsets[-1], dtype=dtype)
        self.views: list[np.ndarray] = [
            self.flat[start:end].reshape(shape)
            for start, end, shape in zip(self.offsets, self.offsets[1:], self.shapes)]

    @classmethod
    def from_arrays(cls, arrays: Iterable[np.ndarray],
                    dtype: DTypeLike | None = None) -> ParamBuffer:
        """A buffer holding copies of ``arrays`` (dtype: theirs if they agree, else given)."""
        arrays = [np.asarray(a) for a in arrays]
        if dtype is None:
            dtypes = {a.dtype for a in arrays}
            if not dtypes:
                raise ValueError("from_arrays() needs at least one array, or dtype=")
            if len(dtypes) != 1:
                raise TypeError(f"the arrays have several dtypes ({sorted(map(str, dtypes))}); "
                                f"pass dtype=")
            dtype = dtypes.pop()
        buffer = cls([a.shape for a in arrays], dtype)
        for view, a in zip(buffer.views, arrays):
            view[...] = a
        return buffer

    def zeros_like(self) -> ParamBuffer:
        """A new buffer of the same layout and dtype, at zero (for gradients)."""
        return type(self)(self.shapes, self.flat.dtype)

    @property
    def dtype(self) -> np.dtype:
        return self.flat.dtype

    def __len__(self) -> int:
        return len(self.views)

    def __getitem__(self, index):
        return self.views[index]

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.views)

    def __repr__(self) -> str:
        return (f"ParamBuffer({len(self)} parameters, {self.flat.size} elements, "
                f"{self.flat.dtype})")
