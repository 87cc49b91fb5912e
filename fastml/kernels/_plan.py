"""How each built-in distance metric maps onto a compiled kernel (the
metrics' names and parameters are checked in ``fastml._validation.metrics``).

Every metric is computed by one of three compiled families
(``fastml._kernels._distances``):

* ``direct``: element-wise tile kernels (cityblock, chebyshev, minkowski,
  canberra, braycurtis, hamming, jensenshannon, and euclidean for
  few features);
* ``gemm``: BLAS dot products plus an exact fix-up (euclidean, sqeuclidean,
  cosine, and the boolean metrics -- dice, jaccard, rogerstanimoto,
  russellrao, sokalsneath, yule -- as counts of 0/1 indicators, nonzero
  meaning True, as ``cdist`` computes them);
* ``haversine``.

Parameters that only rescale features are applied to the data before the
kernel runs: ``w`` for cityblock/euclidean/minkowski/braycurtis/cosine,
``V`` for seuclidean (scale by ``1/sqrt(V)``), ``VI`` for mahalanobis
(rows times a double-double Cholesky factor of ``VI``, see
``fastml.kernels._mahalanobis``), and correlation centres each row.
Those transforms are row-local, so blocks of X and Y can be prepared
independently (Dask maps them per block).
"""
import copy

import numpy as np

from fastml._kernels import _distances
from fastml.kernels._mahalanobis import (
    MahalanobisFactor,
    mahalanobis_rows,
    quadratic_form_distances,
    refine_mahalanobis,
)
from fastml._threads import single_threaded_blas, threads_for
from fastml._validation.metrics import BOOLEAN_METRICS

# Up to this many features the direct kernels beat tiled BLAS GEMM, per
# instruction set in use and dtype: exact differences for (sq)euclidean,
# dot products for cosine.  Measured against OpenBLAS's AVX2 kernels
# (benchmarks/bench_pairwise.py and the threshold sweep in benchmarks/HISTORY.md).
_F64, _F32 = np.dtype(np.float64), np.dtype(np.float32)
DIRECT_MAX_FEATURES = {
    "euclidean": {
        ("avx512", _F64): 256, ("avx512", _F32): 256,
        ("avx2", _F64): 128, ("avx2", _F32): 16,
        ("baseline", _F64): 16, ("baseline", _F32): 16,
    },
    "cosine": {
        ("avx512", _F64): 512, ("avx512", _F32): 512,
        ("avx2", _F64): 0, ("avx2", _F32): 0,
        ("baseline", _F64): 0, ("baseline", _F32): 0,
    },
}

# For the top-k search the direct euclidean tiles stop paying earlier: the
# search discards most tiles' values at once, so GEMM tiles' cheaper
# products win from about 64 float32 features with AVX-512 (measured,
# 200 000 x d index; float64 measured even, so the exact direct tiles stay).
KNN_DIRECT_MAX_FEATURES = {("avx512", _F32): 64}

# Target relative error of a squared distance from the GEMM identity, per
# dtype; sets the threshold below which a pair is recomputed exactly.
_GEMM_TARGET_ERROR = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-13}


class Plan:
    """How to compute one metric: a kernel family, its code, and the
    row-local transform applied to X and Y blocks first.

    Instances are small and picklable, so Dask ships them to workers.
    """

    def __init__(self, metric, params, dtype, n_features, cosine_zero=np.nan):
        self.metric = metric
        self.dtype = np.dtype(dtype)
        self.cosine_zero = float(cosine_zero)
        w = params.get("w")
        self.scale = None          # multiply features by this (float64)
        self.columns = None        # keep only these features
        self.factor = None         # mahalanobis: MahalanobisFactor of VI
        self.center = None         # None, or weights for the row means
        self.normalize_rows = False
        self.weights = None        # weights passed to the kernel
        self.prm = np.zeros(1)
        self.family, kernel_metric = "direct", metric

        if metric in ("cityblock", "euclidean", "sqeuclidean", "braycurtis"):
            if w is not None:
                self.scale = w if metric in ("cityblock", "braycurtis") else np.sqrt(w)
        elif metric == "minkowski":
            p = params["p"]
            kernel_metric = {1.0: "cityblock", 2.0: "euclidean", np.inf: "chebyshev"}.get(p)
            if kernel_metric is None:
                kernel_metric = {3.0: "minkowski3", 4.0: "minkowski4"}.get(p, "minkowski")
                self.prm = np.array([p])
            if w is not None:
                if np.isinf(p):
                    self.columns = np.flatnonzero(w > 0)
                else:
                    self.scale = w ** (1.0 / p)
        elif metric == "chebyshev":
            if w is not None:
                self.columns = np.flatnonzero(w > 0)
        elif metric == "seuclidean":
            kernel_metric = "euclidean"
            self.scale = 1.0 / np.sqrt(params["V"])
        elif metric == "mahalanobis":
            kernel_metric = "euclidean"
            self.factor = MahalanobisFactor.of(params["VI"])
        elif metric in ("cosine", "correlation"):
            kernel_metric = "cosine"
            if metric == "correlation":
                self.center = w if w is not None else np.ones(n_features)
            if w is not None:
                self.scale = np.sqrt(w)
        elif metric in ("canberra", "hamming"):
            self.weights = w
            if metric == "hamming":
                self.prm = np.array([w.sum() if w is not None else float(n_features)])
        elif metric == "jensenshannon":
            self.normalize_rows = True
            base = params.get("base")
            self.prm = np.array([np.log(base) if base is not None else 1.0])
        elif metric in BOOLEAN_METRICS:
            self.family = "boolean"
            self.weights = w
        elif metric == "haversine":
            self.family = "haversine"

        if kernel_metric == "cityblock":
            kernel_metric = "l1"
        n_used = len(self.columns) if self.columns is not None else n_features
        if kernel_metric in ("euclidean", "sqeuclidean", "cosine"):
            thresholds = DIRECT_MAX_FEATURES["cosine" if kernel_metric == "cosine" else "euclidean"]
            if n_used > thresholds[_distances.isa_in_use(), self.dtype]:
                self.family = "gemm"
        if self.factor is not None and self.factor.R is None:
            self.family = "quadratic"      # SciPy's per-pair form, blocked
        self.kernel_metric = kernel_metric
        eps = np.finfo(self.dtype).eps
        self.tau = min(1.0, eps * np.sqrt(max(n_used, 1)) / _GEMM_TARGET_ERROR[self.dtype])
        self.w32 = None if self.weights is None else self.weights.astype(self.dtype)
        self._wsum = None if self.weights is None else float(self.weights.sum())
        self.n_features = n_features

    def transform(self, X):
        """The rows of X as the kernel wants them: C-contiguous, self.dtype.

        The input is made C-contiguous first, so that the matrix products
        below round the same way whatever the caller's memory layout.
        """
        X = np.ascontiguousarray(X)
        if self.columns is not None:
            X = X[:, self.columns]
        if self.center is not None:
            X = X - ((X @ self.center) / self.center.sum())[:, None]
        if self.normalize_rows:
            with np.errstate(invalid="ignore", divide="ignore"):  # zero rows: compute()
                X = X / X.sum(axis=1, keepdims=True, dtype=np.float64)
        if self.scale is not None:
            X = X * self.scale
        return np.ascontiguousarray(X, dtype=self.dtype)

    def compute(self, X, Y, n_threads, symmetric=False):
        """Distances between the rows of X and Y, shape (len(X), len(Y)).

        X and Y are float arrays with n_features columns, already checked.
        With ``symmetric=True`` Y is ignored and X is used for both sides.

        BLAS runs on one thread throughout: the kernels parallelise over
        tiles themselves, and OpenBLAS threads left spinning after a small
        product in ``transform`` would compete with them for the cores.
        """
        pairs = X.shape[0] * (X.shape[0] + 1) // 2 if symmetric else X.shape[0] * Y.shape[0]
        n_threads = threads_for(pairs * max(X.shape[1], 1), n_threads)
        with single_threaded_blas():
            return self._compute(X, Y, n_threads, symmetric)

    def _compute(self, X, Y, n_threads, symmetric):
        if self.factor is not None:
            return self._mahalanobis(X, Y, n_threads, symmetric)
        Xt = self.transform(X)
        Yt = Xt if symmetric else self.transform(Y)
        out = np.empty((Xt.shape[0], Yt.shape[0]), dtype=self.dtype)
        if self.family == "direct" and self.kernel_metric == "cosine":
            x_norm = _row_norms(Xt, squared=False)
            y_norm = x_norm if symmetric else _row_norms(Yt, squared=False)
            _distances.direct_distances(
                Xt, Yt, _distances.DIRECT_CODES["dot"], np.empty(0, self.dtype), self.prm,
                out, symmetric, n_threads, x_norm, y_norm, self.tau, self.cosine_zero,
            )
        elif self.family == "direct":
            w = self.w32 if self.w32 is not None else np.empty(0, self.dtype)
            _distances.direct_distances(
                Xt, Yt, _distances.DIRECT_CODES[self.kernel_metric], w, self.prm, out,
                symmetric, n_threads,
            )
            if self.kernel_metric == "chebyshev":
                # The kernel's vector max skips NaN; NaN in a row makes its
                # distances NaN, as in SciPy.
                out[np.isnan(Xt).any(axis=1), :] = np.nan
                out[:, np.isnan(Yt).any(axis=1)] = np.nan
            elif self.kernel_metric == "jensenshannon":
                # A row with a negative entry or summing to 0 is no
                # probability vector: cdist gives inf.
                out[not_a_distribution(X), :] = np.inf
                out[:, not_a_distribution(X if symmetric else Y)] = np.inf
            if symmetric:
                np.fill_diagonal(out, 0)   # as mirror_upper leaves it
        elif self.family == "gemm":
            self._gemm(Xt, Yt, out, n_threads, symmetric)
        elif self.family == "boolean":
            self._boolean(Xt, Yt, out, n_threads, symmetric)
        else:
            _distances.haversine_distances(Xt, Yt, out, n_threads)
            if symmetric:
                _distances.mirror_upper(out, n_threads)
        return out

    def argkmin(self, X, Y, k, n_threads):
        """The k nearest rows of Y for each row of X.

        X and Y are float arrays with n_features columns, already checked
        (finite; non-negative rows for jensenshannon).

        Returns
        -------
        distances : ndarray (n, k), self.dtype
        indices : ndarray (n, k), int64
            Sorted by distance, ties by index.  When Y has fewer than k
            rows, the missing neighbours are (inf, -1).
        """
        n_threads = threads_for(X.shape[0] * Y.shape[0] * max(X.shape[1], 1), n_threads)
        with single_threaded_blas():
            return self._argkmin(X, Y, k, n_threads)

    def _argkmin(self, X, Y, k, n_threads):
        maha = None
        if self.factor is not None and self.family != "quadratic":
            maha = mahalanobis_rows(self.factor, X, Y, n_threads,
                                    exact=self.dtype == np.float64)
            Xt, Yt = maha[0][1][0], maha[1][1][0]
            if self.dtype != np.float64:
                Xt, Yt = Xt.astype(self.dtype), Yt.astype(self.dtype)
        else:
            Xt, Yt = self.transform(X), self.transform(Y)
        heap_d, heap_i = new_heaps(Xt.shape[0], k)
        metric = self.kernel_metric
        family = self.family
        if (family == "direct" and metric in ("euclidean", "sqeuclidean")
                and Xt.shape[1] > KNN_DIRECT_MAX_FEATURES.get((_distances.isa_in_use(), self.dtype),
                                                              np.inf)):
            family = "gemm"
        # float64 direct tiles hold the final values, computed from
        # differences.  Elsewhere euclidean ranks on squared distances, and
        # the winners' values are recomputed afterwards.
        exact_tiles = family == "direct" and self.dtype == np.float64
        ranked = "sqeuclidean" if metric == "euclidean" and not exact_tiles else metric
        no_stat = np.empty(0)
        if family == "direct":
            if metric == "cosine":
                code, x_stat, y_stat = "dot", _row_norms(Xt, False), _row_norms(Yt, False)
            else:
                code, x_stat, y_stat = ranked, no_stat, no_stat
            w = self.w32 if self.w32 is not None else np.empty(0, self.dtype)
            _distances.argkmin_tiles(
                Xt, Yt, True, _distances.DIRECT_CODES[code], w, self.prm, x_stat, y_stat,
                self.tau, self.cosine_zero, 0.0, heap_d, heap_i, 0, n_threads,
            )
        elif family == "gemm":
            squared = metric != "cosine"
            _distances.argkmin_tiles(
                Xt, Yt, False, _distances.GEMM_CODES[ranked], np.empty(0, self.dtype), no_stat,
                _row_norms(Xt, squared), _row_norms(Yt, squared), self.tau, self.cosine_zero,
                0.0, heap_d, heap_i, 0, n_threads,
            )
        elif family == "boolean":
            Xb, Yb, x_stat, y_stat, total = self._boolean_operands(Xt, Yt, False)
            _distances.argkmin_tiles(
                Xb, Yb, False, _distances.GEMM_CODES[self.metric], np.empty(0), no_stat,
                x_stat, y_stat, 0.0, np.nan, total, heap_d, heap_i, 0, n_threads,
            )
        else:
            offer_in_blocks(lambda A, B: self._compute(A, B, n_threads, False), X, Y,
                            heap_d, heap_i, n_threads)
        distances, indices = finish_heaps(heap_d, heap_i, n_threads)
        if metric in ("euclidean", "sqeuclidean") and not exact_tiles:
            # Float32 tiles round and GEMM tiles lose digits: the winners'
            # values again, from differences in float64; they can reorder
            # near-ties.
            _distances.sqeuclidean_pairs(Xt, Yt, heap_i, distances, n_threads)
            if metric == "euclidean":
                np.sqrt(distances, out=distances)
            order = np.lexsort((heap_i, distances), axis=-1)
            distances = np.take_along_axis(distances, order, axis=1)
            indices = np.take_along_axis(indices, order, axis=1)
        elif metric == "cosine" and self.dtype == np.float32:
            # 1 - cos loses its relative accuracy in float32 for close
            # pairs: the winners' values again, in float64.
            self._cosine_pairs_float64(X, Y, indices, distances)
            order = np.lexsort((np.where(indices < 0, np.iinfo(np.int64).max, indices),
                                distances), axis=-1)
            distances = np.take_along_axis(distances, order, axis=1)
            indices = np.take_along_axis(indices, order, axis=1)
        if maha is not None and self.dtype == np.float64:
            # The winners' values to the guaranteed accuracy; they can
            # reorder near-ties.
            distances = np.ascontiguousarray(distances)
            refine_mahalanobis(self.factor, distances, maha, indices, n_threads)
            missing = np.where(indices < 0, np.iinfo(np.int64).max, indices)
            order = np.lexsort((missing, distances), axis=-1)
            distances = np.take_along_axis(distances, order, axis=1)
            indices = np.take_along_axis(indices, order, axis=1)
        return distances.astype(self.dtype, copy=False), indices

    def _mahalanobis(self, X, Y, n_threads, symmetric):
        """Mahalanobis distances: the euclidean kernels on the hi parts of
        the double-double rows, then (float64) every pair the per-pair bound
        cannot guarantee refined; or SciPy's quadratic form per pair."""
        Y = X if symmetric else Y
        out = np.empty((X.shape[0], Y.shape[0]), dtype=self.dtype)
        if self.family == "quadratic":
            quadratic_form_distances(X, Y, self.factor.VI, out)
            if symmetric:
                np.fill_diagonal(out, 0)
            return out
        rows = mahalanobis_rows(self.factor, X, None if symmetric else Y, n_threads,
                                exact=self.dtype == np.float64)
        Xt, Yt = rows[0][1][0], rows[1][1][0]
        if self.dtype != np.float64:
            Xt = Xt.astype(self.dtype)
            Yt = Xt if symmetric else Yt.astype(self.dtype)
        if self.family == "gemm":
            self._gemm(Xt, Yt, out, n_threads, symmetric)
        else:
            _distances.direct_distances(
                Xt, Yt, _distances.DIRECT_CODES["euclidean"], np.empty(0, self.dtype),
                self.prm, out, symmetric, n_threads,
            )
            if symmetric:
                np.fill_diagonal(out, 0)
        if self.dtype == np.float64:
            refine_mahalanobis(self.factor, out, rows, None, n_threads, symmetric)
        return out

    def _cosine_pairs_float64(self, X, Y, indices, distances, block_bytes=1 << 24):
        """Overwrite distances[i, c] with the float64 cosine (or correlation)
        distance of X[i] and Y[indices[i, c]], for pairs of nonzero rows.

        The transform is row-local, so only the winners' rows of Y are
        gathered and converted, about ``block_bytes`` at a time.
        """
        plan64 = copy.copy(self)
        plan64.dtype = np.dtype(np.float64)
        n, k = indices.shape
        rows_per_block = max(1, block_bytes // (8 * k * max(X.shape[1], 1)))
        for start in range(0, n, rows_per_block):
            rows = slice(start, start + rows_per_block)
            idx = np.maximum(indices[rows], 0)
            x = plan64.transform(X[rows].astype(np.float64))
            y = plan64.transform(Y[idx.ravel()].astype(np.float64)).reshape(idx.shape + (-1,))
            dots = np.einsum("nd,nkd->nk", x, y)
            norms = _row_norms(x, False)[:, None] * np.sqrt(np.einsum("nkd,nkd->nk", y, y))
            ok = (norms > 0) & (indices[rows] >= 0)
            with np.errstate(invalid="ignore", divide="ignore"):
                exact = np.maximum(1.0 - dots / norms, 0.0)
            distances[rows] = np.where(ok, exact, distances[rows])

    def _gemm(self, X, Y, out, n_threads, symmetric):
        squared = self.kernel_metric != "cosine"
        x_stat = _row_norms(X, squared)
        y_stat = x_stat if symmetric else _row_norms(Y, squared)
        _distances.gemm_distances(
            X, Y, _distances.GEMM_CODES[self.kernel_metric], x_stat, y_stat, 0.0,
            self.tau, self.cosine_zero, out, symmetric, n_threads,
        )

    def _boolean_operands(self, X, Y, symmetric):
        """0/1 float64 indicators (X scaled by the weights), weighted counts
        of nonzeros, and the total weight: counts are exact in float64."""
        Xb = (X != 0).astype(np.float64)
        Yb = Xb if symmetric else (Y != 0).astype(np.float64)
        if self.weights is not None:
            x_stat = Xb @ self.weights
            y_stat = Yb @ self.weights
            Xb = Xb * self.weights
            total = self._wsum
        else:
            x_stat = Xb.sum(axis=1)
            y_stat = Yb.sum(axis=1)
            total = float(X.shape[1])
        return Xb, Yb, x_stat, y_stat, total

    def _boolean(self, X, Y, out, n_threads, symmetric):
        Xb, Yb, x_stat, y_stat, total = self._boolean_operands(X, Y, symmetric)
        target = out if out.dtype == np.float64 else np.empty(out.shape, np.float64)
        _distances.gemm_distances(
            Xb, Yb, _distances.GEMM_CODES[self.metric], x_stat, y_stat, total,
            0.0, np.nan, target, symmetric, n_threads,
        )
        if target is not out:
            out[...] = target


def offer_in_blocks(distances, X, Y, heap_d, heap_i, n_threads, max_block=1 << 22):
    """Offer ``distances(X_block, Y_block)`` to the k-nearest heaps, block by
    block, so that at most ``max_block`` distances exist at a time."""
    n, m = X.shape[0], Y.shape[0]
    rows = max(1, min(n, 4096))
    cols = max(1, max_block // rows)
    for x0 in range(0, n, rows):
        for y0 in range(0, m, cols):
            D = distances(X[x0:x0 + rows], Y[y0:y0 + cols])
            _distances.argkmin_offer(D, heap_d[x0:x0 + rows], heap_i[x0:x0 + rows], y0,
                                     n_threads)


def within_radius_in_blocks(distances, X, Y, radius, sort_results, max_block=1 << 22):
    """(offsets int64, indices int64, distances) of the rows of Y within
    ``radius`` of each row of X, from ``distances(X_block, Y)`` over blocks
    of rows, so that at most about ``max_block`` distances exist at a time.
    Each row's neighbours by distance (ties by index) with ``sort_results``,
    else in increasing index order."""
    n, m = X.shape[0], Y.shape[0]
    rows = max(1, min(n, max_block // max(m, 1)))
    counts, indices, values = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], []
    for x0 in range(0, n, rows):
        D = distances(X[x0:x0 + rows], Y)
        r, c = np.nonzero(D <= radius)
        counts.append(np.bincount(r, minlength=D.shape[0]))
        indices.append(c.astype(np.int64))
        values.append(D[r, c])
    offsets = np.concatenate([[0], np.cumsum(np.concatenate(counts))]).astype(np.int64)
    indices = np.concatenate(indices)
    values = np.concatenate(values) if values else np.zeros(0)
    if sort_results:
        row = np.repeat(np.arange(n), np.diff(offsets))
        order = np.lexsort((indices, values, row))
        indices, values = indices[order], values[order]
    return offsets, indices, values


def finish_heaps(heap_d, heap_i, n_threads):
    """Sort the heaps; empty slots (fewer than k rows in Y) become index -1.

    Returns (distances, indices int64), both (n, k)."""
    _distances.sort_heaps(heap_d, heap_i, n_threads)
    indices = heap_i.astype(np.int64)
    indices[heap_i == _distances.EMPTY_INDEX] = -1
    return heap_d, indices


def new_heaps(n, k):
    """Empty (distance, index) max-heaps for n rows and k neighbours."""
    return np.full((n, k), np.inf), np.full((n, k), _distances.EMPTY_INDEX, dtype=np.intp)


def not_a_distribution(X):
    """Rows of X with a negative entry or a zero sum, (n,) bool."""
    return (X < 0).any(axis=1) | (X.sum(axis=1) == 0)


def _row_norms(X, squared):
    """Euclidean norms (or squared norms) of the rows of X, in float64."""
    sq = np.einsum("ij,ij->i", X, X, dtype=np.float64)
    return sq if squared else np.sqrt(sq)


