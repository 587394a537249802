"""Build fastgd's compiled core (fastgd.backends._core, _models) from src/.

Flags: -O3 with -fno-math-errno (lets gcc vectorise sqrt), -ffp-contract=off (no fused
multiply-add, so results do not depend on the instruction set) and -fno-trapping-math.
Never -ffast-math (it breaks NaN/Inf semantics and parity) and never -march=native (wheels
must run on baseline x86-64). OpenMP is used when the compiler supports it; set
FASTGD_NO_OPENMP=1 to build without it.

FASTGD_SANITIZE=1 builds for AddressSanitizer and UndefinedBehaviorSanitizer instead of
speed (-O1, frame pointers kept, any undefined behaviour fatal): a checking build for
tools/sanitize.sh, which also preloads the ASan runtime the build needs. Never ship it.

Two extension modules, each a Cython wrapper plus C compilation units: fastgd.backends._core
(src/optim: the optimizer kernels) and fastgd.backends._models (src/models: the model
kernels); both share src/common. Every instruction set's kernels are a unit of their own,
and the build compiles all units of both modules in parallel, on FASTGD_BUILD_JOBS
threads (default: one per CPU). The optimizer kernels of torch.optim's rules are compiled a
second time per instruction set with fused multiply-add where torch's CPU kernels fuse
(src/optim/kernels_<isa>_fma.c, for fastgd.set_fma): explicit fmaf/fma calls, the flags
stay the same.
"""

import glob
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# The instruction sets, one compilation unit each (src/common/fgd_isa.h), widest first.
ISAS = ("avx512", "avx2", "baseline")
# The optimizer core's fused multiply-add twins (src/optim/kernels_<isa>_fma.c).
FMA_UNITS = tuple(f"{isa}_fma" for isa in ISAS)
HERE = os.path.dirname(os.path.abspath(__file__))
# The compile flags live in src/cflags.txt, which the build tests read too.
with open(os.path.join(HERE, "src", "cflags.txt")) as f:
    CFLAGS = [line.strip() for line in f if line.strip() and not line.startswith("#")]
OPENMP_FLAG = "-fopenmp"
# No debug information (after Python's own -g): the same machine code, a quarter less
# compile time. The sanitizer build keeps -g (SANITIZE_COMPILE comes after).
NO_DEBUG_INFO = ["-g0"]
SANITIZE_COMPILE = ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
                    "-fno-sanitize-recover=undefined"]
SANITIZE_LINK = ["-fsanitize=address,undefined"]


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "") in ("1", "true", "yes")


def build_jobs() -> int:
    """How many compiles run at once: FASTGD_BUILD_JOBS, else one per CPU."""
    text = os.environ.get("FASTGD_BUILD_JOBS", "").strip()
    if text:
        if not text.isdigit() or int(text) < 1:
            raise ValueError(f"FASTGD_BUILD_JOBS must be a whole number >= 1, got {text!r}")
        return int(text)
    return os.cpu_count() or 1


def compile_rank(source: str) -> int:
    """Slowest first, so that the longest compiles start first: the per-instruction-set
    units (the widest slowest), their fused multiply-add twins (fewer rules), then the
    rest (the Cython modules, the tables)."""
    for rank, unit in enumerate(ISAS + FMA_UNITS):
        if source.endswith(f"_{unit}.c"):
            return rank
    return len(ISAS) + len(FMA_UNITS)


def compile_in_parallel(compiler, pool: ThreadPoolExecutor) -> None:
    """Make ``compiler.compile`` hand its sources to ``pool`` in the order given (the pool
    is shared by both modules, so at most its worker count compile at once), then wait for
    them: the same steps as distutils' CCompiler.compile, whose loop compiles one source
    after another."""

    def compile(sources, output_dir=None, macros=None, include_dirs=None, debug=False,
                extra_preargs=None, extra_postargs=None, depends=None):
        macros, objects, extra_postargs, pp_opts, build = compiler._setup_compile(
            output_dir, macros, include_dirs, sources, depends, extra_postargs)
        cc_args = compiler._get_cc_args(pp_opts, debug, extra_preargs)
        todo = sorted((obj for obj in objects if obj in build),
                      key=lambda obj: compile_rank(build[obj][0]))
        futures = [pool.submit(compiler._compile, obj, *build[obj], cc_args, extra_postargs,
                               pp_opts)
                   for obj in todo]
        for future in futures:
            future.result()  # a failed compile raises here
        return objects

    compiler.compile = compile


def compiler_has_openmp(compiler) -> bool:
    """Compile and link a tiny OpenMP program with the build's own compiler."""
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "omp_probe.c")
        with open(source, "w") as f:
            f.write("#include <omp.h>\nint main(void) { return omp_get_max_threads() < 1; }\n")
        try:
            objects = compiler.compile([source], output_dir=tmp, extra_postargs=[OPENMP_FLAG])
            compiler.link_executable(objects, os.path.join(tmp, "omp_probe"),
                                     extra_postargs=[OPENMP_FLAG])
        except Exception:
            return False
    return True


class BuildExt(build_ext):
    def build_extensions(self):
        # The OpenMP and sanitizer choices come from the environment, which setuptools'
        # up-to-date check does not see: always compile, so a build never reuses objects
        # of another choice.
        self.force = True
        if self.compiler.compiler_type == "msvc":
            raise RuntimeError("fastgd's C kernels need gcc or clang (they use GNU C "
                               "extensions for per-instruction-set code)")
        compile_args = list(CFLAGS) + NO_DEBUG_INFO
        link_args = []
        if not _env_flag("FASTGD_NO_OPENMP") and compiler_has_openmp(self.compiler):
            compile_args.append(OPENMP_FLAG)
            link_args.append(OPENMP_FLAG)
        if _env_flag("FASTGD_SANITIZE"):  # after the flags above: -O1 overrides -O3
            compile_args += SANITIZE_COMPILE
            link_args += SANITIZE_LINK
        for ext in self.extensions:
            ext.extra_compile_args = compile_args + ext.extra_compile_args
            ext.extra_link_args = link_args + ext.extra_link_args
        # Every compilation unit of both modules at once, build_jobs() at a time: the
        # modules are built concurrently (setuptools' own --parallel) and hand their
        # sources to one shared pool of compiles.
        jobs = build_jobs()
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            compile_in_parallel(self.compiler, pool)
            if jobs > 1 and len(self.extensions) > 1:
                self.parallel = len(self.extensions)
            super().build_extensions()


COMMON = sorted(glob.glob(os.path.join("src", "common", "*.h")))

extensions = [
    Extension(
        "fastgd.backends._core",
        ["src/optim/_core.pyx", "src/optim/kernels.c"]
        + [f"src/optim/kernels_{unit}.c" for unit in ISAS + FMA_UNITS]
        + ["src/optim/torch_sqrt.c"],
        include_dirs=["src/common", "src/optim", numpy.get_include()],
        depends=COMMON + sorted(glob.glob(os.path.join("src", "optim", "*.h")))
        + ["src/optim/fast_step.pxi", "src/optim/sparse_adam.pxi", "src/optim/lbfgs.pxi",
           "src/optim/lowbit.pxi"]
        + ["src/cflags.txt"],
    ),
    Extension(
        "fastgd.backends._models",
        ["src/models/_models.pyx", "src/models/models.c"]
        + [f"src/models/models_{isa}.c" for isa in ISAS]
        + [f"src/models/sparse_sgd_{isa}.c" for isa in ISAS],
        # src/optim for kernels.h: the fused training loop calls optimizer kernels by
        # address (fgd_kernel_fn), through src/common/fgd_kernel.pxd.
        include_dirs=["src/common", "src/models", "src/optim", numpy.get_include()],
        depends=COMMON + sorted(glob.glob(os.path.join("src", "models", "*.h")))
        + ["src/models/sparse_sgd.pxi", "src/cflags.txt"],
    ),
]

setup(
    ext_modules=cythonize(extensions, compiler_directives={"language_level": 3},
                          include_path=["src/common"]),
    cmdclass={"build_ext": BuildExt},
)
