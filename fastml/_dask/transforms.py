"""Lazy transforms of Dask arrays, one output block per row block.

Each block function receives the fitted arrays it needs (bin edges,
quantiles, random weights...), never the estimator, so a task pickles
only what it uses.  Blocks may be scipy.sparse where the transform takes
them (polynomial features: sparse blocks in, sparse blocks out).  ``as_dask_dataframe`` puts a lazy result in a Dask
DataFrame for ``set_output(transform="pandas")``.
"""
from functools import partial

import numpy as np
from scipy import sparse


def _bin_block(block, inner_edges, n_bins, one_hot):
    """Bin codes of one block: ordinal (floats of the block's dtype) or
    the dense one-hot encoding, columns grouped by feature."""
    from fastml.kernels import bin_chunk

    if not one_hot:
        return bin_chunk(block, inner_edges, dtype=block.dtype)
    codes = bin_chunk(block, inner_edges)
    n, d = codes.shape
    starts = np.concatenate([[0], np.cumsum(n_bins)[:-1]])
    out = np.zeros((n, int(np.sum(n_bins))), dtype=block.dtype)
    out[np.repeat(np.arange(n), d), (codes + starts).ravel()] = 1
    return out


def bin_codes(X, inner_edges, n_bins, one_hot, dtype):
    """Lazy ``KBinsDiscretizer.transform``: X (one feature chunk) cast to
    ``dtype``, binned by ``inner_edges`` (one array per feature); with
    ``one_hot`` the dense encoding of width ``sum(n_bins)``."""
    dtype = np.dtype(dtype)
    X = X.astype(dtype)
    n_bins = np.asarray(n_bins)
    width = int(n_bins.sum()) if one_hot else X.shape[1]
    block = partial(_bin_block, inner_edges=inner_edges, n_bins=n_bins, one_hot=one_hot)
    return X.map_blocks(block, dtype=dtype, chunks=(X.chunks[0], (width,)),
                        meta=np.empty((0, 0), dtype))


def _quantile_block(block, quantiles, references, inverse, output_distribution):
    from fastml.kernels import quantile_transform_chunk

    return quantile_transform_chunk(block, quantiles, references, inverse=inverse,
                                    output_distribution=output_distribution)


def quantile_transform(X, quantiles, references, inverse, output_distribution):
    """Lazy ``quantile_transform_chunk`` of every row block; X's dtype."""
    block = partial(_quantile_block, quantiles=quantiles, references=references,
                    inverse=inverse, output_distribution=output_distribution)
    return X.map_blocks(block, dtype=X.dtype, meta=np.empty((0, 0), X.dtype))


def _polynomial_block(block, degrees, interaction_only, include_bias, sparse_class):
    from fastml.kernels import polynomial_features_chunk, sparse_polynomial_features_chunk

    if sparse.issparse(block):
        return sparse_class(sparse_polynomial_features_chunk(
            block, degrees, interaction_only=interaction_only, include_bias=include_bias,
            n_threads=1))
    return polynomial_features_chunk(block, degrees, interaction_only=interaction_only,
                                     include_bias=include_bias, n_threads=1)


def polynomial_features(X, degrees, interaction_only, include_bias, n_output_features,
                        sparse_class=None):
    """Lazy ``polynomial_features_chunk`` of every row block; a block of
    scipy.sparse rows gives ``sparse_polynomial_features_chunk`` as
    ``sparse_class`` (the output class and format, also of the meta)."""
    block = partial(_polynomial_block, degrees=degrees, interaction_only=interaction_only,
                    include_bias=include_bias, sparse_class=sparse_class)
    meta = (np.empty((0, 0), X.dtype) if sparse_class is None
            else sparse_class((0, 0), dtype=X.dtype))
    return X.map_blocks(block, dtype=X.dtype, chunks=(X.chunks[0], (n_output_features,)),
                        meta=meta)


def _fourier_block(block, weights, offset):
    from fastml.kernels import fourier_features_chunk

    return fourier_features_chunk(block, weights, offset, n_threads=1)


def fourier_features(X, weights, offset):
    """Lazy ``fourier_features_chunk`` of every row block: random Fourier
    features of width ``weights.shape[1]``."""
    block = partial(_fourier_block, weights=weights, offset=offset)
    return X.map_blocks(block, dtype=X.dtype, chunks=(X.chunks[0], (weights.shape[1],)),
                        meta=np.empty((0, 0), X.dtype))


def map_sparse_blocks(X, block_function, meta, n_columns=None, **kwargs):
    """Lazy ``block_function(block, **kwargs)`` of every block of a Dask
    array of scipy.sparse blocks: the estimator's own in-memory sparse
    function (a module-level function, so a task pickles it by name), run
    on one thread.  ``meta`` is an empty block of the output's class,
    format and dtype; ``n_columns`` the output width (default X's)."""
    chunks = X.chunks if n_columns is None else (X.chunks[0], (n_columns,))
    return X.map_blocks(_sparse_block, block_function=block_function, kwargs=kwargs,
                        dtype=meta.dtype, chunks=chunks, meta=meta)


def _sparse_block(block, block_function, kwargs):
    return block_function(block, n_threads=1, **kwargs)


def as_dask_dataframe(result, columns, X):
    """A lazy transform result as a Dask DataFrame with ``columns``, on the
    index of X when X is a Dask DataFrame.  Sparse blocks are refused, with
    scikit-learn's words for sparse output."""
    from fastml._dask.arrays import has_sparse_blocks

    if has_sparse_blocks(result):
        raise ValueError(
            "The transformer outputs a Dask array of scipy sparse blocks. Try to set the "
            "transformer output to a dense array or disable Pandas output with "
            "set_output(transform='default')."
        )
    try:
        import dask.dataframe as dd
    except ImportError as error:
        raise ImportError(
            "set_output(transform='pandas') with Dask input returns a Dask DataFrame, "
            "which needs dask[dataframe]: pip install 'dask[dataframe]'."
        ) from error
    from fastml._validation import is_dask_collection

    index = X.index if hasattr(X, "index") and is_dask_collection(X.index) else None
    return dd.from_dask_array(result, columns=list(columns), index=index)
