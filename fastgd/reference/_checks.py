"""Buffer and scalar checks of every kernel call, for every backend, in the contract's words.

They mirror the checks the compiled backend makes in C (src/optim/_core.pyx, ``_collect``),
with the same messages, so that every backend rejects the same calls in the same words
before anything is written.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from numbers import Real
from typing import Any

import numpy as np

from fastgd.reference._declare import FLAGS, FLOAT_DTYPES, KERNELS, REQUIRED, ROLES, SCALARS


def needed_roles(kernel: str, scalars: Mapping[str, Any]) -> tuple[bool, ...]:
    """Which buffers the kernel reads or writes with these options."""
    return KERNELS[kernel].needed_roles(scalars)


def dims(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(batch, rows, cols) of a buffer of ``shape``, as the kernels see it."""
    if len(shape) == 0:
        return 1, 1, 1
    if len(shape) == 1:
        return 1, 1, shape[0]
    return int(np.prod(shape[:-2], dtype=np.int64)), shape[-2], shape[-1]


def _where(kernel: str, role: str, t: int) -> str:
    return f"{kernel}: {role} (tensor {t})"


def check_buffers(kernel: str, lists: tuple, scalars: dict) -> None:
    """Raise TypeError/ValueError unless ``lists`` are valid buffers for ``kernel``."""
    decl = KERNELS[kernel]
    roles = decl.roles
    needed = decl.needed_roles(scalars)
    writable = decl.writable
    size_codes = decl.size_codes
    params = lists[0]
    if not isinstance(params, (list, tuple)):
        raise TypeError(f"{kernel}: {roles[0]} must be a list or tuple of arrays, "
                        f"got {type(params).__name__}")
    n = len(params)
    for role, lst, need in zip(roles[1:], lists[1:], needed[1:]):
        if lst is None and not need:
            continue
        if not isinstance(lst, (list, tuple)):
            raise TypeError(f"{kernel}: {role} must be a list or tuple of arrays, "
                            f"got {type(lst).__name__}")
        if len(lst) != n:
            raise ValueError(f"{kernel}: got {n} {roles[0]} buffers but {len(lst)} "
                             f"{role} buffers")
    dtype = None
    for t in range(n):
        present = []
        sizes = None
        for r, (role, lst, need) in enumerate(zip(roles, lists, needed)):
            arr = None if lst is None else lst[t]
            if arr is None:
                if need:
                    raise ValueError(f"{_where(kernel, role, t)} is required with these "
                                     f"options but is None")
                continue
            if not isinstance(arr, np.ndarray):
                raise TypeError(f"{_where(kernel, role, t)} must be a numpy.ndarray, "
                                f"got {type(arr).__name__}")
            if dtype is None:
                dtype = arr.dtype
                if dtype not in FLOAT_DTYPES:
                    raise TypeError(f"{_where(kernel, role, t)} has dtype {arr.dtype}; "
                                    f"fastgd kernels take float32 or float64")
            elif arr.dtype != dtype:
                raise TypeError(f"{_where(kernel, role, t)} has dtype {arr.dtype}, "
                                f"expected {dtype} like the first {roles[0]}")
            if not arr.flags.c_contiguous:
                raise ValueError(f"{_where(kernel, role, t)} must be C-contiguous")
            if not arr.flags.aligned:
                raise ValueError(f"{_where(kernel, role, t)} must be aligned")
            if writable[r] and not arr.flags.writeable:
                raise ValueError(f"{_where(kernel, role, t)} is read-only but the kernel "
                                 f"writes it")
            if r == 0:
                b, rows, cols = dims(arr.shape)
                sizes = (arr.size, b * rows, b * cols)
            elif arr.size != sizes[size_codes[r]]:  # type: ignore[index]  # set at r == 0
                raise ValueError(f"{_where(kernel, role, t)} has {arr.size} elements, "
                                 f"expected {sizes[size_codes[r]]} "  # type: ignore[index]
                                 f"like its {roles[0]}")
            present.append((role, arr))
        for i, (role, arr) in enumerate(present):
            for other_role, other in present[i + 1:]:
                if arr.size and np.may_share_memory(arr, other):
                    raise ValueError(f"{_where(kernel, role, t)} shares memory with "
                                     f"{other_role}; pass separate arrays")


def real(name: str, value) -> float:
    """``value`` as a float, or a TypeError/ValueError naming the argument."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{name} is too large for a float: {value!r}") from None


def coerce_scalars(kernel: str, scalars: dict) -> dict:
    """Replace each real-valued scalar by a Python float (so every backend computes with
    the same float64 values) and each flag by a bool; TypeError names a bad one."""
    for name in SCALARS[kernel]:
        if name in scalars:
            scalars[name] = real(f"{kernel}: {name}", scalars[name])
    for name in FLAGS[kernel]:
        if name in scalars:
            scalars[name] = bool(scalars[name])
    return scalars


def padded(kernel: str, lists: tuple) -> tuple:
    """A backend's buffer lists, one per role: missing trailing ones None; more than the
    kernel has roles is a TypeError (as the compiled core says it)."""
    n_roles = len(KERNELS[kernel].roles)
    if len(lists) > n_roles:
        raise TypeError(f"{kernel}_many() takes at most {n_roles} buffer lists, "
                        f"got {len(lists)}")
    return tuple(lists) + (None,) * (n_roles - len(lists))


def shaped_like_param(kernel: str, buffers: tuple) -> tuple:
    """One tensor's checked buffers, those as long as the parameter given its shape (views:
    the kernels treat buffers as flat, and the NumPy formulas must not broadcast)."""
    param = buffers[0]
    codes = KERNELS[kernel].size_codes
    return tuple(b if b is None or codes[r] or b.shape == param.shape
                 else b.reshape(param.shape) for r, b in enumerate(buffers))


def prepare_call(kernel: str, buffers: tuple, scalars: dict) -> tuple[tuple, dict]:
    """Arguments of a public kernel call, checked alike for every backend: at most one
    array per role (missing ones are None), known keywords, the required ones present."""
    n_buffers = len(ROLES[kernel])
    if len(buffers) > n_buffers:
        raise TypeError(f"{kernel}() takes at most {n_buffers} buffers, got {len(buffers)}")
    known = set(SCALARS[kernel]) | set(FLAGS[kernel])
    for name in scalars:
        if name not in known:
            raise TypeError(f"{kernel}() got an unexpected keyword argument {name!r}")
    for name in REQUIRED[kernel]:
        if name not in scalars:
            raise TypeError(f"{kernel}() missing required keyword argument {name!r}")
    return buffers + (None,) * (n_buffers - len(buffers)), coerce_scalars(kernel, scalars)


def scanned_arrays(arrays) -> list:
    """The arrays of a finiteness scan (``first_nonfinite`` of every backend), checked
    alike for every backend: a list or tuple of float32/float64 arrays in native byte
    order, each C- or F-contiguous (the scan reads each as one flat run of memory)."""
    if not isinstance(arrays, (list, tuple)):
        raise TypeError(f"arrays must be a list or tuple of numpy arrays, got "
                        f"{type(arrays).__name__}")
    for k, a in enumerate(arrays):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"arrays[{k}] must be a numpy.ndarray, got {type(a).__name__}")
        if a.dtype not in FLOAT_DTYPES:
            raise TypeError(f"arrays[{k}] has dtype {a.dtype}; the finiteness scan takes "
                            f"float32 or float64")
        if not (a.flags.c_contiguous or a.flags.f_contiguous):
            raise ValueError(f"arrays[{k}] must be contiguous (C or F order)")
    return list(arrays)


def checked(math_fn):
    """Check buffers and scalars, then run the unchecked math (kept as ``.math``)."""
    kernel = math_fn.__name__

    @functools.wraps(math_fn)
    def checked(*buffers, **scalars):
        buffers, scalars = prepare_call(kernel, buffers, scalars)
        check_buffers(kernel, tuple((b,) for b in buffers), scalars)
        with np.errstate(all="ignore"):  # NaN and Inf propagate silently, as in torch
            math_fn(*shaped_like_param(kernel, buffers), **scalars)

    checked.math = math_fn
    return checked
