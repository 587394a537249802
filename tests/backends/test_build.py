"""How the compiled core is built: every kernel loop vectorises for every instruction set,
and no fused multiply-add reaches the binary (it would change the rounding)."""

from __future__ import annotations

import pathlib
import platform
import re
import shutil
import subprocess

import pytest

# The checkout's root: the folder above this file that holds setup.py.
ROOT = next((d for d in pathlib.Path(__file__).resolve().parents
             if (d / "setup.py").is_file()), pathlib.Path(__file__).resolve().parent.parent)
SRC = ROOT / "src"
OPTIM = SRC / "optim"
ISAS = ("baseline", "avx2", "avx512")  # one compilation unit each: src/optim/kernels_<isa>.c
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
    # Every element-wise loop is written `for (ptrdiff_t i = lo; i < hi; ++i)`, in the
    # rules' headers (src/optim/<rule>.h).
    headers = sorted(OPTIM.glob("*.h"))
    loops = {(h.name, n) for h in headers
             for n, line in enumerate(h.read_text().splitlines(), start=1)
             if line.strip().startswith("for (ptrdiff_t i = lo; i < hi; ++i)")}
    assert len(loops) >= 5  # sgd, adam, adagrad, rmsprop, the streaming limit, ...
    # The units of the three instruction sets, compiled as setup.py does, side by side.
    runs = [subprocess.Popen(["gcc", *_flags(), f"-I{SRC / 'common'}", f"-I{OPTIM}",
                              "-fopt-info-vec-optimized", "-c", str(OPTIM / f"kernels_{isa}.c"),
                              "-o", str(tmp_path / f"kernels_{isa}.o")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for isa in ISAS]
    out = ""
    for run in runs:
        err = run.communicate()[1]
        assert run.returncode == 0, err
        out += err
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
    core = pytest.importorskip("fastgd.backends._core")
    disassembly = subprocess.run(["objdump", "-d", core.__file__], capture_output=True,
                                 text=True, check=True).stdout
    assert "vsqrtps" in disassembly and "zmm" in disassembly  # the wide variants are there
    assert not re.search(r"\bvf(n?m(add|sub))\w*", disassembly)


def test_flags_are_safe():
    flags = _flags()
    assert "-ffp-contract=off" in flags and "-fno-math-errno" in flags
    assert not any(f.startswith(("-ffast-math", "-march", "-Ofast")) for f in flags)
