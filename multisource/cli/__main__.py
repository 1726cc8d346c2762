"""``python -m multisource.cli ...``: the same entry point as the ``multisource`` command."""

import sys

from multisource.cli import main

# The guard matters: process-pool workers ("spawn") import this module again as ``__mp_main__``.
if __name__ == "__main__":
    sys.exit(main())
