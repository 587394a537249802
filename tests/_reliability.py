"""The reliability tests' optimizers and snapshots, in one place: every optimizer of the
registry with the parity tests' option set that uses the most of it, on parameters of
several shapes and dtypes in two groups, warmed up; and a snapshot of everything a step or
a load could change (parameters, groups, state), as bytes and reprs. Imported as
``from _reliability import ...`` (``tests/conftest.py`` puts this folder on ``sys.path``)."""

from __future__ import annotations

import numpy as np
from parity.optim_db import OPTIM_DB

import fastgd
from fastgd.optim.registry import GRADIENT_STEP

NAMES = list(GRADIENT_STEP)
#: Parameters of the optimizers under test: two groups, two dtypes, a 0-d parameter.
SHAPES = [((3, 4), np.float64), ((5,), np.float32), ((), np.float64), ((2, 3), np.float64)]
GROUPS = [(0, 2), (2, 4)]   # parameter indices of each group
WARM_STEPS = 3



def _options(name):
    """The option set of the parity tests that uses the most of the optimizer."""
    return dict(max(OPTIM_DB[name], key=len))


def _params():
    rng = np.random.default_rng(11)
    return [np.asarray(rng.standard_normal(shape), dtype=dtype) for shape, dtype in SHAPES]


def _make(name, params):
    options = _options(name)
    lr = options.pop("lr", GRADIENT_STEP[name].defaults["lr"])
    groups = [{"params": params[a:b]} for a, b in GROUPS]
    groups[1]["lr"] = lr / 2
    return getattr(fastgd, name)(groups, lr=lr, **options)


def _grads(rng, params, skip=()):
    return [None if i in skip else np.asarray(rng.standard_normal(p.shape), dtype=p.dtype)
            for i, p in enumerate(params)]


def _warm_up(opt, params, steps):
    rng = np.random.default_rng(5)
    for step in range(steps):
        opt.step(_grads(rng, params, skip=(1,) if step == 1 else ()))
        if hasattr(opt, "update_hessian") and step == 1:
            opt.update_hessian([np.abs(g) for g in _grads(rng, params)])


def _value_bytes(v):
    if isinstance(v, np.ndarray):
        return ("array", v.dtype.str, v.shape, v.tobytes())
    if isinstance(v, list):  # a group's params: the same arrays, same order
        return ("list", tuple(id(a) for a in v))
    return (type(v).__name__, repr(v))


def _snapshot(opt, params):
    """Everything a step or a load could change, as bytes and reprs."""
    return (
        [(p.dtype.str, p.shape, p.flags.writeable, p.tobytes()) for p in params],
        [sorted((k, _value_bytes(v)) for k, v in g.items()) for g in opt.param_groups],
        sorted((i, sorted((k, _value_bytes(v)) for k, v in s.items()))
               for i, s in opt.state.items()),
    )


def _assert_same(after, before, label):
    for part, a, b in zip(("parameters", "param_groups", "state"), after, before):
        assert a == b, f"{label}: the {part} changed"
