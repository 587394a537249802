"""The ``numpy`` backend: the reference kernels of :mod:`fastgd.reference`, tensor by tensor."""

from __future__ import annotations

import numpy as np

from fastgd import reference
from fastgd.backends._many import entry
from fastgd.reference._checks import scanned_arrays, shaped_like_param
from fastgd.reference._declare import KERNELS
from fastgd.reference.sparse_adam import sparse_adam_rows as sparse_adam_rows

NAME = "numpy"


def _many(kernel: str):
    math_fn = getattr(reference, kernel).math

    @entry(kernel)
    def many(*lists, **scalars):
        for t in range(len(lists[0])):
            buffers = tuple(None if lst is None else lst[t] for lst in lists)
            math_fn(*shaped_like_param(kernel, buffers), **scalars)

    return many


for _name, _decl in KERNELS.items():
    if _decl.public:
        globals()[f"{_name}_many"] = _many(_name)
del _name, _decl


def first_nonfinite(arrays) -> int:
    """The position in ``arrays`` of the first array holding a NaN or an infinity, or -1
    when every element of every array is finite (``np.isfinite``)."""
    for k, a in enumerate(scanned_arrays(arrays)):
        if not np.isfinite(a).all():
            return k
    return -1
