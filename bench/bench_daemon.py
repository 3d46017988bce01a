"""Footprint of the whole daemon following one VE.Direct device at 1 block/s.

Starts the VE.Direct emulator on a pseudo-terminal (in this process), runs `edged run` as a real
subprocess against it (MQTT disabled unless --broker is given, so records wait in the outbox like
on a site whose uplink is down), and samples the daemon's /proc files:
  - RSS (VmRSS) at the end and its peak over the run,
  - CPU: (utime + stime) over the steady-state part of the run, as % of one core,
  - bytes written to disk (`write_bytes` of /proc/<pid>/io) per sample read (the samples the
    records of the run hold) and per day.
The live status file goes to /dev/shm (tmpfs), as /run/edged does on a Pi.
Start-up (imports, first commit) is excluded from the CPU and disk figures: the clock starts
after a warm-up.

    .venv/bin/python bench/bench_daemon.py --minutes 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from drivers.victron.vedirect.emulator import PtyEmulator
from edged.config.site import StorageConfig
from telemetry import exclusive

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_write_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError("no write_bytes in /proc/<pid>/io")


def proc_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def folded_samples(db: Path, since: float, until: float) -> int:
    """Samples held by the records of the windows that started in [since, until) (wall clock):
    what the daemon read and kept as history over the run, whether or not it also stored them
    raw (`storage.keep_raw_samples`). Read after the daemon's final commit."""
    conn = exclusive.connect(db, readonly=True)  # the file, or a daemon still running's door
    try:
        return conn.execute(
            "SELECT coalesce(sum(samples), 0) FROM records WHERE ts >= ? AND ts < ?",
            (since, until),
        ).fetchone()[0]
    finally:
        conn.close()


def live_dir(workdir: Path) -> Path:
    """The live view's folder on tmpfs, one per run: a daemon owns its live folder, so two
    benches at once (or a bench beside a test) must not share one."""
    return Path("/dev/shm") / workdir.name


def write_config(
    workdir: Path, tty: str, broker: str | None, commit: float, storage: list[str]
) -> Path:
    host, _, port = (broker or "127.0.0.1:1883").partition(":")
    path = workdir / "edged.toml"
    path.write_text(
        f"""[site]
id = "bench"
[storage]
path = "{workdir / "edged.db"}"
commit_interval = {commit}
live_path = "{live_dir(workdir) / "live.json"}"
{"".join(option + chr(10) for option in storage)}[mqtt]
enabled = {"true" if broker else "false"}
host = "{host}"
port = {port or 1883}
[telemetry]
publish_interval = 60
[[devices]]
id = "mppt"
driver = "vedirect"
port = "{tty}"
"""
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds excluded at start")
    parser.add_argument(
        "--commit-interval",
        type=float,
        default=StorageConfig().commit_interval,
        help="default: the product's own default",
    )
    parser.add_argument("--broker", help="host:port of a broker to publish to (default: none)")
    parser.add_argument(
        "--storage",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a [storage] line for the config, e.g. keep_raw_samples=true",
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="edged-bench-"))
    emulator = PtyEmulator("mppt", link=str(workdir / "tty-mppt"), interval=1.0, seed=1)
    emulator.start()
    config = write_config(workdir, emulator.path, args.broker, args.commit_interval, args.storage)
    daemon = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edged.cli",
            "--log-level",
            "WARNING",
            "run",
            "--config",
            str(config),
        ]
    )
    try:
        time.sleep(args.warmup)
        pid = daemon.pid
        cpu0, wb0, t0 = proc_cpu_seconds(pid), proc_write_bytes(pid), time.monotonic()
        wall0 = time.time()
        peak = 0
        end = t0 + args.minutes * 60
        while time.monotonic() < end:
            time.sleep(1.0)
            peak = max(peak, proc_rss_kb(pid))
        cpu1, wb1, t1 = proc_cpu_seconds(pid), proc_write_bytes(pid), time.monotonic()
        rss, wall1 = proc_rss_kb(pid), time.time()
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
        n1 = folded_samples(workdir / "edged.db", wall0, wall1)
    finally:
        if daemon.poll() is None:
            daemon.kill()
        emulator.stop()
        shutil.rmtree(live_dir(workdir), ignore_errors=True)
    elapsed = t1 - t0
    samples = max(1, n1)
    per_sample = (wb1 - wb0) / samples
    print(
        f"run: {args.minutes:g} min steady state after {args.warmup:g} s warm-up, "
        f"commit every {args.commit_interval:g} s, 1 VE.Direct block/s"
        + "".join(f", {option}" for option in args.storage)
    )
    print(f"{'RSS at end':<34}{rss / 1024:8.1f} MB")
    print(f"{'RSS peak':<34}{peak / 1024:8.1f} MB")
    print(f"{'CPU (% of one core)':<34}{100 * (cpu1 - cpu0) / elapsed:8.3f} %")
    print(f"{'samples read (in records)':<34}{samples:8d}")
    print(f"{'disk writes per sample read':<34}{per_sample:8.0f} B")
    print(f"{'disk writes per day (projected)':<34}{(wb1 - wb0) / elapsed * 86400 / 1e6:8.1f} MB")


if __name__ == "__main__":
    main()
