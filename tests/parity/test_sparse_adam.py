"""SparseAdam against torch.optim.SparseAdam (skipped without torch): row gradients (torch's
COO gradient with one sparse dimension, as nn.Embedding(sparse=True) gives), entry
gradients from scipy.sparse (COO with two sparse dimensions), 1-D parameters, repeated
indices, empty gradients and None; torch's configurations, error inputs and state dicts.

float64 agrees within 1e-12 (relative). float32: the moments to the last bit (torch's
float32 operations round each scalar to float32 and each operation once, as the kernels
do), the parameters within float32 rounding (torch's vectorised float32 square root is not
correctly rounded); but where an index repeats three or more times in one gradient,
torch's coalesce sums the rows in the order its sort leaves them, not the order given.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from parity._torch_optim_db import check_error_inputs, numpy_value, optim_info
from parity.optim_db import OPTIM_DB

import fastgd

torch = pytest.importorskip("torch")
sparse = pytest.importorskip("scipy.sparse")

STEPS = 15
SHAPES = [(40, 16), (30,)]


def _gradients(rng, dtype, shape, steps=STEPS, repeats=2):
    """Per step: indices, rows; an empty gradient once, None once. Each index appears at
    most ``repeats`` times (None: any number of times)."""
    out = []
    for k in range(steps):
        if k == 3:
            out.append(None)
            continue
        count = 0 if k == 5 else int(rng.integers(1, shape[0] // 2))
        if repeats is None:
            idx = rng.integers(0, shape[0], size=count)
        else:
            idx = rng.choice(shape[0], count, replace=False)
            idx = rng.permutation(np.concatenate([idx] * repeats)[:count + count // 2])
            count = idx.size
        rows = np.asarray(rng.standard_normal((count, *shape[1:])), dtype=dtype)
        out.append((idx, rows))
    return out


def _close(ours, theirs, dtype, exact32=True):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    if dtype == np.float32 and exact32:
        np.testing.assert_array_equal(ours, theirs)
    elif dtype == np.float32 and exact32 is None:  # within float32 rounding
        np.testing.assert_allclose(ours, theirs, rtol=2e-6, atol=1e-7)
    elif dtype == np.float32:
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-7)
    else:
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-300)


def _compare(opt, topt, params, tparams, dtype, exact32=True):
    for i, (p, t) in enumerate(zip(params, tparams)):
        # torch's vectorised float32 sqrt is not correctly rounded (about 0.6% of values one
        # unit in the last place off, on AVX-512); the kernels' is: parameters may differ
        # in their last bits where the moments agree exactly
        _close(p, t.detach().numpy(), dtype, None if exact32 else exact32)
        if t in topt.state:
            state = topt.state[t]
            assert opt.state[i]["step"] == state["step"]
            _close(opt.state[i]["exp_avg"], state["exp_avg"].numpy(), dtype, exact32)
            _close(opt.state[i]["exp_avg_sq"], state["exp_avg_sq"].numpy(), dtype, exact32)
        else:
            assert i not in opt.state


def _run_rows(options, dtype, seed=0, repeats=2):
    rng = np.random.default_rng(seed)
    params = [np.asarray(rng.standard_normal(s), dtype=dtype) for s in SHAPES]
    tparams = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    grads = [_gradients(rng, dtype, s, repeats=repeats) for s in SHAPES]
    groups = dict(options)
    second = {"lr": options.get("lr", 1e-3) * 0.5}
    opt = fastgd.SparseAdam([{"params": params[:1]}, {"params": params[1:], **second}], **groups)
    topt = torch.optim.SparseAdam([{"params": tparams[:1]}, {"params": tparams[1:], **second}],
                                  **groups)
    for k in range(STEPS):
        step = [g[k] for g in grads]
        opt.step(step)
        for t, g, shape in zip(tparams, step, SHAPES):
            t.grad = None if g is None else torch.sparse_coo_tensor(
                torch.tensor(g[0])[None], torch.tensor(g[1]), shape)
        topt.step()
    return opt, topt, params, tparams


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("options", OPTIM_DB["SparseAdam"],
                         ids=["-".join(f"{k}={v}" for k, v in o.items()) or "default"
                              for o in OPTIM_DB["SparseAdam"]])
def test_row_gradients_match_torch(options, dtype):
    opt, topt, params, tparams = _run_rows(options, dtype)
    _compare(opt, topt, params, tparams, dtype)
    assert opt.state[0]["step"] == STEPS - 1  # None skipped one step; the empty one counted


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_rows_repeated_any_number_of_times(dtype):
    """torch's coalesce sums three or more rows of one index in the order its sort leaves
    them (not the order given): float32 sums may then differ in their last bit."""
    opt, topt, params, tparams = _run_rows({"lr": 0.01}, dtype, seed=4, repeats=None)
    _compare(opt, topt, params, tparams, dtype, exact32=False)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("fmt", ["csr", "coo", "csc"])
def test_scipy_sparse_entries_match_torch(fmt, dtype):
    rng = np.random.default_rng(1)
    shape = (20, 8)
    p = np.asarray(rng.standard_normal(shape), dtype=dtype)
    t = torch.tensor(p.copy(), requires_grad=True)
    opt = fastgd.SparseAdam([p], lr=0.01, maximize=True)
    topt = torch.optim.SparseAdam([t], lr=0.01, maximize=True)
    for _ in range(STEPS):
        nnz = int(rng.integers(1, 40))
        flat = rng.choice(shape[0] * shape[1], nnz, replace=False)
        flat = np.concatenate([flat, flat[:nnz // 3]])  # some entries twice
        row, col = flat // shape[1], flat % shape[1]
        nnz = flat.size
        data = np.asarray(rng.standard_normal(nnz), dtype=dtype)
        g = sparse.coo_matrix((data, (row, col)), shape=shape)  # repeats summed, as torch
        opt.step([g.asformat(fmt)])
        t.grad = torch.sparse_coo_tensor(torch.tensor(np.vstack([row, col])),
                                         torch.tensor(data), shape)
        topt.step()
    _compare(opt, topt, [p], [t], dtype)


def test_torch_configurations_pass():
    configs = optim_info("SparseAdam").optim_inputs_func("cpu")
    assert len(configs) >= 4
    for config in configs:
        options = {k: numpy_value(v) for k, v in config.kwargs.items()}
        opt, topt, params, tparams = _run_rows(options, np.float64, seed=2)
        _compare(opt, topt, params, tparams, np.float64)


def test_torch_error_inputs_raise_the_same_errors():
    assert check_error_inputs("SparseAdam", fastgd.SparseAdam,
                              lambda p: (np.zeros(0, int), p[:0])) >= 5


def test_constructor_mirrors_torch():
    ours = inspect.signature(fastgd.SparseAdam).parameters
    theirs = inspect.signature(torch.optim.SparseAdam).parameters
    assert list(ours) == list(theirs)
    for name in theirs:
        if name != "params":
            assert ours[name].default == theirs[name].default, name


def test_torch_state_dict_loads_and_continues_alike():
    rng = np.random.default_rng(3)
    t = torch.tensor(rng.standard_normal((10, 3)), requires_grad=True)
    topt = torch.optim.SparseAdam([t], lr=0.05)
    grads = _gradients(rng, np.float64, (10, 3), steps=6)
    for g in grads[:4]:
        t.grad = None if g is None else torch.sparse_coo_tensor(
            torch.tensor(g[0])[None], torch.tensor(g[1]), (10, 3))
        topt.step()
    saved = topt.state_dict()
    state = {i: {k: v.numpy().copy() if isinstance(v, torch.Tensor) else v
                 for k, v in s.items()} for i, s in saved["state"].items()}
    p = t.detach().numpy().copy()
    opt = fastgd.SparseAdam([p])
    opt.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
    for g in grads[4:]:
        opt.step([g])
        t.grad = None if g is None else torch.sparse_coo_tensor(
            torch.tensor(g[0])[None], torch.tensor(g[1]), (10, 3))
        topt.step()
    _compare(opt, topt, [p], [t], np.float64)
