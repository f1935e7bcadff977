"""``python -m ioloop.bench``: the benchmark's command line (see the package
docstring and ``--help``)."""

import sys

from .cli import main

sys.exit(main())
