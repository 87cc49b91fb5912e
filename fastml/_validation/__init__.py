"""Input checks shared by every public function, estimator and kernel.

All of them run in Python, before any compiled code, and say what was
received and how to fix it:

* ``arrays``: dtypes, shapes and layouts of array input;
* ``metrics``: names and keyword parameters of distance metrics;
* ``parameters``: the declarative table of estimator parameters.
"""
from fastml._validation.arrays import (
    FLOAT_DTYPES,
    as_float_block,
    check_2d,
    check_float_array,
    check_has_features,
    check_input_dtype,
    check_no_custom_metric_params,
    check_positive_int,
    check_same_n_features,
    float32_list_as_array,
    is_dask_collection,
    is_float16,
    unchanged_on_error,
)
from fastml._validation.metrics import (
    check_metric,
    is_boolean_input,
    is_boolean_metric,
    names_boolean_metric,
    warn_boolean_conversion,
)
from fastml._validation.parameters import (
    Interval,
    InvalidParameterError,
    Options,
    check_parameters,
)

__all__ = [
    "FLOAT_DTYPES", "as_float_block", "check_2d", "check_float_array",
    "check_has_features", "check_input_dtype", "check_no_custom_metric_params",
    "check_positive_int", "check_same_n_features", "float32_list_as_array",
    "is_dask_collection", "is_float16",
    "unchanged_on_error", "check_metric", "is_boolean_input", "is_boolean_metric",
    "names_boolean_metric", "warn_boolean_conversion", "Interval",
    "InvalidParameterError", "Options", "check_parameters",
]
