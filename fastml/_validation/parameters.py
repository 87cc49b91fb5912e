"""A declarative table of the parameters an estimator accepts.

Each estimator lists, in ``_parameter_constraints``, what each of its
``__init__`` parameters may be; :func:`check_parameters` checks them all at
the start of ``fit``, so no estimator writes its own ``if`` ladder::

    _parameter_constraints = {
        "n_neighbors": [Interval(numbers.Integral, 1, None, closed="left")],
        "weights": [Options("uniform", "distance"), callable],
        "metric_params": [dict, None],
    }

An entry is a list of alternatives; the value must match one of them:

* ``None``: the value ``None``;
* ``callable``: any callable;
* a type (``dict``, ``str``, ``numbers.Integral``...): an instance of it,
  where ``bool`` never counts as a number;
* ``"boolean"``: ``True`` or ``False`` (NumPy booleans included);
* ``"random_state"``: ``None``, an integer or a ``numpy.random.RandomState``;
* ``"array-like"``: a list, tuple or array;
* :class:`Interval`: a number in a range; :class:`Options`: one of some
  strings.

Bad values raise :class:`InvalidParameterError`, a ``ValueError`` (and a
``TypeError``, as scikit-learn's does) that names the estimator, the
parameter, what was received and what is accepted.
"""
import difflib
import numbers

import numpy as np

__all__ = ["InvalidParameterError", "Interval", "Options", "check_parameters", "did_you_mean"]


class InvalidParameterError(ValueError, TypeError):
    """A parameter of an estimator or function has a value it does not accept."""


class Interval:
    """Numbers of a type between two bounds.

    Parameters
    ----------
    kind : numbers.Integral or numbers.Real
        ``numbers.Real`` accepts integers too; ``bool`` is never a number.
    low, high : float or None
        Bounds; ``None`` leaves that side open-ended.
    closed : {"left", "right", "both", "neither"}
        Which bounds belong to the interval.
    """

    def __init__(self, kind, low, high, *, closed):
        if closed not in ("left", "right", "both", "neither"):
            raise ValueError(f"closed must be left, right, both or neither, got {closed!r}.")
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def accepts(self, value):
        if isinstance(value, bool) or not isinstance(value, self.kind):
            return False
        if value != value:  # NaN
            return False
        if self.low is not None:
            if value < self.low or (value == self.low and self.closed in ("right", "neither")):
                return False
        if self.high is not None:
            if value > self.high or (value == self.high and self.closed in ("left", "neither")):
                return False
        return True

    def __str__(self):
        kind = "an int" if self.kind is numbers.Integral else "a float"
        left = "[" if self.closed in ("left", "both") else "("
        right = "]" if self.closed in ("right", "both") else ")"
        low = "-inf" if self.low is None else self.low
        high = "inf" if self.high is None else self.high
        return f"{kind} in the range {left}{low}, {high}{right}"


class Options:
    """One of a fixed set of strings."""

    def __init__(self, *values):
        self.values = values

    def accepts(self, value):
        return isinstance(value, str) and value in self.values

    def __str__(self):
        return "a str among {" + ", ".join(repr(v) for v in self.values) + "}"


def _accepts(constraint, value):
    if constraint is None:
        return value is None
    if constraint is callable:
        return callable(value)
    if constraint == "boolean":
        return isinstance(value, (bool, np.bool_))
    if constraint == "random_state":
        return (value is None or isinstance(value, np.random.RandomState)
                or (isinstance(value, numbers.Integral) and not isinstance(value, bool)))
    if constraint == "array-like":
        return isinstance(value, (list, tuple, np.ndarray))
    if isinstance(constraint, type):
        if issubclass(constraint, numbers.Number) and isinstance(value, bool):
            return False
        return isinstance(value, constraint)
    return constraint.accepts(value)


def _describe(constraint):
    if constraint is None:
        return "None"
    if constraint is callable:
        return "a callable"
    if constraint == "boolean":
        return "a bool"
    if constraint == "random_state":
        return "an int, a numpy.random.RandomState or None"
    if constraint == "array-like":
        return "an array-like"
    if isinstance(constraint, type):
        return f"an instance of {constraint.__name__}"
    return str(constraint)


def did_you_mean(word, candidates, *, same=None, n=3):
    """" Did you mean 'a' or 'b'?" for the candidates close to ``word``
    (difflib's ratio >= 0.6, compared case-insensitively), closest first,
    each meaning once: ``same(candidate)`` names what a candidate means
    (an alias and its canonical name mean one thing), and only the spelling
    closest to ``word`` is suggested.  An empty string when none is close."""
    lowered = {c.lower(): c for c in candidates}
    if not lowered:   # e.g. a string given for a number
        return ""
    seen, close = set(), []
    for match in difflib.get_close_matches(word.lower(), list(lowered), n=len(lowered),
                                           cutoff=0.6):
        candidate = lowered[match]
        meaning = candidate if same is None else same(candidate)
        if meaning not in seen:
            seen.add(meaning)
            close.append(candidate)
    close = close[:n]
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def check_parameters(estimator, constraints=None):
    """Check every parameter of ``estimator`` against its constraints.

    Parameters
    ----------
    estimator : object
        Holds each parameter as an attribute of the same name.
    constraints : dict, default=None
        Parameter name -> list of alternatives; ``None`` uses
        ``estimator._parameter_constraints``.

    Raises
    ------
    InvalidParameterError
        For the first parameter that matches none of its alternatives.
    """
    if constraints is None:
        constraints = type(estimator)._parameter_constraints
    for name, alternatives in constraints.items():
        value = getattr(estimator, name)
        if any(_accepts(c, value) for c in alternatives):
            continue
        expected = [_describe(c) for c in alternatives]
        expected = expected[0] if len(expected) == 1 else (
            ", ".join(expected[:-1]) + " or " + expected[-1])
        hint = ""
        if isinstance(value, str):
            options = [v for c in alternatives if isinstance(c, Options) for v in c.values]
            hint = did_you_mean(value, options)
        raise InvalidParameterError(
            f"The {name!r} parameter of {type(estimator).__name__} must be {expected}. "
            f"Got {value!r} instead.{hint}"
        )
