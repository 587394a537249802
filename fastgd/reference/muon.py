"""Muon (torch.optim.Muon): momentum orthogonalised by a Newton-Schulz iteration, for 2-D
parameters. The NumPy spec: the bfloat16 rounding, the iteration and the step.

Muon is not an element-wise rule: it has no entry in the kernel table, and every backend
runs this module's functions (the matrix products are NumPy's, that is BLAS).
"""

from __future__ import annotations

import math

import numpy as np

from fastgd.reference._common import lerp_

__all__ = ["muon", "newton_schulz", "round_to_bfloat16", "adjusted_lr", "NS_DTYPES"]

#: The element types the Newton-Schulz iteration may run in.
NS_DTYPES = ("bfloat16", "float32")
#: The adjustments of the learning rate to the matrix's shape (None: "original").
ADJUST_LR_FNS = (None, "original", "match_rms_adamw")

_HALF = np.uint32(0x7FFF)
_ONE = np.uint32(1)
_HIGH = np.uint32(0xFFFF0000)
_QUIET = np.uint32(0x00400000)


def round_to_bfloat16(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``x`` (float32) rounded to the nearest bfloat16, ties to even, kept as float32 (the
    low 16 bits zero): torch's conversion. NaN stays NaN (quiet), infinities stay, finite
    values too large for bfloat16 become infinities. ``out`` may be ``x`` itself.

    Example::

        x = np.array([1.0, 1.00390625, 1.01171875, 3e38], dtype=np.float32)
        fastgd.reference.round_to_bfloat16(x)  # 1.0, 1.0 (tie to even), 1.015625, inf
    """
    x = np.asarray(x, dtype=np.float32)
    if out is None:
        out = np.empty_like(x)
    bits = x.view(np.uint32)
    nan = np.isnan(x)
    nan_bits = (bits[nan] & _HIGH) | _QUIET if nan.any() else None
    carry = np.right_shift(bits, 16)
    carry &= _ONE                      # the lowest kept bit: ties go to the even side
    carry += _HALF
    result = out.view(np.uint32)
    np.add(bits, carry, out=result)    # finite values cannot wrap (NaN is set below)
    result &= _HIGH
    if nan_bits is not None:
        result[nan] = nan_bits
    return out


def _frobenius(x: np.ndarray) -> np.float32:
    """The Frobenius norm of ``x``, accumulated in float64 and rounded to float32."""
    flat = x.reshape(-1).astype(np.float64)
    return np.float32(math.sqrt(float(np.dot(flat, flat))))


def newton_schulz(update: np.ndarray, ns_coefficients=(3.4445, -4.775, 2.0315),
                  ns_steps: int = 5, eps: float = 1e-7,
                  ns_dtype: str = "bfloat16") -> np.ndarray:
    r"""The orthogonalised ``update`` (2-D): ``ns_steps`` quintic Newton-Schulz iterations,
    as ``torch.optim._muon._zeropower_via_newtonschulz``. Returns a new float32 array.

    .. math::
        X_0 &= G / \max(\lVert G\rVert_F, \varepsilon) \quad(\text{transposed when } G
              \text{ has more rows than columns}) \\
        A_k &= X_k X_k^\top,\quad B_k = b A_k + c A_k A_k,\quad X_{k+1} = a X_k + B_k X_k

    With ``ns_dtype="bfloat16"`` every value torch holds in bfloat16 is rounded to it
    (:func:`round_to_bfloat16`): ``G``, the norm, ``X_0``, ``A_k``, ``B_k`` and ``X_k``.
    Each product is a float32 matrix product (float32 accumulation, as torch's CPU bfloat16
    products accumulate) and each ``b A + c A A`` or ``a X + B X`` is formed in float32 and
    rounded once, as torch's bfloat16 ``addmm``. The products' summation order is BLAS's,
    so results differ from torch's in the last bfloat16 bit of a few elements.
    ``ns_dtype="float32"`` runs the same iteration in float32 without rounding.

    Example::

        g = np.array([[3.0, 0.0], [0.0, 0.5]])
        fastgd.reference.newton_schulz(g)  # close to the identity (not exactly)
    """
    if ns_dtype not in NS_DTYPES:
        raise ValueError(f"ns_dtype must be one of {NS_DTYPES}, got {ns_dtype!r}")
    if update.ndim != 2:
        raise ValueError("Input tensor gradient must be a 2D matrix")
    if len(ns_coefficients) != 3:
        raise ValueError("Coefficients must be a tuple of exactly 3 values")
    bf16 = ns_dtype == "bfloat16"

    def rounded(x: np.ndarray) -> np.ndarray:
        return round_to_bfloat16(x, out=x) if bf16 else x

    a, b, c = (np.float32(v) for v in ns_coefficients)
    x = np.array(update, dtype=np.float32, order="C")
    rounded(x)
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = np.ascontiguousarray(x.T)
    norm = np.array([_frobenius(x)], dtype=np.float32)
    rounded(norm)
    floor = np.array([eps], dtype=np.float32)
    rounded(floor)
    x /= max(norm[0], floor[0])
    rounded(x)
    for _ in range(int(ns_steps)):
        gram = rounded(x @ x.T)       # symmetric: NumPy's BLAS call is a syrk (half a gemm)
        gram_update = gram @ gram.T   # = gram @ gram, and again a syrk
        gram_update *= c
        gram_update += b * gram
        rounded(gram_update)
        product = gram_update @ x
        x *= a
        x += product
        rounded(x)
    return np.ascontiguousarray(x.T) if tall else x


def adjusted_lr(lr: float, adjust_lr_fn: str | None, shape: tuple[int, ...]) -> float:
    """The learning rate scaled to the matrix's shape ``(A, B)``: ``sqrt(max(1, A/B))``
    (None, ``"original"``) or ``0.2 sqrt(max(A, B))`` (``"match_rms_adamw"``), as torch.

    Example::

        from fastgd.reference.muon import adjusted_lr
        assert adjusted_lr(0.02, None, (4, 1)) == 0.04
    """
    rows, cols = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        ratio = math.sqrt(max(1, rows / cols))
    elif adjust_lr_fn == "match_rms_adamw":
        ratio = 0.2 * math.sqrt(max(rows, cols))
    else:
        ratio = 1.0
    return lr * ratio


def muon(param, grad, momentum_buffer, *, lr, weight_decay=0.1, momentum=0.95,
         nesterov=True, ns_coefficients=(3.4445, -4.775, 2.0315), eps=1e-7, ns_steps=5,
         adjust_lr_fn=None, ns_dtype="bfloat16") -> None:
    r"""One Muon step on a 2-D parameter, as ``torch.optim.Muon``, in place.

    .. math::
        b &\leftarrow b + (1-\mu)(g - b) \\
        u &\leftarrow g + \mu (b - g) \ \text{(nesterov)} \quad\text{or}\quad u \leftarrow b \\
        O &\leftarrow \mathrm{NS}^{(a,b,c)}_{k}(u;\ \varepsilon) \\
        p &\leftarrow p\,(1 - \eta\,\lambda) - \eta'\, O,\quad
            \eta' = \eta\sqrt{\max(1, A/B)} \ \text{or}\ 0.2\,\eta\sqrt{\max(A, B)}

    The momentum buffer ``b`` and the interpolations round as ``torch.lerp``; ``O`` is
    :func:`newton_schulz` (in bfloat16 by default), cast to the parameter's dtype;
    :math:`\eta'` is :func:`adjusted_lr`.

    Example::

        p = np.eye(2)
        buf = np.zeros((2, 2))
        fastgd.reference.muon(p, np.array([[1.0, 0.0], [0.0, -1.0]]), buf, lr=0.02)
    """
    T = param.dtype.type
    lerp_(momentum_buffer, grad, 1 - momentum)
    if nesterov:
        update = grad.copy()
        lerp_(update, momentum_buffer, momentum)
    else:
        update = momentum_buffer
    ortho = newton_schulz(update, ns_coefficients, ns_steps, eps, ns_dtype).astype(
        param.dtype, copy=False)
    step = adjusted_lr(lr, adjust_lr_fn, param.shape)
    param *= T(1 - lr * weight_decay)
    ortho *= T(-step)
    param += ortho
