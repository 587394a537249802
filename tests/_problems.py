"""The parity tests' problems, in one place.

The quadratic problem of the parity runs (``tests/parity/``): several parameters of
different shapes (a 0-d and an empty one among them), in two parameter groups, a loss
``scale * (p - target)`` plus noise per step. And the small torch quadratic the rule
tests (``tests/reference/``, ``tests/optim/``) step fastgd and torch on, with the two
runners. The fit tests' data sets (``tests/models/``), and the checkpoint tests'
(``tests/io/``) bitwise comparison. Imported as ``from _problems import ...``
(``tests/conftest.py`` puts this folder on ``sys.path``)."""

from __future__ import annotations

import struct

import numpy as np

import fastgd
from fastgd import backends

SHAPES = [(5,), (3, 4), (), (0,), (2, 3, 2)]
STEPS = 60
TOLERANCE = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-4, atol=2e-5)}


def _problem(rng, dtype, shapes=SHAPES):
    def draw(shape, scale=1.0):
        return np.asarray(scale * rng.standard_normal(shape), dtype=dtype)

    params = [draw(s) for s in shapes]
    targets = [draw(s) for s in shapes]
    scales = [np.asarray(rng.uniform(0.5, 3.0, s), dtype=dtype) for s in shapes]
    noise = [[draw(s, 0.1) for s in shapes] for _ in range(STEPS)]
    return params, targets, scales, noise


def _groups(params, variant, second=None):
    group = {"params": params[2:], **(second or {})}
    if "lr" in variant:
        group["lr"] = variant["lr"] * 0.5
    return [{"params": params[:2]}, group]


# -- a torch quadratic: fastgd and torch.optim stepped on it alike -----------------------

def _torch_run(torch, name, options, params, grad_fn, steps, default_dtype=None, reload_at=None):
    """torch.optim.<name> on copies of ``params``; grad_fn(step, k, p) gives a gradient
    (a NumPy array) or None."""
    previous = torch.get_default_dtype()
    if default_dtype is not None:
        torch.set_default_dtype(default_dtype)
    try:
        theirs = [torch.tensor(p.copy(), requires_grad=True) for p in params]
        topt = getattr(torch.optim, name)(theirs, **options)
        for step in range(steps):
            if step == reload_at:
                topt.load_state_dict(topt.state_dict())
            with torch.no_grad():
                for k, p in enumerate(theirs):
                    g = grad_fn(step, k, p.detach().numpy())
                    p.grad = None if g is None else torch.from_numpy(g)
            topt.step()
    finally:
        torch.set_default_dtype(previous)
    return theirs, topt


def _ours_run(name, options, params, grad_fn, steps):
    ours = [p.copy() for p in params]
    opt = getattr(fastgd, name)(ours, **options)
    for step in range(steps):
        opt.step([grad_fn(step, k, p) for k, p in enumerate(ours)])
    return ours, opt


def _quadratic(dtype, seed=0):
    rng = np.random.default_rng(seed)
    targets = [rng.standard_normal(s).astype(dtype) for s in [(6,), (2, 3)]]
    noise = rng.standard_normal((200, 6)).astype(dtype)

    def grad(step, k, p):
        if k == 1 and step % 5 == 2:
            return None
        return (p - targets[k] + noise[step, :p.size].reshape(p.shape)).astype(dtype)

    params = [rng.standard_normal(t.shape).astype(dtype) for t in targets]
    return params, grad


# -- the optax-family rules' options and steps, shared by the rule tests ----------------------

def _steps(opt, grads):
    for g in grads:
        opt.step(g)


_OPTIONS = {"Lion": dict(lr=0.01, weight_decay=0.1), "AdaBelief": dict(lr=0.01, weight_decay=0.1),
            "LAMB": dict(lr=0.01, weight_decay=0.1),
            "LARS": dict(lr=0.5, weight_decay=0.1, nesterov=True),
            "Yogi": dict(lr=0.05)}


# -- the fit tests' data sets (tests/models/) -------------------------------------------------

def regression(n=400, d=5, seed=0, noise=0.1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = X @ np.linspace(-2, 2, d) + 0.5 + noise * rng.standard_normal(n)
    return X, y


def binary(n=400, d=4, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    z = X @ np.array([2.0, -1.0, 0.5, 1.5][:d]) + 0.3
    y = (z + 0.5 * rng.standard_normal(n) > 0).astype(np.float64)
    return X, y


def multiclass(n=450, d=4, k=3, seed=2):
    rng = np.random.default_rng(seed)
    centers = 3 * rng.standard_normal((k, d))
    y = rng.integers(0, k, n)
    X = centers[y] + rng.standard_normal((n, d))
    return X, y.astype(np.int64)


# -- the checkpoint tests' backends, dtypes and bitwise comparison (tests/io/) ------------

BACKENDS = backends.available()
DTYPES = (np.float32, np.float64)


def same(a, b, where="value"):
    """Assert ``a`` and ``b`` are equal to the bit, with the same types, recursively."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray), where
        assert a.dtype == b.dtype and a.shape == b.shape, (where, a.dtype, b.dtype)
        assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes(), where
        return
    assert type(a) is type(b), (where, type(a), type(b))
    if isinstance(a, dict):
        assert set(a) == set(b), (where, list(a), list(b))
        for k in a:
            same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for k, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{where}[{k}]")
    elif isinstance(a, float):
        assert struct.pack("<d", a) == struct.pack("<d", b), (where, a, b)
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), (where, a, b)
    else:
        assert a == b, (where, a, b)
