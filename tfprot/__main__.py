"""``python -m tfprot`` is the ``tfprot`` command."""

import sys

from tfprot.cli import main

sys.exit(main())
