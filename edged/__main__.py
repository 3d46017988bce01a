"""`python -m edged`: the same as the `edged` command (used to run jobs with the venv's Python)."""

import sys

from edged.cli.main import main

sys.exit(main())
