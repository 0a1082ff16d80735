"""``python -m tempscore.cli``."""

import sys

from . import main

sys.exit(main())
