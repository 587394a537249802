"""How the compiled core is built: every kernel loop vectorises for every instruction set,
and no fused multiply-add reaches the binary (it would change the rounding)."""

from __future__ import annotations

import pathlib
import platform
import re
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
X86_64 = platform.machine().lower() in ("x86_64", "amd64")


@pytest.fixture(autouse=True)
def _once_per_ci_run():
    # The build does not depend on the active backend; CI runs the suite once per backend,
    # and these checks (tens of seconds) need to run once, with the compiled core.
    import fastgd
    if fastgd.backend() != "cython":
        pytest.skip("build checks run with the compiled backend")


def _flags():
    """The flags setup.py compiles with (src/cflags.txt), plus OpenMP."""
    lines = (SRC / "cflags.txt").read_text().splitlines()
    return [f.strip() for f in lines if f.strip() and not f.startswith("#")] + ["-fopenmp"]


@pytest.mark.skipif(shutil.which("gcc") is None or not SRC.is_dir() or not X86_64,
                    reason="needs gcc, the source tree and x86-64")
def test_every_kernel_loop_vectorises_for_every_isa(tmp_path):
    # Every element-wise loop is written `for (ptrdiff_t i = lo; i < hi; ++i)`.
    headers = [SRC / "fastgd_kernels_impl.h", *sorted(SRC.glob("kernels_*.h"))]
    loops = {(h.name, n) for h in headers
             for n, line in enumerate(h.read_text().splitlines(), start=1)
             if line.strip().startswith("for (ptrdiff_t i = lo; i < hi; ++i)")}
    assert len(loops) >= 5  # sgd, adam, adagrad, rmsprop, the streaming limit, ...
    probe = tmp_path / "probe.c"
    probe.write_text('#include "fastgd_kernels.h"\n'
                     'const void *probe(int i) { return &fgd_tables[i]; }\n')
    out = subprocess.run(["gcc", *_flags(), f"-I{SRC}", "-fopt-info-vec-optimized", "-c",
                          str(probe), "-o", str(tmp_path / "probe.o")],
                         capture_output=True, text=True, check=True).stderr
    widths: dict[tuple[str, int], set[int]] = {loop: set() for loop in loops}
    for name, line, width in re.findall(r"([\w.]+\.h):(\d+):\d+: optimized: loop "
                                        r"vectorized using (\d+) byte vectors", out):
        if (name, int(line)) in widths:
            widths[name, int(line)].add(int(width))
    for (name, line), seen in widths.items():
        assert {16, 32, 64} <= seen, f"loop at {name}:{line}: {seen}"


@pytest.mark.skipif(shutil.which("objdump") is None or not X86_64,
                    reason="needs objdump and x86-64")
def test_no_fused_multiply_add_in_the_binary():
    core = pytest.importorskip("fastgd._core")
    disassembly = subprocess.run(["objdump", "-d", core.__file__], capture_output=True,
                                 text=True, check=True).stdout
    assert "vsqrtps" in disassembly and "zmm" in disassembly  # the wide variants are there
    assert not re.search(r"\bvf(n?m(add|sub))\w*", disassembly)


def test_flags_are_safe():
    flags = _flags()
    assert "-ffp-contract=off" in flags and "-fno-math-errno" in flags
    assert not any(f.startswith(("-ffast-math", "-march", "-Ofast")) for f in flags)
