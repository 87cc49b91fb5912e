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
