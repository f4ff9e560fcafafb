"""`python -m shared.platform.cli` is the `pillars` command."""

import sys

from shared.platform.cli import main

sys.exit(main())
