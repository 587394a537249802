"""How close fastgd.Muon and fastgd.SparseAdam come to torch.optim (the figures of
docs/guide/muon.md, docs/guide/sparse-adam.md and the README; the tests assert bounds).

    python tools/agreement_muon_sparseadam.py

Muon: 20 steps on a 256 x 512 parameter; before each step torch's parameter is set to
fastgd's, so each step's update is compared from the same point. SparseAdam: 100 steps of
300 rows of a 1000 x 16 table, with distinct or repeated indices.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.optim._muon as torch_muon

import fastgd

warnings.simplefilter("ignore")  # torch's notice on sparse invariant checks
_BFLOAT16_ITERATION = torch_muon._zeropower_via_newtonschulz


def _float32_iteration(grad, ns_coefficients, ns_steps, eps):
    a, b, c = ns_coefficients
    x = grad.float()
    tall = grad.size(0) > grad.size(1)
    if tall:
        x = x.T
    x = x / x.norm().clamp(min=eps)
    for _ in range(ns_steps):
        gram = x @ x.T
        x = torch.addmm(x, torch.addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x.T if tall else x


def muon(ns_dtype, dtype, shape=(256, 512), steps=20):
    torch_muon._zeropower_via_newtonschulz = (
        _float32_iteration if ns_dtype == "float32" else _BFLOAT16_ITERATION)
    rng = np.random.default_rng(0)
    w = rng.standard_normal(shape).astype(dtype)
    t = torch.tensor(w.copy(), requires_grad=True)
    opt = fastgd.Muon([w], lr=0.02, ns_dtype=ns_dtype)
    topt = torch.optim.Muon([t], lr=0.02)
    update = param = 0.0
    for _ in range(steps):
        g = rng.standard_normal(shape).astype(dtype)
        before = w.copy()
        opt.step([g])
        t.grad = torch.tensor(g)
        topt.step()
        theirs = t.detach().numpy()
        update = max(update, float(np.linalg.norm((w - before) - (theirs - before))
                                   / np.linalg.norm(theirs - before)))
        param = max(param, float(np.max(np.abs(w - theirs)) / np.max(np.abs(theirs))))
        with torch.no_grad():
            t.copy_(torch.tensor(w))
    torch_muon._zeropower_via_newtonschulz = _BFLOAT16_ITERATION
    return update, param


def sparse_adam(dtype, repeats):
    rng = np.random.default_rng(0)
    p = rng.standard_normal((1000, 16)).astype(dtype)
    t = torch.tensor(p.copy(), requires_grad=True)
    opt = fastgd.SparseAdam([p], lr=0.01)
    topt = torch.optim.SparseAdam([t], lr=0.01)
    params = moments = 0.0
    equal = True
    for _ in range(100):
        idx = rng.integers(0, 1000, 300) if repeats else rng.choice(1000, 300, replace=False)
        rows = rng.standard_normal((300, 16)).astype(dtype)
        opt.step([(idx, rows)])
        t.grad = torch.sparse_coo_tensor(torch.tensor(idx)[None], torch.tensor(rows),
                                         (1000, 16))
        topt.step()
        theirs = t.detach().numpy()
        params = max(params, float(np.max(np.abs(p - theirs)) / np.max(np.abs(theirs))))
        for name in ("exp_avg", "exp_avg_sq"):
            a, b = opt.state[0][name], topt.state[t][name].numpy()
            moments = max(moments, float(np.max(np.abs(a - b)) / np.max(np.abs(b))))
            equal &= bool(np.array_equal(a, b))
    return params, moments, equal


def main():
    for ns_dtype in ("bfloat16", "float32"):
        for dtype in (np.float32, np.float64):
            update, param = muon(ns_dtype, dtype)
            print(f"Muon ns_dtype={ns_dtype}, {dtype.__name__} parameter: a step's update "
                  f"differs by {update:.2e} (Frobenius, relative, worst of 20 steps); the "
                  f"parameters by {param:.2e} of the largest")
    for dtype in (np.float64, np.float32):
        for repeats in (False, True):
            params, moments, equal = sparse_adam(dtype, repeats)
            print(f"SparseAdam {dtype.__name__}, {'repeated' if repeats else 'distinct'} "
                  f"indices: parameters within {params:.1e} of the largest, moments "
                  f"{moments:.1e} (bit for bit: {equal})")


if __name__ == "__main__":
    main()
