"""Bytes the store writes per sample, in accelerated time: the figure that wears the SD card.

Drives a real `telemetry.writer.Writer` with one device sending ~15 catalogue metrics at 1 Hz,
committing every `--commit` simulated seconds (one `flush` per batch), with a device state put
every 60 s and every record acknowledged, as the daemon does. Prints throughput, bytes the
process caused to be written (`write_bytes` of /proc/self/io: the kernel counts each 4 KiB page
it must write back, the unit the card sees) per sample, and the database size per day.

Two bounds: `synced` counts what SQLite fsyncs (the WAL appended by each commit, checkpoints);
`+writeback` also writes the -shm (the WAL index, a shared mapping the kernel writes back ~30 s
after each commit dirtied it) as real time does. Their difference is all -shm: about four 4 KiB
pages per commit whatever the commit holds, so past a handful of pages per commit only fewer
commits lower it. The brief's target is the `+writeback` figure under 300 B/sample.

Accelerated time is honest for `synchronous = FULL` (every commit fsyncs, so each commit's
pages are written back as in real time). For NORMAL it under-counts: in real time the kernel
writes dirty pages back after ~30 s anyway, so NORMAL saves no bytes at a 30 s cadence.

    python bench/bench_store.py [--seconds N] [--commit S ...] [--page-size B ...]
                                [--synchronous M ...]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import tempfile
import time
from pathlib import Path

from edged.readings import DeviceState, Liveness, Sample
from telemetry import exclusive, store
from telemetry.writer import Writer

START_TS = 1_780_000_000.0
HELD = True
"""The database held by this process, as `edged run` holds it (`--shared`: as before)."""


def write_bytes() -> int:
    with open("/proc/self/io") as f:
        fields = dict(line.split(": ") for line in f.read().splitlines())
    return int(fields["write_bytes"])


def synthetic(device: str, ts: float, rng: random.Random) -> Sample:
    """A VE.Direct-like MPPT + shunt reading at the device's resolution (realistic JSON sizes)."""
    sun = max(0.0, math.sin((ts % 86400) / 86400 * 2 * math.pi - math.pi / 2))
    pv_v = round(18 + 2 * sun + rng.uniform(-0.05, 0.05), 2)
    pv_i = round(6 * sun + rng.uniform(0, 0.05), 2)
    bat_v = round(12.6 + 1.6 * sun + rng.uniform(-0.02, 0.02), 2)
    bat_i = round(pv_i * pv_v / bat_v - 1.2 + rng.uniform(-0.1, 0.1), 1)
    metrics = {
        "battery_voltage": bat_v,
        "battery_current": bat_i,
        "battery_power": round(bat_v * bat_i),
        "battery_soc": round(60 + 35 * sun, 1),
        "battery_temperature": round(31 + rng.uniform(-0.2, 0.2), 1),
        "pv_voltage": pv_v,
        "pv_current": pv_i,
        "pv_power": round(pv_v * pv_i),
        "load_current": round(1.2 + rng.uniform(-0.1, 0.1), 1),
        "load_power": round(15 + rng.uniform(-1, 1)),
        "load_on": 1,
        "yield_today": round(sun * 1.3, 2),
        "yield_total": 1234.56,
        "charger_state": "bulk" if sun > 0.1 else "off",
        "charger_error": 0,
    }
    return Sample(device, ts, True, metrics)


def _write_back(path: Path) -> None:
    """What the kernel does to dirty pages older than 30 s: write them (and the -shm's) out."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        p = path.with_name(path.name + suffix)
        if p.exists():
            fd = os.open(p, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)


def run(
    seconds: int,
    commit: int,
    page_size: int,
    synchronous: str,
    writeback: bool,
    devices: int = 1,
    keep_raw: bool = True,
    autocheckpoint: int | None = None,
) -> dict:
    store.PAGE_SIZE, store.SYNCHRONOUS = page_size, synchronous
    rng = random.Random(1)
    names = ["mppt"] if devices == 1 else [f"dev{i}" for i in range(devices)]
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as tmp:
        path = Path(tmp) / "bench.db"
        if HELD:  # as `edged run`: SQLite's unix-excl VFS, the WAL index in this process's heap
            exclusive.hold(path)
        acks: list[int] = []
        writer = Writer(
            path,
            60.0,
            3600.0,
            lambda recs: acks.extend(r.id for r in recs),
            keep_raw_samples=keep_raw,
        )
        writer.start()
        if autocheckpoint is not None:
            pragma = f"PRAGMA wal_autocheckpoint = {autocheckpoint}"
            writer.call(lambda db: db.execute(pragma).fetchall())
        before, t0 = write_bytes(), time.perf_counter()
        for first in range(0, seconds, commit):
            for s in range(first, min(first + commit, seconds)):
                for name in names:
                    writer.put(synthetic(name, START_TS + s, rng))
            if first % 60 < commit:  # the runner refreshes an unchanged state every 60 s
                for name in names:
                    writer.put_state(
                        name,
                        DeviceState(
                            Liveness.OK, START_TS + s, counters={"accepted": s, "rejected": 0}
                        ),
                    )
            writer.ack(acks)
            acks.clear()
            writer.flush()
            if writeback:
                _write_back(path)
        elapsed, written = time.perf_counter() - t0, write_bytes() - before
        writer.call(lambda db: db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())
        writer.stop()
        exclusive.release(path)
        size = path.stat().st_size
    return {
        "samples/s": seconds * devices / elapsed,
        "write B/sample": written / seconds / devices,
        "DB MB/day": size / seconds * 86400 / 1e6,
        "write MB/day": written / seconds * 86400 / 1e6,
    }


def burst(n: int = 20000) -> float:
    """Samples/s when one commit has to absorb a full queue (the writer's ceiling)."""
    rng = random.Random(2)
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as tmp:
        writer = Writer(Path(tmp) / "burst.db", 60.0, 3600.0, None, max_queue=n)
        writer.start()
        samples = [synthetic("mppt", START_TS + s, rng) for s in range(n)]
        t0 = time.perf_counter()
        for sample in samples:
            writer.put(sample)
        writer.flush()
        rate = n / (time.perf_counter() - t0)
        writer.stop()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3 * 3600, help="simulated seconds")
    parser.add_argument(
        "--commit", type=int, nargs="*", default=[30, 60, 90, 120, 180], help="cadence, s"
    )
    parser.add_argument("--page-size", type=int, nargs="*", default=[store.PAGE_SIZE])
    parser.add_argument("--synchronous", nargs="*", default=[store.SYNCHRONOUS])
    parser.add_argument("--devices", type=int, default=1, help="devices at 1 sample/s each")
    parser.add_argument(
        "--raw",
        nargs="*",
        choices=("keep", "drop"),
        default=["keep"],
        help="storage.keep_raw_samples true (keep) / false (drop)",
    )
    parser.add_argument(
        "--autocheckpoint", type=int, nargs="*", default=[None], help="WAL pages (default 1000)"
    )
    parser.add_argument(
        "--shared",
        action="store_true",
        help="the database shared with other processes, as before the daemon held it: the WAL"
        " index in a -shm file the kernel writes back (default: held, as `edged run` holds it)",
    )
    parser.add_argument(
        "--journal",
        choices=("WAL", "DELETE", "TRUNCATE", "PERSIST"),
        default=store.JOURNAL_MODE,
        help="what-if: the journal mode of the store (the rollback journals have no -shm)",
    )
    args = parser.parse_args()
    store.JOURNAL_MODE = args.journal
    global HELD
    HELD = not args.shared
    if (
        args.devices != 1
        or args.raw != ["keep"]
        or args.autocheckpoint != [None]
        or args.shared
        or args.journal != "WAL"
    ):
        _levers(args)
        return
    print(f"1 device, 15 metrics, 1 sample/s, {args.seconds} simulated s; write_bytes per sample")
    print(f"  schema v{store.SCHEMA_VERSION}: one compressed sample block per device per commit")
    print("  synced: only what SQLite syncs is written per commit (lower bound)")
    print("  +writeback: the kernel also wrote -shm and unsynced pages before the next commit\n")
    print(
        f"{'page':>5} {'sync':>6} {'commit s':>8} {'samples/s':>10} {'synced':>8}"
        f" {'+writeback':>10} {'-shm':>6} {'DB MB/day':>10} {'< 300':>6}"
    )
    for page_size in args.page_size:
        for synchronous in args.synchronous:
            for commit in args.commit:
                low = run(args.seconds, commit, page_size, synchronous, writeback=False)
                high = run(args.seconds, commit, page_size, synchronous, writeback=True)
                lo, hi = low["write B/sample"], high["write B/sample"]
                print(
                    f"{page_size:>5} {synchronous:>6} {commit:>8} {low['samples/s']:>10.0f}"
                    f" {lo:>8.0f} {hi:>10.0f} {hi - lo:>6.0f} {low['DB MB/day']:>10.2f}"
                    f" {'yes' if hi < 300 else 'no':>6}"
                )
    print(f"\nburst: one commit of 20000 queued samples: {burst():.0f} samples/s")


def _levers(args: argparse.Namespace) -> None:
    """--devices / --raw / --autocheckpoint: write MB per day for each combination (writeback)."""
    print(
        f"{args.devices} device(s) at 1 sample/s, {args.seconds} simulated s, with writeback,"
        f" journal {store.JOURNAL_MODE}, database {'held' if HELD else 'shared'}"
    )
    print(f"{'raw':>5} {'ckpt':>6} {'commit s':>8} {'B/sample':>9} {'MB/day':>8} {'DB MB/day':>10}")
    for raw in args.raw:
        for ckpt in args.autocheckpoint:
            for commit in args.commit:
                r = run(
                    args.seconds,
                    commit,
                    args.page_size[0],
                    args.synchronous[0],
                    writeback=True,
                    devices=args.devices,
                    keep_raw=raw == "keep",
                    autocheckpoint=ckpt,
                )
                print(
                    f"{raw:>5} {ckpt or 1000:>6} {commit:>8} {r['write B/sample']:>9.0f}"
                    f" {r['write MB/day']:>8.2f} {r['DB MB/day']:>10.2f}"
                )


if __name__ == "__main__":
    main()
