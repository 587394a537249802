"""bfloat16 and float16 parameters of every element-wise optimizer: each step gives the
bits of "float32 copy, float32 step on the NumPy backend, round once" (to nearest by
ml_dtypes' and NumPy's own conversions; stochastically by the reference rule), with
float32 state; stochastic rounding reproducible by its seed; bad input refused before
anything changes; state dicts and checkpoints resume bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from parity.optim_db import OPTIM_DB

import fastgd
from fastgd import backends
from fastgd.optim.registry import OPTIMIZERS, TABLE_OPTIMIZERS
from fastgd.reference import lowp

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = np.dtype(ml_dtypes.bfloat16)
F16 = np.dtype(np.float16)
SHAPES = [(3, 4), (5,), (2, 3, 2), (0,), ()]
STEPS = 3


def _problem(rng, dtype, grad_dtype=None, steps=STEPS, shapes=SHAPES):
    init = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[(0.3 * rng.standard_normal(s)).astype(grad_dtype or dtype) for s in shapes]
             for _ in range(steps)]
    return init, grads


def _round(a32, a, sr, seed, index, step):
    if sr:
        a.view(np.uint16)[...] = lowp.bfloat16_bits_stochastic(
            a32, lowp.stochastic_key(seed, index, step))
    else:
        with np.errstate(over="ignore"):
            a[...] = a32.astype(a.dtype)  # ml_dtypes' / NumPy's round to nearest even


def _emulated(name, options, init, grads, sr=False, seed=0):
    """The specification run: a float32 optimizer on float32 copies (NumPy backend), each
    copy rounded once into its 16-bit parameter after the step and widened again."""
    with fastgd.use_backend("numpy"):
        wide = [a.astype(np.float32) for a in init]
        opt = getattr(fastgd, name)(wide, **options)
        low = [a.copy() for a in init]
        for step, gs in enumerate(grads, start=1):
            opt.step([g.astype(np.float32) for g in gs])
            for i, (a32, a) in enumerate(zip(wide, low)):
                _round(a32, a, sr, seed, i, step)
                a32[...] = a.astype(np.float32)
    return low, opt


def _run(name, options, init, grads, **kwargs):
    params = [a.copy() for a in init]
    opt = getattr(fastgd, name)(params, **options, **kwargs)
    for gs in grads:
        opt.step(list(gs))
    return params, opt


def _assert_same(params, expected, opt, ref):
    for a, b in zip(params, expected):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a.view(np.uint16), b.view(np.uint16))
    for i, state in ref.state.items():
        for key, value in state.items():
            ours = opt.state[i][key]
            if isinstance(value, np.ndarray):
                assert ours.dtype == np.float32, (i, key)
                np.testing.assert_array_equal(ours, value)
            else:
                assert ours == value, (i, key)


def _cases():
    cases = []
    for name in TABLE_OPTIMIZERS:
        for v, variant in enumerate(OPTIM_DB[name]):
            for dtype, sr in ((BF16, False), (BF16, True), (F16, False)):
                if v and sr:  # stochastic rounding: the first variant of each
                    continue
                cases.append(pytest.param(name, dict(variant), dtype, sr,
                                          id=f"{name}-{v}-{dtype.name}{'-sr' if sr else ''}"))
    return cases


@pytest.mark.parametrize("name, options, dtype, sr", _cases())
def test_step_is_float32_step_rounded_once(rng, name, options, dtype, sr):
    """On the active backend (its default instruction set: the others run the large
    tensors below)."""
    init, grads = _problem(rng, dtype)
    params, opt = _run(name, options, init, grads, stochastic_rounding=sr, seed=11)
    expected, ref = _emulated(name, options, init, grads, sr=sr, seed=11)
    _assert_same(params, expected, opt, ref)


@pytest.mark.parametrize("name", list(TABLE_OPTIMIZERS))
def test_large_tensors_chunk_by_chunk(this_backend, rng, name):
    """Tensors of several of the compiled core's chunks (4096 elements), shared between
    two threads: the same bits as the whole float32 copy stepped at once."""
    before = fastgd.get_parallel_min(), backends.load("cython").thread_override() \
        if fastgd.backend() == "cython" else 0
    fastgd.set_parallel_min(2048)
    if fastgd.backend() == "cython":
        fastgd.set_num_threads(2)
    try:
        options = dict(OPTIM_DB[name][0])
        shapes = [(9001,), (3, 2)]
        for dtype, sr in ((BF16, True), (BF16, False)):
            init, grads = _problem(rng, dtype, np.float32 if sr else dtype, 2, shapes)
            params, opt = _run(name, options, init, grads, stochastic_rounding=sr, seed=2)
            expected, ref = _emulated(name, options, init, grads, sr=sr, seed=2)
            _assert_same(params, expected, opt, ref)
    finally:
        fastgd.set_parallel_min(before[0])
        if fastgd.backend() == "cython":
            backends.load("cython").set_num_threads(before[1])


def test_gradient_over_its_parameter(this_backend, rng):
    """A gradient that is (a view of) a 16-bit parameter is read as it was passed."""
    init, _ = _problem(rng, BF16, shapes=[(9000,)])
    w = init[0].copy()
    opt = fastgd.Adam([w], lr=0.01, stochastic_rounding=True, seed=1)
    for _ in range(2):
        opt.step([w])
    grads = []
    expected = init[0].copy()
    for _ in range(2):
        grads.append([expected.copy()])
        expected = _emulated("Adam", {"lr": 0.01}, init, grads, sr=True, seed=1)[0][0]
    np.testing.assert_array_equal(w.view(np.uint16), expected.view(np.uint16))


@pytest.mark.parametrize("grad_dtype", [np.float32, F16])
def test_gradients_of_other_dtypes(this_backend, rng, grad_dtype):
    init, grads = _problem(rng, BF16, grad_dtype)
    params, opt = _run("Adam", {"lr": 0.01}, init, grads)
    expected, ref = _emulated("Adam", {"lr": 0.01}, init, grads)
    _assert_same(params, expected, opt, ref)


def test_stochastic_rounding_follows_the_seed(this_backend, rng):
    init, grads = _problem(rng, BF16, steps=4)
    runs = [_run("AdamW", {"lr": 1e-3}, init, grads, stochastic_rounding=True, seed=s)[0]
            for s in (5, 5, 6)]
    for a, b in zip(runs[0], runs[1]):
        np.testing.assert_array_equal(a.view(np.uint16), b.view(np.uint16))
    assert any((a.view(np.uint16) != c.view(np.uint16)).any() for a, c in zip(runs[0], runs[2]))
    nearest = _run("AdamW", {"lr": 1e-3}, init, grads)[0]
    assert any((a.view(np.uint16) != c.view(np.uint16)).any() for a, c in zip(runs[0], nearest))


def test_small_updates_survive_stochastic_rounding(this_backend):
    """An update far below half a bfloat16 step is lost by rounding to nearest every step;
    stochastic rounding keeps it on average."""
    for sr in (False, True):
        w = np.ones(4096, BF16)
        opt = fastgd.SGD([w], lr=1e-4, stochastic_rounding=sr, seed=0)
        for _ in range(100):
            opt.step([np.ones(4096, np.float32)])
        mean = w.astype(np.float64).mean()
        if sr:
            assert abs(mean - (1 - 100 * 1e-4)) < 5e-4
        else:
            assert mean == 1.0


def test_skipped_step_changes_nothing(this_backend, rng):
    init, grads = _problem(rng, BF16)
    params, opt = _run("Adam", {"lr": 0.01}, init, grads[:1], stochastic_rounding=True, seed=1)
    before = [p.copy() for p in params]
    bad = [g.copy() for g in grads[1]]
    bad[0][0, 0] = np.inf
    assert opt.step(bad, nonfinite="skip") is False
    for a, b in zip(params, before):
        np.testing.assert_array_equal(a.view(np.uint16), b.view(np.uint16))
    assert opt.state_dict()["rounding"]["step"] == 1


def test_bad_input_is_refused_before_anything_changes(this_backend, rng):
    init, grads = _problem(rng, BF16)
    params, opt = _run("Adam", {"lr": 0.01}, init, grads[:1])
    before = [p.copy() for p in params]
    state = opt.state_dict()
    bad = list(grads[1])
    bad[1] = bad[1].astype(np.float64)
    with pytest.raises(TypeError, match=r"grads\[1\] has dtype float64 but its parameter has "
                                        r"dtype bfloat16"):
        opt.step(bad)
    for a, b in zip(params, before):
        np.testing.assert_array_equal(a.view(np.uint16), b.view(np.uint16))
    np.testing.assert_array_equal(opt.state[0]["exp_avg"], state["state"][0]["exp_avg"])


@pytest.mark.parametrize("make, error, message", [
    (lambda: fastgd.Adam([np.zeros(3, np.float32), np.zeros(3, np.int16)]), TypeError,
     "parameter 1 has dtype int16; fastgd optimizes float32 or float64 arrays, and "
     "bfloat16 or float16"),
    (lambda: fastgd.Adam([np.zeros(3, F16)], stochastic_rounding=True), TypeError,
     "parameter 0 has dtype float16; stochastic_rounding=True rounds bfloat16"),
    (lambda: fastgd.LBFGS([np.zeros(3, BF16)]), TypeError,
     "parameter 0 has dtype bfloat16; LBFGS optimizes float32 or float64"),
    (lambda: fastgd.Muon([np.zeros((3, 3), BF16)]), TypeError,
     "parameter 0 has dtype bfloat16; Muon optimizes"),
    (lambda: fastgd.SparseAdam([np.zeros(3, BF16)]), TypeError,
     "parameter 0 has dtype bfloat16; SparseAdam optimizes"),
    (lambda: fastgd.AdamW8bit([np.zeros(3, np.float32), np.zeros(3, BF16)]), TypeError,
     "parameter 1 has dtype bfloat16; AdamW8bit optimizes float32 parameters"),
    (lambda: fastgd.AdamW4bit([np.zeros(3, F16)]), TypeError,
     "parameter 0 has dtype float16; AdamW4bit optimizes float32 parameters"),
    (lambda: fastgd.Adam8bit([np.zeros(3, BF16)]), TypeError,
     "parameter 0 has dtype bfloat16; Adam8bit optimizes float32 parameters"),
    (lambda: fastgd.Lion8bit([np.zeros(3, BF16)]), TypeError,
     "parameter 0 has dtype bfloat16; Lion8bit optimizes float32 parameters"),
    (lambda: fastgd.Adam([np.zeros(3, BF16)], stochastic_rounding=1), TypeError,
     "stochastic_rounding must be True or False, got 1"),
    (lambda: fastgd.Adam([np.zeros(3, BF16)], seed=-1), ValueError,
     r"seed must be in \[0, 2\*\*64\), got -1"),
    (lambda: fastgd.Adam([np.zeros(3, BF16)], seed=1.5), TypeError,
     "seed must be None or an int, got 1.5"),
])
def test_constructor_checks(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_every_optimizer_is_covered():
    """Every registry row is either tested above (element-wise) or refuses 16-bit
    parameters (test_constructor_checks; the low-bit ones keep float32 weights)."""
    off_table = set(OPTIMIZERS) - set(TABLE_OPTIMIZERS)
    assert off_table == {"Muon", "SparseAdam", "LBFGS", "Adam8bit", "AdamW8bit", "AdamW4bit",
                         "Lion8bit"}


def _resume_pair(name, options, init, grads, save, load, at=2):
    """The bits of an uninterrupted run, and of one saved after ``at`` steps and loaded
    into a fresh optimizer (another seed: the loaded one must win) that finishes it."""
    straight, _ = _run(name, options, init, grads, stochastic_rounding=True, seed=3)
    first, opt = _run(name, options, init, grads[:at], stochastic_rounding=True, seed=3)
    saved = save(opt, first)
    params = [np.zeros_like(a) for a in init]
    fresh = getattr(fastgd, name)(params, **options, stochastic_rounding=True, seed=99)
    load(fresh, params, saved)
    for gs in grads[at:]:
        fresh.step(list(gs))
    return straight, params


def test_state_dict_resumes_bit_for_bit(this_backend, rng):
    init, grads = _problem(rng, BF16, steps=5)

    def save(opt, params):
        return opt.state_dict(), [p.copy() for p in params]

    def load(opt, params, saved):
        opt.load_state_dict(saved[0])
        for p, s in zip(params, saved[1]):
            p[...] = s

    straight, resumed = _resume_pair("AdamW", {"lr": 0.01}, init, grads, save, load)
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a.view(np.uint16), b.view(np.uint16))


@pytest.mark.parametrize("dtype", [BF16, F16], ids=["bfloat16", "float16"])
def test_checkpoint_resumes_bit_for_bit(this_backend, rng, tmp_path, dtype):
    init, grads = _problem(rng, dtype, steps=5)
    path = tmp_path / "run.ckpt"
    sr = dtype == BF16

    def run(opt_seed, steps):
        params = [a.copy() for a in init]
        opt = fastgd.Lion(params, lr=0.01, stochastic_rounding=sr, seed=opt_seed)
        for gs in grads[:steps]:
            opt.step(list(gs))
        return params, opt

    straight, _ = run(3, 5)
    _, opt = run(3, 2)
    fastgd.save(path, optimizer=opt, epoch=2)
    params = [np.zeros_like(a) for a in init]
    fresh = fastgd.Lion(params, lr=0.01, stochastic_rounding=sr, seed=4)
    ckpt = fastgd.load(path)
    assert ckpt.params[0].dtype == dtype
    ckpt.restore(optimizer=fresh)
    for gs in grads[2:]:
        fresh.step(list(gs))
    for a, b in zip(straight, params):
        np.testing.assert_array_equal(a.view(np.uint16), b.view(np.uint16))


def test_loaded_rounding_state_is_checked(rng):
    init, grads = _problem(rng, F16)
    _, opt = _run("Adam", {"lr": 0.01}, init, grads[:1])
    state = opt.state_dict()
    state["rounding"] = {**state["rounding"], "stochastic": True}
    with pytest.raises(TypeError, match="parameter 0 has dtype float16; stochastic_rounding"):
        opt.load_state_dict(state)
    state["rounding"] = {"seed": 1}
    with pytest.raises(ValueError, match="state_dict\\['rounding'\\] must be a dict"):
        opt.load_state_dict(state)


def test_schedule_free_modes_and_sophia_hessian(this_backend, rng):
    w = rng.standard_normal(8).astype(BF16)
    opt = fastgd.AdamWScheduleFree([w], lr=0.01)
    opt.step([np.ones(8, BF16)])
    z = opt.state[0]["z"]
    assert z.dtype == np.float32
    y = w.copy()
    opt.eval()
    x32 = y.astype(np.float32)
    beta = 0.9
    with np.errstate(all="ignore"):
        x32 = y.astype(np.float32) + np.float32(1 - 1 / beta) * (z - y.astype(np.float32))
    np.testing.assert_array_equal(w.view(np.uint16), x32.astype(BF16).view(np.uint16))
    opt.train()
    w2 = rng.standard_normal(8).astype(BF16)
    sophia = fastgd.Sophia([w2], lr=0.01)
    sophia.update_hessian([np.full(8, 2.0, BF16)])
    assert sophia.state[0]["hessian"].dtype == np.float32
    np.testing.assert_array_equal(sophia.state[0]["hessian"],
                                  np.float32(1 - 0.99) * np.float32(2.0))


def test_compiled_core_steps_elementwise_rules_chunk_by_chunk(this_backend, monkeypatch, rng):
    """On the compiled core, once the state exists, an element-wise rule on a bfloat16
    parameter widens nothing in Python (the chunks are widened in C); LAMB, whose trust
    ratio reads the whole tensor, and float16 parameters step a float32 copy."""
    if fastgd.backend() != "cython":
        pytest.skip("the chunked steps are the compiled core's")
    core = backends.load("cython")
    calls = []
    widen = core.lowp_widen
    monkeypatch.setattr(core, "lowp_widen", lambda *a: (calls.append(a[0].dtype), widen(*a)))
    for name, dtype, copies in (("AdamW", BF16, 0), ("LAMB", BF16, 2), ("AdamW", F16, 2)):
        w = rng.standard_normal(5000).astype(dtype)
        opt = getattr(fastgd, name)([w], lr=1e-3)
        opt.step([np.ones(5000, np.float32)])  # the first step makes the state from w
        calls.clear()
        opt.step([np.ones(5000, dtype)])
        assert len(calls) == copies, (name, dtype, calls)
