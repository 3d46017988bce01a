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


def test_a_site_without_glasses_leds_or_discovery_leaves_their_modules_out(tmp_path):
    """Smart glasses (their report endpoint: http.server), HTTP checks, status LEDs and Home
    Assistant discovery are imported only by a configuration that has them; Babel only by a
    command that formats a number or a date, the support bundle (tarfile) only when asked for
    (bench/bench_imports.py: ~1.6 MB of RSS for one device)."""
    config = tmp_path / "edged.toml"
    config.write_text(
        '[site]\nid = "x"\n[storage]\npath = "' + str(tmp_path / "e.db") + '"\n'
        '[[devices]]\nid = "mppt"\ndriver = "vedirect"\nport = "/dev/null"\n'
    )
    code = (
        "import sys\n"
        "from edged.cli import main\n"
        "main._parser('run')\n"
        "import edged.cli.run, edged.daemon\n"
        "from edged.config.loader import load\n"
        f"load({str(config)!r})\n"
        "lazy = ('maintenance.health.glasses', 'maintenance.health.report_server', 'http.server',"
        " 'maintenance.report.figures', 'edged.cli.report', 'edged.cli.simulate', 'babel',"
        " 'statistics', 'tarfile', 'edged.indicators.service', 'edged.services.discovery',"
        " 'edged.services.support', 'telemetry.homeassistant')\n"
        "print(sorted(m for m in lazy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
