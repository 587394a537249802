"""The ``numba`` backend's low-bit step: src/optim/lowbit.h's fused pass over the blocks,
operation for operation, with the 32-bit Adam and Lion loops of :mod:`.numba_optim_loops`
run on a block-sized scratch (fastgd.reference.lowbit.lowbit_step is the specification).

Numba's on-disk cache keys this file's functions on this file only: a change to the Adam or
Lion loop of :mod:`.numba_optim_loops` leaves a stale cached ``_step`` until this file
changes too (or the cache is cleared); the bit-for-bit tests against the numpy backend
catch such a mismatch."""

from __future__ import annotations

import numpy as np
from numba import njit

from fastgd.backends import numba_optim_loops as loops
from fastgd.reference.lowbit import check_lowbit, fast_tables

_jit = njit(cache=True, nogil=True, fastmath=False, error_model="numpy")


@_jit
def _load(bits, codes, lo, length, table, scale, s):
    if bits == 8:
        for i in range(length):
            s[i] = table[codes[lo + i]] * scale
    else:
        base = lo // 2
        for i in range(length):
            byte = np.int64(codes[base + i // 2])
            c = (byte >> 4) if i % 2 == 0 else (byte & 15)
            s[i] = table[c] * scale


@_jit
def _absmax(s, length):
    m = np.float32(0.0)
    for i in range(length):
        a = abs(s[i])
        if a != a:
            return np.float32(np.nan)
        if a > m:
            m = a
    return m


@_jit
def _code(x, lut, threshold):
    u = np.array([x], dtype=np.float32).view(np.uint32)[0]
    c = np.int64(lut[u >> 16])
    if x >= threshold[c + 1]:
        c += 1
    return c


@_jit
def _store(bits, codes, lo, length, lut, threshold, zero, scale, s):
    for i in range(length):
        c = np.int64(zero) if scale == 0 else _code(s[i] / scale, lut, threshold)
        if bits == 8:
            codes[lo + i] = c
        else:
            j = lo // 2 + i // 2
            if i % 2 == 0:
                codes[j] = c << 4
            else:
                codes[j] = np.int64(codes[j]) | c


@_jit
def _step(rule, bits, block, p, g, c0, a0, t0, l0, h0, z0, c1, a1, t1, l1, h1, z1,
          w1, one_minus_w1, b2, one_minus_b2, bc2_sqrt, eps, neg_step_size, wd, decay,
          l2_wd, decoupled_wd, neg_lr, b1, one_minus_b1, use_wd, maximize, one):
    n = p.size
    s0 = np.empty(block, np.float32)
    s1 = np.empty(block, np.float32)
    for b in range((n + block - 1) // block):
        lo = b * block
        length = min(block, n - lo)
        _load(bits, c0, lo, length, t0, a0[b], s0)
        pb = p[lo:lo + length]
        gb = g[lo:lo + length]
        m = s0[:length]
        if rule == 0:
            _load(bits, c1, lo, length, t1, a1[b], s1)
            loops.adam(pb, gb, m, s1[:length], m, w1, one_minus_w1, b2, one_minus_b2,
                       bc2_sqrt, eps, neg_step_size, wd, decay, l2_wd, decoupled_wd,
                       maximize, False)
        else:
            loops.lion(pb, gb, m, neg_lr, b1, one_minus_b1, b2, one_minus_b2, decay, use_wd,
                       maximize, one)
        scale = _absmax(s0, length)
        a0[b] = scale
        _store(bits, c0, lo, length, l0, h0, z0, scale, s0)
        if rule == 0:
            scale = _absmax(s1, length)
            a1[b] = scale
            _store(bits, c1, lo, length, l1, h1, z1, scale, s1)


def lowbit_step(rule, param, grad, states, *, block_size, bits, lr, beta1, beta2, eps=0.0,
                weight_decay=0.0, bias_correction1=1.0, bias_correction2_sqrt=1.0,
                decoupled_weight_decay=False, maximize=False, check_only=False):
    """One low-bit step of a flat float32 tensor (fastgd.reference.lowbit.lowbit_step),
    checked first, then the jitted pass with the scalars rounded to float32 as the C
    kernel rounds them."""
    check_lowbit(rule, param, grad, states, block_size, bits)
    if check_only or param.size == 0:
        return
    T = np.float32
    full = [states[0], states[-1]]
    tabs = [fast_tables(table) for _, _, table in full]
    w1 = T(1.0 - beta1)
    _step(0 if rule == "adam" else 1, bits, block_size, param, grad,
          full[0][0], full[0][1], full[0][2], tabs[0][0], tabs[0][1], tabs[0][2],
          full[1][0], full[1][1], full[1][2], tabs[1][0], tabs[1][1], tabs[1][2],
          w1, T(1) - w1, T(beta2), T(1.0 - beta2), T(bias_correction2_sqrt), T(eps),
          T(-(np.float64(lr) / bias_correction1)), T(weight_decay), T(1.0 - lr * weight_decay),
          weight_decay != 0.0 and not decoupled_weight_decay,
          weight_decay != 0.0 and decoupled_weight_decay, T(-lr), T(beta1), T(1.0 - beta1),
          weight_decay != 0.0, bool(maximize), T(1))
