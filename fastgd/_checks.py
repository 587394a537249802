"""Buffer checks shared by the NumPy and Numba backends.

They mirror the checks the compiled backend makes in C (src/_core.pyx, ``_collect``), with
the same messages, so that every backend rejects the same calls in the same words before
anything is written.
"""

from __future__ import annotations

from numbers import Real

import numpy as np

#: Buffer roles of each kernel, in call order. The first is the parameter (written), the
#: second the gradient (read only); the rest are optimizer state (written).
ROLES: dict[str, tuple[str, ...]] = {
    "sgd": ("param", "grad", "momentum_buffer"),
    "adam": ("param", "grad", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
    "adagrad": ("param", "grad", "state_sum"),
    "rmsprop": ("param", "grad", "square_avg", "grad_avg", "momentum_buffer"),
}

#: Real-valued scalars of each kernel, and which of them have no default.
SCALARS: dict[str, tuple[str, ...]] = {
    "sgd": ("lr", "momentum", "dampening", "weight_decay"),
    "adam": ("lr", "beta1", "beta2", "eps", "weight_decay", "bias_correction1",
             "bias_correction2_sqrt"),
    "adagrad": ("clr", "eps", "weight_decay"),
    "rmsprop": ("lr", "alpha", "eps", "weight_decay", "momentum"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "sgd": ("lr",),
    "adam": ("lr", "beta1", "beta2", "eps", "bias_correction1", "bias_correction2_sqrt"),
    "adagrad": ("clr", "eps"),
    "rmsprop": ("lr", "alpha", "eps"),
}
#: Options taken by truth value.
FLAGS: dict[str, tuple[str, ...]] = {
    "sgd": ("nesterov", "maximize", "first_step"),
    "adam": ("amsgrad", "decoupled_weight_decay", "maximize"),
    "adagrad": ("maximize",),
    "rmsprop": ("centered", "maximize"),
}

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def needed_roles(kernel: str, scalars: dict) -> tuple[bool, ...]:
    """Which buffers the kernel reads or writes with these options."""
    if kernel == "sgd":
        return (True, True, scalars.get("momentum", 0.0) != 0.0)
    if kernel == "adam":
        return (True, True, True, True, bool(scalars.get("amsgrad", False)))
    if kernel == "adagrad":
        return (True, True, True)
    if kernel == "rmsprop":
        return (True, True, True, bool(scalars.get("centered", False)),
                scalars.get("momentum", 0.0) > 0.0)
    raise KeyError(kernel)


def _where(kernel: str, role: str, t: int) -> str:
    return f"{kernel}: {role} (tensor {t})"


def check_buffers(kernel: str, lists: tuple, scalars: dict) -> None:
    """Raise TypeError/ValueError unless ``lists`` are valid buffers for ``kernel``."""
    roles = ROLES[kernel]
    needed = needed_roles(kernel, scalars)
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
            if r != 1 and not arr.flags.writeable:
                raise ValueError(f"{_where(kernel, role, t)} is read-only but the kernel "
                                 f"writes it")
            if r != 0 and arr.size != params[t].size:
                raise ValueError(f"{_where(kernel, role, t)} has {arr.size} elements, "
                                 f"expected {params[t].size} like its {roles[0]}")
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
