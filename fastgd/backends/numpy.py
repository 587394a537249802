"""The ``numpy`` backend: the reference kernels of :mod:`fastgd.reference`, tensor by tensor."""

from __future__ import annotations

import numpy as np

from fastgd import reference
from fastgd.backends._many import entry
from fastgd.reference import lowp
from fastgd.reference._checks import real, scanned_arrays, shaped_like_param
from fastgd.reference._declare import KERNELS
from fastgd.reference.lbfgs import check_two_loop, check_vector
from fastgd.reference.lowbit import lowbit_step as lowbit_step
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


# L-BFGS's vector operations: the reference functions, after the checks every backend makes.

def lbfgs_dot(x, y) -> float:
    """:func:`fastgd.reference.lbfgs.lbfgs_dot`, checked."""
    check_vector("lbfgs_dot", "x", x)
    return reference.lbfgs.lbfgs_dot(x, check_vector("lbfgs_dot", "y", y, x))


def lbfgs_axpy(y, alpha, x) -> None:
    """:func:`fastgd.reference.lbfgs.lbfgs_axpy`, checked."""
    a = real("lbfgs_axpy: alpha", alpha)
    check_vector("lbfgs_axpy", "y", y, write=True)
    reference.lbfgs.lbfgs_axpy(y, a, check_vector("lbfgs_axpy", "x", x, y))


def lbfgs_abs_max(x) -> float:
    """:func:`fastgd.reference.lbfgs.lbfgs_abs_max`, checked."""
    return reference.lbfgs.lbfgs_abs_max(check_vector("lbfgs_abs_max", "x", x))


def lbfgs_abs_sum(x) -> float:
    """:func:`fastgd.reference.lbfgs.lbfgs_abs_sum`, checked."""
    return reference.lbfgs.lbfgs_abs_sum(check_vector("lbfgs_abs_sum", "x", x))


def lbfgs_memory(y, s, g, g_prev, d, t) -> tuple[float, float]:
    """:func:`fastgd.reference.lbfgs.lbfgs_memory`, checked."""
    tt = real("lbfgs_memory: t", t)
    check_vector("lbfgs_memory", "g", g)
    for name, a, write in (("g_prev", g_prev, False), ("d", d, False), ("y", y, True),
                           ("s", s, True)):
        check_vector("lbfgs_memory", name, a, g, write)
    return reference.lbfgs.lbfgs_memory(y, s, g, g_prev, d, tt)


def lbfgs_two_loop(d, g, old_dirs, old_stps, ro, h_diag, al) -> None:
    """:func:`fastgd.reference.lbfgs.lbfgs_two_loop`, checked."""
    h, rho = check_two_loop(d, g, old_dirs, old_stps, ro, h_diag, al)
    reference.lbfgs.lbfgs_two_loop(d, g, old_dirs, old_stps, rho, h, al)


def lowp_widen(src, out) -> None:
    """:func:`fastgd.reference.lowp.widen`, checked."""
    lowp.check_conversion("widen", src, out)
    lowp.widen(src, out)


def lowp_narrow(src, out, key=-1) -> None:
    """:func:`fastgd.reference.lowp.narrow`, checked."""
    lowp.check_conversion("narrow", src, out, key)
    lowp.narrow(src, out, int(key))
