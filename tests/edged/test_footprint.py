"""The daemon's memory stays small: heavy libraries load only in the commands that need them.

fpdf2/Pillow (PDF reports) and pymodbus (Modbus devices) each cost 10-20 MB of RSS on a Pi; a site
with only a VE.Direct cable must not pay for them (README: RSS under 40 MB).
"""

from __future__ import annotations

import subprocess
import sys


def test_daemon_and_cli_imports_leave_heavy_libraries_out():
    code = (
        "import sys, edged.cli.main, edged.daemon\n"
        "from drivers.registry import registry\n"
        "specs = [registry()[name] for name in registry()]\n"
        "print(sorted(m for m in ('fpdf', 'PIL', 'pymodbus', 'hypothesis') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
