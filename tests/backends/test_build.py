"""How the compiled core is built: every kernel loop vectorises for every instruction set,
and no fused multiply-add reaches the binary (it would change the rounding) but in the
torch-exact twins of fastgd.set_fma."""

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
FMA_TWINS = ("avx2_fma", "avx512_fma")   # src/optim/kernels_<isa>_fma.c (and baseline_fma)
#: The headers of torch.optim's rules, the ones the fused multiply-add twins compile.
TORCH_RULE_HEADERS = {f"{rule}.h" for rule in ("sgd", "adam", "adagrad", "rmsprop", "adadelta",
                                               "adamax", "nadam", "radam", "rprop", "asgd",
                                               "adafactor")}
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
    # gcc reports a loop inside FGD_UNSWITCH(flag, ...) (the fused multiply-add twins'
    # specialisation, src/optim/kernel_dtype.h) at the line of that macro, just above.
    # Loops between `#if !FGD_FMA` and its `#endif` are not in the twins.
    # lowp.h (bfloat16 conversions) is compiled into fastgd.backends._core only, at the
    # baseline instruction set: not in the per-instruction-set units.
    headers = sorted(h for h in OPTIM.glob("*.h") if h.name != "lowp.h")
    loops = set()
    twin_loops = set()
    for h in headers:
        lines = h.read_text().splitlines()
        plain_only = False
        for n, line in enumerate(lines, start=1):
            plain_only = (plain_only or line.startswith("#if !FGD_FMA")) and not (
                plain_only and line.startswith("#endif"))
            if line.strip().startswith("for (ptrdiff_t i = lo; i < hi; ++i)"):
                above = n > 1 and lines[n - 2].strip().startswith("FGD_UNSWITCH(")
                loops.add((h.name, n - 1 if above else n))
                if h.name in TORCH_RULE_HEADERS and not plain_only:
                    twin_loops.add((h.name, n - 1 if above else n))
    assert len(loops) >= 5  # sgd, adam, adagrad, rmsprop, the streaming limit, ...
    # The units of the three instruction sets and the AVX2/AVX-512 fused multiply-add
    # twins, compiled as setup.py does, side by side.
    units = [*ISAS, *FMA_TWINS]
    runs = [subprocess.Popen(["gcc", *_flags(), f"-I{SRC / 'common'}", f"-I{OPTIM}",
                              "-fopt-info-vec-optimized", "-c",
                              str(OPTIM / f"kernels_{unit}.c"),
                              "-o", str(tmp_path / f"kernels_{unit}.o")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for unit in units]
    reports = {}
    for unit, run in zip(units, runs):
        err = run.communicate()[1]
        assert run.returncode == 0, err
        reports[unit] = err

    def widths(units):
        seen: dict[tuple[str, int], set[int]] = {loop: set() for loop in loops}
        for unit in units:
            for name, line, width in re.findall(r"([\w.]+\.h):(\d+):\d+: optimized: loop "
                                                r"vectorized using (\d+) byte vectors",
                                                reports[unit]):
                if (name, int(line)) in seen:
                    seen[name, int(line)].add(int(width))
        return seen

    for (name, line), seen in widths(ISAS).items():
        assert {16, 32, 64} <= seen, f"loop at {name}:{line}: {seen}"
    # The twins compile torch.optim's rules (less optax's Adam form): their loops too, but
    # the AVX-512 twin's float32 loops with a square root call torch's (torch_sqrt.c)
    # through the vector function ABI, whose epilogue is 32 bytes wide.
    assert ("adam.h", 20) in twin_loops and len(twin_loops) < len(loops)
    for unit, width in zip(FMA_TWINS, (32, 64)):
        for loop, seen in widths([unit]).items():
            if loop in twin_loops:
                assert width in seen, f"{unit}: loop at {loop[0]}:{loop[1]}: {seen}"


@pytest.mark.skipif(shutil.which("objdump") is None or not X86_64,
                    reason="needs objdump and x86-64")
def test_no_fused_multiply_add_in_the_binary_but_in_the_fma_twins():
    core = pytest.importorskip("fastgd.backends._core")
    disassembly = subprocess.run(["objdump", "-d", core.__file__], capture_output=True,
                                 text=True, check=True).stdout
    assert "vsqrtps" in disassembly and "zmm" in disassembly  # the wide variants are there
    if not re.search(r"^[0-9a-f]+ <fgd_\w+>:$", disassembly, re.M):
        pytest.skip("a stripped binary (the repaired wheel): no function names to attribute "
                    "its instructions to; the build from the checkout runs this check")
    # Per function (objdump's "<name>:" headers): fused multiply-add only in the twins
    # (fgd_<kernel>_<f32|f64>_<isa>_fma, and their OpenMP bodies) and in torch's AVX-512
    # square root they call (src/optim/torch_sqrt.c), and there in every AVX2/AVX-512
    # twin of a rule with a product and a sum.
    fused = set()
    function = ""
    for line in disassembly.splitlines():
        header = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if header:
            function = header.group(1)
        elif re.search(r"\tvf(n?m(add|sub))\w*", line):
            fused.add(function)
    allowed = r"_(avx2|avx512)_fma(\.|$)|fgd_torch_sqrt_f32_avx512$|fgd_torch_sqrt16_avx512"
    assert fused and all(re.search(allowed, f) for f in fused), sorted(
        f for f in fused if not re.search(allowed, f))
    for rule in ("sgd", "adam", "adagrad", "rmsprop"):
        for twin in ("f32_avx2_fma", "f32_avx512_fma", "f64_avx2_fma", "f64_avx512_fma"):
            assert any(f.startswith(f"fgd_{rule}_{twin}") for f in fused), (rule, twin)


def test_flags_are_safe():
    flags = _flags()
    assert "-ffp-contract=off" in flags and "-fno-math-errno" in flags
    assert not any(f.startswith(("-ffast-math", "-march", "-Ofast")) for f in flags)


# -- the names each kernel's C entry reads (FGD_CALL_ARGS beside its FGD_CALL) ----------------


def test_kernel_arguments_are_the_declarations_in_order():
    from fastgd.backends import _core
    from fastgd.reference._declare import KERNELS
    compiled = _core.kernel_arguments()
    assert set(compiled) == set(KERNELS)
    for name, decl in KERNELS.items():
        assert compiled[name] == (decl.roles, tuple(decl.scalars), decl.flags), name
        _core.check_kernel_arguments(name, compiled[name])  # what the import runs


@pytest.mark.parametrize("which, doctor, pattern", [
    (1, lambda s: (s[1], s[0], *s[2:]),
     r"'sgd'.*its scalars.*scalar 0 is 'momentum' in C and 'lr' in the declaration"),
    (2, lambda f: f[::-1], r"'sgd'.*its flags.*flag 0 is 'first_step' in C and 'nesterov'"),
    (0, lambda b: b[:2], r"'sgd'.*its buffers.*buffer 2 is nothing in C and 'momentum_buffer'"),
])
def test_a_swapped_order_fails_the_import_check(which, doctor, pattern):
    from fastgd.backends import _core
    arguments = list(_core.kernel_arguments()["sgd"])
    arguments[which] = doctor(arguments[which])
    with pytest.raises(ImportError, match=pattern):
        _core.check_kernel_arguments("sgd", tuple(arguments))


@pytest.mark.skipif(not OPTIM.is_dir(), reason="needs the source tree")
def test_each_entry_states_as_many_names_as_it_unpacks():
    # FGD_CALL_ARGS(fgd_<name>, (buffers), (scalars), (flags)) just above FGD_CALL(fgd_<name>),
    # whose body reads b[0], b[1], ..., s[0], ..., f[0], ... in that order.
    source = "".join(h.read_text() for h in sorted(OPTIM.glob("*.h")))
    entries = re.findall(r"^FGD_CALL_ARGS\((\w+),\s*\(([^)]*)\),\s*\(([^)]*)\),\s*\(([^)]*)\)\)"
                         r"\s*FGD_CALL\((\w+)\)\s*\{(.*?)^\}", source, re.MULTILINE | re.DOTALL)
    assert len(entries) == len(re.findall(r"^FGD_CALL\(", source, re.MULTILINE)) >= 20
    for name, roles, scalars, flags, call, body in entries:
        assert name == call
        for letter, names in zip("bsf", (roles, scalars, flags)):
            read = [int(i) for i in re.findall(rf"\b{letter}\[(\d+)\]", body)]
            assert read == list(range(len([n for n in names.split(",") if n.strip()]))), \
                (name, letter)
