"""``set_output`` for Dask input.

scikit-learn's ``set_output(transform="pandas")`` wraps what ``transform``
returns in ``pd.DataFrame(...)``, which would compute a Dask array into
memory.  ``LazyOutputMixin`` keeps scikit-learn's wrapping for every other
input and, for Dask input, returns a lazy Dask DataFrame instead.
"""
from functools import wraps

from sklearn import get_config

from fastml._validation import is_dask_collection


class LazyOutputMixin:
    """Put first among a transformer's bases (before ``TransformerMixin``).

    The output container is the one scikit-learn would pick: the
    estimator's ``set_output(transform=...)`` if called (kept by ``clone``),
    else ``sklearn.get_config()["transform_output"]``.  With Dask input,
    ``"default"`` gives the Dask array, ``"pandas"`` a Dask DataFrame (the
    input's index when it is one) and ``"polars"`` an error, as there is no
    lazy polars container fed by Dask.
    """

    def __init_subclass__(cls, **kwargs):
        defined = {name: cls.__dict__[name] for name in ("transform", "fit_transform")
                   if name in cls.__dict__}
        super().__init_subclass__(**kwargs)  # scikit-learn wraps them here
        for name, plain in defined.items():
            setattr(cls, name, _dispatch(plain, cls.__dict__[name], name == "transform"))

    def set_output(self, *, transform=None):
        """Set the output container of ``transform`` and ``fit_transform``:
        ``"default"``, ``"pandas"``, ``"polars"`` or None (unchanged).
        Returns self."""
        super().set_output(transform=transform)
        if transform is not None:
            self._output_container = transform
        return self

    def __sklearn_clone__(self):
        clone = super().__sklearn_clone__()
        if "_output_container" in self.__dict__:
            clone._output_container = self._output_container
        return clone

    def fit_transform(self, X, y=None, **fit_params):
        """fit(X), then transform(X)."""
        if is_dask_collection(X):
            return self.fit(X, y, **fit_params).transform(X)
        return super().fit_transform(X, y, **fit_params)


def _dispatch(plain, wrapped, is_transform):
    """``wrapped`` (scikit-learn's container wrapping of ``plain``) for
    in-memory input; for Dask input ``plain``, its result put in a lazy
    container by ``transform`` (``fit_transform`` calls ``transform``)."""

    @wraps(plain)
    def method(self, X, *args, **kwargs):
        if not is_dask_collection(X):
            return wrapped(self, X, *args, **kwargs)
        result = plain(self, X, *args, **kwargs)
        return _lazy_container(self, result, X) if is_transform else result

    return method


def _lazy_container(estimator, result, X):
    container = estimator.__dict__.get("_output_container")
    if container is None:
        container = get_config()["transform_output"]
    if container == "default":
        return result
    if container == "pandas":
        from fastml import _dask

        return _dask.as_dask_dataframe(result, estimator.get_feature_names_out(), X)
    raise ValueError(
        f"set_output(transform={container!r}) has no lazy container for Dask input; use "
        "'pandas' (a Dask DataFrame) or 'default' (a Dask array), or compute the input."
    )
