"""The chunk-level kernels of fastml, one module per family.

Each function here takes NumPy blocks (float32 or float64, any memory layout,
read-only included) and returns new NumPy arrays.  They release the GIL, keep
no hidden state, give the same result whatever ``n_threads`` is, and default
to one thread because under Dask the scheduler supplies the parallelism.
Every kernel's docstring shows how to map it over a Dask array
(``map_blocks`` / ``blockwise`` / a tree reduction with its ``combine``).

============================  ===================================================
module                        kernels
============================  ===================================================
``kernels.distances``         distance matrices (built-in and custom metrics)
``kernels.neighbors``         k nearest and radius neighbours, merges
``kernels.sparse_distances``  distances and k nearest neighbours among sparse rows
``kernels.moments``           per-column moments, max-abs, affine maps
``kernels.quantiles``         exact and weighted quantiles of columns
``kernels.summaries``         mergeable quantile summaries with a rank error
``kernels.binning``           bin codes, quantile maps, boosting thresholds
``kernels.features``          polynomial and random Fourier features
``kernels.boosting``          fixed-point gradients and histograms
``kernels.losses``            log-loss gradients, hessians and values per row
``kernels.splits``            the best split of each node from its histogram
``kernels.trees``             partitions, leaf values, trees and prediction
``kernels.grower``            leaf-wise trees grown in one compiled call
``kernels.sparse``            CSR / CSC blocks: column moments, scaling, quantiles,
                              polynomial features
============================  ===================================================

Every public name of the family modules is importable from
``fastml.kernels`` itself.
"""
from fastml.kernels import (
    binning,
    boosting,
    distances,
    features,
    grower,
    losses,
    moments,
    neighbors,
    quantiles,
    sparse,
    sparse_distances,
    splits,
    summaries,
    trees,
)
from fastml.kernels.binning import *  # noqa: F401,F403
from fastml.kernels.boosting import *  # noqa: F401,F403
from fastml.kernels.distances import *  # noqa: F401,F403
from fastml.kernels.features import *  # noqa: F401,F403
from fastml.kernels.grower import *  # noqa: F401,F403
from fastml.kernels.losses import *  # noqa: F401,F403
from fastml.kernels.moments import *  # noqa: F401,F403
from fastml.kernels.neighbors import *  # noqa: F401,F403
from fastml.kernels.quantiles import *  # noqa: F401,F403
from fastml.kernels.sparse import *  # noqa: F401,F403
from fastml.kernels.sparse_distances import *  # noqa: F401,F403
from fastml.kernels.splits import *  # noqa: F401,F403
from fastml.kernels.summaries import *  # noqa: F401,F403
from fastml.kernels.trees import *  # noqa: F401,F403

FAMILIES = (distances, neighbors, sparse_distances, moments, quantiles, summaries, binning,
            features, boosting, losses, splits, trees, grower, sparse)

__all__ = [name for family in FAMILIES for name in family.__all__]
