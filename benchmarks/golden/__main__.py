"""``python -m benchmarks.golden``: see :mod:`benchmarks.golden.cli`."""

import sys

from benchmarks.golden.cli import main

sys.exit(main())
