"""What each kernel takes, for every backend: the declarations, made from the reference
functions' signatures by :func:`kernel`.

A reference function's signature is the kernel's contract: its positional parameters are
the buffer roles in call order (the parameter and gradient first), its keyword-only
parameters with default ``False`` the flags, in order, and its other keyword-only
parameters the scalars, in order, with their defaults (none: required). The compiled core
takes the buffers, scalars and flags in exactly this order (``b[i]``, ``s[i]`` and ``f[i]``
of its C entries, whose names each rule's header states beside the entry) and refuses to
load unless it compiles exactly the kernels of :data:`KERNELS`, each reading its arguments
in the declared order.
What a signature cannot say is an argument of :func:`kernel`: which optional buffers a
call needs under which options, the buffers only read, the buffers sized by rows or
columns, and the per-step scalars that native loops compute from the step count.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
    not optimizers (the benchmarks' streaming limit). ``step_formulas``: see
    :data:`STEP_FORMULAS` (None: the kernel has other scalars that change per step).
    """

    name: str
    roles: tuple[str, ...]
    scalars: dict[str, float | None]
    flags: tuple[str, ...] = ()
    needed: Callable[[Mapping[str, Any]], tuple[bool, ...]] | None = None
    read_only: tuple[str, ...] = ("grad",)
    sizes: Mapping[str, str] = field(default_factory=dict)
    public: bool = True
    step_formulas: Mapping[str, tuple[str, int]] | None = None

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


#: Every kernel, by name, in the order :mod:`fastgd.reference` imports the rules (the
#: compiled core matches its own table to these by name). Each backend has ``<name>_many``
#: for each (lists of buffers, one entry per tensor), :mod:`fastgd.reference` and
#: :mod:`fastgd.kernels` ``<name>`` for the public ones (one buffer per role).
KERNELS: dict[str, Kernel] = {}

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

#: Views of KERNELS: buffer roles, scalar names, required scalars and flags of each kernel
#: (filled by :func:`seal`).
ROLES: dict[str, tuple[str, ...]] = {}
SCALARS: dict[str, tuple[str, ...]] = {}
REQUIRED: dict[str, tuple[str, ...]] = {}
FLAGS: dict[str, tuple[str, ...]] = {}

#: Scalars computed per step from the step count alone, for kernels whose other scalars do
#: not change from step to step while the hyperparameters do not: scalar name -> (the beta
#: it is made of, 1 for ``1 - beta**t``, 2 for ``(1 - beta**t) ** 0.5``), the expressions
#: of the optimizers' plans (:func:`fastgd.reference._common.step_formula`; C's pow is
#: Python's float power). Used by the native loops that skip the plan (fused training
#: batches, the compiled core's cached step), each checked against a plan made in Python
#: before it is used. Filled by :func:`seal` from each kernel's ``step_formulas``.
STEP_FORMULAS: dict[str, dict[str, tuple[str, int]]] = {}


def declare(kernel: Kernel) -> Kernel:
    if kernel.name in KERNELS:
        raise ValueError(f"kernel {kernel.name!r} declared twice")
    KERNELS[kernel.name] = kernel
    return kernel


def signature_of(fn: Callable) -> tuple[tuple[str, ...], dict[str, float | None],
                                        tuple[str, ...]]:
    """``(roles, scalars, flags)`` of a reference function, read from its signature."""
    roles: list[str] = []
    scalars: dict[str, float | None] = {}
    flags: list[str] = []
    for p in inspect.signature(fn).parameters.values():
        if p.kind is p.POSITIONAL_OR_KEYWORD:
            if p.default is not p.empty and p.default is not None:
                raise TypeError(f"{fn.__name__}: buffer {p.name} may default to None only")
            roles.append(p.name)
        elif p.kind is p.KEYWORD_ONLY:
            if p.default is False:
                flags.append(p.name)
            elif p.default is p.empty:
                scalars[p.name] = None
            elif isinstance(p.default, (int, float)) and not isinstance(p.default, bool):
                scalars[p.name] = p.default
            else:
                raise TypeError(f"{fn.__name__}: keyword {p.name} must default to a real "
                                f"number (a scalar) or to False (a flag), or have no default")
        else:
            raise TypeError(f"{fn.__name__}: {p.name} is neither a buffer (positional) nor "
                            f"a scalar or flag (keyword-only)")
    return tuple(roles), scalars, tuple(flags)


def _needed_from(name: str, roles: tuple[str, ...], optional: set[str],
                 needed: Mapping[str, Callable[[Mapping[str, Any]], Any]] | None):
    """The Kernel's ``needed`` from one predicate per optional role (the roles that default
    to None in the signature, and only those)."""
    given = set(needed or ())
    if given != optional:
        raise TypeError(f"{name}: needed= must name exactly the buffers that default to None "
                        f"({sorted(optional)}), got {sorted(given)}")
    if not needed:
        return None
    predicates = tuple(needed.get(role) for role in roles)

    def needed_roles(scalars: Mapping[str, Any]) -> tuple[bool, ...]:
        return tuple(True if p is None else bool(p(scalars)) for p in predicates)

    return needed_roles


def kernel(*, needed: Mapping[str, Callable[[Mapping[str, Any]], Any]] | None = None,
           read_only: tuple[str, ...] = ("grad",), sizes: Mapping[str, str] | None = None,
           step_formulas: Mapping[str, tuple[str, int]] | None = None):
    """Declare the kernel a reference function specifies, and return the function with its
    arguments checked as every backend checks them (the unchecked one is ``.math``).

    Roles, scalars (with defaults) and flags come from the signature (see the module
    docstring). ``needed`` maps each optional buffer (default None) to a predicate of the
    call's scalars and flags saying whether the call needs it; ``read_only``, ``sizes`` and
    ``step_formulas`` are the :class:`Kernel` fields of those names.

    Example (how ``reference/adagrad.py`` declares Adagrad)::

        @kernel()
        def adagrad(param, grad, state_sum, *, clr, eps, weight_decay=0.0,
                    maximize=False) -> None: ...
    """

    def declare_and_check(math_fn: Callable) -> Callable:
        roles, scalars, flags = signature_of(math_fn)
        optional = {p.name for p in inspect.signature(math_fn).parameters.values()
                    if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is None}
        for role in (*read_only, *(sizes or ())):
            if role not in roles:
                raise TypeError(f"{math_fn.__name__}: no buffer {role!r}")
        for scalar, (beta, code) in (step_formulas or {}).items():
            if scalar not in scalars or beta not in scalars or code not in (1, 2):
                raise TypeError(f"{math_fn.__name__}: bad step formula {scalar!r}")
        declare(Kernel(
            math_fn.__name__, roles, scalars, flags,
            needed=_needed_from(math_fn.__name__, roles, optional, needed),
            read_only=tuple(read_only), sizes=dict(sizes or {}), public=True,
            step_formulas=None if step_formulas is None else dict(step_formulas)))
        from fastgd.reference._checks import checked  # _checks imports this module

        return checked(math_fn)

    return declare_and_check


# The benchmarks' streaming limit (C only: src/optim/stream.h; no reference function).
declare(Kernel("stream", ("param", "grad", "m", "v"), {}, public=False))


def seal() -> None:
    """Fill the views of :data:`KERNELS`; called once by :mod:`fastgd.reference` after
    importing every rule."""
    for views in (ROLES, SCALARS, REQUIRED, FLAGS, STEP_FORMULAS):
        views.clear()
    for k, d in KERNELS.items():
        ROLES[k] = d.roles
        SCALARS[k] = tuple(d.scalars)
        REQUIRED[k] = d.required
        FLAGS[k] = d.flags
        if d.step_formulas is not None:
            STEP_FORMULAS[k] = dict(d.step_formulas)
