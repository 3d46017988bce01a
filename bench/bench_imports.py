"""What `edged run` imports for one VE.Direct device, and what the heavy imports cost.

Runs the daemon (`python -X importtime -m edged.cli run`) on one emulated VE.Direct MPPT with
MQTT on (a closed loopback port: the client retries, as on a site whose uplink is down), reads
its RSS after --seconds, stops it, and prints:
  - RSS of the daemon and how many modules it imported,
  - for each module of HEAVY it imported: who imported it first (the chain up to edged.cli)
    and what importing that module alone adds to a bare interpreter's RSS (shared
    dependencies counted in each: an upper bound of what dropping it would save).

    .venv/bin/python bench/bench_imports.py
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_daemon import proc_rss_kb  # noqa: E402

from drivers.victron.vedirect.emulator import PtyEmulator  # noqa: E402
from tests.peers.broker import free_port  # noqa: E402

HEAVY = (
    "ssl",
    "asyncio",
    "multiprocessing",
    "concurrent.futures.process",
    "importlib.metadata",
    "http.client",
    "http.server",
    "urllib.request",
    "email.parser",
    "psutil",
    "statistics",
    "decimal",
    "zoneinfo",
    "pymodbus",
    "maintenance.report",
    "maintenance.report.figures",
    "drivers.modbus",
    "edged.cli.report",
    "edged.cli.scan",
    "edged.cli.simulate",
)

_RSS = "print(next(int(l.split()[1]) for l in open('/proc/self/status') if l[:6] == 'VmRSS:'))"


def standalone_kb(module: str) -> int:
    """RSS a fresh interpreter gains by importing `module` alone."""

    def rss(code: str) -> int:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        return int(out.stdout.strip() or 0)

    return rss(f"import {module}; {_RSS}") - rss(_RSS)


def parse_importtime(text: str) -> list[tuple[str, int, int]]:
    """(module, indent, cumulative µs) per line of `-X importtime`, in its (post-)order."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, cumulative, raw = line.split("|", 2)
        rows.append((raw.strip(), len(raw) - len(raw.lstrip()), int(cumulative)))
    return rows


def chain(rows: list[tuple[str, int, int]], index: int) -> list[str]:
    """The module at `index` and its importers, nearest first."""
    name, level, _ = rows[index]
    found = [name]
    for other, indent, _ in rows[index + 1 :]:
        if indent < level:
            found.append(other)
            level = indent
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--no-standalone", action="store_true", help="skip the per-module RSS")
    parser.add_argument(
        "--modules", type=Path, help="write the imported module names here, one a line (to diff)"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="edged-bench-imports-"))
    emulator = PtyEmulator("mppt", link=str(work / "tty-mppt"), interval=1.0, seed=1)
    emulator.start()
    config = work / "edged.toml"
    config.write_text(
        f"""[site]
id = "bench"
[storage]
path = "{work / "edged.db"}"
live_path = "/dev/shm/edged-bench-imports-live.json"
[mqtt]
host = "127.0.0.1"
port = {free_port()}
[[devices]]
id = "mppt"
driver = "vedirect"
port = "{emulator.path}"
"""
    )
    log = work / "stderr.txt"
    with log.open("wb") as err:
        daemon = subprocess.Popen(
            [sys.executable, "-X", "importtime", "-m", "edged.cli", "run", "--config", str(config)],
            stderr=err,
        )
    try:
        time.sleep(args.seconds)
        rss = proc_rss_kb(daemon.pid)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
        emulator.stop()
    rows = parse_importtime(log.read_text(errors="replace"))
    print(f"daemon, one VE.Direct device, MQTT on, after {args.seconds:g} s")
    print(f"  RSS {rss / 1024:.1f} MB, {len(rows)} modules imported")
    names = [name for name, _, _ in rows]
    if args.modules:
        args.modules.write_text("".join(f"{name}\n" for name in sorted(names)))
    for module in HEAVY:
        if module not in names:
            print(f"  {module:<28} not imported")
            continue
        index = names.index(module)
        cost = "" if args.no_standalone else f"{standalone_kb(module) / 1024:5.1f} MB alone"
        via = " <- ".join(chain(rows, index)[1:6])
        print(f"  {module:<28} {cost}  {rows[index][2] / 1000:6.1f} ms  via {via}")


if __name__ == "__main__":
    main()
