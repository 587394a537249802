"""The ``<kernel>_many`` wrapper shared by the NumPy and Numba backends: every call checked
as the compiled core checks it before anything is written."""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from fastgd.reference._checks import check_buffers, coerce_scalars, padded


def entry(kernel: str) -> Callable[[Callable], Callable]:
    """Wrap a loop over tensors as the backend's ``<kernel>_many``: scalars as Python floats
    (as the compiled core takes them), every buffer checked first, ``check_only`` to stop
    there; NaN and Inf propagate silently (casting a scalar to float32 overflows to inf, as
    in C)."""

    def wrap(run: Callable) -> Callable:
        @functools.wraps(run)
        def many(*lists, check_only=False, **scalars):
            lists = padded(kernel, lists)
            coerce_scalars(kernel, scalars)
            check_buffers(kernel, lists, scalars)
            if check_only:
                return
            with np.errstate(all="ignore"):
                run(*lists, **scalars)

        many.__name__ = many.__qualname__ = f"{kernel}_many"
        return many

    return wrap
