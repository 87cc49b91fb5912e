"""The declarative parameter table of fastml._validation.parameters."""
import numbers

import numpy as np
import pytest

from fastml._validation import (
    Interval,
    InvalidParameterError,
    Options,
    check_parameters,
)


class Estimator:
    _parameter_constraints = {
        "n": [Interval(numbers.Integral, 1, None, closed="left")],
        "fraction": [Interval(numbers.Real, 0, 1, closed="neither"), None],
        "mode": [Options("fast", "exact"), callable],
        "flag": ["boolean"],
        "seed": ["random_state"],
        "extra": [dict, None],
    }

    def __init__(self, n=1, fraction=None, mode="fast", flag=False, seed=None, extra=None):
        self.n, self.fraction, self.mode = n, fraction, mode
        self.flag, self.seed, self.extra = flag, seed, extra


@pytest.mark.parametrize("params", [
    {}, {"n": 5}, {"n": np.int64(3)}, {"fraction": 0.5}, {"fraction": np.float32(0.25)},
    {"mode": "exact"}, {"mode": len}, {"flag": np.bool_(True)},
    {"seed": 0}, {"seed": np.random.RandomState(0)}, {"extra": {"a": 1}},
])
def test_accepted_values_pass(params):
    check_parameters(Estimator(**params))


@pytest.mark.parametrize("params, message", [
    ({"n": 0}, r"'n' parameter of Estimator must be an int in the range \[1, inf\). Got 0"),
    ({"n": True}, r"'n' parameter .* Got True"),
    ({"n": 2.0}, r"'n' parameter .* Got 2.0"),
    ({"fraction": 1.0}, r"'fraction' .* a float in the range \(0, 1\) or None. Got 1.0"),
    ({"fraction": 0}, r"'fraction' .* Got 0 instead"),
    ({"fraction": float("nan")}, r"'fraction' .* Got nan"),
    ({"mode": "slow"}, r"'mode' .* a str among \{'fast', 'exact'\} or a callable. Got 'slow'"),
    ({"flag": 1}, r"'flag' .* must be a bool. Got 1"),
    ({"seed": 1.5}, r"'seed' .* an int, a numpy.random.RandomState or None"),
    ({"extra": []}, r"'extra' .* an instance of dict or None. Got \[\]"),
])
def test_rejected_values_name_the_parameter_and_the_accepted_values(params, message):
    with pytest.raises(InvalidParameterError, match=message) as info:
        check_parameters(Estimator(**params))
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)


def test_interval_bounds():
    closed = Interval(numbers.Real, 0, 1, closed="both")
    assert closed.accepts(0) and closed.accepts(1) and not closed.accepts(1.0000001)
    left = Interval(numbers.Real, 0, 1, closed="left")
    assert left.accepts(0) and not left.accepts(1)
    right = Interval(numbers.Real, 0, 1, closed="right")
    assert not right.accepts(0) and right.accepts(1)
    with pytest.raises(ValueError, match="closed must be"):
        Interval(numbers.Real, 0, 1, closed="open")
