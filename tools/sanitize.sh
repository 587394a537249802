#!/usr/bin/env bash
# Build fastgd's compiled core with AddressSanitizer and UndefinedBehaviorSanitizer
# (setup.py, FASTGD_SANITIZE=1: -O1 -g -fno-omit-frame-pointer
# -fsanitize=address,undefined, every UBSan check fatal) in a scratch copy of this checkout,
# then run the tests that exercise the C code against that build, on the compiled backend
# only (one instruction set: at -O1 the variants compile alike). A canary overflow checks
# first that reports do happen; then any sanitizer report fails the run (and is printed).
#
#   tools/sanitize.sh                 # the default subset
#   tools/sanitize.sh tests/test_x.py # other tests (pytest arguments)
#
# Environment: PYTHON (default: python), PYTEST_WORKERS (pytest-xdist workers, default
# none), CC (default: gcc; its libasan is preloaded, as
# the Python interpreter itself is not built with ASan). Leak detection is off: CPython
# keeps memory alive at exit by design.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
CC=${CC:-gcc}
if [ "$#" -eq 0 ]; then  # the tests that run our C code (not those of the references)
    set -- tests/backends/test_parity.py tests/models/test_losses.py \
        tests/models/test_losses_backends.py tests/models/test_clip.py \
        tests/models/test_linear.py tests/models/test_fit.py tests/test_reliability_*.py \
        tests/reference/test_lbfgs.py tests/optim/test_lbfgs.py \
        tests/models/test_sparse_losses.py tests/models/test_fit_sparse.py \
        tests/models/test_sparse_training.py tests/models/test_sparse_momentum.py \
        tests/models/test_stream.py tests/optim/test_lowbit.py tests/reference/test_lowbit.py \
        tests/optim/test_lowp.py tests/backends/test_lowp.py \
        -k "not torch_autograd and not sklearn and not fused_multiply_add"
fi

libasan=$("$CC" -print-file-name=libasan.so)
if [ ! -e "$libasan" ]; then
    echo "sanitize.sh: $CC has no libasan.so (got '$libasan'); install the compiler's" \
         "sanitizer runtime (e.g. libasan8 / gcc's libsanitizer)" >&2
    exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/fastgd-sanitize.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The checkout's own files (tracked, and new ones git does not ignore), without build
# outputs: the scratch copy builds from scratch.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
        xargs -0 cp --parents -t "$work"
else
    cp -r setup.py pyproject.toml src fastgd tests "$work"
    find "$work" -name '*.so' -delete
fi

# The build's own requirements (pyproject's [build-system] requires), where this Python
# lacks them: `pip install .` builds in an isolated environment, so a venv that installed
# fastgd with pip may have neither Cython nor setuptools.
if ! "$PYTHON" -c "import Cython, setuptools, numpy" >/dev/null 2>&1; then
    "$PYTHON" - >"$work/build-requirements.txt" <<'PY'
import tomllib
with open("pyproject.toml", "rb") as f:
    print("\n".join(tomllib.load(f)["build-system"]["requires"]))
PY
    "$PYTHON" -m pip install --quiet -r "$work/build-requirements.txt"
fi

start=$(date +%s)
echo "== sanitize: building the compiled core with ASan/UBSan in $work"
(cd "$work" && FASTGD_SANITIZE=1 "$PYTHON" setup.py build_ext --inplace -q >"$work/build.log" 2>&1) \
    || { cat "$work/build.log"; exit 1; }
echo "   built in $(( $(date +%s) - start )) s"

# The compiled backend only (the suite's --only-active-backend deselects the tests' Numba
# and NumPy instances), at the instruction set the core picks (at -O1 the variants compile
# alike): this plugin deselects the instances on the core's other instruction sets.
cat >"$work/_sanitize_plugin.py" <<'PY'
import fastgd.backends._core as _core

_ISA = _core.isa()


def _other_isa(value):
    if not isinstance(value, str):
        return False
    name, _, isa = value.partition("-")
    return name == "cython" and isa not in ("", _ISA)


def pytest_collection_modifyitems(config, items):
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        off = any(_other_isa(v) for k, v in params.items()
                  if k in ("any_backend", "this_backend", "backend"))
        (drop if off else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
PY
# A known overflow, which must be reported: proof that the sanitizer is live.
cat >"$work/_sanitize_canary.py" <<'PY'
import ctypes
import numpy as np
import fastgd.backends._core as core

kernel = ctypes.CFUNCTYPE(None, ctypes.c_ssize_t, ctypes.c_void_p, ctypes.c_void_p,
                          ctypes.c_void_p, ctypes.c_void_p)(core.kernel_address("sgd", False))
p, g = np.zeros(4), np.ones(4)
buffers = (ctypes.c_void_p * 3)(p.ctypes.data, g.ctypes.data, None)
dims = (ctypes.c_ssize_t * 3)(1, 1, 5)
kernel(5, dims, buffers, (ctypes.c_double * 4)(0.1, 0, 0, 0), (ctypes.c_int * 3)())
PY

logs="$work/reports"
mkdir -p "$logs"
export FASTGD_BACKEND=cython
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:log_path=$logs/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan"
status=0
(
    cd "$work"
    export LD_PRELOAD="$libasan${LD_PRELOAD:+:$LD_PRELOAD}"
    "$PYTHON" - <<'PY'
import os, fastgd, fastgd.backends._core as core, fastgd.backends._models as models
here = os.getcwd()
for m in (core, models):
    assert m.__file__.startswith(here), f"{m.__name__} is not the sanitized build: {m.__file__}"
print(f"   testing {core.__file__} (OpenMP {core.OPENMP}, ISAs {core.isas()})")
PY
    mkdir -p canary
    if ASAN_OPTIONS="detect_leaks=0:log_path=$work/canary/asan" \
            "$PYTHON" _sanitize_canary.py >/dev/null 2>&1 \
            || ! grep -q "heap-buffer-overflow" canary/asan* 2>/dev/null; then
        echo "sanitize.sh: the canary overflow was not reported: the sanitizer is not live" >&2
        exit 1
    fi
    echo "   the canary overflow was reported: the sanitizer is live"
    # PYTEST_WORKERS=N: N pytest-xdist workers (reports are collected from every process)
    "$PYTHON" -m pytest -q -p no:cacheprovider -p _sanitize_plugin --only-active-backend \
        ${PYTEST_WORKERS:+-n "$PYTEST_WORKERS"} "$@"
) || status=$?

if compgen -G "$logs/*" >/dev/null; then
    echo "== sanitize: sanitizer reports" >&2
    cat "$logs"/* >&2
    status=1
fi
echo "== sanitize: $( [ "$status" -eq 0 ] && echo "no reports" || echo "FAILED" )," \
     "$(( $(date +%s) - start )) s in all"
exit "$status"
