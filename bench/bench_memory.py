"""Peak RSS of the whole daemon on a database that already holds a long history or backlog.

Builds a database as the daemon would have left it, then runs `edged run` on it as a real
subprocess (two VE.Direct emulators on pseudo-terminals: an MPPT and a BMV) and reads the
daemon's peak RSS (`VmHWM` of /proc/<pid>/status):
  - at start: once the start-up work is done (the PV profile of the last 7 days is computed
    as the calendar starts), `--start-wait` seconds after launch;
  - after the hourly tasks: once the first rollup round (5 min after start: roll up every
    record not yet rolled up, prune) has finished, seen in the log;
  - steady: the peak after `--steady` more seconds, and RSS then.
Cases (`--case`):
  week, month     two devices at 1-minute records (publish_interval 60), all acknowledged;
  backlog         72 hours of 1-s windows of two devices (publish_interval 1) in the outbox,
                  no broker (the uplink is down);
  drain           the same backlog with a mosquitto on a free loopback port draining it; the
                  steady figure is taken once the backlog is drained (fewer than `DRAINED`
                  rows left in the outbox) or after `--drain-max` s.
The report (`edged report --month`, the monthly job's subprocess) is measured on the month
case's database too, before the daemon rolled it up (from raw records) and after (from the
rollups): its peak from the kernel's rusage of the finished child.

    .venv/bin/python bench/bench_memory.py --case week month backlog drain
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from peers import Broker, proc_status_kb, start_daemon

from drivers.victron.vedirect.emulator import PtyEmulator
from telemetry import exclusive, stored_metrics
from telemetry.store import open_db

DAY = 86400.0
DRAINED = 1_000
"""Outbox rows left when the backlog is drained: live records wait there until the next commit
(180 s by default: 360 records of two devices at 1-s windows), so it never stays at 0."""
MPPT = (
    "pv_power",
    "pv_voltage",
    "pv_current",
    "battery_voltage",
    "battery_current",
    "load_current",
    "yield_today",
    "yield_total",
    "max_power_today",
    "yield_yesterday",
    "max_power_yesterday",
    "day_sequence",
)
BMV = (
    "battery_voltage",
    "battery_current",
    "battery_power",
    "battery_soc",
    "battery_consumed_ah",
    "battery_time_to_go",
    "battery_starter_voltage",
    "battery_temperature",
    "battery_deepest_discharge_ah",
    "battery_cycles",
    "battery_full_discharges",
    "battery_total_ah_drawn",
    "battery_voltage_min_seen",
    "battery_voltage_max_seen",
)


def _metrics(names: tuple[str, ...], rng: random.Random) -> bytes:
    body: dict = {name: round(rng.uniform(0, 500), 2) for name in names}
    if "pv_power" in body:
        body |= {"charger_state": "bulk", "charger_error": 0, "load_on": True}
    else:
        body |= {"alarm_on": False, "relay_on": False}
    return stored_metrics.encode(body)


def build(path: Path, span_s: float, step_s: float, in_outbox: bool) -> int:
    """Records of two devices every `step_s` over the `span_s` before now; returns how many."""
    db = open_db(path)
    rng, now, n = random.Random(1), time.time(), 0
    ts = (now - span_s) // step_s * step_s
    db.conn.execute("BEGIN")
    while ts < now - step_s:
        for device, names in (("mppt", MPPT), ("bmv", BMV)):
            n += 1
            db.conn.execute(
                "INSERT INTO records (id, device, ts, synced, samples, last_seq, metrics)"
                " VALUES (?, ?, ?, 1, ?, 0, ?)",
                (n, device, ts, int(step_s), _metrics(names, rng)),
            )
            if in_outbox:
                db.conn.execute("INSERT INTO outbox (record_id) VALUES (?)", (n,))
        ts += step_s
    db.conn.execute("COMMIT")
    db.conn.close()
    return n


def write_config(workdir: Path, ttys: dict[str, str], interval: float, broker: Broker | None):
    mqtt = (
        f'host = "{broker.host}"\nport = {broker.port}\nreconnect_min = 0.5\nreconnect_max = 2\n'
        if broker
        else "enabled = false\n"
    )
    devices = "".join(
        f'[[devices]]\nid = "{d}"\ndriver = "vedirect"\nport = "{tty}"\n' for d, tty in ttys.items()
    )
    path = workdir / "edged.toml"
    path.write_text(
        f'[site]\nid = "bench"\n[storage]\npath = "{workdir / "edged.db"}"\n'
        f'live_path = "{workdir / "live.json"}"\nreports_dir = "{workdir / "reports"}"\n'
        f"[mqtt]\n{mqtt}[telemetry]\npublish_interval = {interval:g}\n{devices}"
    )
    return path


def outbox_size(db: Path) -> int:
    conn = exclusive.connect(db, readonly=True)  # through the running daemon's door
    try:
        return conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
    finally:
        conn.close()


def _wait_log(log: Path, text: str, proc: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if text in log.read_text(errors="replace"):
            return True
        time.sleep(2.0)
    return False


def run_case(case: str, args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"edged-mem-{case}-"))
    span, step = {
        "week": (7 * DAY, 60.0),
        "month": (31 * DAY, 60.0),
        "backlog": (3 * DAY, 1.0),
        "drain": (3 * DAY, 1.0),
    }[case]
    t0 = time.monotonic()
    records = build(workdir / "edged.db", span, step, in_outbox=step == 1.0)
    out = {"case": case, "records": records, "build_s": round(time.monotonic() - t0, 1)}
    out["db_mb"] = round((workdir / "edged.db").stat().st_size / 1e6, 1)
    broker = Broker(workdir) if case == "drain" else None
    if broker is not None:
        broker.start()
    emulators = {
        d: PtyEmulator(d, link=str(workdir / f"tty-{d}"), interval=1.0, seed=i)
        for i, d in enumerate(("mppt", "bmv"))
    }
    for emulator in emulators.values():
        emulator.start()
    config = write_config(workdir, {d: e.path for d, e in emulators.items()}, step, broker)
    if case == "month":  # nothing rolled up yet: the report reads the month's records
        out["report_raw_peak_mb"] = report_peak(workdir, config)
    log = workdir / "daemon.log"
    daemon = start_daemon(config, log)
    pid, t0 = daemon.pid, time.monotonic()
    try:
        time.sleep(args.start_wait)
        out["start_peak_mb"] = _mb(proc_status_kb(pid, "VmHWM"))
        out["start_rss_mb"] = _mb(proc_status_kb(pid, "VmRSS"))
        if _wait_log(log, "rolled up", daemon, 300 + args.start_wait + 600):
            out["hourly_peak_mb"] = _mb(proc_status_kb(pid, "VmHWM"))
        if broker is not None:
            deadline = time.monotonic() + args.drain_max
            while time.monotonic() < deadline and outbox_size(workdir / "edged.db") > DRAINED:
                time.sleep(5.0)
            out["outbox_left"] = outbox_size(workdir / "edged.db")
            out["drained_after_s"] = round(time.monotonic() - t0)
        time.sleep(args.steady)
        out["steady_peak_mb"] = _mb(proc_status_kb(pid, "VmHWM"))
        out["steady_rss_mb"] = _mb(proc_status_kb(pid, "VmRSS"))
        out["daemon_alive"] = daemon.poll() is None
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(60)
    finally:
        if daemon.poll() is None:
            daemon.kill()
        for emulator in emulators.values():
            emulator.stop()
        if broker is not None:
            broker.stop()
    if case == "month":  # rolled up by the daemon: the report reads the rollups
        out["report_rollups_peak_mb"] = report_peak(workdir, config)
    out["workdir"] = str(workdir)
    return out


def report_peak(workdir: Path, config: Path) -> float:
    """Peak RSS of `edged report` for the month before now, from the child's rusage."""
    month = datetime.fromtimestamp(time.time() - 15 * DAY, UTC).strftime("%Y-%m")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edged.cli",
            "report",
            "--config",
            str(config),
            "--month",
            month,
            "--format",
            "json",
            "--out",
            str(workdir / "reports"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "report.log").open("wb"),
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        print(f"report exited {proc.returncode}: see {workdir / 'report.log'}", file=sys.stderr)
    return _mb(usage.ru_maxrss)


def _mb(kb: int) -> float:
    return round(kb / 1024, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--case",
        nargs="+",
        default=["week", "month", "backlog", "drain"],
        choices=["week", "month", "backlog", "drain"],
    )
    parser.add_argument("--start-wait", type=float, default=60.0)
    parser.add_argument("--steady", type=float, default=60.0)
    parser.add_argument("--drain-max", type=float, default=1800.0)
    parser.add_argument("--parallel", action="store_true", help="run the cases at once")
    args = parser.parse_args()
    with ThreadPoolExecutor(len(args.case) if args.parallel else 1) as pool:
        for result in pool.map(lambda c: run_case(c, args), args.case):
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
