"""``python -m fastml``: the same as the ``fastml`` command."""
import sys

from fastml.cli import main

if __name__ == "__main__":   # Dask's worker processes import it too (spawn)
    sys.exit(main())
