"""The estimator side of histogram gradient boosting, laid out as
``sklearn/ensemble/_hist_gradient_boosting/``: ``gradient_boosting`` (the
estimators, their parameters and ``fit``), ``boosting`` (the loop of one
fit, its trees grown by ``fastml.kernels.TreeGrower``), ``prediction``,
``losses``, ``categories`` and
``model_files``.  The public names are in :mod:`fastml.ensemble`.
"""
