"""Behaviours of ``fastml.preprocessing`` that scikit-learn 1.9 defines
beyond the numbers (issue 18): a constant feature's variance, float16
input, MaxAbsScaler(clip=...), StandardScaler.set_callbacks; each compared
with scikit-learn itself."""
import copy
import inspect
import pickle

import numpy as np
import pytest
import sklearn
import sklearn.preprocessing as sk
from sklearn.base import clone

import fastml.preprocessing as fm

RNG = np.random.RandomState(0)


@pytest.mark.parametrize("value", [0.1, 0.3, -7.77, 1 / 3, 1e10, 1e-300, 0.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_constant_feature_has_zero_variance(value, dtype):
    X = np.column_stack([np.full(1000, value), RNG.normal(size=1000)]).astype(dtype)
    ref, ours = sk.StandardScaler().fit(X), fm.StandardScaler().fit(X)
    assert ref.var_[0] == 0 and ours.var_[0] == 0
    np.testing.assert_allclose(ours.var_, ref.var_, rtol=1e-6)
    np.testing.assert_allclose(ours.mean_, ref.mean_, rtol=1e-6)
    np.testing.assert_array_equal(ours.scale_[0], ref.scale_[0])
    np.testing.assert_allclose(ours.transform(X), ref.transform(X), rtol=1e-5, atol=1e-6)


def test_constant_feature_with_weights_nan_and_partial_fit():
    X = np.column_stack([np.full(21, 0.1), np.arange(21.0)])
    X[3, 0] = np.nan
    w = np.arange(21) + 1.0
    for kw in ({}, {"sample_weight": w}):
        assert fm.StandardScaler().fit(X, **kw).var_[0] == sk.StandardScaler().fit(X, **kw).var_[0] == 0
    ours, ref = fm.StandardScaler(), sk.StandardScaler()
    for batch in (X[:7], X[7:14], X[14:]):
        ours.partial_fit(batch)
        ref.partial_fit(batch)
    # scikit-learn's incremental update leaves ~1e-34 here; fastml stays at 0
    assert ours.var_[0] == 0 and abs(ref.var_[0]) < 1e-30
    assert ours.scale_[0] == ref.scale_[0] == 1
    # a batch of another constant value: the feature is no longer constant
    ours.partial_fit(np.full((5, 2), 0.2))
    ref.partial_fit(np.full((5, 2), 0.2))
    assert ours.var_[0] > 0
    np.testing.assert_allclose(ours.var_, ref.var_, rtol=1e-10)


HALF = RNG.uniform(-3, 3, size=(40, 3)).astype(np.float16)
TRANSFORMERS = [
    ("StandardScaler", {}), ("MinMaxScaler", {}), ("MaxAbsScaler", {}),
    ("MaxAbsScaler", {"clip": True}), ("RobustScaler", {}),
    ("QuantileTransformer", {"n_quantiles": 10}), ("PolynomialFeatures", {}),
    ("KBinsDiscretizer", {"encode": "ordinal", "quantile_method": "averaged_inverted_cdf"}),
]


@pytest.mark.parametrize("name, params", TRANSFORMERS)
def test_float16_dtypes_as_sklearn(name, params):
    ref = getattr(sk, name)(**params).fit(HALF)
    ours = getattr(fm, name)(**params).fit(HALF)
    for attr in ["mean_", "var_", "scale_", "min_", "data_min_", "data_max_", "data_range_",
                 "max_abs_", "center_", "quantiles_"]:
        if getattr(ref, attr, None) is not None:
            assert getattr(ours, attr).dtype == getattr(ref, attr).dtype, attr
    methods = ["transform", "fit_transform"]
    if hasattr(ref, "inverse_transform") and name != "KBinsDiscretizer":
        methods.append("inverse_transform")
    for method in methods:
        want = getattr(ref, method)(HALF)
        got = getattr(ours, method)(HALF)
        assert got.dtype == want.dtype, method
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64),
                                   rtol=4e-3, atol=4e-3)


@pytest.mark.parametrize("name, params", TRANSFORMERS[:6])
def test_float16_on_dask_as_numpy(name, params):
    da = pytest.importorskip("dask.array")
    lazy = getattr(fm, name)(**params).fit(da.from_array(HALF, chunks=(10, 3)))
    got = lazy.transform(da.from_array(HALF, chunks=(10, 3)))
    assert got.dtype == np.float16
    want = getattr(sk, name)(**params).fit(HALF).transform(HALF)
    np.testing.assert_allclose(got.compute().astype(np.float64), want.astype(np.float64),
                               rtol=4e-3, atol=4e-3)


def test_float16_dataframe_stays_float16():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(HALF, columns=["a", "b", "c"])
    assert sk.StandardScaler().fit_transform(df).dtype == np.float16
    assert fm.StandardScaler().fit_transform(df).dtype == np.float16


def test_max_abs_scaler_has_sklearn_signature():
    assert "clip" in inspect.signature(sk.MaxAbsScaler).parameters
    assert (inspect.signature(fm.MaxAbsScaler).parameters
            == inspect.signature(sk.MaxAbsScaler).parameters)


@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_max_abs_scaler_clip_as_sklearn(clip, dtype):
    X = RNG.normal(size=(30, 4)).astype(dtype)
    Q = (RNG.normal(size=(10, 4)) * 5).astype(dtype)
    Q[0, 0] = np.nan
    ref = sk.MaxAbsScaler(clip=clip).fit(X)
    ours = fm.MaxAbsScaler(clip=clip).fit(X)
    want, got = ref.transform(Q), ours.transform(Q)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-6)
    if clip:
        assert np.nanmax(np.abs(got)) == 1
    np.testing.assert_allclose(ours.inverse_transform(got), ref.inverse_transform(want),
                               rtol=1e-6)


def test_max_abs_scaler_clip_in_place_and_on_dask():
    X = RNG.normal(size=(30, 4))
    Q = RNG.normal(size=(10, 4)) * 5
    want = sk.MaxAbsScaler(clip=True).fit(X).transform(Q)
    scaler = fm.MaxAbsScaler(clip=True, copy=False).fit(X)
    Qc = Q.copy()
    np.testing.assert_allclose(scaler.transform(Qc), want, rtol=1e-12)
    da = pytest.importorskip("dask.array")
    lazy = fm.MaxAbsScaler(clip=True).fit(X).transform(da.from_array(Q, chunks=5))
    np.testing.assert_allclose(lazy.compute(), want, rtol=1e-12)


@pytest.mark.parametrize("clip", ["yes", 1, None])
def test_max_abs_scaler_clip_must_be_a_bool(clip):
    for module in (sk, fm):
        with pytest.raises(ValueError, match="'clip' parameter of MaxAbsScaler"):
            module.MaxAbsScaler(clip=clip).fit(np.ones((3, 2)))


callback = pytest.importorskip("sklearn.callback", reason="scikit-learn < 1.9: no callbacks")


class Recorder:
    """A FitCallback that records the hooks it gets and the fitted copies."""

    def __init__(self):
        self.calls, self.fitted = [], []

    def setup(self, estimator, context):
        self.calls.append("setup")

    def on_fit_task_begin(self, estimator, context, *, X=None, y=None, metadata=None):
        self.calls.append("begin")
        self.metadata = metadata

    def on_fit_task_end(self, estimator, context, *, X=None, metadata=None,
                        fitted_estimator=None):
        self.calls.append("end")
        self.fitted.append(fitted_estimator)

    def teardown(self, estimator, context):
        self.calls.append("teardown")


def test_which_estimators_have_set_callbacks():
    # the estimators fastml mirrors that support callbacks in the installed
    # scikit-learn: StandardScaler only (scikit-learn 1.9)
    for name in fm.__all__:
        assert hasattr(getattr(fm, name), "set_callbacks") == hasattr(getattr(sk, name),
                                                                      "set_callbacks"), name


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize("weighted", [False, True])
def test_standard_scaler_callbacks_as_sklearn(method, weighted):
    X = RNG.normal(size=(20, 3))
    kw = {"sample_weight": np.arange(20) + 1.0} if weighted else {}
    records = []
    for module in (sk, fm):
        rec = Recorder()
        scaler = module.StandardScaler().set_callbacks(rec)
        getattr(scaler, method)(X, **kw)
        records.append(rec)
        np.testing.assert_allclose(rec.fitted[0].transform(X), scaler.transform(X))
        assert not hasattr(scaler, "_callback_fit_ctx")   # torn down
        assert (rec.metadata["sample_weight"] is None) == (not weighted)
    assert records[0].calls == records[1].calls == ["setup", "begin", "end", "teardown"]


def test_standard_scaler_callbacks_on_errors_and_clone():
    for module in (sk, fm):
        rec = Recorder()
        scaler = module.StandardScaler().set_callbacks(rec)
        with pytest.raises(ValueError):
            scaler.fit(np.ones(3))   # refused before the task begins: no hook
        assert rec.calls == []
        scaler.fit(np.ones((3, 2)))
        with pytest.raises(ValueError):
            scaler.partial_fit(np.ones((3, 5)))
        assert rec.calls == ["setup", "begin", "end", "teardown"]
        assert scaler.n_features_in_ == 2
        assert clone(scaler)._skl_callbacks == [rec]
        pickle.loads(pickle.dumps(copy.deepcopy(scaler)))
        assert scaler.set_callbacks() is scaler and not hasattr(scaler, "_skl_callbacks")
        with pytest.raises(TypeError, match="FitCallback"):
            scaler.set_callbacks(object())


def test_standard_scaler_callbacks_torn_down_after_a_late_error():
    # fastml finds infinity after the task began (scikit-learn, while
    # checking X, before): the callbacks are still torn down, the
    # estimator left unfitted
    rec = Recorder()
    scaler = fm.StandardScaler().set_callbacks(rec)
    with pytest.raises(ValueError, match="infinity"):
        scaler.fit(np.array([[np.inf, 1.0], [0.0, 1.0]]))
    assert rec.calls == ["setup", "begin", "teardown"]
    assert not hasattr(scaler, "n_features_in_") and not hasattr(scaler, "_callback_fit_ctx")


def test_sklearn_version_has_callbacks():
    assert sklearn.__version__ >= "1.9"
