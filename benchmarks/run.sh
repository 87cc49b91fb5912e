#!/usr/bin/env bash
# Run the pairwise-distance benchmark with glibc told to keep freed memory,
# writing benchmarks/results/pairwise.md.  Extra arguments go to the script,
# e.g.  benchmarks/run.sh --quick   or   benchmarks/run.sh --only scipy --dask
# The interpreter is $PYTHON (default: python3 on PATH).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
mkdir -p "$here/results"
export MALLOC_ARENA_MAX=1
export MALLOC_MMAP_MAX_=0
export MALLOC_TRIM_THRESHOLD_=100000000000
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python3}" "$here/bench_pairwise.py" \
    --n 8000 --repeat 5 --threads 2 --out "$here/results/pairwise.md" "$@"
