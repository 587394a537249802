"""Shared fixtures. The suite runs on the active backend (FASTGD_BACKEND chooses it) and,
where a test asks for ``any_backend``, on every backend installed here."""

from __future__ import annotations

import os
import zlib

import numpy as np
import pytest

import fastgd
from fastgd import _backend

INSTALLED = []
for _name in fastgd.BACKENDS:
    try:
        _backend.load(_name)
    except ImportError:
        continue
    INSTALLED.append(_name)


def pytest_report_header(config):
    module = _backend.active()
    where = getattr(module, "__file__", "?")
    return [f"fastgd {fastgd.__version__}: active backend {fastgd.backend()} ({where}); "
            f"installed: {', '.join(INSTALLED)}"]


def pytest_configure(config):
    demanded = os.environ.get("FASTGD_BACKEND", "").strip().lower()
    if demanded and fastgd.backend() != demanded:
        raise pytest.UsageError(f"FASTGD_BACKEND={demanded} but fastgd runs {fastgd.backend()}")


@pytest.fixture(params=INSTALLED)
def any_backend(request):
    """Run the test once per installed backend."""
    with fastgd.use_backend(request.param):
        yield request.param


@pytest.fixture
def rng(request):
    """A generator seeded from the test's name: reproducible, different per test."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))
