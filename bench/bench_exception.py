"""What-if: report by exception inside a frugal `P/batch` — how many gzip bytes it would save.

Why this is a what-if and not the daemon: `telemetry.compact` holds that a record must be
readable alone (the fleet collector reads through a shared subscription, so no one collector
sees every message). Dropping unchanged values from records would break that rule unless the
deltas stay inside one batch (its first record of a device full, later ones only what changed).
This script measures that in-batch form at its most generous: a value is dropped whenever it
equals the device's previous one in the batch (no deadband needed, no heartbeat), on records the
real daemon stored from `edged simulate`'s emulators.

It runs `edged simulate --no-mqtt` for `--minutes` (records wait in the outbox), then builds one
batch of all the records with `telemetry.topics.batch_payload` (what the daemon sends), and one
with the unchanged values dropped, for the three-device site's devices (MPPT and BMV) and for all
seven. Health rows are left out: they ride in the batch either way.

    .venv/bin/python bench/bench_exception.py --minutes 30
    .venv/bin/python bench/bench_exception.py --db path/to/edged.db
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edged.readings import Record  # noqa: E402
from telemetry import queries, store, topics  # noqa: E402

THREE_DEVICE_SITE = ("mppt", "bmv")
_NONE = object()  # no previous value: the first of a device in the batch is always sent


def by_exception(records: list[Record]) -> tuple[list[Record], int, int]:
    """The records with each value dropped when it equals the device's previous one; and how
    many values were kept and dropped."""
    previous: dict[str, dict[str, object]] = {}
    out, kept, dropped = [], 0, 0
    for record in records:
        last = previous.setdefault(record.device, {})
        changed = {k: v for k, v in record.metrics.items() if last.get(k, _NONE) != v}
        kept, dropped = kept + len(changed), dropped + len(record.metrics) - len(changed)
        last.update(record.metrics)
        out.append(dataclasses.replace(record, metrics=changed))
    return out, kept, dropped


def simulate(minutes: float, folder: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "edged.cli", "simulate", "--no-mqtt", "--dir", str(folder)]
        + ["--seconds", str(round(minutes * 60))],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return folder / "edged.db"


def report(name: str, records: list[Record]) -> None:
    reduced, kept, dropped = by_exception(records)
    full, delta = len(topics.batch_payload(records, [])), len(topics.batch_payload(reduced, []))
    print(
        f"{name:<14} {len(records):>7} {kept:>6} {dropped:>7} {full:>9} {delta:>11}"
        f" {100 * (1 - delta / full):>6.1f} %"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="of `edged simulate`")
    parser.add_argument("--db", type=Path, help="read this database instead of simulating")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edged-bench-exception-") as tmp:
        path = args.db or simulate(args.minutes, Path(tmp))
        db = store.open_db(path, readonly=True)
        try:
            records = queries.records_in(db, 0, float("inf"))
        finally:
            db.close()
    print("one P/batch of the records, gzip bytes: every value / unchanged values dropped")
    print(
        f"{'site':<14} {'records':>7} {'kept':>6} {'dropped':>7} {'all B':>9} {'exception B':>11}"
    )
    report("three-device", [r for r in records if r.device in THREE_DEVICE_SITE])
    report("seven-device", records)


if __name__ == "__main__":
    main()
