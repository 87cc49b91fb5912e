"""Packaging-level promises of fastml: cheap imports, the ``fastml`` command,
the doctests of the kernel catalogue, and the version number.

Commands run in a fresh interpreter (``sys.executable``) in an empty
temporary directory, so the source tree is not put on ``sys.path`` by the
working directory; ``PYTHONPATH`` is passed through unchanged, so the
subprocess imports the same fastml as this test process (checked).
"""
import doctest
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

import fastml

HEAVY_MODULES = ("numba", "dask", "distributed")
TIMEOUT = 300


def run_python(args, cwd):
    """Run ``python <args>`` in a fresh interpreter; return the CompletedProcess."""
    return run_command([sys.executable, *args], cwd)


def run_command(command, cwd):
    return subprocess.run(command, cwd=cwd, env=dict(os.environ), capture_output=True,
                          text=True, timeout=TIMEOUT)


def assert_ok(proc):
    assert proc.returncode == 0, (
        f"exit status {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    )


# --------------------------------------------------------------------------- imports

IMPORT_PROBE = """
import json, sys
import {module}
import fastml
print(json.dumps({{"file": fastml.__file__,
                   "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


@pytest.mark.parametrize("module", ["fastml", "fastml.metrics", "fastml.kernels"])
def test_import_loads_neither_numba_nor_dask(tmp_path, module):
    proc = run_python(["-c", IMPORT_PROBE.format(module=module, heavy=HEAVY_MODULES)], tmp_path)
    assert_ok(proc)
    report = json.loads(proc.stdout.strip().splitlines()[-1])

    assert os.path.samefile(report["file"], fastml.__file__), (
        "the subprocess imported a different fastml; run the tests with the package "
        "installed or with PYTHONPATH pointing at the source tree"
    )
    assert report["heavy"] == [], f"import {module} loaded {report['heavy']}"


def test_import_probe_detects_heavy_modules(tmp_path):
    # The probe above can fail: importing a Dask-backed path does load Dask.
    code = IMPORT_PROBE.format(module="fastml._dask", heavy=HEAVY_MODULES)
    proc = run_python(["-c", code], tmp_path)
    assert_ok(proc)
    assert "dask" in json.loads(proc.stdout.strip().splitlines()[-1])["heavy"]


# --------------------------------------------------------------------------- fastml info / demo

def console_script():
    """The installed ``fastml`` script next to this interpreter, or None."""
    return shutil.which("fastml", path=os.path.dirname(sys.executable))


def fastml_command(kind):
    if kind == "python -m fastml":
        return [sys.executable, "-m", "fastml"]
    script = console_script()
    if script is None:
        pytest.skip("no 'fastml' console script next to sys.executable: the package is "
                    "not pip-installed (dev mode with PYTHONPATH); CI installs it")
    return [script]


@pytest.mark.parametrize("kind", ["python -m fastml", "fastml script"])
def test_info_reports_build(tmp_path, kind):
    from fastml._kernels import _distances, _openmp_info

    proc = run_command([*fastml_command(kind), "info"], tmp_path)
    assert_ok(proc)
    out = proc.stdout

    assert f"fastml {fastml.__version__}\n" in out
    for module in ("fastml._kernels._distances", "fastml._kernels._moments",
                   "fastml._kernels._openmp_info"):
        assert re.search(rf"^\s*{re.escape(module)}\s+loaded$", out, re.M), out
    assert "FAILED" not in out
    openmp = "yes" if _openmp_info.openmp_enabled() else "no"
    assert f"OpenMP: {openmp}" in out
    isa = re.search(r"vector instructions: (\w+) in use", out)
    assert isa is not None, out
    assert isa.group(1) == _distances.isa_in_use()
    assert isa.group(1) in ("baseline", "avx2", "avx512")
    assert "levels: baseline, avx2, avx512" in out


def test_demo_agrees_with_scikit_learn(tmp_path):
    n = 100
    proc = run_python(["-m", "fastml", "demo", "--n", str(n)], tmp_path)
    assert_ok(proc)

    assert f"random {n} x 64 float32" in proc.stdout       # --n was honoured
    assert "MISMATCH" not in proc.stdout
    assert "all distances agree with scikit-learn" in proc.stdout
    knn = proc.stdout.split("kNN classification")[1].splitlines()[1:3]
    assert [line.split()[0] for line in knn] == ["digits", "generated"]
    assert all(line.rstrip().endswith("yes") for line in knn)
    # kNN on digits is accurate (the predictions also equal scikit-learn's)
    assert float(knn[0].split()[-2]) > 0.95
    assert "all predictions agree with scikit-learn" in proc.stdout
    transforms = proc.stdout.split("transform -> LogisticRegression")[1].splitlines()[1:3]
    assert [line.split()[0] for line in transforms] == ["KBinsDiscretizer(16,",
                                                        "QuantileTransformer(normal)"]
    assert all(line.rstrip().endswith("yes") for line in transforms)
    assert "all transforms and predictions agree with scikit-learn" in proc.stdout
    boosting = proc.stdout.split("gradient boosting fit")[1].splitlines()[1:3]
    assert [line.split()[0] for line in boosting] == ["digits", "generated"]
    assert float(boosting[0].split()[-2]) > 0.9            # digits accuracy
    assert all(float(line.split()[-1].rstrip("%")) >= 99.0 for line in boosting)
    assert "gradient boosting agrees with scikit-learn" in proc.stdout
    # the Dask section: a line per iteration in a log, the in-memory model
    assert "[20/20] 1 tree" in proc.stdout
    assert proc.stdout.rstrip().endswith("the Dask fit is the in-memory model")


def test_cli_rejects_unknown_command(tmp_path):
    proc = run_python(["-m", "fastml", "no-such-command"], tmp_path)
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr


# --------------------------------------------------------------------------- doctests and version

KERNEL_FAMILIES = ["fastml.kernels." + family for family in (
    "distances", "neighbors", "moments", "quantiles", "summaries", "binning", "features",
    "boosting", "losses", "splits", "trees", "grower", "sparse", "sparse_distances")]

# Public names of the catalogue that are types, constants or input checks
# rather than kernels, so they carry no Dask recipe.
NOT_KERNELS = {
    "DistanceRequest", "Moments", "QuantileSummary", "SplitCandidates", "Tree",
    "GradientHistograms", "polynomial_degree_range", "n_polynomial_terms", "polynomial_plan",
    "check_fixed_point", "repeating_features", "check_tree", "SparseIndex",
}


@pytest.mark.parametrize("module", [*KERNEL_FAMILIES, "fastml.neighbors",
                                    "fastml.preprocessing",
                                    "fastml.ensemble._hist_gradient_boosting.losses"])
def test_doctests_pass(module):
    import dask

    module = importlib.import_module(module)
    # Dask's default local scheduler, whether or not a test before this one
    # created a distributed Client (which would otherwise be the default).
    with dask.config.set(scheduler="threads"):
        result = doctest.testmod(module, report=False)
    assert result.attempted > 0
    assert result.failed == 0


def test_every_kernel_shows_its_dask_recipe():
    import fastml.kernels as kernels

    families = [importlib.import_module(name) for name in KERNEL_FAMILIES]
    assert sorted(kernels.__all__) == sorted(n for f in families for n in f.__all__)
    for name in kernels.__all__:
        assert hasattr(kernels, name), name
    missing = [name for name in kernels.__all__
               if callable(getattr(kernels, name)) and name not in NOT_KERNELS
               and not (">>>" in (getattr(kernels, name).__doc__ or "")
                        and "dask" in getattr(kernels, name).__doc__.lower())]
    assert not missing, f"kernels without a Dask recipe (doctest) in their docstring: {missing}"


def test_version_matches_installed_metadata():
    try:
        installed = importlib.metadata.version("fastml")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("fastml is not pip-installed (dev mode with PYTHONPATH): no metadata")
    assert fastml.__version__ == installed
