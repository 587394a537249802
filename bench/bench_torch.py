"""fastgd.torch in a torch training loop: optimizer steps timed step against step.

    pytest bench/bench_torch.py --benchmark-json=bench/results/torch.json
    python bench/report.py bench/results/torch.json

Each round runs one step of each side back to back (the order alternating), on one
thread (torch's and fastgd's), and the ratio reported is the median of the rounds'
ratios, as in bench_paired.py. The cases:

- the digits MLP (64-256-256-10, 6 tensors, float32): ``fastgd.torch.Adam`` against
  ``torch.optim.Adam(fused=True)``; ``fastgd.Adam`` on the same tensors as arrays against
  torch fused and against one streaming call over the same bytes (the floor: the Adam
  kernel's own time);
- 200 tensors (100 x [64x64 weight, 64 bias], float32): ``fastgd.torch.Adam``, and
  ``fastgd.Adam`` on the same tensors as NumPy arrays, against torch fused;
- the per-tensor overhead: ``fastgd.Adam``'s step on the 200 arrays against one native
  call of the streaming kernel (a pass reading p, g, m, v and writing p, m, v) over a
  single array of the same size; and its parts: the class's step against one bare call
  of the Adam kernel over the same 200 arrays (the cached step's own cost), and that
  kernel over one array of all the bytes against the streaming call (the arithmetic).

Both optimizer sides step the same gradients (one backward pass, kept), as torch's own
step benchmarks do: a step reads ``.grad`` and updates parameters and state in place.
fastgd.torch reuses its view of a gradient tensor seen at the last step; the case
``torch-200-new-grads`` gives it new gradient tensors at every step (as a loop with
``zero_grad(set_to_none=True)`` does), each then viewed with ``Tensor.numpy()``.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import fastgd
from fastgd import backends as _backend

torch = pytest.importorskip("torch")
import fastgd.torch as ft  # noqa: E402

ROUNDS = 201

#: case -> (numerator, denominator, model); the report matches them to its goals.
CASES = {
    "torch-mlp/torch-fused": ("fastgd-torch", "torch-fused", "mlp"),
    # the MLP's floor: fastgd.Adam on the same tensors as arrays (no adapter), and that
    # step against the streaming pass over the same bytes (the kernel's arithmetic: the
    # MLP's 85k elements stay in cache, where Adam's divisions and square root dominate)
    "numpy-mlp/torch-fused": ("fastgd-numpy", "torch-fused", "mlp"),
    "numpy-mlp/streaming": ("fastgd-numpy", "streaming", "mlp"),
    "torch-200/torch-fused": ("fastgd-torch", "torch-fused", "200"),
    # new gradient tensors at every step, as after zero_grad(set_to_none=True)
    "torch-200-new-grads/torch-fused": ("fastgd-torch-new-grads", "torch-fused", "200"),
    "numpy-200/torch-fused": ("fastgd-numpy", "torch-fused", "200"),
    "numpy-200/streaming": ("fastgd-numpy", "streaming", "200"),
    # where that ratio comes from: the class's own overhead over the bare kernel call on
    # the same 200 arrays, and the Adam kernel's arithmetic on one array of all the bytes
    "numpy-200/kernel-200": ("fastgd-numpy", "kernel-200", "200"),
    "kernel-flat/streaming": ("kernel-flat", "streaming", "200"),
}

_ADAM_SCALARS = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, bias_correction1=0.1,
                     bias_correction2_sqrt=0.03)


def _tensors(model: str) -> list:
    """The model's parameters, each with a gradient (float32, the same every call)."""
    torch.manual_seed(0)
    if model == "mlp":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        net = torch.nn.Sequential(
            torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256),
            torch.nn.ReLU(), torch.nn.Linear(256, 10))
        loss = torch.nn.functional.cross_entropy(
            net(torch.tensor(X[:32] / 16, dtype=torch.float32)), torch.tensor(y[:32]))
        loss.backward()
        return list(net.parameters())
    params = [torch.nn.Parameter(0.1 * torch.randn(s)) for s in [(64, 64), (64,)] * 100]
    for p in params:
        p.grad = torch.randn_like(p)
    return params


def _copies(params: list) -> list:
    out = []
    for p in params:
        q = torch.nn.Parameter(p.detach().clone())
        q.grad = p.grad.clone()
        out.append(q)
    return out


def _side(kind: str, params: list):
    """One Adam step of ``kind`` on copies of ``params``, as a callable."""
    params = _copies(params)
    if kind == "torch-fused":
        opt = torch.optim.Adam(params, lr=1e-3, fused=True)
        step = opt.step
    elif kind == "fastgd-torch":
        step = ft.Adam(params, lr=1e-3).step
    elif kind == "fastgd-torch-new-grads":
        opt = ft.Adam(params, lr=1e-3)
        # two sets of gradient tensors, alternating: each step sees tensors it has not
        # viewed at the last one (their assignment is outside the timed step)
        sets = [[p.grad for p in params], [p.grad.clone() for p in params]]
        opt.step()

        def step():
            opt.step()

        def prepare():
            new = sets[prepare.count % 2]
            prepare.count += 1
            for p, g in zip(params, new):
                p.grad = g
        prepare.count = 0
        step.prepare = prepare  # type: ignore[attr-defined]
    elif kind == "fastgd-numpy":
        arrays = [p.detach().numpy() for p in params]
        grads = [p.grad.numpy() for p in params]
        opt = fastgd.Adam(arrays, lr=1e-3)

        def step():
            opt.step(grads)
    elif kind == "kernel-200":  # one native call of the Adam kernel over the 200 arrays
        core = _backend.load("cython")
        ps = [p.detach().numpy() for p in params]
        gs = [p.grad.numpy() for p in params]
        ms, vs = [np.zeros_like(p) for p in ps], [np.zeros_like(p) for p in ps]

        def step():
            core.adam_many(ps, gs, ms, vs, **_ADAM_SCALARS)
    else:  # the streaming or Adam kernel over one array of all the parameters' elements
        core = _backend.load("cython")
        n = sum(p.numel() for p in params)
        p, g = np.zeros(n, np.float32), np.ones(n, np.float32)
        m, v = np.zeros_like(p), np.zeros_like(p)

        if kind == "kernel-flat":
            def step():
                core.adam_many([p], [g], [m], [v], **_ADAM_SCALARS)
        else:
            def step():
                core.stream_many([p], [g], [m], [v])
    step()  # the state, and the cached step
    step()
    return step


@pytest.mark.parametrize("case", list(CASES))
def bench_torch_paired(benchmark, case, fastgd_threads, torch_threads):
    num, den, model = CASES[case]
    if "cython" not in _backend.available() or fastgd.backend() != "cython":
        pytest.skip("the compiled backend is not the active one")
    torch_threads(1)
    fastgd_threads(1)
    params = _tensors(model)
    a, b = _side(num, params), _side(den, params)
    ratios: list[float] = []
    times: list[tuple[float, float]] = []
    clock = time.perf_counter

    def pair():
        for side in (a, b):
            if hasattr(side, "prepare"):
                side.prepare()
        first, second = (a, b) if len(ratios) % 2 == 0 else (b, a)
        t0 = clock()
        first()
        t1 = clock()
        second()
        t2 = clock()
        ta, tb = (t1 - t0, t2 - t1) if first is a else (t2 - t1, t1 - t0)
        ratios.append(ta / tb)
        times.append((ta, tb))

    benchmark.group = f"paired {case}"
    benchmark.pedantic(pair, rounds=ROUNDS, iterations=1, warmup_rounds=5)
    measured = sorted(ratios[-ROUNDS:])
    benchmark.extra_info.update(
        impl="paired", case=case, n=sum(p.numel() for p in params), threads=1,
        ratio=float(np.median(measured)), low=measured[len(measured) // 4],
        high=measured[(3 * len(measured)) // 4],
        numerator_s=float(np.median([t[0] for t in times[-ROUNDS:]])),
        denominator_s=float(np.median([t[1] for t in times[-ROUNDS:]])))
