"""Memory overlap between the arrays of a step: which gradients share memory with an array
the step writes (a parameter or its state), found cheaply in the usual case where every
array owns its memory or views one NumPy array.
"""

from __future__ import annotations

import bisect
import itertools

import numpy as np

__all__ = ["byte_bounds", "overlapping_by_bounds", "unalias"]


def _owner_key(a: np.ndarray) -> int | None:
    """An id shared by every array over the same NumPy-owned memory, or None when NumPy
    does not own it (or ``a`` is a view of a view NumPy could not collapse)."""
    base = a.base
    if base is None:
        return id(a)
    if type(base) is np.ndarray and base.base is None:
        return id(base)
    return None


byte_bounds = np.lib.array_utils.byte_bounds


def _owners_apart(grads: list, written: list) -> bool:
    """True in the usual case, decided quickly: every gradient owns its memory, every
    written array is the NumPy array owning its memory or a view of one, and no written
    array is a gradient or a view of one. False means "look closer", not "overlap"."""
    owners = set()
    for g in grads:
        if g.base is not None:
            return False
        owners.add(id(g))
    for w in written:
        base = w.base
        if base is None:
            if id(w) in owners:
                return False
        elif type(base) is not np.ndarray or base.base is not None or id(base) in owners:
            return False
    return True


def overlapping_by_bounds(grads: list, written: list) -> set[int]:
    """Indices of the ``grads`` whose byte range meets that of any ``written`` array."""
    bounds = byte_bounds
    spans = sorted(bounds(w) for w in written if w.size)
    starts = [lo for lo, _ in spans]
    ends_so_far = list(itertools.accumulate((hi for _, hi in spans), max))
    overlapping = set()
    for k, g in enumerate(grads):
        if not g.size:
            continue
        lo, hi = bounds(g)
        j = bisect.bisect_left(starts, hi)  # spans starting before g ends
        if j and ends_so_far[j - 1] > lo:   # ... one of which ends after g starts
            overlapping.add(k)
    return overlapping


def unalias(state: dict, work: list) -> None:
    """Copy every gradient that shares memory with an array the step writes (any
    parameter that gets a gradient, or its state), so that the kernels, which read the
    gradients while they write, see the gradients as passed.

    Fast path: when every array involved is either the NumPy array that owns its
    memory or a view of one, two arrays can overlap only if they have the same owner,
    so only those pairs are compared (usually none: gradients are fresh arrays).
    Otherwise (memory NumPy does not own: np.frombuffer, memmap, other libraries'
    buffers) the byte ranges of all the arrays are sorted and swept.
    """
    grads = [g for *_, items in work for _, _, g in items]
    written = [p for *_, items in work for _, p, _ in items]
    for *_, items in work:
        for index, _, _ in items:
            entries = state.get(index)
            if entries:
                written += [v for v in entries.values() if isinstance(v, np.ndarray)]
    if _owners_apart(grads, written):
        return
    grad_keys = list(map(_owner_key, grads))
    written_keys = list(map(_owner_key, written))
    if None in grad_keys or None in written_keys:
        overlapping = overlapping_by_bounds(grads, written)
    else:
        shared = set(grad_keys).intersection(written_keys)
        if not shared:  # the usual case: no gradient shares an owner with a write
            return
        by_owner: dict[int | None, list] = {}
        for w, key in zip(written, written_keys):
            if key in shared:
                by_owner.setdefault(key, []).append(w)
        overlapping = {k for k, (g, key) in enumerate(zip(grads, grad_keys))
                       if g.size and any(np.may_share_memory(g, w)
                                         for w in by_owner.get(key, ()))}
    if not overlapping:
        return
    k = 0
    for *_, items in work:
        for j, (index, p, g) in enumerate(items):
            if k in overlapping:
                items[j] = (index, p, g.copy())
            k += 1
