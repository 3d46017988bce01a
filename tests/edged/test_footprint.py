"""The daemon's memory stays small: heavy libraries load only in the commands that need them.

fpdf2/Pillow (PDF reports) and pymodbus (Modbus devices) each cost 10-20 MB of RSS on a Pi; a site
with only a VE.Direct cable must not pay for them (README: RSS under 40 MB). sqlite-utils and what
it pulls (click, dateutil, pluggy, tabulate) cost ~3 MB more than the stdlib sqlite3 the store uses.
"""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("fpdf", "PIL", "pymodbus", "hypothesis", "sqlite_utils", "click", "dateutil", "pluggy")


def test_daemon_and_cli_imports_leave_heavy_libraries_out():
    code = (
        "import sys, edged.cli.main, edged.daemon\n"
        "from drivers.registry import registry\n"
        "specs = [registry()[name] for name in registry()]\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
