"""``fastml bench``: fastml against its peers, in one process, with a report.

``cases`` builds the work per family, ``harness`` times it (alternating
systems, medians, peak memory), ``report`` writes the Markdown tables and
the figures, ``progress`` shows how far a run is.  The scripts in
``benchmarks/`` use the same harness.
"""
