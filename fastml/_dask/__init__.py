"""The only package that builds Dask graphs.

Each graph maps functions of ``fastml.kernels`` over blocks and
tree-reduces their partial results; nothing here computes the user's data
except the one ``dask.compute`` of a ``fit`` statistic -- and gradient
boosting, whose fit keeps its rows in Dask actors on the workers for the
whole fit.  Dask is imported only when a caller imports this package,
which the public modules do lazily, on Dask input.

* ``arrays``: Dask input as arrays with one feature chunk, labels, feature
  checks, and ``tree_reduce``;
* ``boosting``: a boosting fit's client side (placing the actors, the
  iterations, restarts after a lost worker) and lazy predictions;
  ``boosting_shards``: the actors (a ``Shard`` per worker, the
  ``Leader``); ``tree_growth``: one tree grown from summed histograms;
* ``distances``: lazy distance matrices;
* ``neighbors``: the persisted index of a neighbours estimator, lazy k
  nearest neighbours, votes and means;
* ``reductions``: column statistics, quantiles and per-block affine maps;
* ``transforms``: lazy transforms (bins, quantiles, polynomial and Fourier
  features) from the fitted arrays, and Dask DataFrame output.
"""
from fastml._dask.arrays import (  # noqa: F401
    as_dask_array,
    as_dask_labels,
    as_float_dask_array,
    check_features,
    encode_labels,
    has_sparse_blocks,
    tree_reduce,
)
from fastml._dask.distances import inverse_covariance, pairwise_distances  # noqa: F401
from fastml._dask.neighbors import (  # noqa: F401
    fit_index,
    kneighbors,
    neighbor_means,
    neighbor_votes,
    predict_classes,
)
from fastml._dask.reductions import (  # noqa: F401
    apply_columns,
    column_max_abs,
    column_moments,
    column_quantile_summary,
    column_quantiles,
)
from fastml._dask.transforms import (  # noqa: F401
    as_dask_dataframe,
    bin_codes,
    fourier_features,
    polynomial_features,
    quantile_transform,
)
