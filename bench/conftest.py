"""Settings shared by the benchmark suites.

torch bundles its own OpenMP runtime. Two runtimes in one process whose idle workers spin
steal each other's cores on a small machine (a 1e3-element step of either took
milliseconds when both used 2 threads). Passive waiting keeps the comparison fair; it is
set before either library loads, unless the caller chose a policy.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from fastgd import backends as _backend  # noqa: E402

try:
    import torch  # noqa: E402
except ImportError:
    torch = None

@pytest.fixture
def pedantic_settings():
    """``settings(n)``: pedantic() arguments giving each benchmark about the same wall time
    for ``n`` elements (several iterations per round below ~1e5 elements)."""

    def settings(n_elements: int) -> dict:
        # at least 15 rounds: on the shared 2-core machine a median of 5 rounds of a
        # 1e6-element step moved by 2x from run to run
        rounds = int(min(200, max(15, 3e7 / max(n_elements, 1) / 20)))
        iterations = int(min(50, max(1, 2e5 / max(n_elements, 1))))
        return dict(rounds=rounds, iterations=iterations, warmup_rounds=2)

    return settings


@pytest.fixture
def arrays():
    """``arrays(shapes, dtype)``: standard-normal arrays, the same for every implementation."""

    def make(shapes, dtype, seed=0):
        rng = np.random.default_rng(seed)
        return [np.asarray(rng.standard_normal(s), dtype=dtype) for s in shapes]

    return make


@pytest.fixture
def fastgd_threads(request):
    """Set the compiled core's thread count for one benchmark, then restore it."""
    if "cython" not in _backend.available():
        yield lambda n: None
        return
    core = _backend.load("cython")
    before = core.thread_override()
    yield core.set_num_threads
    core.set_num_threads(before)


@pytest.fixture
def torch_threads():
    if torch is None:
        yield lambda n: None
        return
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)

