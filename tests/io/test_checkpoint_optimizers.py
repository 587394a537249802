"""Checkpoints (fastgd/io/checkpoint.py) of every optimizer: a resumed optimizer continues
with the same bits as one that never stopped, on every backend; the state each keeps
besides its buffers (schedule-free's eval mode, Sophia's hessian, ASGD's averages,
Adafactor's factored shapes) is in the file."""

from __future__ import annotations

import numpy as np
import pytest
from _problems import BACKENDS, DTYPES, same
from parity.optim_db import OPTIM_DB

import fastgd
from fastgd.optim.registry import TABLE_OPTIMIZERS as OPTIMIZERS

# ---------------------------------------------------------------- resuming optimizers


SHAPES = ((3, 4), (5,), (2, 3, 2), (1,))
N_STEPS, SPLIT = 23, 11


def _variants():
    """(backend, optimizer, options): on the active backend the defaults and every option
    set of the registry; on the other backends installed (each is the active one in a
    run of the suite of its own), the defaults and the registry's last option set."""
    cases = []
    for backend in BACKENDS:
        for name, spec in OPTIMIZERS.items():
            variants = ({},) + tuple(OPTIM_DB[spec.name])
            for k, variant in enumerate(variants):
                if backend == fastgd.backend() or k in (0, len(variants) - 1):
                    cases.append(pytest.param(backend, name, variant,
                                              id=f"{backend}-{name}-{k}"))
    return cases


def _problem(dtype):
    rng = np.random.default_rng(11)
    start = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    targets = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    noise = [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(N_STEPS)]
    return start, targets, noise


def _build(name, variant, params):
    cls = getattr(fastgd, name)
    options = dict(variant)
    lr = options.pop("lr", OPTIMIZERS[name].defaults["lr"])
    if name == "ASGD":
        options.setdefault("t0", 5.0)  # averaging starts within the run
    return cls([{"params": params[:2]}, {"params": params[2:], "lr": lr * 0.5}], lr=lr,
               **options)


def _grads(t, params, targets, noise):
    grads = []
    for k, (p, c, e) in enumerate(zip(params, targets, noise[t])):
        if k == 1 and t % 3 == 2:
            grads.append(None)  # its state lags behind the others'
        else:
            grads.append((p - c) * p.dtype.type(0.5) + e)
    return grads


def _advance(opt, t, params, targets, noise):
    opt.step(_grads(t, params, targets, noise))
    if hasattr(opt, "hessian_due") and opt.hessian_due():
        opt.update_hessian([np.abs(e) for e in noise[(t * 7) % N_STEPS]])


def _averages(opt):
    return opt.averaged() if hasattr(opt, "averaged") else None


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("backend,name,variant", _variants())
def test_a_resumed_optimizer_continues_with_the_same_bits(tmp_path, backend, dtype, name,
                                                          variant):
    start, targets, noise = _problem(dtype)
    with fastgd.use_backend(backend):
        ref = [p.copy() for p in start]
        opt = _build(name, variant, ref)
        for t in range(SPLIT):
            _advance(opt, t, ref, targets, noise)
        path = tmp_path / "opt.ckpt"
        fastgd.save(path, optimizer=opt, t=SPLIT)
        at_split = opt.state_dict()
        for t in range(SPLIT, N_STEPS):
            _advance(opt, t, ref, targets, noise)

        resumed = [np.full_like(p, 9.0) for p in start]
        opt2 = _build(name, variant, resumed)
        opt2.step([np.ones_like(p) for p in resumed])  # some state to be replaced
        ckpt = fastgd.load(path)
        ckpt.restore(optimizer=opt2)
        same(opt2.state_dict(), at_split)
        for t in range(ckpt.extra["t"], N_STEPS):
            _advance(opt2, t, resumed, targets, noise)
    same(resumed, ref)
    same(opt2.state_dict(), opt.state_dict())
    same(_averages(opt2), _averages(opt))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["SGDScheduleFree", "AdamWScheduleFree"])
def test_schedule_free_eval_mode_survives_the_round_trip(tmp_path, backend, name):
    start, targets, noise = _problem(np.float64)
    with fastgd.use_backend(backend):
        ref = [p.copy() for p in start]
        opt = _build(name, {"lr": 0.1, "warmup_steps": 3}, ref)
        for t in range(SPLIT):
            _advance(opt, t, ref, targets, noise)
        opt.eval()  # checkpoint the averaged point x, as the package suggests
        fastgd.save(tmp_path / "c", optimizer=opt)
        x = [p.copy() for p in ref]
        opt.train()
        for t in range(SPLIT, N_STEPS):
            _advance(opt, t, ref, targets, noise)

        resumed = [np.zeros_like(p) for p in start]
        opt2 = _build(name, {"lr": 0.1, "warmup_steps": 3}, resumed)
        fastgd.load(tmp_path / "c").restore(optimizer=opt2)
        assert all(g["train_mode"] is False for g in opt2.param_groups)
        same(resumed, x)
        with pytest.raises(RuntimeError, match="eval mode"):
            opt2.step([np.ones_like(p) for p in resumed])
        opt2.train()
        for t in range(SPLIT, N_STEPS):
            _advance(opt2, t, resumed, targets, noise)
        same(resumed, ref)
        opt.eval()
        opt2.eval()
        same(resumed, ref)


def test_sophia_hessian_and_asgd_averages_are_in_the_file(tmp_path):
    start, targets, noise = _problem(np.float64)
    params = [p.copy() for p in start]
    opt = _build("Sophia", {"update_interval": 2}, params)
    for t in range(4):
        _advance(opt, t, params, targets, noise)
    fastgd.save(tmp_path / "s", optimizer=opt)
    state = fastgd.load(tmp_path / "s").optimizer_state["state"]
    assert all(np.any(s["hessian"] != 0) for s in state.values())
    params = [p.copy() for p in start]
    opt = _build("ASGD", {"t0": 1.0}, params)
    for t in range(4):
        _advance(opt, t, params, targets, noise)
    fastgd.save(tmp_path / "a", optimizer=opt)
    ckpt = fastgd.load(tmp_path / "a")
    other = [np.zeros_like(p) for p in start]
    opt2 = _build("ASGD", {"t0": 1.0}, other)
    ckpt.restore(optimizer=opt2)
    same(opt2.averaged(), opt.averaged())
    assert type(ckpt.optimizer_state["state"][0]["eta"]) is float


def test_adafactor_factored_state_shapes(tmp_path):
    start, targets, noise = _problem(np.float32)
    params = [p.copy() for p in start]
    opt = _build("Adafactor", {}, params)
    for t in range(3):
        _advance(opt, t, params, targets, noise)
    fastgd.save(tmp_path / "f", optimizer=opt)
    state = fastgd.load(tmp_path / "f").optimizer_state["state"]
    assert state[0]["row_var"].shape == (3, 1) and state[0]["col_var"].shape == (1, 4)
    assert state[2]["row_var"].shape == (2, 3, 1) and state[2]["col_var"].shape == (2, 1, 2)
    assert state[1]["variance"].shape == (5,) and state[0]["row_var"].dtype == np.float32


@pytest.mark.parametrize("options", [{"history_size": 3, "max_iter": 4},
                                     {"line_search_fn": "strong_wolfe", "max_iter": 5}])
def test_lbfgs_checkpoint_resumes_with_the_same_bits(tmp_path, options):
    """LBFGS's state (flat arrays, lists of them, floats, counts) through save/load: the
    resumed run continues with the bits of the uninterrupted one."""
    rng = np.random.default_rng(5)
    A, b = rng.standard_normal((40, 12)), rng.standard_normal(40)

    def run(params, opt, steps):
        def closure():
            x = np.concatenate([p.reshape(-1) for p in params])
            g = A.T @ (A @ x - b)
            return 0.5 * float((A @ x - b) @ (A @ x - b)), [g[:4].reshape(2, 2), g[4:]]
        return [opt.step(closure) for _ in range(steps)]

    start = [rng.standard_normal((2, 2)), rng.standard_normal(8)]
    params = [p.copy() for p in start]
    opt = fastgd.LBFGS(params, **options)
    run(params, opt, 2)
    fastgd.save(tmp_path / "lbfgs.ckpt", optimizer=opt)
    losses = run(params, opt, 3)
    final = [p.copy() for p in params]

    other = [np.zeros_like(p) for p in start]
    resumed = fastgd.LBFGS(other, **options)
    fastgd.load(tmp_path / "lbfgs.ckpt").restore(optimizer=resumed)
    assert run(other, resumed, 3) == losses
    assert all(a.tobytes() == b.tobytes() for a, b in zip(other, final))
    with pytest.raises(ValueError, match="LBFGS"):
        fastgd.load(tmp_path / "lbfgs.ckpt").restore(optimizer=fastgd.Adam(other))
