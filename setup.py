"""Build the compiled kernels of fastml.

All metadata lives in pyproject.toml; this file only declares the Cython
extensions and decides, by compiling and linking a test program, whether they
are built with OpenMP.

Environment switches:
  FASTML_NO_OPENMP=1   build without OpenMP (kernels run serially)
  FASTML_DEBUG=1       keep Cython's bounds and None checks (slow)
"""
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import warnings

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

OPENMP_TEST_PROGRAM = textwrap.dedent(
    """
    #include <omp.h>
    #include <stdio.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        printf("%d", n > 0);
        return 0;
    }
    """
)

# Flags per compiler family: (compile, link).
OPENMP_FLAGS = {
    "msvc": (["/openmp"], []),
    "unix": (["-fopenmp"], ["-fopenmp"]),
}


def _compiler_family(compiler):
    return "msvc" if compiler.compiler_type == "msvc" else "unix"


def probe_openmp(compiler):
    """Return (compile_args, link_args) if OpenMP works, else None.

    Compiles, links and runs a small program with the same compiler that
    builds the extensions.
    """
    if os.environ.get("FASTML_NO_OPENMP", "0") not in ("", "0"):
        print("fastml: FASTML_NO_OPENMP is set; building without OpenMP")
        return None
    compile_args, link_args = OPENMP_FLAGS[_compiler_family(compiler)]
    tmp = tempfile.mkdtemp(prefix="fastml-openmp-")
    cwd = os.getcwd()
    try:
        os.chdir(tmp)
        with open("check_openmp.c", "w") as f:
            f.write(OPENMP_TEST_PROGRAM)
        objects = compiler.compile(["check_openmp.c"], extra_postargs=compile_args)
        compiler.link_executable(objects, "check_openmp", extra_postargs=link_args)
        exe = os.path.join(tmp, "check_openmp" + (".exe" if sys.platform == "win32" else ""))
        output = subprocess.check_output([exe]).decode().strip()
        ok = output == "1"
    except Exception as exc:  # any compile, link or run failure
        ok = False
        reason = str(exc)
    else:
        reason = f"test program printed {output!r}"
    finally:
        os.chdir(cwd)
        shutil.rmtree(tmp, ignore_errors=True)
    if ok:
        return compile_args, link_args
    warnings.warn(
        "\n*****\nfastml: the C compiler cannot build OpenMP programs "
        f"({reason}).\nThe kernels are built WITHOUT OpenMP: they stay correct "
        "but run on one thread.\nInstall an OpenMP runtime (libgomp / libomp) to "
        "get parallel kernels.\n*****",
        stacklevel=1,
    )
    return None


# Extensions whose sums must round the same on every CPU: no fused
# multiply-add contraction (the AVX2 / AVX-512 clones would otherwise fuse
# some products into their sums and the baseline clone would not).
# Modules whose floating-point results are compared bit for bit with another
# computation (split gains and leaf values: the grower's with the step-by-step
# kernels'), so no multiply-add may be fused differently in one of them.
NO_FP_CONTRACTION = {"fastml._kernels._moments", "fastml._kernels._gbdt",
                     "fastml._kernels._grower"}


class BuildExt(build_ext):
    """build_ext that adds OpenMP flags when a probe program builds."""

    def build_extensions(self):
        openmp = probe_openmp(self.compiler)
        family = _compiler_family(self.compiler)
        base = ["/O2"] if family == "msvc" else ["-O3", "-fno-math-errno"]
        for ext in self.extensions:
            ext.extra_compile_args = base + list(ext.extra_compile_args)
            if ext.name in NO_FP_CONTRACTION and family != "msvc":  # MSVC does not contract
                ext.extra_compile_args.append("-ffp-contract=off")
            if openmp is not None:
                ext.extra_compile_args += openmp[0]
                ext.extra_link_args = list(ext.extra_link_args) + openmp[1]
        print(f"fastml: building kernels {'with' if openmp else 'WITHOUT'} OpenMP")
        super().build_extensions()


def extensions():
    from Cython.Build import cythonize

    debug = os.environ.get("FASTML_DEBUG", "0") not in ("", "0")
    directives = {
        "language_level": "3",
        "boundscheck": debug,
        "wraparound": False,
        "initializedcheck": debug,
        "nonecheck": debug,
        "cdivision": True,
        "freethreading_compatible": True,
    }
    kernels = os.path.join("fastml", "_kernels")

    def kernel_module(name, c_sources=(), headers=()):
        """fastml._kernels.<name> from <name>.pyx and its C sources."""
        return Extension(
            f"fastml._kernels.{name}",
            sources=[os.path.join(kernels, f) for f in (f"{name}.pyx", *c_sources)],
            depends=[os.path.join(kernels, h) for h in headers],
            include_dirs=[kernels],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        )

    exts = [
        kernel_module("_distances", ["direct.c", "mahalanobis.c"],
                      ["direct.h", "direct_isa.h", "direct_body.h", "vpow.h", "vpow_body.h",
                       "openmp_compat.h",
                       "mahalanobis.h"]),
        kernel_module("_moments", ["moments.c"], ["moments.h"]),
        kernel_module("_binning"),
        kernel_module("_sparse"),
        kernel_module("_features", ["fourier.c"], ["fourier.h"]),
        kernel_module("_gbdt", ["histogram.c", "partition.c", "forest.c"],
                      ["histogram.h", "partition.h", "forest.h", "split_rules.h", "common.h",
                       "common.pxd", "gbdt_steps.pxd"]),
        kernel_module("_grower", ["histogram.c", "partition.c"],
                      ["histogram.h", "partition.h", "split_rules.h", "common.h", "common.pxd",
                       "gbdt_steps.pxd"]),
        kernel_module("_openmp_info"),
    ]
    return cythonize(exts, compiler_directives=directives)


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
