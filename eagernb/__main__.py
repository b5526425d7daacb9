"""``python -m eagernb``: the same as the ``eagernb`` command."""

import sys

from ._cli import main

sys.exit(main())
