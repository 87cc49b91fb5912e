"""set_output with Dask input: a lazy Dask DataFrame, never a computed one.

The reference is the same estimator's pandas output on the NumPy data.
"""
import numpy as np
import pandas as pd
import pytest
import sklearn
from dask.callbacks import Callback
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

import dask
import dask.array as da
import dask.dataframe as dd

from fastml import preprocessing as fp
from fastml.kernel_approximation import RBFSampler

TRANSFORMERS = [
    pytest.param(lambda: fp.StandardScaler(), id="standard"),
    pytest.param(lambda: fp.MinMaxScaler(clip=True), id="minmax"),
    pytest.param(lambda: fp.MaxAbsScaler(), id="maxabs"),
    pytest.param(lambda: fp.RobustScaler(), id="robust"),
    pytest.param(lambda: fp.KBinsDiscretizer(n_bins=4, encode="onehot-dense", subsample=None),
                 id="kbins"),
    pytest.param(lambda: fp.QuantileTransformer(n_quantiles=50, subsample=None), id="quantile"),
    pytest.param(lambda: fp.PolynomialFeatures(degree=2), id="poly"),
    pytest.param(lambda: RBFSampler(n_components=5, random_state=0), id="rbf"),
]


class CountComputes(Callback):
    """Counts graphs run by the local schedulers inside the block."""


    def __init__(self):
        super().__init__()
        self.runs = 0

    def _start(self, dsk):
        self.runs += 1


@pytest.fixture
def data(rng):
    return rng.normal(size=(900, 3))


@pytest.mark.parametrize("make", TRANSFORMERS)
def test_pandas_output_of_dask_input_is_a_lazy_dask_dataframe(client, data, make):
    est = make().set_output(transform="pandas")
    Xd = da.from_array(data, chunks=(250, 3))
    est.fit(Xd)
    cloned = clone(est).fit(Xd)
    # on the local scheduler, where the callback sees any compute
    with dask.config.set(scheduler="sync"), CountComputes() as counter:
        out = est.transform(Xd)
        out_cloned = cloned.transform(Xd)
    assert counter.runs == 0
    assert isinstance(out, dd.DataFrame) and isinstance(out_cloned, dd.DataFrame)
    assert out.npartitions == 4
    assert list(out.columns) == list(est.get_feature_names_out())
    expected = make().set_output(transform="pandas").fit(data).transform(data)
    got = out.compute()
    assert isinstance(got, pd.DataFrame)
    assert list(got.columns) == list(expected.columns)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-12, atol=1e-12)
    assert isinstance(est.fit_transform(Xd), dd.DataFrame)


def test_output_configuration_follows_scikit_learn(client, data):
    Xd = da.from_array(data, chunks=300)
    with sklearn.config_context(transform_output="pandas"):
        assert isinstance(fp.StandardScaler().fit_transform(Xd), dd.DataFrame)
        explicit = fp.StandardScaler().set_output(transform="default")
        assert isinstance(explicit.fit_transform(Xd), da.Array)
        assert isinstance(clone(explicit).fit_transform(Xd), da.Array)
    assert isinstance(fp.StandardScaler().fit_transform(Xd), da.Array)
    kept = clone(fp.MinMaxScaler().set_output(transform="pandas"))
    assert isinstance(kept.fit_transform(Xd), dd.DataFrame)
    # NumPy input keeps scikit-learn's own containers
    assert isinstance(kept.fit_transform(data), pd.DataFrame)
    pipeline = make_pipeline(fp.StandardScaler(), fp.PolynomialFeatures()).set_output(
        transform="pandas")
    out = pipeline.fit_transform(Xd)
    assert isinstance(out, dd.DataFrame) and out.shape[1] == 10


def test_polars_output_of_dask_input_is_refused(client, data):
    est = fp.StandardScaler().set_output(transform="polars").fit(data)
    with pytest.raises(ValueError, match="no lazy container for Dask input"):
        est.transform(da.from_array(data))


def test_dask_dataframe_input_keeps_names_and_index(client, data):
    frame = pd.DataFrame(data, columns=["a", "b", "c"], index=np.arange(900) * 3)
    ddf = dd.from_pandas(frame, npartitions=3)
    est = fp.QuantileTransformer(n_quantiles=20).set_output(transform="pandas")
    out = est.fit_transform(ddf)
    assert list(est.feature_names_in_) == ["a", "b", "c"]
    assert isinstance(out, dd.DataFrame)
    got = out.compute()
    expected = fp.QuantileTransformer(n_quantiles=20, subsample=None).set_output(
        transform="pandas").fit_transform(frame)
    pd.testing.assert_frame_equal(got, expected)
    renamed = dd.from_pandas(frame.rename(columns={"a": "z"}), npartitions=3)
    with pytest.raises(ValueError, match="feature names should match"):
        est.transform(renamed)


@pytest.mark.parametrize("make", TRANSFORMERS)
def test_transform_of_a_dask_dataframe_reads_nothing(client, make):
    """Only fit reads the partitions (their lengths and statistics);
    transform builds a graph and loads nothing."""
    loads = []

    def partition(i):
        loads.append(i)
        rng = np.random.default_rng(i)
        return pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"],
                            index=np.arange(40) + 40 * i)

    with dask.config.set(scheduler="sync"):
        frame = dd.from_map(partition, range(4))
        est = make().fit(frame)
        loads.clear()
        lazy = est.transform(frame)
        pandas_lazy = clone(est).set_output(transform="pandas").fit(frame)
        loads.clear()
        pandas_out = pandas_lazy.transform(frame)
        assert loads == []
        got = pandas_out.compute()
    assert isinstance(lazy, da.Array) and isinstance(pandas_out, dd.DataFrame)
    assert list(got.index) == list(range(160))
    assert list(got.columns) == list(est.get_feature_names_out())


def test_feature_name_checks_follow_scikit_learn(client, data):
    frame = dd.from_pandas(pd.DataFrame(data, columns=["a", "b", "c"]), npartitions=3)
    array = da.from_array(data, chunks=300)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        fp.StandardScaler().fit(frame).transform(array)
    with pytest.warns(UserWarning, match="has feature names, but StandardScaler was fitted "
                                         "without"):
        fp.StandardScaler().fit(array).transform(frame)
    mixed = dd.from_pandas(pd.DataFrame(data, columns=["a", 1, "c"]), npartitions=3)
    with pytest.raises(TypeError, match="all input features have string names"):
        fp.StandardScaler().fit(mixed)
