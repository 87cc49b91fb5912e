"""fastml: compiled, chunk-level machine-learning kernels for NumPy and Dask,
with drop-in scikit-learn estimators on top.

Importing fastml is cheap: it loads neither Numba nor Dask; they are imported
the first time a custom metric or a Dask array needs them.

Modules
-------
fastml.metrics               drop-in ``pairwise_distances`` / ``pairwise_distances_chunked``
fastml.neighbors             drop-in nearest-neighbour estimators
fastml.preprocessing         drop-in scalers, binning, quantile and polynomial transforms
fastml.kernel_approximation  drop-in ``RBFSampler``
fastml.kernels               the chunk-level kernels, for your own Dask graphs
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
