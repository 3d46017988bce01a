"""`python -m edged.cli`: the same as the `edged` command."""

import sys

from edged.cli.main import main

sys.exit(main())
