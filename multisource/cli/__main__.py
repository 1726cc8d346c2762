"""``python -m multisource.cli ...``: the same entry point as the ``multisource`` command."""

import sys

from multisource.cli import main

sys.exit(main())
