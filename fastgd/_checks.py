"""Buffer checks shared by the NumPy and Numba backends.

They mirror the checks the compiled backend makes in C (src/_core.pyx, ``_collect``), with
the same messages, so that every backend rejects the same calls in the same words before
anything is written.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Kernel:
    """What a kernel takes, for every backend: buffer roles in call order, scalars in the
    order the C entry receives them (``None``: no default, the argument is required),
    flags (options taken by truth value, default False, passed to C as ints in order).

    ``needed(scalars)`` says which roles must be present under these options (the others
    may be None); ``read_only`` names the roles the kernel only reads; ``sizes`` maps a
    role whose length is not the first role's to ``"rows"`` or ``"cols"``: for a first
    buffer of shape (..., R, C), rows has prod(...)*R elements and cols prod(...)*C (a
    1-d buffer of n is (1, n), a 0-d one (1, 1)). ``public``: False for kernels that are
    not optimizers (the benchmarks' streaming limit).
    """

    name: str
    roles: tuple[str, ...]
    scalars: dict[str, float | None]
    flags: tuple[str, ...] = ()
    needed: Callable[[Mapping[str, Any]], tuple[bool, ...]] | None = None
    read_only: tuple[str, ...] = ("grad",)
    sizes: Mapping[str, str] = field(default_factory=dict)
    public: bool = True

    def needed_roles(self, scalars: Mapping[str, Any]) -> tuple[bool, ...]:
        return (True,) * len(self.roles) if self.needed is None else self.needed(scalars)

    @functools.cached_property
    def writable(self) -> tuple[bool, ...]:
        return tuple(role not in self.read_only for role in self.roles)

    @functools.cached_property
    def size_codes(self) -> tuple[int, ...]:
        """Per role: 0 like the first buffer, 1 rows, 2 cols (as the compiled core takes it)."""
        return tuple({"rows": 1, "cols": 2}.get(self.sizes.get(role, ""), 0)
                     for role in self.roles)

    @functools.cached_property
    def required(self) -> tuple[str, ...]:
        return tuple(k for k, v in self.scalars.items() if v is None)


#: Every kernel, by name. Each backend has ``<name>_many`` for each (lists of buffers, one
#: entry per tensor), :mod:`fastgd.reference` and :mod:`fastgd.kernels` ``<name>`` for the
#: public ones (one buffer per role).
KERNELS: dict[str, Kernel] = {}


def declare(kernel: Kernel) -> Kernel:
    if kernel.name in KERNELS:
        raise ValueError(f"kernel {kernel.name!r} declared twice")
    KERNELS[kernel.name] = kernel
    return kernel


declare(Kernel(
    "sgd", ("param", "grad", "momentum_buffer"),
    dict(lr=None, momentum=0.0, dampening=0.0, weight_decay=0.0),
    ("nesterov", "maximize", "first_step"),
    needed=lambda s: (True, True, s.get("momentum", 0.0) != 0.0)))
declare(Kernel(
    "adam", ("param", "grad", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
    dict(lr=None, beta1=None, beta2=None, eps=None, weight_decay=0.0, bias_correction1=None,
         bias_correction2_sqrt=None),
    ("amsgrad", "decoupled_weight_decay", "maximize"),
    needed=lambda s: (True, True, True, True, bool(s.get("amsgrad", False)))))
declare(Kernel(
    "adagrad", ("param", "grad", "state_sum"),
    dict(clr=None, eps=None, weight_decay=0.0), ("maximize",)))
declare(Kernel(
    "rmsprop", ("param", "grad", "square_avg", "grad_avg", "momentum_buffer"),
    dict(lr=None, alpha=None, eps=None, weight_decay=0.0, momentum=0.0),
    ("centered", "maximize"),
    needed=lambda s: (True, True, True, bool(s.get("centered", False)),
                      s.get("momentum", 0.0) > 0.0)))
declare(Kernel("stream", ("param", "grad", "m", "v"), {}, public=False))

# ---- begin kernels: adam-family (Adadelta, Adamax, NAdam, RAdam) ----
declare(Kernel(
    "adadelta", ("param", "grad", "square_avg", "acc_delta"),
    dict(lr=None, rho=None, eps=None, weight_decay=0.0), ("maximize",)))
declare(Kernel(
    "adamax", ("param", "grad", "exp_avg", "exp_inf"),
    dict(lr=None, beta1=None, beta2=None, eps=None, weight_decay=0.0, bias_correction1=None),
    ("maximize",)))
declare(Kernel(
    "nadam", ("param", "grad", "exp_avg", "exp_avg_sq"),
    dict(lr=None, beta1=None, beta2=None, eps=None, weight_decay=0.0, bias_correction2=None,
         mu=None, mu_next=None, mu_product=None),
    ("decoupled_weight_decay", "maximize")))
declare(Kernel(
    "radam", ("param", "grad", "exp_avg", "exp_avg_sq"),
    dict(lr=None, beta1=None, beta2=None, eps=None, weight_decay=0.0, bias_correction1=None,
         bias_correction2_sqrt=None, rectification=None),
    ("rectified", "decoupled_weight_decay", "maximize")))
# Adam's and RMSprop's optax forms (Adam(eps_root=...), RMSprop(eps_in_sqrt=True)).
declare(Kernel(
    "adam_eps_root", ("param", "grad", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
    dict(lr=None, beta1=None, beta2=None, eps=None, eps_root=0.0, weight_decay=0.0,
         bias_correction1=None, bias_correction2=None),
    ("amsgrad", "decoupled_weight_decay", "maximize"),
    needed=lambda s: (True, True, True, True, bool(s.get("amsgrad", False)))))
declare(Kernel(
    "rmsprop_eps_in_sqrt", ("param", "grad", "square_avg", "grad_avg", "momentum_buffer"),
    dict(lr=None, alpha=None, eps=None, weight_decay=0.0, momentum=0.0),
    ("centered", "maximize"),
    needed=lambda s: (True, True, True, bool(s.get("centered", False)),
                      s.get("momentum", 0.0) > 0.0)))
# ---- end kernels: adam-family ----
# ---- begin kernels: torch-other (Rprop, ASGD, Adafactor) ----
declare(Kernel(
    "rprop", ("param", "grad", "prev", "step_size"),
    dict(etaminus=None, etaplus=None, step_size_min=None, step_size_max=None),
    ("maximize",), read_only=("grad",)))
declare(Kernel(
    "asgd", ("param", "grad", "ax"),
    dict(eta=None, lambd=None, mu=None, weight_decay=0.0), ("maximize",)))
declare(Kernel(
    "adafactor", ("param", "grad", "row_var", "col_var", "variance"),
    dict(lr=None, rho=None, one_minus_beta2=None, eps1=None, eps2=1e-3, d=1.0,
         weight_decay=0.0),
    ("factored", "maximize"),
    needed=lambda s: ((True, True, True, True, False) if s.get("factored", False)
                      else (True, True, False, False, True)),
    sizes={"row_var": "rows", "col_var": "cols"}))
# ---- end kernels: torch-other ----
# ---- begin kernels: optax (Lion, AdaBelief, LAMB, LARS, Yogi) ----
declare(Kernel(
    "lion", ("param", "grad", "exp_avg"),
    dict(lr=None, beta1=None, beta2=None, weight_decay=0.0), ("maximize",)))
declare(Kernel(
    "adabelief", ("param", "grad", "exp_avg", "exp_avg_var"),
    dict(lr=None, beta1=None, beta2=None, eps=None, eps_root=None, weight_decay=0.0,
         bias_correction1=None, bias_correction2=None),
    ("maximize",)))
declare(Kernel(
    "lamb", ("param", "grad", "exp_avg", "exp_avg_sq"),
    dict(lr=None, beta1=None, beta2=None, eps=None, weight_decay=0.0, bias_correction1=None,
         bias_correction2=None),
    ("maximize",)))
declare(Kernel(
    "lars", ("param", "grad", "momentum_buffer"),
    dict(lr=None, momentum=0.0, weight_decay=0.0, trust_coefficient=None, eps=0.0),
    ("nesterov", "maximize"),
    needed=lambda s: (True, True, s.get("momentum", 0.0) != 0.0)))
declare(Kernel(
    "yogi", ("param", "grad", "exp_avg", "exp_avg_sq"),
    dict(lr=None, beta1=None, beta2=None, eps=None, bias_correction1=None,
         bias_correction2=None),
    ("maximize",)))
# ---- end kernels: optax ----
# ---- begin kernels: sophia-schedulefree (Sophia, SGDScheduleFree, AdamWScheduleFree) ----
declare(Kernel(
    "sophia", ("param", "grad", "exp_avg", "hessian"),
    dict(lr=None, beta1=None, rho=None, eps=None, weight_decay=0.0), ("maximize",),
    read_only=("grad", "hessian")))
# Sophia's Hessian estimate: the moving average of the estimates the caller supplies.
declare(Kernel("sophia_hessian", ("hessian", "estimate"), dict(beta2=None),
               read_only=("estimate",)))
declare(Kernel(
    "sgd_schedule_free", ("param", "grad", "z"),
    dict(lr=None, momentum=None, weight_decay=0.0, ckp1=None), ("maximize",)))
declare(Kernel(
    "adamw_schedule_free", ("param", "grad", "z", "exp_avg_sq"),
    dict(lr=None, beta1=None, beta2=None, eps=None, weight_decay=0.0, ckp1=None,
         bias_correction2=None), ("maximize",)))
# ---- end kernels: sophia-schedulefree ----

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


#: Views of KERNELS: buffer roles, scalar names, required scalars and flags of each kernel.
ROLES = {k: d.roles for k, d in KERNELS.items()}
SCALARS = {k: tuple(d.scalars) for k, d in KERNELS.items()}
REQUIRED = {k: d.required for k, d in KERNELS.items()}
FLAGS = {k: d.flags for k, d in KERNELS.items()}


#: Scalars computed per step from the step count alone, for kernels whose other scalars do
#: not change from step to step while the hyperparameters do not: scalar name -> (the beta
#: it is made of, 1 for ``1 - beta**t``, 2 for ``(1 - beta**t) ** 0.5``), the expressions
#: of the optimizers' plans (C's pow is Python's float power). Used by the native loops
#: that skip the plan (fused training batches, the compiled core's cached step), each
#: checked against a plan made in Python before it is used.
STEP_FORMULAS: dict[str, dict[str, tuple[str, int]]] = {
    "adam": {"bias_correction1": ("beta1", 1), "bias_correction2_sqrt": ("beta2", 2)},
    "adam_eps_root": {"bias_correction1": ("beta1", 1), "bias_correction2": ("beta2", 1)},
    "adamax": {"bias_correction1": ("beta1", 1)},
    "adabelief": {"bias_correction1": ("beta1", 1), "bias_correction2": ("beta2", 1)},
    "lamb": {"bias_correction1": ("beta1", 1), "bias_correction2": ("beta2", 1)},
    "yogi": {"bias_correction1": ("beta1", 1), "bias_correction2": ("beta2", 1)},
    "rmsprop": {}, "rmsprop_eps_in_sqrt": {}, "adadelta": {}, "rprop": {},
}


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
