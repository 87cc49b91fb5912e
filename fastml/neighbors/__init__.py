"""Drop-in replacements for scikit-learn's brute-force nearest-neighbour
estimators, computed by fastml's fused top-k kernels, and lazy on Dask arrays.

Same class names, parameters, fitted attributes and methods as
``sklearn.neighbors``.  The search is always exact brute force: ``algorithm``
and ``leaf_size`` are validated as scikit-learn validates them (a tree it
cannot build for the metric is an error here too) and never change the answer.

* ``_base``: parameters, fitting the index, the searches and their graphs;
* ``_unsupervised``: NearestNeighbors;
* ``_classification``: KNeighborsClassifier;
* ``_regression``: KNeighborsRegressor;
* ``_graph``: KNeighborsTransformer, RadiusNeighborsTransformer.
"""
from fastml.neighbors._classification import KNeighborsClassifier
from fastml.neighbors._graph import KNeighborsTransformer, RadiusNeighborsTransformer
from fastml.neighbors._regression import KNeighborsRegressor
from fastml.neighbors._unsupervised import NearestNeighbors

__all__ = [
    "NearestNeighbors",
    "KNeighborsClassifier",
    "KNeighborsRegressor",
    "KNeighborsTransformer",
    "RadiusNeighborsTransformer",
]

# the examples of the classes, for doctest.testmod of this package (they are
# defined in the private modules)
__test__ = {name: globals()[name] for name in __all__}
