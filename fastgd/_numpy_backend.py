"""The ``numpy`` backend: the reference kernels of :mod:`fastgd.reference`, tensor by tensor."""

from __future__ import annotations

import numpy as np

from fastgd import reference
from fastgd._checks import ROLES, check_buffers, coerce_scalars

NAME = "numpy"


def _many(kernel: str):
    math_fn = getattr(reference, kernel).math
    n = len(ROLES[kernel])

    def many(*lists, check_only=False, **scalars):
        coerce_scalars(kernel, scalars)
        check_buffers(kernel, lists, scalars)
        if check_only:
            return
        with np.errstate(all="ignore"):  # NaN and Inf propagate silently, as in torch
            for t in range(len(lists[0])):
                math_fn(*(None if lst is None else lst[t] for lst in lists[:n]), **scalars)

    many.__name__ = f"{kernel}_many"
    return many


sgd_many = _many("sgd")
adam_many = _many("adam")
adagrad_many = _many("adagrad")
rmsprop_many = _many("rmsprop")
