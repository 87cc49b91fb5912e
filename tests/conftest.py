"""Shared fixtures for the fastml test suite.

The references in tests/naive.py are imported as a plain module
(``import naive``): tests/ is no package, so pytest puts it on ``sys.path``
(its default "prepend" import mode).
"""
import numpy as np
import pytest


@pytest.fixture
def rng():
    """A fresh, seeded generator per test: failures are reproducible."""
    return np.random.default_rng(20240607)


@pytest.fixture(scope="session")
def client():
    """One real multi-process Dask cluster shared by every Dask test.

    Two single-threaded worker processes, so functions (custom metrics,
    Plans) really are pickled and shipped to other interpreters.
    """
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture
def separate_processes_cluster(tmp_path):
    """The address of a cluster of ``dask scheduler`` and ``dask worker``
    (two single-threaded workers) started as their own processes on
    loopback, as on a real cluster; stopped after the test."""
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cli = [sys.executable, "-m", "dask"]
    logs = [open(tmp_path / name, "w") for name in ("scheduler.log", "worker.log")]
    # Run outside the source tree: ``python -m`` puts the working directory
    # first on sys.path, and an unbuilt checkout would shadow the installed
    # fastml there.
    scheduler = subprocess.Popen(
        cli + ["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        stdout=logs[0], stderr=logs[0], cwd=tmp_path)
    worker = subprocess.Popen(
        cli + ["worker", f"tcp://127.0.0.1:{port}", "--nworkers", "2", "--nthreads", "1",
               "--host", "127.0.0.1", "--no-dashboard", "--death-timeout", "60"],
        stdout=logs[1], stderr=logs[1], cwd=tmp_path)
    try:
        yield f"tcp://127.0.0.1:{port}"
    finally:
        for process in (worker, scheduler):
            process.terminate()
        for process in (worker, scheduler):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs:
            log.close()
