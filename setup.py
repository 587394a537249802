"""Build fastgd's compiled core (fastgd._core) from src/.

Flags: -O3 with -fno-math-errno (lets gcc vectorise sqrt), -ffp-contract=off (no fused
multiply-add, so results do not depend on the instruction set) and -fno-trapping-math.
Never -ffast-math (it breaks NaN/Inf semantics and parity) and never -march=native (wheels
must run on baseline x86-64). OpenMP is used when the compiler supports it; set
FASTGD_NO_OPENMP=1 to build without it.

FASTGD_SANITIZE=1 builds for AddressSanitizer and UndefinedBehaviorSanitizer instead of
speed (-O1, frame pointers kept, any undefined behaviour fatal): a checking build for
tools/sanitize.sh, which also preloads the ASan runtime the build needs. Never ship it.
"""

import glob
import os
import tempfile

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
# The compile flags live in src/cflags.txt, which the build tests read too.
with open(os.path.join(HERE, "src", "cflags.txt")) as f:
    CFLAGS = [line.strip() for line in f if line.strip() and not line.startswith("#")]
OPENMP_FLAG = "-fopenmp"
SANITIZE_COMPILE = ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
                    "-fno-sanitize-recover=undefined"]
SANITIZE_LINK = ["-fsanitize=address,undefined"]


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "") in ("1", "true", "yes")


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
        compile_args = list(CFLAGS)
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
        super().build_extensions()


extensions = [
    Extension(
        "fastgd._core",
        ["src/_core.pyx"],
        include_dirs=["src", numpy.get_include()],
        depends=sorted(glob.glob(os.path.join("src", "*.h"))) + ["src/cflags.txt"],
    ),
    Extension(
        "fastgd._models",
        ["src/_models.pyx"],
        include_dirs=["src", numpy.get_include()],
        depends=sorted(glob.glob(os.path.join("src", "fastgd_models*.h"))) + ["src/cflags.txt"],
    ),
]

setup(
    ext_modules=cythonize(extensions, compiler_directives={"language_level": 3}),
    cmdclass={"build_ext": BuildExt},
)
