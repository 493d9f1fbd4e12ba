"""``python -m pyrodisent`` is the ``pyrodisent`` command."""

import sys

from pyrodisent.cli import main

sys.exit(main())
