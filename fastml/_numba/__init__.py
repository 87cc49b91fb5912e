"""Kernels compiled at run time from user code (custom metrics).

Importing this package imports Numba; fastml only does so when a callable
metric is used.
"""
