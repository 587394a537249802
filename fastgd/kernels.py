"""Functional kernels on the active backend.

Each function has the signature and the in-place effect of its twin in
:mod:`fastgd.reference` (where the update rule is written out): buffers are C-contiguous
float32 or float64 arrays of one dtype and equal size (any shape; they are treated as flat),
updated in place; scalars are Python numbers; the return value is None. Every buffer is
checked before anything is written.

Example::

    import numpy as np, fastgd
    p = np.ones(3); g = np.full(3, 0.5); m = np.zeros(3); v = np.zeros(3)
    bc1, bc2_sqrt = fastgd.kernels.bias_corrections(0.9, 0.999, step=1)
    fastgd.kernels.adam(p, g, m, v, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                        bias_correction1=bc1, bias_correction2_sqrt=bc2_sqrt)
"""

from __future__ import annotations

import functools

from fastgd import backends, reference
from fastgd.reference import bias_corrections
from fastgd.reference._checks import prepare_call
from fastgd.reference._declare import KERNELS

__all__ = [name for name, decl in KERNELS.items() if decl.public] + ["bias_corrections"]


def _dispatching(checked_ref):
    """A function with the reference's signature and docs that runs the active backend."""
    kernel = checked_ref.__name__

    @functools.wraps(checked_ref.math)
    def run(*buffers, **scalars):
        buffers, scalars = prepare_call(kernel, buffers, scalars)
        getattr(backends.active(), f"{kernel}_many")(*((b,) for b in buffers), **scalars)

    run.__module__ = __name__
    return run


for _name, _decl in KERNELS.items():
    if _decl.public:
        globals()[_name] = _dispatching(getattr(reference, _name))
del _name, _decl
