"""Rprop (torch.optim.Rprop): the NumPy spec and its declaration."""

from __future__ import annotations

import numpy as np

from fastgd.reference._common import torch_sign
from fastgd.reference._declare import kernel


@kernel(read_only=("grad",), step_formulas={})
def rprop(param, grad, prev, step_size, *, etaminus, etaplus, step_size_min, step_size_max,
          maximize=False) -> None:
    r"""Resilient backpropagation, as ``torch.optim.Rprop`` (its for-loop path).

    .. math::
        f &= \begin{cases} \eta_+ & g\,g_{prev} > 0 \\ \eta_- & g\,g_{prev} < 0 \\
             1 & \text{otherwise} \end{cases} \\
        s &\leftarrow \operatorname{clamp}(s f,\ \Gamma_{min},\ \Gamma_{max}) \\
        g &\leftarrow 0 \ \text{where } f = \eta_- \\
        p &\leftarrow p - \operatorname{sign}(g)\, s, \qquad g_{prev} \leftarrow g

    ``step_size`` starts at lr (the optimizer fills it); ``prev`` at zero. As in torch:
    the sign is torch's, so a NaN product or gradient counts as 0 (the parameter keeps
    its value and the step size does not change, unlike ``numpy.sign``); ``f`` is made by
    torch's three masked assignments in order (``> 0``, then ``< 0``, then ``== 0``), and
    the gradient is zeroed wherever ``f`` equals ``etaminus`` rounded to the dtype; the
    clamp propagates a NaN step size and gives ``step_size_max`` when ``step_size_min``
    exceeds it (a NaN ``step_size_max``, which the optimizer refuses, is ignored here).

    Example::

        p = np.array([1.0, -2.0, 0.5])
        g = np.array([0.5, 0.5, -1.0])
        prev = np.zeros(3)
        step_size = np.full(3, 0.01)
        fastgd.reference.rprop(p, g, prev, step_size, etaminus=0.5, etaplus=1.2,
                               step_size_min=1e-6, step_size_max=50.0)
    """
    T = param.dtype.type
    em, ep = T(etaminus), T(etaplus)
    g = -grad if maximize else grad
    f = torch_sign(g * prev)
    f = np.where(f > 0, ep, f)
    f = np.where(f < 0, em, f)
    f = np.where(f == 0, T(1), f)
    step_size *= f
    np.maximum(step_size, T(step_size_min), out=step_size)
    step_size[...] = np.where(step_size >= T(step_size_max), T(step_size_max), step_size)
    g = np.where(f == em, T(0), g)
    param += (T(-1) * torch_sign(g)) * step_size
    prev[...] = g
