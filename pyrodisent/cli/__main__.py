"""``python -m pyrodisent.cli`` is the ``pyrodisent`` command."""

import sys

from pyrodisent.cli import main

sys.exit(main())
