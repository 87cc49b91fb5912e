"""Split finding of gradient boosting: the best split of each node from its
histogram (``gradient_histograms_chunk``), numerical and categorical, with
missing values sent to the better side."""
import numbers
from typing import NamedTuple

import numpy as np

from fastml._validation import check_positive_int
from fastml.kernels.boosting import N_BINS

__all__ = ["SplitCandidates", "find_node_splits"]


class SplitCandidates(NamedTuple):
    """The best split of each feature of a node (``find_node_splits``)."""

    gain: np.ndarray          # (d,) float64, -inf where no split is allowed
    threshold: np.ndarray     # (d,) int64 last bin of the left child, -1 if none
    missing_left: np.ndarray  # (d,) bool, missing values go left
    left: np.ndarray          # (d, 3) int64 the left child's histogram sums
    left_set: np.ndarray      # (d, 4) uint64 bits of the bins going left (categorical)


# scikit-learn's MIN_CAT_SUPPORT: the hessian added to a category's when
# ranking categories, and the least support (hessian in rows of the node's
# mean hessian) of a category that is ranked at all; the others go right
CATEGORICAL_SMOOTHING = 10.0


def find_node_splits(hist, n_values, *, gradient_scale, hessian_scale=None,
                     missing_bin=N_BINS - 1, l2_regularization=0.0, min_samples_leaf=20,
                     min_hessian=1e-3, allowed=None, categorical=None, has_missing=None,
                     n_threads=1, check_input=True):
    """The best split of each feature of a node, from its histogram.

    A numerical split sends bins ``0 .. threshold`` left and the other
    value bins right; the missing-value bin goes to whichever side scores
    better.  Candidates are scanned as scikit-learn scans them (thresholds
    upwards with missing values right, then, for features with missing
    values, downwards with them left), and a candidate must beat the best
    so far strictly, so ties go the way scikit-learn's go.  A categorical feature's bins are its
    categories: those present in the node (the missing bin is one more)
    with a support of at least ``CATEGORICAL_SMOOTHING`` (hessian sum in
    rows of the node's mean hessian) are ranked by gradient sum / (hessian
    sum + ``CATEGORICAL_SMOOTHING``), and the left child takes the best of
    the first 1 .. half and the last 1 .. half less one of the ranking, as
    scikit-learn scans them (``left_set``; ``threshold`` is then how many
    categories go left); the rarer categories go right, as scikit-learn
    sends them.  The gain is ``G_L^2 / (H_L + l2) + G_R^2 / (H_R + l2) -
    G^2 / (H + l2)`` (twice the loss reduction of a second-order step),
    with the sums converted from fixed point by the scales.  A candidate
    needs ``min_samples_leaf`` rows and a hessian sum of ``min_hessian``
    on each side.

    Parameters
    ----------
    hist : ndarray of shape (d, N_BINS, 3), int64
        From ``gradient_histograms_chunk`` (summed over chunks as needed).
    n_values : ndarray of shape (d,)
        Bins that hold values in each feature (codes 0 .. n_values - 1),
        at most ``missing_bin``.
    gradient_scale : float
        The fixed-point scale of the gradients.
    hessian_scale : float, default=None
        The fixed-point scale of the hessians; None when the histogram has
        none (a constant hessian): each row then counts as hessian 1.
    missing_bin : int, default=N_BINS - 1
    l2_regularization : float, default=0.0
    min_samples_leaf : int, default=20
    min_hessian : float, default=1e-3
    allowed : ndarray of shape (d,) of bool, default=None
        Features that may split (``max_features``); None for all.
    categorical : ndarray of shape (d,) of bool, default=None
        Categorical features (bin ``k`` = category ``k``); None for none.
    has_missing : ndarray of shape (d,) of bool, default=None
        Features with missing values in the training data: only they try
        sending missing values left, and splitting values from missing
        values.  None: those with rows in this node's missing bin.
    n_threads : int, default=1
    check_input : bool, default=True
        False skips the checks, for callers (the tree grower) that pass a
        C-contiguous hist, uint16 n_values and uint8 allowed, categorical
        and has_missing arrays, all checked once already.

    Returns
    -------
    SplitCandidates

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import find_node_splits, gradient_histograms_chunk
    >>> binned = np.array([[0], [0], [1], [1]], dtype=np.uint8)
    >>> hist = gradient_histograms_chunk(binned, np.array([-2, -2, 2, 2]))  # scale 0.5
    >>> s = find_node_splits(hist, np.array([2]), gradient_scale=0.5, min_samples_leaf=1)
    >>> s.gain, s.threshold
    (array([4.]), array([0]))

    On Dask, the root's histogram is the sum of the row blocks' histograms
    (exact integers); split finding then runs on that one small array:

    >>> import dask
    >>> import dask.array as da
    >>> from fastml.kernels import fixed_point_scale, to_fixed_point
    >>> codes = np.random.default_rng(0).integers(0, 16, size=(4000, 2), dtype=np.uint8)
    >>> scale = fixed_point_scale(1.0, 4000)
    >>> g = to_fixed_point(np.where(codes[:, 1] < 5, -1.0, 1.0), scale)  # bins 0-4 vs 5-15
    >>> B, G = da.from_array(codes, chunks=(1000, 2)), da.from_array(g, chunks=1000)
    >>> parts = [dask.delayed(gradient_histograms_chunk)(b, g)
    ...          for b, g in zip(B.to_delayed().ravel(), G.to_delayed())]
    >>> s = find_node_splits(dask.delayed(sum)(parts).compute(), np.array([16, 16]),
    ...                      gradient_scale=scale)
    >>> int(np.argmax(s.gain)), int(s.threshold[1])
    (1, 4)
    """
    if check_input:
        hist, n_values, allowed, categorical, has_missing = _checked_split_inputs(
            hist, n_values, allowed, categorical, has_missing, missing_bin, gradient_scale,
            hessian_scale, l2_regularization, min_samples_leaf, min_hessian)
        n_threads = check_positive_int(n_threads, "n_threads")
    return _find_splits(hist, n_values, allowed, categorical, has_missing, missing_bin,
                        gradient_scale, hessian_scale, l2_regularization, min_samples_leaf,
                        min_hessian, n_threads)


def _checked_split_inputs(hist, n_values, allowed, categorical, has_missing, missing_bin,
                          gradient_scale, hessian_scale, l2_regularization, min_samples_leaf,
                          min_hessian):
    """`find_node_splits`'s arrays in the form the compiled scan takes
    (C-contiguous int64 hist, uint16 n_values, uint8 masks), after checking
    every argument."""
    hist = np.asarray(hist)
    if hist.dtype != np.int64 or hist.ndim != 3 or hist.shape[1:] != (N_BINS, 3):
        raise ValueError(f"hist must be an int64 array of shape (d, {N_BINS}, 3), got "
                         f"{hist.dtype} {hist.shape}.")
    d = hist.shape[0]
    if not 0 <= missing_bin < N_BINS:
        raise ValueError(f"missing_bin must lie in [0, {N_BINS - 1}], got {missing_bin!r}.")
    n_values = np.asarray(n_values)
    if n_values.shape != (d,) or n_values.dtype.kind not in "iu" or np.any(n_values < 0) \
            or np.any(n_values > missing_bin):
        raise ValueError(f"n_values must be ({d},) integers in [0, missing_bin], got "
                         f"{n_values!r}.")
    if has_missing is None:
        has_missing = hist[:, missing_bin, 2] > 0
    masks = []
    for name, mask, default in (("allowed", allowed, True), ("categorical", categorical, False),
                                ("has_missing", has_missing, None)):
        mask = np.full(d, default) if mask is None else np.asarray(mask, dtype=bool)
        if mask.shape != (d,):
            raise ValueError(f"{name} must have shape ({d},), got {mask.shape}.")
        masks.append(mask.astype(np.uint8))
    for name, value in (("l2_regularization", l2_regularization), ("min_hessian", min_hessian),
                        ("gradient_scale", gradient_scale),
                        ("hessian_scale", 1.0 if hessian_scale is None else hessian_scale)):
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be finite and non-negative, got {value!r}.")
    if not isinstance(min_samples_leaf, numbers.Integral) or min_samples_leaf < 1:
        raise ValueError(f"min_samples_leaf must be a positive int, got {min_samples_leaf!r}.")
    return (np.ascontiguousarray(hist), n_values.astype(np.uint16), *masks)


def _find_splits(hist, n_values, allowed, categorical, has_missing, missing_bin,
                 gradient_scale, hessian_scale, l2_regularization, min_samples_leaf,
                 min_hessian, n_threads):
    from fastml._kernels import _gbdt

    d = hist.shape[0]
    with_hessians = hessian_scale is not None
    hessian_scale = 1.0 if hessian_scale is None else hessian_scale
    gain = np.empty(d)
    threshold = np.empty(d, dtype=np.int64)
    missing_left = np.empty(d, dtype=np.uint8)
    left = np.empty((d, 3), dtype=np.int64)
    left_set = np.empty((d, 4), dtype=np.uint64)
    work = d if categorical.any() else 0  # ranking space for categorical features
    _gbdt.find_splits(hist, n_values, allowed, categorical, has_missing, missing_bin,
                      float(gradient_scale), float(hessian_scale),
                      with_hessians, float(l2_regularization), int(min_samples_leaf),
                      float(min_hessian), CATEGORICAL_SMOOTHING,
                      np.empty((work, N_BINS)), np.empty((work, N_BINS), dtype=np.int64),
                      gain, threshold, missing_left, left_set, left, n_threads)
    return SplitCandidates(gain, threshold, missing_left.astype(bool), left, left_set)
