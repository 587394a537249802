"""Backend selection: default order, FASTGD_BACKEND, fallbacks with warnings, switching."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastgd
from fastgd import backends

BLOCK = textwrap.dedent("""
    import importlib.abc, sys
    class Block(importlib.abc.MetaPathFinder):
        def __init__(self, names): self.names = names
        def find_spec(self, name, path=None, target=None):
            if name in self.names:
                raise ImportError(f"{{name}} blocked by the test")
    sys.meta_path.insert(0, Block({blocked!r}))
""")


def _python(code, tmp_path, backend=None, blocked=()):
    env = {k: v for k, v in os.environ.items() if k != "FASTGD_BACKEND"}
    if backend:
        env["FASTGD_BACKEND"] = backend
    script = BLOCK.format(blocked=set(blocked)) + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-W", "always", "-c", script], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)


def test_backend_names():
    assert fastgd.backend() in fastgd.BACKENDS == ("cython", "numba", "numpy")


def test_the_compiled_core_is_a_native_extension():
    core = backends.load("cython")
    assert core.__file__.endswith((".so", ".pyd"))
    assert isinstance(core.OPENMP, bool)


def test_without_request_the_compiled_core_is_the_default(tmp_path):
    out = _python("import fastgd; print(fastgd.backend())", tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "cython"
    assert "RuntimeWarning" not in out.stderr


@pytest.mark.parametrize("name", ["numpy", "cython"])
def test_environment_variable_chooses(tmp_path, name):
    out = _python("import fastgd; print(fastgd.backend())", tmp_path, backend=name)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == name


def test_environment_variable_numba(tmp_path):
    pytest.importorskip("numba")
    out = _python("import fastgd; print(fastgd.backend())", tmp_path, backend="numba")
    assert out.stdout.strip() == "numba", out.stderr


def test_missing_core_falls_back_with_one_warning(tmp_path):
    code = "import fastgd, fastgd.optim; print(fastgd.backend())"
    out = _python(code, tmp_path, blocked=["fastgd.backends._core"])
    assert out.returncode == 0, out.stderr
    try:
        import numba  # noqa: F401
        expected = "numba"
    except ImportError:
        expected = "numpy"
    assert out.stdout.strip() == expected
    assert out.stderr.count("RuntimeWarning") == 1
    assert "backend 'cython' cannot be loaded" in out.stderr


def test_missing_core_and_numba_falls_back_to_numpy(tmp_path):
    out = _python("import fastgd; print(fastgd.backend())", tmp_path,
                  blocked=["fastgd.backends._core", "numba"])
    assert out.stdout.strip() == "numpy", out.stderr
    assert "'cython' cannot be loaded" in out.stderr and "'numba' cannot be loaded" in out.stderr


def test_demanding_a_backend_that_cannot_load_fails_at_import(tmp_path):
    out = _python("import fastgd", tmp_path, backend="cython", blocked=["fastgd.backends._core"])
    assert out.returncode != 0
    assert "ImportError: fastgd backend 'cython' cannot be loaded" in out.stderr
    assert "pip install ." in out.stderr


def test_unknown_backend_in_environment(tmp_path):
    out = _python("import fastgd", tmp_path, backend="fortran")
    assert out.returncode != 0 and "unknown fastgd backend 'fortran'" in out.stderr


def test_set_backend_errors():
    with pytest.raises(ValueError, match="unknown fastgd backend 'gpu'"):
        fastgd.set_backend("gpu")


def test_use_backend_switches_and_restores():
    before = fastgd.backend()
    with fastgd.use_backend("numpy") as name:
        assert name == "numpy" and fastgd.backend() == "numpy"
        w = np.zeros(2)
        fastgd.SGD([w], lr=1.0).step([np.ones(2)])
        assert (w == -1).all()
    assert fastgd.backend() == before
    with pytest.raises(RuntimeError), fastgd.use_backend("numpy"):
        raise RuntimeError
    assert fastgd.backend() == before


def test_set_backend_applies_to_existing_optimizers():
    w = np.zeros(2)
    opt = fastgd.Adam([w], lr=0.1)
    before = fastgd.backend()
    try:
        fastgd.set_backend("numpy")
        opt.step([np.ones(2)])
        assert fastgd.backend() == "numpy"
    finally:
        fastgd.set_backend(before)
    assert w[0] == pytest.approx(-0.1)
