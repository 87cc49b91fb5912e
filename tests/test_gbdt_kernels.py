"""The gradient-boosting kernels of fastml.kernels against naive NumPy.

References: ``np.add.at`` histograms, a brute-force scan of every
threshold and missing-value side in Python floats, and a list-comprehension
partition.  Sums are fixed-point integers, so every comparison is exact.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numpy.testing import assert_array_equal

from fastml.kernels import (
    N_BINS,
    find_node_splits,
    fixed_point_scale,
    gradient_histograms_chunk,
    partition_chunk,
    to_fixed_point,
)
from naive import naive_histograms, naive_splits, naive_thresholds


def make_node(rng, n=3000, d=5, n_values=40, missing=0.1):
    binned = rng.integers(0, n_values, size=(n, d)).astype(np.uint8)
    binned[rng.random((n, d)) < missing] = N_BINS - 1
    binned[:, -1] = 7                          # a constant feature
    g = rng.normal(size=n) + 0.3 * binned[:, 0]  # feature 0 carries signal
    h = rng.uniform(0.1, 1.0, size=n)
    g_scale, h_scale = fixed_point_scale(np.abs(g).max(), n), fixed_point_scale(h.max(), n)
    return binned, to_fixed_point(g, g_scale), to_fixed_point(h, h_scale), g_scale, h_scale




@pytest.mark.parametrize("with_hessians", [True, False])
@pytest.mark.parametrize("rows", ["all", "subset", "empty"])
@pytest.mark.parametrize("order", ["C", "F"])
def test_histograms_equal_naive(rng, with_hessians, rows, order):
    binned, g, h, _, _ = make_node(rng)
    binned = np.asfortranarray(binned) if order == "F" else binned
    h = h if with_hessians else None
    samples = {"all": None, "subset": np.sort(rng.choice(3000, 1200, replace=False)),
               "empty": np.empty(0, dtype=np.uint32)}[rows]
    expected = naive_histograms(binned, g, h, samples)
    for threads in (1, 2, 3):
        got = gradient_histograms_chunk(binned, g, h, samples=samples, n_threads=threads)
        assert got.dtype == np.int64 and got.shape == (5, N_BINS, 3)
        assert_array_equal(got, expected)


@pytest.mark.parametrize("with_hessians", [True, False])
@pytest.mark.parametrize("packable", [True, False])
def test_histograms_over_row_ranges_of_threads_equal_naive(rng, with_hessians, packable):
    """Enough rows for the kernel to split them over threads (each into its
    own histograms, then added): packed and unpacked sums, the root and a
    scattered node, reused node after node as a grower does."""
    from fastml.kernels import SMALL_HISTOGRAM, GradientHistograms

    n, d = 2 * SMALL_HISTOGRAM // 5 + 1000, 5
    binned = rng.integers(0, N_BINS, size=(n, d)).astype(np.uint8)
    bound = 2**20 if packable else 2**40  # 2**40 * n cannot share a word with a count
    g = rng.integers(-bound, bound, size=n)
    h = rng.integers(0, bound, size=n) if with_hessians else None
    histograms = GradientHistograms(binned, g, h, n_threads=3)
    assert (histograms.packed is not None) == packable
    node = np.sort(rng.choice(n, SMALL_HISTOGRAM // 5 + 100, replace=False)).astype(np.uint32)
    for samples in (None, node, node[:50]):
        assert_array_equal(histograms(samples), naive_histograms(binned, g, h, samples))
        assert_array_equal(gradient_histograms_chunk(binned, g, h, samples=samples,
                                                     n_threads=2),
                           naive_histograms(binned, g, h, samples))


def test_fixed_point_scale_keeps_precision_beside_an_outlier(rng):
    """Bounded by the sum of |values|, one huge gradient does not coarsen
    the others (bounded by max * n it would: the scale would be about 4)."""
    g = rng.normal(size=100_000) * 10
    g[0] = 1e7
    scale = fixed_point_scale(np.abs(g).max(), g.size, abs_sum=np.abs(g).sum())
    assert scale <= 2.0**-10
    fixed = to_fixed_point(g, scale)
    assert np.max(np.abs(fixed * scale - g)) <= scale / 2
    binned = rng.integers(0, 200, size=(g.size, 2)).astype(np.uint8)
    assert_array_equal(gradient_histograms_chunk(binned, fixed, n_threads=2),
                       naive_histograms(binned, fixed, None, None))


def test_fixed_point_scale_gives_up_packing_before_precision():
    """When reserving the row count's bits would leave fewer than 2**20
    steps below the largest value, the scale uses the full 62 bits (and
    the histogram kernel then sums unpacked)."""
    from fastml.kernels.boosting import FIXED_POINT_LEVELS

    n = 2**36
    scale = fixed_point_scale(1.0, n)
    assert scale == 2.0 ** (37 - 62)  # 2**36 rows of 1, plus the rounding margin
    assert 1.0 / scale >= FIXED_POINT_LEVELS
    small = fixed_point_scale(1.0, 1000)
    assert small == 2.0 ** (10 - 62 + 10) and 1.0 / small >= FIXED_POINT_LEVELS
    with pytest.raises(ValueError, match="scale"):
        to_fixed_point([1.0], 0.0)


def test_row_indices_are_checked_before_the_cast(rng):
    binned, g, h, _, _ = make_node(rng)
    with pytest.raises(ValueError, match="holds row 4294967296"):
        gradient_histograms_chunk(binned, g, h, samples=np.array([2**32], dtype=np.int64))


@pytest.mark.parametrize("with_hessians", [True, False])
def test_histograms_of_values_too_large_to_pack(rng, with_hessians):
    """Fixed-point values beyond fixed_point_scale's bound leave no room for
    the packed row count: the kernel detects it and sums them unpacked."""
    binned, _, _, _, _ = make_node(rng)
    g = rng.integers(-2**50, 2**50, size=3000)
    h = rng.integers(0, 2**50, size=3000) if with_hessians else None
    samples = np.sort(rng.choice(3000, 1000, replace=False))
    for rows in (None, samples):
        assert_array_equal(gradient_histograms_chunk(binned, g, h, samples=rows, n_threads=2),
                           naive_histograms(binned, g, h, rows))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 500), cuts=st.lists(st.integers(0, 500), max_size=5),
       seed=st.integers(0, 2**32 - 1))
def test_histograms_of_chunks_sum_to_the_whole(n, cuts, seed):
    rng = np.random.default_rng(seed)
    binned = rng.integers(0, N_BINS, size=(n, 3)).astype(np.uint8)
    g_float = rng.standard_cauchy(size=n)  # wide range of magnitudes
    scale = fixed_point_scale(np.abs(g_float).max(), n)
    g, h = to_fixed_point(g_float, scale), to_fixed_point(np.abs(g_float), scale)
    bounds = np.unique(np.clip(np.array([0, n, *cuts], dtype=np.int64), 0, n))
    parts = [gradient_histograms_chunk(binned[a:b], g[a:b], h[a:b])
             for a, b in zip(bounds[:-1], bounds[1:])]
    assert_array_equal(sum(parts), gradient_histograms_chunk(binned, g, h, n_threads=2))


def test_subtraction_gives_the_sibling_exactly(rng):
    binned, g, h, _, _ = make_node(rng)
    parent = rng.choice(3000, 2000, replace=False)
    left, right = partition_chunk(parent, binned[:, 0], 12, missing_left=True)
    hist = {name: gradient_histograms_chunk(binned, g, h, samples=rows)
            for name, rows in (("parent", parent), ("left", left), ("right", right))}
    assert_array_equal(hist["parent"] - hist["left"], hist["right"])


def test_fixed_point_is_close_to_the_values(rng):
    values = rng.normal(size=10_000).astype(np.float32) * 1e3
    scale = fixed_point_scale(np.abs(values).max(), values.size)
    fixed = to_fixed_point(values, scale)
    assert np.max(np.abs(fixed * scale - values)) <= scale / 2
    free_bits = 62 - values.size.bit_length()  # the rest hold a packed row count
    assert scale <= 2 * np.abs(values).max() * values.size / 2.0**free_bits
    assert np.abs(fixed).sum() < 2**free_bits
    assert fixed_point_scale(0.0, 10) == 1.0


# ------------------------------------------------------------------ split finding



@pytest.mark.parametrize("with_hessians", [True, False])
@pytest.mark.parametrize("l2, min_leaf, min_hessian", [(0.0, 1, 0.0), (1.0, 20, 1e-3),
                                                       (10.0, 400, 5.0)])
def test_splits_equal_brute_force(rng, with_hessians, l2, min_leaf, min_hessian):
    binned, g, h, g_scale, h_scale = make_node(rng, n=2000, d=4, n_values=12)
    hist = gradient_histograms_chunk(binned, g, h if with_hessians else None)
    n_values = np.full(4, 12)
    h_scale = h_scale if with_hessians else None
    expected = naive_splits(hist, n_values, g_scale, h_scale, l2, min_leaf, min_hessian)
    for threads in (1, 2):
        got = find_node_splits(hist, n_values, gradient_scale=g_scale, hessian_scale=h_scale,
                               l2_regularization=l2, min_samples_leaf=min_leaf,
                               min_hessian=min_hessian, n_threads=threads)
        for f, (gain, b, missing_left) in enumerate(expected):
            assert got.threshold[f] == b, f
            if b < 0:
                assert got.gain[f] == -np.inf
                continue
            assert got.gain[f] == pytest.approx(float(gain), rel=1e-9)
            assert got.missing_left[f] == missing_left
            hess = hist[f, :, 1] if with_hessians else hist[f, :, 2]
            mask = np.zeros(N_BINS, bool)
            mask[:b + 1] = True
            mask[N_BINS - 1] = missing_left
            assert_array_equal(got.left[f], [hist[f, mask, 0].sum(),
                                             hist[f, mask, 1].sum(), hist[f, mask, 2].sum()])
            assert hess[mask].sum() == (got.left[f, 1] if with_hessians else got.left[f, 2])
    # the constant feature (one value bin) never splits; feature 0 carries the signal
    assert got.threshold[3] == -1 and np.argmax(got.gain) == 0


def test_split_respects_allowed_features_and_missing_side(rng):
    n = 1000
    codes = rng.integers(0, 10, size=n).astype(np.uint8)
    codes[:100] = N_BINS - 1
    g_float = np.where(codes < 5, -1.0, 1.0)
    g_float[:100] = -1.0                              # missing rows look like the low bins
    binned = np.column_stack([codes, codes])
    scale = fixed_point_scale(1.0, n)
    hist = gradient_histograms_chunk(binned, to_fixed_point(g_float, scale))
    got = find_node_splits(hist, np.array([10, 10]), gradient_scale=scale, min_samples_leaf=1,
                           allowed=[False, True])
    assert got.gain[0] == -np.inf and got.threshold[0] == -1
    assert got.threshold[1] == 4 and got.missing_left[1]


def test_gbdt_kernel_errors(rng):
    binned, g, h, g_scale, _ = make_node(rng, n=50)
    with pytest.raises(ValueError, match="uint8"):
        gradient_histograms_chunk(binned.astype(np.int64), g)
    with pytest.raises(ValueError, match="int64 fixed-point"):
        gradient_histograms_chunk(binned, g.astype(np.float64))
    with pytest.raises(ValueError, match="holds row 50"):
        gradient_histograms_chunk(binned, g, samples=[3, 50])
    with pytest.raises(ValueError, match="non-negative integer"):
        gradient_histograms_chunk(binned, g, samples=[-1])
    hist = gradient_histograms_chunk(binned, g)
    with pytest.raises(ValueError, match="n_values"):
        find_node_splits(hist, np.full(5, 300), gradient_scale=g_scale)
    with pytest.raises(ValueError, match="l2_regularization"):
        find_node_splits(hist, np.full(5, 40), gradient_scale=g_scale, l2_regularization=-1)
    with pytest.raises(ValueError, match="min_samples_leaf"):
        find_node_splits(hist, np.full(5, 40), gradient_scale=g_scale, min_samples_leaf=0)
    with pytest.raises(ValueError, match="finite"):
        to_fixed_point([1.0, np.nan], 1.0)
    with pytest.raises(ValueError, match="do not fit"):
        to_fixed_point([1e30], 1.0)
    with pytest.raises(ValueError, match="uint8"):
        partition_chunk([0, 1], np.array([1, 2]), 1)


# ------------------------------------------------------------------ partition

@pytest.mark.parametrize("threads", [1, 2, 3, 8])
@pytest.mark.parametrize("m", [0, 1, 100, 20_000])
def test_partition_is_stable_and_complete(rng, threads, m):
    codes = rng.integers(0, 20, size=30_000).astype(np.uint8)
    codes[rng.random(30_000) < 0.1] = N_BINS - 1
    samples = rng.choice(30_000, m, replace=False).astype(np.uint32)
    for threshold, missing_left in ((9, False), (9, True), (-1, True), (19, False)):
        left, right = partition_chunk(samples, codes, threshold, missing_left=missing_left,
                                      n_threads=threads)
        goes_left = [(missing_left if codes[s] == N_BINS - 1 else codes[s] <= threshold)
                     for s in samples]
        assert_array_equal(left, samples[np.array(goes_left, dtype=bool)])
        assert_array_equal(right, samples[~np.array(goes_left, dtype=bool)])
        assert left.dtype == right.dtype == np.uint32
        buffer = np.full(m, 7, np.uint32)
        left_out, right_out = partition_chunk(samples, codes, threshold,
                                              missing_left=missing_left, out=buffer,
                                              n_threads=threads)
        assert_array_equal(left_out, left)
        assert_array_equal(right_out, right)
        assert np.shares_memory(left_out, buffer) or left.size == 0


def test_partition_out_must_be_a_separate_uint32_buffer():
    samples, codes = np.arange(10, dtype=np.uint32), np.zeros(10, np.uint8)
    for out in (np.empty(10, np.int64), np.empty(9, np.uint32), samples,
                np.empty(20, np.uint32)[::2]):
        with pytest.raises(ValueError, match="out must be"):
            partition_chunk(samples, codes, 3, out=out)


# ------------------------------------------------------------------ binning



@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("max_bins", [2, 16, 255])
def test_bin_thresholds_and_codes_equal_naive(rng, dtype, max_bins):
    from fastml.kernels import bin_chunk, bin_thresholds
    from fastml.kernels.binning import ALMOST_INF

    n = 20_000
    X = np.column_stack([
        rng.normal(size=n),
        np.round(rng.normal(size=n)),          # few distinct values: midpoints
        np.where(rng.random(n) < 0.2, np.nan, rng.exponential(size=n)),
        np.full(n, 2.5),                       # constant: no threshold
        rng.integers(0, 300, n),               # ties at quantile levels: duplicates dropped
        np.concatenate(([np.inf, -np.inf], rng.standard_cauchy(n - 2))),
    ]).astype(dtype)
    X[:, 2][:5] = np.nan
    for layout, data in layouts_of(X).items():
        got = bin_thresholds(data, max_bins, n_threads=2)
        for j in range(X.shape[1]):
            assert_array_equal(got[j], naive_thresholds(X[:, j], max_bins), err_msg=layout)
            assert got[j].size <= max_bins - 1 and np.all(got[j] <= ALMOST_INF)
    codes = bin_chunk(X, [np.nextafter(t, np.inf) for t in got], missing_bin=max_bins)
    expected = np.column_stack([np.searchsorted(t, X[:, j].astype(np.float64), side="left")
                                for j, t in enumerate(got)])
    expected[np.isnan(X)] = max_bins
    assert codes.dtype == np.uint8
    assert_array_equal(codes, expected)


def layouts_of(X):
    from naive import layouts

    return layouts(X)


def test_bin_thresholds_errors():
    from fastml.kernels import bin_thresholds

    for bad in (1, 256, 2.0, True):
        with pytest.raises(ValueError, match=r"max_bins must be an int in \[2, 255\]"):
            bin_thresholds(np.ones((3, 2)), bad)
    assert [t.size for t in bin_thresholds(np.full((4, 2), np.nan))] == [0, 0]


@pytest.mark.parametrize("weighted", [False, True])
def test_logistic_gradients_equal_numpy(rng, weighted):
    from scipy.special import expit

    from fastml.kernels import logistic_gradients_chunk

    raw = np.concatenate([rng.normal(scale=5, size=997), [-800.0, 0.0, 800.0]])
    y = (rng.random(raw.size) < 0.5).astype(np.float64)
    w = rng.uniform(0, 3, raw.size) if weighted else None
    p = expit(raw)
    g, h = (p - y), p * (1 - p)
    if weighted:
        g, h = g * w, h * w
    for threads in (1, 2):
        got_g, got_h = logistic_gradients_chunk(raw, y, sample_weight=w, n_threads=threads)
        assert got_g.dtype == got_h.dtype == np.float32
        assert_array_equal(got_g, g.astype(np.float32))
        assert_array_equal(got_h, h.astype(np.float32))


@pytest.mark.parametrize("layout", ["contiguous", "strided", "float32", "read-only"])
@pytest.mark.parametrize("n", [0, 1, 300_001])
def test_logistic_losses_equal_numpy(rng, layout, n):
    """Every row's loss bit for bit as NumPy's logaddexp computes it, so that
    the early-stopping scores do not change; extreme and missing raw
    predictions included; one thread or two (large n)."""
    from fastml.kernels import logistic_loss_chunk

    raw = rng.normal(scale=5, size=2 * n)
    raw[:min(n, 5) * 2:2] = [-800.0, -0.0, 0.0, 800.0, np.nan][:min(n, 5)]
    y = (rng.random(2 * n) < 0.5).astype(np.float64)
    if layout == "strided":
        raw, y = raw[::2], y[::2]
    else:
        raw, y = raw[:n], y[:n]
    if layout == "float32":
        raw = raw.astype(np.float32)
    if layout == "read-only":
        raw.flags.writeable = y.flags.writeable = False
    r = raw.astype(np.float64)
    with np.errstate(invalid="ignore"):
        expected = np.logaddexp(0, r) - y * r
    for threads in (1, 2):
        got = logistic_loss_chunk(raw, y, n_threads=threads)
        assert got.dtype == np.float64
        assert_array_equal(got, expected)


def test_logistic_losses_refuse_mismatched_input():
    from fastml.kernels import logistic_loss_chunk

    with pytest.raises(ValueError, match="1-D of the same length"):
        logistic_loss_chunk(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="1-D of the same length"):
        logistic_loss_chunk(np.zeros((3, 1)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="n_threads"):
        logistic_loss_chunk(np.zeros(3), np.zeros(3), n_threads=0)


def test_a_million_rows_of_equal_hessians_keep_the_packed_scale():
    """The first log-loss iteration: 800 000 hessians of 0.25 (sum 200 000)
    must still get a packed scale (the unpacked path is about 2x slower)."""
    scale = fixed_point_scale(0.25, 800_000, abs_sum=200_000.0)
    assert scale == 2.0 ** (18 - 62 + 20)


@pytest.mark.parametrize("n, n_threads", [(5000, 1), (60_000, 3)])
def test_add_leaf_values_equals_naive(rng, n, n_threads):
    """Leaves of unsorted rows; threads take ranges of rows."""
    from fastml.kernels import add_leaf_values

    raw = rng.normal(size=n)
    expected = raw.copy()
    leaves = np.array_split(rng.permutation(n).astype(np.uint32), 7)
    values = rng.normal(size=7)
    for rows, value in zip(leaves, values):
        expected[rows] += value
    add_leaf_values(raw, leaves, values, n_threads=n_threads)
    assert_array_equal(raw, expected)
    with pytest.raises(ValueError, match="two leaves"):
        add_leaf_values(raw, [leaves[0], leaves[0][:3]], values[:2])
    with pytest.raises(ValueError, match="one value per leaf"):
        add_leaf_values(raw, leaves, values[:3])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fixed_point_inputs_are_summarised_and_checked(rng, dtype):
    from fastml.kernels import abs_max_sum

    values = (rng.normal(size=100_003) * 50).astype(dtype)
    largest, total = abs_max_sum(values, n_threads=3)
    assert largest == np.abs(values).max()
    np.testing.assert_allclose(total, np.abs(values.astype(np.float64)).sum(), rtol=1e-12)
    for bad in (np.nan, np.inf, -np.inf):
        broken = values.copy()
        broken[77] = bad
        with pytest.raises(ValueError, match="finite"):
            to_fixed_point(broken, 1.0, n_threads=2)
    huge = np.array([1e308, -1e308, 1e308])  # finite, though their |sum| overflows
    assert_array_equal(to_fixed_point(huge, 2.0**1000), np.rint(huge / 2.0**1000))
    assert_array_equal(to_fixed_point(np.ones((2, 3)), 0.5), np.full((2, 3), 2))


@pytest.mark.parametrize("with_hessians", [True, False])
def test_histograms_of_samples_with_repeated_rows(rng, with_hessians):
    """A bootstrap sample repeats rows (and may hold more rows than the
    chunk): gradient_histograms_chunk sums each occurrence;
    GradientHistograms, which sums distinct node rows, refuses it."""
    from fastml.kernels import GradientHistograms

    binned, g, h, _, _ = make_node(rng)
    h = h if with_hessians else None
    samples = rng.integers(0, 3000, size=5000)  # more rows than the chunk, with repeats
    assert_array_equal(gradient_histograms_chunk(binned, g, h, samples=samples, n_threads=2),
                       naive_histograms(binned, g, h, samples))
    with pytest.raises(ValueError, match="repeats rows"):
        GradientHistograms(binned, g, h)(samples)


@pytest.mark.parametrize("with_hessians", [True, False])
def test_packed_and_unpacked_sums_on_either_side_of_the_bound(rng, with_hessians):
    """The packed path is taken while the summed |packed quantity| stays
    below 2**(62 - count_bits) - n, and both sides of that line are exact."""
    from fastml.kernels import GradientHistograms

    n = 1000  # count_bits 10
    binned = rng.integers(0, N_BINS, size=(n, 3)).astype(np.uint8)
    limit = 2**52 - n
    for total, packable in ((limit - 2**20, True), (limit + 2**20, False)):
        packed_quantity = np.zeros(n, dtype=np.int64)
        packed_quantity[:4] = total // 4
        g = rng.integers(-1000, 1000, size=n)
        h = packed_quantity if with_hessians else None
        if not with_hessians:
            g = packed_quantity * np.where(np.arange(n) % 2, 1, -1)
        histograms = GradientHistograms(binned, g, h, n_threads=2)
        assert (histograms.packed is not None) == packable
        rows = np.sort(rng.choice(n, 600, replace=False)).astype(np.uint32)
        for samples in (None, rows):
            assert_array_equal(histograms(samples), naive_histograms(binned, g, h, samples))


@pytest.mark.parametrize("with_hessians", [True, False])
@pytest.mark.parametrize("packable", [True, False])
@pytest.mark.parametrize("by_column", ["none", "all", "mixed", "auto"])
def test_histograms_summed_by_columns_equal_naive(rng, with_hessians, packable, by_column):
    """Features whose codes repeat (here two-valued and constant ones) can be
    summed feature by feature over blocks of rows; any choice gives the
    same exact sums, for the packed and the unpacked kernel, over threads,
    written into a recycled array or a new one."""
    from fastml.kernels import SMALL_HISTOGRAM, GradientHistograms, repeating_features

    n, d = SMALL_HISTOGRAM // 3 + 77, 7
    binned = rng.integers(0, N_BINS, size=(n, d)).astype(np.uint8)
    binned[:, 1] = rng.integers(0, 2, size=n)   # two values
    binned[:, 4] = 3                            # constant
    binned[:, 5] = np.where(rng.random(n) < 0.9, 0, binned[:, 5])  # one dominant bin
    assert_array_equal(repeating_features(binned),
                       [False, True, False, False, True, True, False])
    mask = {"none": np.zeros(d, bool), "all": np.ones(d, bool),
            "mixed": np.arange(d) % 2 == 1, "auto": None}[by_column]
    bound = 2**20 if packable else 2**50
    g = rng.integers(-bound, bound, size=n)
    h = rng.integers(0, bound, size=n) if with_hessians else None
    histograms = GradientHistograms(binned, g, h, by_column=mask, n_threads=3)
    assert (histograms.packed is not None) == packable
    node = np.sort(rng.choice(n, n // 2, replace=False)).astype(np.uint32)
    recycled = np.full((d, N_BINS, 3), -5, dtype=np.int64)
    for samples in (None, node, node[:40]):
        expected = naive_histograms(binned, g, h, samples)
        assert_array_equal(histograms(samples), expected)
        got = histograms(samples, out=recycled)
        assert got is recycled
        assert_array_equal(recycled, expected)
    with pytest.raises(ValueError, match="by_column must have shape"):
        GradientHistograms(binned, g, h, by_column=np.ones(3, bool))
    with pytest.raises(ValueError, match="out must be"):
        histograms(None, out=np.zeros((d, N_BINS, 2), dtype=np.int64))


def test_histograms_from_threads_at_once(rng):
    """One GradientHistograms called from four Python threads at once: its
    reused scratch goes to one call at a time, the others get their own."""
    from concurrent.futures import ThreadPoolExecutor

    from fastml.kernels import GradientHistograms

    binned, g, h, _, _ = make_node(rng)
    histograms = GradientHistograms(binned, g, h, n_threads=2)
    nodes = [np.sort(rng.choice(3000, 1000 + 250 * k, replace=False)).astype(np.uint32)
             for k in range(8)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(histograms, nodes * 3))
    for node, got in zip(nodes * 3, results):
        assert_array_equal(got, naive_histograms(binned, g, h, node))


def test_python_constants_match_the_compiled_ones():
    """N_BINS and the bitset width are written once in _kernels/common.h;
    the Python layer's copies must agree with what the kernels were built with."""
    from fastml._kernels import _gbdt
    from fastml.kernels.boosting import N_BINS, SET_WORDS

    assert (_gbdt.N_BINS, _gbdt.SET_WORDS) == (N_BINS, SET_WORDS) == (256, 4)


@pytest.mark.parametrize("packable", [True, False])
@pytest.mark.parametrize("missing_bin", [N_BINS - 1, 20])
def test_histograms_of_the_bins_that_hold_codes_equal_naive(rng, packable, missing_bin):
    """With ``bins``, only the bins that hold codes are written (few values
    per feature: small data); a histogram returned before is a valid ``out``
    for the next node, and so is a zeroed array."""
    from fastml.kernels import GradientHistograms

    n, d = 3000, 4
    n_values = np.array([3, 17, 1, 0], dtype=np.uint16)
    binned = np.column_stack([rng.integers(0, max(v, 1), size=n) for v in n_values])
    binned = binned.astype(np.uint8)
    binned[:, 3] = missing_bin                          # a feature of missing values only
    binned[rng.random(n) < 0.1, 1] = missing_bin        # and some missing values
    bound = 2**20 if packable else 2**50
    g, h = rng.integers(-bound, bound, size=n), rng.integers(0, bound, size=n)
    histograms = GradientHistograms(binned, g, h, bins=(n_values, missing_bin), n_threads=2)
    assert (histograms.packed is not None) == packable
    previous = None
    for samples in (None, np.sort(rng.choice(n, 1000, replace=False)).astype(np.uint32),
                    np.arange(7, dtype=np.uint32)):
        expected = naive_histograms(binned, g, h, samples)
        got = histograms(samples, out=previous)
        assert_array_equal(got, expected)
        previous = got
    with pytest.raises(ValueError, match="bins must be"):
        GradientHistograms(binned, g, h, bins=(n_values[:3], missing_bin))
    with pytest.raises(ValueError, match="bins must be"):
        GradientHistograms(binned, g, h, bins=(np.full(d, 30), 20))


def spread_gradients(rng, n):
    """float32 gradients over many orders of magnitude, so that a scale
    fitted to their sum is coarser than the small ones' float32 steps."""
    return (rng.normal(size=n) * np.exp(rng.normal(scale=6, size=n))).astype(np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_abs_max_sum_finds_the_largest_at_every_position(dtype):
    """The kernel keeps four running maxima and sums (rows k to k + 3) and
    a tail: the largest and a NaN count wherever they are, with or without
    weights, on 1 and 2 threads."""
    from fastml.kernels import abs_max_sum

    for n in range(1, 12):
        for at in range(n):
            values = np.full(n, 0.25, dtype)
            values[at] = -5
            for threads in (1, 2):
                assert abs_max_sum(values, n_threads=threads) == (5.0, 5 + 0.25 * (n - 1))
                w = np.full(n, 2.0)
                w[at] = 0.5   # the largest unit value: 10
                assert abs_max_sum(values, sample_weight=w, n_threads=threads)[0] == 10.0
                values[at] = np.nan
                with pytest.raises(ValueError, match="finite"):
                    abs_max_sum(values, n_threads=threads)
                values[at] = -5


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weighted_fixed_point_equals_the_repeated_rows(rng, threads, dtype):
    """Values weighted by a power of two are rounded per unit of weight,
    with the scale the repeated rows get: a row of weight 2 is exactly
    twice its unit-weight integer -- even where the scale rounds -- so
    weighted histograms equal those of the rows repeated."""
    from fastml.kernels import abs_max_sum

    g = spread_gradients(rng, 20_000)
    w = rng.choice([0, 1, 2, 4, 8], size=g.size)
    w[0] = 1
    g[0] = np.abs(g).max() * 2  # the largest unit value, of weight 1
    weighted = (w * g).astype(dtype)  # exact: powers of two
    repeated = g.repeat(w)
    largest, total = abs_max_sum(weighted, sample_weight=w, n_threads=threads)
    assert largest == abs_max_sum(repeated)[0] == np.abs(g[w > 0]).max()
    np.testing.assert_allclose(total, abs_max_sum(repeated)[1], rtol=1e-12)
    scale = fixed_point_scale(largest, int(w.sum()), abs_sum=total)
    unit = to_fixed_point(g, scale)
    assert not np.array_equal(unit * scale, g)  # the scale does round some
    fixed = to_fixed_point(weighted, scale, sample_weight=w, n_threads=threads)
    assert_array_equal(fixed, w * unit)
    assert not np.array_equal(fixed, to_fixed_point(weighted, scale))  # unlike unweighted
    binned = rng.integers(0, 30, size=(g.size, 3)).astype(np.uint8)
    from_weights = gradient_histograms_chunk(binned, fixed, n_threads=threads)
    from_repeats = gradient_histograms_chunk(binned.repeat(w, axis=0),
                                             to_fixed_point(repeated, scale), n_threads=threads)
    assert_array_equal(from_weights[..., 0], from_repeats[..., 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_other_weights_round_the_weighted_values(rng, dtype):
    """Only powers of two (0.5 included) round per unit of weight; other
    weights leave the weighted values as they are (scikit-learn's)."""
    from fastml.kernels import abs_max_sum

    g = spread_gradients(rng, 1000).astype(dtype)
    w = rng.uniform(0, 3, size=g.size)
    w[:50], w[50:100], w[100:150] = 0.0, 0.5, 4.0
    scale = 2.0 ** -30
    x = g.astype(np.float64) / scale
    expected = np.rint(x)
    expected[50:150] = np.rint(w[50:150] * np.rint(x[50:150] / w[50:150]))
    assert_array_equal(to_fixed_point(g, scale, sample_weight=w, n_threads=2), expected)
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        to_fixed_point(g, scale, sample_weight=w[:-1])
    with pytest.raises(ValueError, match="sample_weight must have 1000 values"):
        abs_max_sum(g, sample_weight=w[:-1])
    with pytest.raises(ValueError, match="do not fit"):
        to_fixed_point(np.float32([1.0]), 2.0**-62, sample_weight=[4.0])
