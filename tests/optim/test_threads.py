"""Optimizers in threads: the kernels release the GIL (the compiled core runs them in
``with nogil``, the Numba ones are compiled ``nogil=True``), so separate optimizers can step
at the same time in separate Python threads; each must give the bits of a serial run. On
the active backend (FASTGD_BACKEND; CI runs the suite once per backend).

One optimizer shared between threads is not thread-safe (README, "What is validated"):
the test below shows the documented use, a lock around ``step``.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from _problems import _OPTIONS
from parity.optim_db import OPTIM_DB

import fastgd
from fastgd import backends
from fastgd.optim.registry import GRADIENT_STEP

#: Large enough for the compiled core to split the buffers across OpenMP threads.
BIG = 1 << 16
SHAPES = [(BIG,), (37, 5), (), (0,)]
STEPS = 6


def _job(name, seed, dtype):
    """A fresh problem: parameters, the option set and the gradients of every step."""
    rng = np.random.default_rng(seed)
    params = [np.asarray(rng.standard_normal(s), dtype=dtype) for s in SHAPES]
    grads = [[np.asarray(rng.standard_normal(s), dtype=dtype) for s in SHAPES]
             for _ in range(STEPS)]
    options = dict(max(OPTIM_DB[name], key=len))
    return params, options, grads


def _run(name, params, options, grads, start=None):
    opt = getattr(fastgd, name)(params, **options)
    if start is not None:
        start.wait()
    for step, g in enumerate(grads):
        opt.step(g, nonfinite="skip" if step % 2 else None)
        if hasattr(opt, "update_hessian") and step == 2:
            opt.update_hessian([np.abs(x) for x in g])
    return opt.state_dict()


def _state_bytes(sd):
    return sorted((i, sorted((k, v.tobytes() if isinstance(v, np.ndarray) else repr(v))
                             for k, v in s.items())) for i, s in sd["state"].items())


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_separate_optimizers_in_threads_give_the_serial_bits(dtype):
    names = list(GRADIENT_STEP)
    jobs = [(name, seed) for seed, name in enumerate(names)]
    serial = {}
    for name, seed in jobs:
        params, options, grads = _job(name, seed, dtype)
        sd = _run(name, params, options, grads)
        serial[name] = ([p.tobytes() for p in params], _state_bytes(sd))

    # every optimizer in its own thread, all started together, twice over
    for _ in range(2):
        start = threading.Barrier(len(jobs))
        results, errors = {}, []

        def work(name, seed, start=start, results=results, errors=errors):
            try:
                params, options, grads = _job(name, seed, dtype)
                sd = _run(name, params, options, grads, start)
                results[name] = ([p.tobytes() for p in params], _state_bytes(sd))
            except BaseException as exc:  # reported below, not lost in the thread
                errors.append((name, exc))
                start.abort()

        threads = [threading.Thread(target=work, args=job) for job in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        for name in names:
            assert results[name][0] == serial[name][0], f"{name}: parameters differ"
            assert results[name][1] == serial[name][1], f"{name}: state differs"


def test_the_scan_and_clipping_in_threads_give_the_serial_results():
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(BIG) for _ in range(8)]
    for k in (2, 5):
        arrays[k][k * 1000] = np.inf
    serial_scan = [backends.active().first_nonfinite(arrays[k:]) for k in range(8)]
    clipped = [a.copy() for a in arrays]
    serial_norms = [fastgd.clip_grad_norm_([c], 1.0) for c in clipped[:2]]
    out, norms = {}, {}
    copies = [a.copy() for a in arrays[:2]]

    def scan(k):
        out[k] = backends.active().first_nonfinite(arrays[k:])

    def clip(k):
        norms[k] = fastgd.clip_grad_norm_([copies[k]], 1.0)

    threads = [threading.Thread(target=scan, args=(k,)) for k in range(8)]
    threads += [threading.Thread(target=clip, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [out[k] for k in range(8)] == serial_scan
    assert [norms[k] for k in range(2)] == serial_norms
    for a, b in zip(copies, clipped[:2]):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("name", ["SGD", "Adam", "Lion", "AdamWScheduleFree"])
def test_a_shared_optimizer_behind_a_lock_gives_the_serial_bits(name):
    # The documented way to share one optimizer: a lock around step(). Every thread
    # passes the same gradients, so the order of the steps does not change the result.
    rng = np.random.default_rng(9)
    start = rng.standard_normal(BIG)
    grads = [rng.standard_normal(BIG)]
    serial = start.copy()
    opt = getattr(fastgd, name)([serial], lr=1e-3)
    for _ in range(4 * 5):
        opt.step(grads)
    shared = start.copy()
    opt = getattr(fastgd, name)([shared], lr=1e-3)
    lock = threading.Lock()

    def work():
        for _ in range(5):
            with lock:
                opt.step(grads)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert shared.tobytes() == serial.tobytes()


@pytest.mark.parametrize("name", ["LAMB", "LARS"])
def test_norms_do_not_depend_on_the_thread_count(name):
    # a buffer above the threading threshold, stepped with 1, 2 and 3 threads, and by the
    # NumPy reference
    if fastgd.backend() != "cython":
        pytest.skip("only the compiled core runs on several threads")
    core = backends.load("cython")
    before = core.thread_override()
    rng = np.random.default_rng(4)
    p0 = rng.standard_normal((1 << 16) + 5).astype(np.float32)
    g = rng.standard_normal(p0.size).astype(np.float32)
    results = []
    try:
        for n in (1, 2, 3):
            fastgd.set_num_threads(n)
            p = p0.copy()
            getattr(fastgd, name)([p], **_OPTIONS[name]).step([g])
            results.append(p)
    finally:
        core.set_num_threads(before)
    expected = p0.copy()
    with fastgd.use_backend("numpy"):
        getattr(fastgd, name)([expected], **_OPTIONS[name]).step([g])
    for p in results:
        np.testing.assert_array_equal(p, expected)
