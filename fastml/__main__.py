"""``python -m fastml``: the same as the ``fastml`` command."""
import sys

from fastml.cli import main

sys.exit(main())
