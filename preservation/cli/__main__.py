"""``python -m preservation.cli``: the same as the ``kho`` console script."""

import sys

from preservation.cli import main

sys.exit(main())
