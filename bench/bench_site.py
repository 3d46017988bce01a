"""SD-card bytes per day and RSS of the simulated 7-device site (`edged simulate`).

Runs `edged simulate` (VE.Direct MPPT and BMV, a GX with three services, an EPEver Tracer, a
JBD BMS, the demo backup job) as a real subprocess at the service's log level (INFO), with a
mosquitto on a free loopback port unless --no-broker (records then wait in the outbox, as on a
site whose uplink is down). After a warm-up it reads, over the run:
  - `write_bytes` of /proc/<pid>/io: what the daemon made the kernel write to disk (the emulators
    run in the same process and write nothing; the backup job is a child, on the backup disk,
    and not counted),
  - the log the daemon wrote (lines and bytes: what journald receives; see --journal-entry),
  - RSS at the end and its peak,
and projects the bytes to a day. --breakdown names the files written (strace, if installed).

    .venv/bin/python bench/bench_site.py --minutes 5
    .venv/bin/python bench/bench_site.py --minutes 5 --no-broker
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' peers, not installed
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_daemon import folded_samples, proc_rss_kb, proc_write_bytes  # noqa: E402

from tests.peers.broker import Broker  # noqa: E402

JOURNAL_ENTRY = 1024
"""Bytes a journal entry costs on the card beyond its message, as an upper bound: journald
stores ~25 fields per entry (_PID, _UID, _SYSTEMD_UNIT, _BOOT_ID, timestamps, ...), mostly
deduplicated across entries, plus its hash tables; a few hundred bytes is typical."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds excluded at start")
    parser.add_argument("--no-broker", action="store_true", help="records wait in the outbox")
    parser.add_argument("--breakdown", action="store_true", help="files written (needs strace)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    parser.add_argument(
        "--storage",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a [storage] key (`edged simulate --storage`), e.g. keep_raw_samples=true",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="edged-bench-site-"))
    broker = None
    if not args.no_broker:
        broker = Broker(work)
        broker.start()
    command = [sys.executable, "-m", "edged.cli", "--log-level", "INFO", "simulate"]
    command += ["--dir", str(work / "site")]
    command += [f"--storage={option}" for option in args.storage]
    command += ["--no-mqtt"] if broker is None else ["--broker", f"{broker.host}:{broker.port}"]
    trace = work / "strace.txt"
    if args.breakdown:
        if shutil.which("strace") is None:
            parser.error("--breakdown needs strace")
        # fd numbers resolved to paths (-y); a large -s is not needed: only the sizes count
        strace = ["strace", "-f", "-y", "-qq", "-e", "trace=write,pwrite64,fsync,fdatasync"]
        command = [*strace, "-o", str(trace), *command]
    log = work / "daemon.log"
    with log.open("wb") as out:
        daemon = subprocess.Popen(command, stdout=out, stderr=out)
    pid = daemon.pid
    try:
        time.sleep(args.warmup)
        pid = _daemon_pid(daemon.pid) if args.breakdown else daemon.pid
        wb0, t0, log0 = proc_write_bytes(pid), time.monotonic(), log.read_bytes()
        cancelled0 = _cancelled_write_bytes(pid)
        trace0 = trace.stat().st_size if args.breakdown else 0
        wall0 = time.time()
        peak, end = 0, t0 + args.minutes * 60
        while time.monotonic() < end:
            time.sleep(1.0)
            peak = max(peak, proc_rss_kb(pid))
        wb1, t1, rss = proc_write_bytes(pid), time.monotonic(), proc_rss_kb(pid)
        cancelled = _cancelled_write_bytes(pid) - cancelled0
        text = log.read_bytes()[len(log0) :]
        wall1 = time.time()
    finally:
        # The daemon itself (strace, when tracing, would detach it and leave it running, holding
        # the database the count below reads).
        os.kill(pid, signal.SIGTERM)
        try:
            daemon.wait(60)
        except subprocess.TimeoutExpired:
            daemon.kill()
        if broker is not None:
            broker.stop()
    read = folded_samples(work / "site" / "edged.db", wall0, wall1)
    elapsed = t1 - t0
    per_day = 86400 / elapsed
    lines = text.splitlines()
    disk = (wb1 - wb0) * per_day
    journal = (len(text) + JOURNAL_ENTRY * len(lines)) * per_day
    print(
        f"simulated site, {elapsed:.0f} s after {args.warmup:g} s warm-up,"
        f" {'no broker' if broker is None else 'broker up'}"
        + "".join(f", {option}" for option in args.storage)
    )
    print(f"{'RSS at end / peak':<40}{rss / 1024:8.1f} / {peak / 1024:.1f} MB")
    print(f"{'samples read (in records)':<40}{read:8d}")
    print(f"{'daemon disk writes per day':<40}{disk / 1e6:8.2f} MB")
    print(f"{'  per sample read':<40}{(wb1 - wb0) / max(1, read):8.0f} B")
    print(f"{'  of which cancelled (deleted unwritten)':<40}{cancelled * per_day / 1e6:8.2f} MB")
    print(f"{'log lines (per day)':<40}{len(lines):8d} ({len(lines) * per_day:.0f})")
    print(f"{'journal per day (bound)':<40}{journal / 1e6:8.2f} MB")
    print(f"{'daemon + journal per day':<40}{(disk + journal) / 1e6:8.2f} MB")
    for line in lines[:20]:
        print("  log:", line.decode(errors="replace")[:160])
    if args.breakdown:
        _print_breakdown(trace, trace0, per_day)
    if args.keep:
        print("kept", work)
    else:
        shutil.rmtree(work, ignore_errors=True)


def _cancelled_write_bytes(pid: int) -> int:
    """`cancelled_write_bytes` of /proc/<pid>/io: bytes counted in `write_bytes` whose pages were
    truncated or deleted before writeback (SQLite temp files, a WAL reset), so never reached the
    card. Printed beside `write_bytes`, which stays the figure (an upper bound)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("cancelled_write_bytes:"):
            return int(line.split()[1])
    return 0


def _daemon_pid(strace_pid: int) -> int:
    """The traced daemon: strace's child."""
    for _ in range(50):
        children = Path(f"/proc/{strace_pid}/task/{strace_pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("strace started no daemon")


def _print_breakdown(trace: Path, offset: int, per_day: float) -> None:
    """Bytes written per file (as the syscalls asked: the kernel writes whole 4 KiB pages)."""
    import re
    from collections import Counter

    written: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    syncs: Counter[str] = Counter()
    sync = re.compile(r"f(?:data)?sync\(\d+<([^>]*)>")
    pattern = re.compile(r"(write|pwrite64)\(\d+<([^>]*)>.*\) = (\d+)")
    with trace.open("rb") as f:
        f.seek(offset)
        for raw in f:
            text = raw.decode(errors="replace")
            synced = sync.search(text)
            if synced:
                syncs[synced.group(1)] += 1
            match = pattern.search(text)
            if match and not match.group(2).startswith(("pipe:", "socket:", "/dev/")):
                written[match.group(2)] += int(match.group(3))
                calls[match.group(2)] += 1
    print("bytes written per file, per day (syscalls):")
    for path, n in written.most_common(12):
        print(f"  {n * per_day / 1e6:8.2f} MB  {calls[path] * per_day:9.0f} calls  {path}")
    # A WAL fsync is a commit (synchronous = FULL): write_bytes over this count is what a commit
    # costs in whole 4 KiB pages, the WAL's and the -shm's (mapped, so no syscall names it).
    print("fsyncs in the window, per day:")
    for path, n in syncs.most_common(6):
        print(f"  {n * per_day:9.0f}  {path}")


if __name__ == "__main__":
    main()
