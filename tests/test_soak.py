"""Soak tests: many steps through the compiled wrappers without memory growth or leaked
references.

Each test runs on the active backend (``FASTGD_BACKEND`` chooses it; the suite runs once
per backend): 100,000 optimizer steps on the compiled core (50,000 of the training
loop's per-batch work, 25,000 rounds of direct native calls, 1,000 whole fits), fewer on
the Numba and NumPy backends, whose steps are slower. After a warm-up (caches and the
allocator's pools settle), over the steps:

- the number of memory blocks Python has allocated (``sys.getallocatedblocks()``: every
  object, NumPy's array objects included) may grow by at most 1,000 plus one per 100
  steps (CPython's attribute cache and NumPy's caches keep a bounded number of small
  objects alive, settling slowly); a leak of one object per step exceeds it;
- the process's resident memory (``/proc/self/statm``, where it exists; it also sees what
  C code allocates with malloc, such as array data) may not grow by more than
  ``RSS_SLACK``;
- the reference count (``sys.getrefcount``) of every array and list handed to the kernels
  must not change: a wrapper that keeps or drops a reference changes it.

Then ``tracemalloc`` watches a shorter window (it makes every allocation several times
slower): the bytes Python and NumPy allocate (array data included, which NumPy reports to
tracemalloc) and still hold at its end may not grow by more than ``TRACED_SLACK``, counted
per allocation site and outside NumPy's own Python code (NumPy 2.4's
``__array_interface__`` grows one traced block by a few bytes a call while tracemalloc
runs, and not without it).
"""

from __future__ import annotations

import gc
import os
import sys
import tracemalloc
import warnings

import numpy as np
import pytest

import fastgd
from fastgd import backends, models

#: Steps per soak test, warm-up steps and steps watched by tracemalloc, on each backend
#: (the tests run on the active one).
STEPS, WARMUP, TRACED_STEPS = {"cython": (100_000, 3_000, 2_000),
                               "numba": (10_000, 1_000, 500),
                               "numpy": (5_000, 1_000, 500)}[fastgd.backend()]
#: Allowed growth: Python memory blocks per step, resident memory, traced bytes.
BLOCKS_PER_STEP = 0.01
RSS_SLACK = 2 * 1024 * 1024
TRACED_SLACK = 64 * 1024

pytestmark = pytest.mark.skipif(not hasattr(sys, "getallocatedblocks"),
                                reason="needs CPython's sys.getallocatedblocks")


def _rss() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _refcounts(objects):
    return [sys.getrefcount(o) for o in objects]


_NOT_OURS = [tracemalloc.Filter(False, tracemalloc.__file__),
             tracemalloc.Filter(False, "*/numpy/*")]


def _soak(step, steps, watched, warmup=WARMUP, traced_steps=TRACED_STEPS):
    """Run ``step(i)`` ``steps`` times after ``warmup`` steps and assert that neither the
    Python memory blocks, the resident memory nor the reference counts of ``watched()``
    grow; then run ``traced_steps`` more under tracemalloc and assert that the traced
    memory does not grow either."""
    for i in range(warmup):
        step(i)
    gc.collect()
    blocks0, rss0, refs0 = sys.getallocatedblocks(), _rss(), _refcounts(watched())
    for i in range(steps):
        step(i)
    gc.collect()
    blocks, rss, refs = sys.getallocatedblocks(), _rss(), _refcounts(watched())
    assert blocks - blocks0 <= 1_000 + steps * BLOCKS_PER_STEP, (
        f"Python memory blocks grew by {blocks - blocks0} over {steps} steps")
    if rss0 is not None:
        assert rss - rss0 <= RSS_SLACK, (
            f"resident memory grew by {rss - rss0} bytes over {steps} steps")
    assert refs == refs0, "reference counts changed: a compiled wrapper keeps or drops one"

    tracemalloc.start()
    try:
        for i in range(min(warmup, traced_steps)):  # tracemalloc's own tables settle
            step(i)
        gc.collect()
        before = tracemalloc.take_snapshot().filter_traces(_NOT_OURS)
        for i in range(traced_steps):
            step(i)
        gc.collect()
        after = tracemalloc.take_snapshot().filter_traces(_NOT_OURS)
    finally:
        tracemalloc.stop()
    grown = [stat for stat in after.compare_to(before, "lineno") if stat.size_diff > 0]
    total = sum(stat.size_diff for stat in grown)
    assert total <= TRACED_SLACK, (
        f"traced memory grew by {total} bytes over {traced_steps} steps; most at: "
        + "; ".join(str(stat) for stat in grown[:3]))


def test_optimizer_steps_do_not_grow_memory():
    """Adam (AMSGrad: three state buffers) on arrays of two dtypes and several shapes, in
    two groups (several native calls per step); one parameter skips every third step."""
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(s).astype(t) for s, t in
              [((8, 4), np.float32), ((4,), np.float32), ((3, 3, 2), np.float64),
               ((5,), np.float64)]]
    grads = [1e-3 * rng.standard_normal(p.shape).astype(p.dtype) for p in params]
    skipping = list(grads)
    skipping[1] = None
    opt = fastgd.Adam([{"params": params[:2]}, {"params": params[2:], "lr": 1e-5}],
                      lr=1e-4, amsgrad=True)

    calls = [0]

    def step(i):
        opt.step(skipping if i % 3 == 2 else grads)
        calls[0] += 1

    def watched():
        # the cached step (compiled backend) holds a reference to each parameter and state
        # array while it exists; with one step in three missing a gradient it comes and
        # goes, so it is dropped (and made again by the next steps) before counting
        opt._fast = None
        state = [a for s in opt.state.values() for a in s.values()
                 if isinstance(a, np.ndarray)]
        assert len(state) == 12
        return params + grads + state + [grads, skipping, opt]

    step(0)
    _soak(step, STEPS, watched)
    assert all(np.isfinite(p).all() for p in params)
    assert calls[0] >= WARMUP + STEPS and opt.state[0]["step"] == calls[0]


def test_the_native_calls_keep_no_references():
    """The backend's entry points called directly: a ``*_many`` kernel over lists, the
    functional kernel, the loss kernel and the clipping kernels."""
    core = backends.active()
    rng = np.random.default_rng(1)
    p, g, m, v = (rng.standard_normal(64) for _ in range(4))
    v = np.abs(v)
    ps, gs, ms, vs = [p], [g], [m], [v]
    X = rng.standard_normal((32, 4))
    y = rng.standard_normal(32)
    coef, intercept = np.zeros(4), np.zeros(1)
    gc_, gi = np.empty(4), np.empty(1)
    rows = np.arange(0, 32, 2, dtype=np.int64)
    scalars = dict(lr=1e-6, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                   bias_correction1=0.5, bias_correction2_sqrt=0.5, amsgrad=False,
                   decoupled_weight_decay=False, maximize=False)

    def step(i):
        core.adam_many(ps, gs, ms, vs, None, **scalars)
        fastgd.kernels.adam(p, g, m, v, **scalars)
        models.loss_grad("huber", X, y, coef, intercept, rows=rows, grad_coef=gc_,
                         grad_intercept=gi, penalty="elasticnet", alpha=1e-3)
        fastgd.clip_grad_norm_([gc_, gi], 1.0)
        fastgd.clip_grad_value_([gc_, gi], 0.5)

    def watched():
        return [p, g, m, v, ps, gs, ms, vs, X, y, coef, intercept, gc_, gi, rows]

    _soak(step, STEPS // 4, watched)


def test_the_training_loop_per_batch_path_does_not_grow_memory():
    """fit's per-batch work, as written out in fastgd.models.training: the loss and gradient of
    a batch into reused buffers, the optimizer's step, the per-step schedule."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((64, 5))
    y = (X @ rng.standard_normal(5) > 0).astype(np.float64)
    coef, intercept = np.zeros(5), np.zeros(1)
    gcoef, gint = np.empty_like(coef), np.empty_like(intercept)
    grads = [gcoef, gint]
    batches = [np.arange(k, 64, 8, dtype=np.int64) for k in range(8)]
    opt = fastgd.SGD([coef, intercept], lr=0.05, momentum=0.9)
    sched = fastgd.lr_scheduler.InvScalingLR(opt, power_t=0.25)

    def step(i):
        models.loss_grad("log_loss", X, y, coef, intercept, rows=batches[i % 8],
                         grad_coef=gcoef, grad_intercept=gint, penalty="l2", alpha=1e-4)
        opt.step(grads)
        sched.step()

    def watched():
        return [X, y, coef, intercept, gcoef, gint, grads, opt.state[0]["momentum_buffer"],
                opt.state[1]["momentum_buffer"], *batches]

    step(0)
    _soak(step, STEPS // 2, watched)
    assert np.isfinite(coef).all()


def test_repeated_fits_do_not_grow_memory():
    """Whole fits (on the compiled core: the fused native epochs) started again and again
    on the same model (a warm start each time)."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((48, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1
    model = fastgd.LinearRegression()
    model.fit(X, y, optimizer="adam", lr=1e-3, batch_size=8, epochs=1, random_state=0)
    coef = model.coef_

    def step(i):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y, optimizer="adam", lr=1e-3, batch_size=8, epochs=1,
                      random_state=i)

    _soak(step, STEPS // 100, lambda: [X, y, coef], warmup=30, traced_steps=30)
    assert model.coef_ is coef
