"""Shared fixtures for the fastml test suite."""
import os
import sys

import numpy as np
import pytest

# tests/naive.py is imported as a plain module by the accuracy tests.
sys.path.insert(0, os.path.dirname(__file__))


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
