"""Shared fixtures. The suite runs on the active backend (FASTGD_BACKEND chooses it) and,
where a test asks for ``any_backend``, on every backend installed here
(``--only-active-backend`` keeps only the active backend's instances: CI's Numba and
NumPy runs, whose other instances the compiled run covers).

The tests mirror the package (``tests/optim/`` tests ``fastgd/optim/`` ...). pytest runs
them with ``--import-mode=importlib``, so this folder is put on ``sys.path`` here, for the
shared helpers: ``from _problems import ...`` (the parity tests' quadratic problem),
``from parity.optim_db import OPTIM_DB`` (every optimizer's parity cases), and the helpers
a folder's test files share: ``_reliability`` (test_reliability_*.py), ``lr_scheduler._cases``,
``models._losses``, ``cli._commands``."""

from __future__ import annotations

import contextlib
import os
import sys
import zlib

import numpy as np
import pytest

import fastgd
from fastgd import backends

if os.path.dirname(__file__) not in sys.path:
    sys.path.insert(0, os.path.dirname(__file__))

INSTALLED = backends.available()


def pytest_addoption(parser):
    parser.addoption(
        "--only-active-backend", action="store_true",
        help="deselect the instances of tests parametrised over the installed backends "
             "(any_backend, a 'backend' parameter) on the backends other than the active one "
             "(FASTGD_BACKEND): CI's Numba and NumPy runs, whose other instances the "
             "compiled run covers")


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--only-active-backend"):
        return
    active = fastgd.backend()
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        other = any(isinstance(v, str) and v.partition("-")[0] != active
                    for k, v in params.items() if k in ("any_backend", "backend"))
        (drop if other else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_report_header(config):
    module = backends.active()
    where = getattr(module, "__file__", "?")
    header = [f"fastgd {fastgd.__version__}: active backend {fastgd.backend()} ({where}); "
              f"installed: {', '.join(INSTALLED)}"]
    if "cython" in INSTALLED:
        core = backends.load("cython")
        header.append(f"compiled core: instruction set {core.isa()} of {core.isas()}; "
                      f"OpenMP {core.OPENMP}; {core.get_num_threads()} threads")
    return header


def pytest_configure(config):
    demanded = os.environ.get("FASTGD_BACKEND", "").strip().lower()
    if demanded and fastgd.backend() != demanded:
        raise pytest.UsageError(f"FASTGD_BACKEND={demanded} but fastgd runs {fastgd.backend()}")
    # The tests' sizes that run on several threads (2**16 elements and up) are chosen for
    # the default threshold, whatever OMP_WAIT_POLICY says.
    if "cython" in INSTALLED:
        core = backends.load("cython")
        core.set_parallel_min(core.PARALLEL_MIN)


def _kernel_variants():
    """Each installed backend; the compiled one once per instruction set this CPU runs."""
    variants = []
    for name in INSTALLED:
        if name == "cython":
            variants += [f"cython-{isa}" for isa, ok in backends.load(name).isas().items()
                         if ok]
        else:
            variants.append(name)
    return variants


KERNEL_VARIANTS = _kernel_variants()


@contextlib.contextmanager
def _on_isa(isa):
    """The compiled core set to instruction set ``isa`` ('' leaves it alone) meanwhile."""
    if not isa:
        yield
        return
    core = backends.load("cython")
    previous = core.isa()
    core.set_isa(isa)
    try:
        yield
    finally:
        core.set_isa(previous)


@pytest.fixture(params=KERNEL_VARIANTS)
def any_backend(request):
    """Run the test once per installed backend (and per instruction set of the core)."""
    name, _, isa = request.param.partition("-")
    with fastgd.use_backend(name), _on_isa(isa):
        yield request.param


def _active_backend_variants():
    """The active backend (FASTGD_BACKEND), the compiled one once per instruction set this
    CPU runs: each CI run of the suite covers its own backend, so that the three runs
    cover every backend once."""
    name = fastgd.backend()
    if name != "cython":
        return [name]
    return [f"cython-{isa}" for isa, ok in backends.load("cython").isas().items() if ok]


@pytest.fixture(params=_active_backend_variants())
def this_backend(request):
    """Run the test on the active backend (on the compiled one, once per instruction set)."""
    with _on_isa(request.param.partition("-")[2]):
        yield request.param


@pytest.fixture
def rng(request):
    """A generator seeded from the test's name: reproducible, different per test."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture(params=[1, 2, 3], ids=lambda n: f"{n}threads")
def threads(request):
    """The compiled core's thread count for the test (Numba and NumPy run on one)."""
    if fastgd.backend() != "cython":
        if request.param != 1:
            pytest.skip("only the compiled core runs on several threads")
        yield 1
        return
    core = backends.load("cython")
    before = core.thread_override()
    fastgd.set_num_threads(request.param)
    assert fastgd.get_num_threads() == (request.param if core.OPENMP else 1)
    yield request.param
    core.set_num_threads(before)
