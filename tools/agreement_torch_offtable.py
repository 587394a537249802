"""How close fastgd.torch's LBFGS, Muon and SparseAdam come to torch.optim's in a torch
training loop (the figures of docs/guide/from-torch.md; tests/test_torch_offtable.py
asserts bounds).

    python tools/agreement_torch_offtable.py

LBFGS: the digits MLP (64-256-256-10, float64), 3 full-batch steps on 256 digits
(history 10, 10 iterations a step). Muon: the MLP without biases (64-128-10, float64),
batch 32, lr 0.02; its float32 iteration against torch's step with float32 in place of
bfloat16. SparseAdam: nn.Embedding(50, 8, sparse=True), float64, 30 steps of 24 rows with
repeats. Each figure: |a - b| / |a| over all the weights (for Muon: over the updates).
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
import torch.optim._muon as torch_muon
from sklearn.datasets import load_digits

import fastgd.torch as ft

warnings.simplefilter("ignore")
torch.set_num_threads(1)
X_ALL, Y_ALL = load_digits(return_X_y=True)
X_ALL = X_ALL / 16.0


def _flat(model) -> np.ndarray:
    return np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(a))


def _model(sizes, bias=True):
    torch.manual_seed(0)
    layers: list = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        layers += [torch.nn.Linear(n_in, n_out, bias=bias), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1]).double()


def lbfgs(line_search_fn) -> float:
    X, y = torch.tensor(X_ALL[:256]), torch.tensor(Y_ALL[:256])
    a = _model((64, 256, 256, 10))
    b = copy.deepcopy(a)
    options = {"history_size": 10, "max_iter": 10, "line_search_fn": line_search_fn}
    for model, opt in ((a, torch.optim.LBFGS(a.parameters(), **options)),
                       (b, ft.LBFGS(b.parameters(), **options))):
        def closure(model=model, opt=opt):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(X), y)
            loss.backward()
            return loss
        for _ in range(3):
            opt.step(closure)
    return _rel(_flat(a), _flat(b))


def _f32_iteration(grad, ns_coefficients, ns_steps, eps):
    a, b, c = ns_coefficients
    x = grad.float()
    tall = grad.size(0) > grad.size(1)
    x = x.T if tall else x
    x = x / x.norm().clamp(min=eps)
    for _ in range(ns_steps):
        gram = x @ x.T
        x = torch.addmm(x, torch.addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x.T if tall else x


def muon(ns_dtype, steps) -> float:
    original = torch_muon._zeropower_via_newtonschulz
    if ns_dtype == "float32":
        torch_muon._zeropower_via_newtonschulz = _f32_iteration
    try:
        start = _model((64, 128, 10), bias=False)
        a, b = copy.deepcopy(start), copy.deepcopy(start)
        for model, opt in ((a, torch.optim.Muon(a.parameters(), lr=0.02)),
                           (b, ft.Muon(b.parameters(), lr=0.02, ns_dtype=ns_dtype))):
            for s in range(steps):
                X = torch.tensor(X_ALL[32 * s:32 * s + 32])
                y = torch.tensor(Y_ALL[32 * s:32 * s + 32])
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(X), y).backward()
                opt.step()
    finally:
        torch_muon._zeropower_via_newtonschulz = original
    w0 = _flat(start)
    return _rel(_flat(a) - w0, _flat(b) - w0)


def sparse_adam() -> float:
    torch.manual_seed(0)
    a = torch.nn.Embedding(50, 8, sparse=True).double()
    b = copy.deepcopy(a)
    for emb, opt in ((a, torch.optim.SparseAdam(a.parameters())),
                     (b, ft.SparseAdam(b.parameters()))):
        for s in range(30):
            gen = torch.Generator().manual_seed(s)
            idx = torch.randint(0, 50, (24,), generator=gen)
            target = torch.randn(24, 8, generator=gen, dtype=torch.float64)
            opt.zero_grad()
            (torch.tanh(emb(idx)) - target).pow(2).sum().backward()
            opt.step()
    return _rel(_flat(a), _flat(b))


if __name__ == "__main__":
    print(f"LBFGS fixed step, 3 steps:          {lbfgs(None):.1e}")
    print(f"LBFGS strong_wolfe, 3 steps:        {lbfgs('strong_wolfe'):.1e}")
    for steps in (1, 5):
        print(f"Muon float32 iteration, {steps} step(s): {muon('float32', steps):.1e}")
        print(f"Muon bfloat16 (torch's), {steps} step(s): {muon('bfloat16', steps):.1e}")
    print(f"SparseAdam embedding, 30 steps:     {sparse_adam():.1e}")
