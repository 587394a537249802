"""From the user's data to persisted blocks, and the two ways of running the block
functions: on a ``dask.distributed`` cluster (futures of persisted blocks, one
``client.map`` + ``client.gather`` per evaluation) or in this process (the blocks computed
once with Dask's current scheduler -- synchronous, threads -- or slices of NumPy arrays).
Both give the same bits: the block functions are pure and their results are folded in
block order by the caller."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fastgd.dask import _blocks

__all__ = ["as_blocks", "Blocks"]


def _is_dask(a: Any) -> bool:
    return hasattr(a, "dask") and hasattr(a, "__dask_graph__")


def _to_array(name: str, a: Any):
    """A dask array from a dask array, dataframe or series (row lengths computed for
    dataframes, which do not know them)."""
    if hasattr(a, "to_dask_array"):
        return a.to_dask_array(lengths=True)
    if not hasattr(a, "chunks"):
        raise TypeError(f"{name} must be a dask array or dataframe (or a NumPy array), got "
                        f"{type(a).__name__}")
    return a


def _check_chunks(name: str, a: Any) -> None:
    rows = a.chunks[0]
    if any(isinstance(c, float) and math.isnan(c) for c in rows):
        raise ValueError(f"{name} has unknown chunk sizes {rows}: call "
                         f"{name}.compute_chunk_sizes() first (or, for a dataframe, "
                         f"to_dask_array(lengths=True))")


def default_client(client: Any) -> Any:
    """``client``, or the current ``dask.distributed`` client, or None (run here)."""
    if client is not None:
        return client
    try:
        from distributed import default_client as _default
    except ImportError:
        return None
    try:
        return _default()
    except ValueError:
        return None


def as_blocks(X: Any, y: Any, sample_weight: Any, *, target: str, classes: Any,
              client: Any, block_rows: int | None) -> Blocks:
    """Validate (X, y, sample_weight) and make the blocks (persisted on the cluster, or
    here). Raises a ValueError/TypeError naming the problem before anything else runs."""
    if not _is_dask(X):
        if _is_dask(y) or _is_dask(sample_weight):
            raise TypeError("X is a NumPy array but y or sample_weight is a dask collection: "
                            "pass all of them as dask collections or all as arrays")
        return _numpy_blocks(X, y, sample_weight, target, classes, block_rows)
    if block_rows is not None:
        raise ValueError("block_rows is for NumPy input; a dask array's blocks are its "
                         "row chunks (rechunk it to change them)")
    Xa = _to_array("X", X)
    if Xa.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {Xa.shape}")
    _check_chunks("X", Xa)
    if len(Xa.chunks[1]) > 1:
        Xa = Xa.rechunk({1: -1})
    if not _is_dask(y):
        raise TypeError(f"y must be a dask array or series like X, got {type(y).__name__}")
    ya = _to_array("y", y)
    _check_chunks("y", ya)
    if ya.ndim == 2 and ya.shape[1] == 1 and len(ya.chunks[1]) == 1:
        ya = ya[:, 0]
    if ya.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {ya.shape}")
    if ya.chunks[0] != Xa.chunks[0]:
        raise ValueError(f"X and y must have the same row chunks, got X's {Xa.chunks[0]} "
                         f"and y's {ya.chunks[0]}: rechunk one like the other, e.g. "
                         f"y = y.rechunk({{0: X.chunks[0]}})")
    wa = None
    if sample_weight is not None:
        if not _is_dask(sample_weight):
            raise TypeError(f"sample_weight must be a dask array or series like X, got "
                            f"{type(sample_weight).__name__}")
        wa = _to_array("sample_weight", sample_weight)
        _check_chunks("sample_weight", wa)
        if wa.ndim != 1 or wa.chunks[0] != Xa.chunks[0]:
            raise ValueError(f"sample_weight must be 1-D with X's row chunks "
                             f"{Xa.chunks[0]}, got shape {wa.shape}, chunks {wa.chunks}")
    dtype = np.float32 if Xa.dtype == np.float32 else np.float64
    from dask import delayed
    xs = Xa.to_delayed().ravel()
    ys = ya.to_delayed().ravel()
    ws = [None] * len(xs) if wa is None else list(wa.to_delayed().ravel())
    make = delayed(_blocks.make_block, pure=True)
    parts = [make(xb, yb, wb, target, classes, dtype) for xb, yb, wb in zip(xs, ys, ws)]
    client = default_client(client)
    if client is None:
        import dask
        return Blocks(list(dask.compute(*parts)), None, Xa.chunks[0], dtype)
    futures = client.compute(parts)
    return Blocks(futures, client, Xa.chunks[0], dtype)


def _numpy_blocks(X, y, w, target, classes, block_rows) -> Blocks:
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {X.shape}")
    if y.shape[:1] != X.shape[:1]:
        raise ValueError(f"y must have X's {X.shape[0]} rows, got shape {y.shape}")
    if w is not None:
        w = np.asarray(w)
        if w.shape != (X.shape[0],):
            raise ValueError(f"sample_weight must have shape ({X.shape[0]},), got {w.shape}")
    n = X.shape[0]
    if block_rows is None:
        block_rows = max(n, 1)
    if isinstance(block_rows, bool) or not isinstance(block_rows, (int, np.integer)) \
            or block_rows < 1:
        raise ValueError(f"block_rows must be an int >= 1 or None, got {block_rows!r}")
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    starts = list(range(0, n, int(block_rows))) or [0]
    blocks = [_blocks.make_block(X[s:s + block_rows], y[s:s + block_rows],
                                 None if w is None else w[s:s + block_rows], target, classes,
                                 dtype) for s in starts]
    chunks = tuple(b.X.shape[0] for b in blocks)
    return Blocks(blocks, None, chunks, dtype)


def run_group(fn: Any, blocks: list, args: tuple, seeds: list | None) -> list:
    """``fn`` on each block of a group, in order (one task's work on a worker)."""
    if seeds is None:
        return [fn(b, *args) for b in blocks]
    return [fn(b, *args, s) for b, s in zip(blocks, seeds)]


class Blocks:
    """The blocks of a fit, in row order: on a cluster (``client`` set: ``parts`` are
    futures of persisted :class:`fastgd.dask._blocks.Block` objects) or here (``parts``
    are the blocks). ``round_trips`` counts the times the driver waited for results."""

    def __init__(self, parts: list, client: Any, chunks: tuple, dtype: Any) -> None:
        self.parts = parts
        self.client = client
        self.chunks = tuple(int(c) for c in chunks)
        self.dtype = np.dtype(dtype)
        self.round_trips = 0
        self.groups: list[list[int]] = []

    def __len__(self) -> int:
        return len(self.parts)

    def _gather(self, futures: Any) -> Any:
        self.round_trips += 1
        return self.client.gather(futures)

    def _small(self, value: Any) -> Any:
        """A large argument goes to the workers once (scattered), a small one inline."""
        nbytes = sum(getattr(v, "nbytes", 0) for v in value) if isinstance(value, list) \
            else getattr(value, "nbytes", 0)
        if self.client is not None and nbytes > 1_000_000:
            return self.client.scatter(value, broadcast=True)
        return value

    def map(self, fn: Any, *args: Any, seeds: list | None = None) -> list:
        """``[fn(block, *args) for block in blocks]`` (``fn(block, *args, seed)`` with
        ``seeds``), in block order. On a cluster: one task per group of blocks (the blocks
        a worker held when they were checked; the scheduler runs each task where its
        blocks are, wherever they are by then) and one round trip."""
        if self.client is None:
            self.round_trips += 1
            return run_group(fn, self.parts, args, seeds)
        args = tuple(self._small(a) for a in args)
        groups = self.groups or [list(range(len(self.parts)))]
        n = len(groups)
        futures = self.client.map(  # one task graph for all the groups
            run_group, [fn] * n, [[self.parts[b] for b in g] for g in groups], [args] * n,
            [None if seeds is None else [seeds[b] for b in g] for g in groups], pure=False)
        out: list = [None] * len(self.parts)
        for g, res in zip(groups, self._gather(futures)):
            for b, r in zip(g, res):
                out[b] = r
        return out

    def chain(self, fn: Any, state: Any, order: list, spec: Any, seeds: list) -> Any:
        """``state = fn(state, blocks[b], spec, seed)`` for b in ``order``: on a cluster
        one chain of tasks, each running where its block lives, and one round trip."""
        if self.client is None:
            self.round_trips += 1
            for b, s in zip(order, seeds):
                state = fn(state, self.parts[b], spec, s)
            return state
        spec = self._small(spec)
        fut = state
        for b, s in zip(order, seeds):
            fut = self.client.submit(fn, fut, self.parts[b], spec, s, pure=False)
        return self._gather(fut)

    def derive(self, fn: Any, *args: Any, seeds: list) -> Blocks:
        """The blocks ``fn(block, *args, seed)``, made where each block lives (on a
        cluster: one task per block, kept there as the new blocks; this object's
        blocks are released when it is)."""
        if self.client is None:
            parts = [fn(b, *args, s) for b, s in zip(self.parts, seeds)]
        else:
            n = len(self.parts)
            parts = self.client.map(fn, self.parts, *[[a] * n for a in args], seeds,
                                    pure=False)
        return Blocks(parts, self.client, self.chunks, self.dtype)

    def info(self) -> list:
        """Each block's (rows, n_features, weight, problem, largest label); on a cluster,
        waits for the blocks and groups them by the worker holding them."""
        if self.client is None:
            return self.map(_blocks.block_info)
        futures = self.client.map(_blocks.block_info, self.parts, pure=False)
        infos = self._gather(futures)
        where = self.client.who_has(self.parts)
        by_worker: dict = {}
        for b, f in enumerate(self.parts):
            holders = sorted(where.get(f.key, ())) or [""]
            by_worker.setdefault(holders[0], []).append(b)
        self.groups = [by_worker[w] for w in sorted(by_worker)]
        return infos
