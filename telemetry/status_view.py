"""Read side for `edged status`: per device, what the runners concluded and the latest sample.

Never writes: it works on `open_db(path, readonly=True)` beside a running daemon (WAL lets one
reader see the last commit while the Writer writes). Decoding samples and records is the store's
(`telemetry.samples.latest`, `telemetry.stored_metrics.records_from_rows`); this module only
chooses what to show. The newest sample is also a sighting: the Writer stores an unchanged device
state only every few minutes, so `last_seen` is the later of the state's and the newest
sample's time.
"""

from __future__ import annotations

import json
from typing import Any

from edged.readings import Record
from telemetry import outbox, samples
from telemetry.database import Database
from telemetry.stored_metrics import RECORD_COLUMNS, records_from_rows


def device_overview(db: Database) -> list[dict[str, Any]]:
    """Every known device (with a state or with samples), sorted by name.

    Keys: device, state, last_seen, info, counters, changed, latest. `state` is None for a device
    with samples but no state yet; `latest` is None for a device with no stored sample.
    """
    states = {
        device: {
            "state": state,
            "last_seen": last_seen,
            "info": json.loads(info),
            "counters": json.loads(counters),
            "changed": changed,
        }
        for device, state, last_seen, info, counters, changed in db.execute(
            "SELECT device, state, last_seen, info, counters, changed FROM device_state"
        ).fetchall()
    }
    with_samples = [name for (name,) in db.execute("SELECT name FROM devices").fetchall()]
    empty = {"state": None, "last_seen": None, "info": {}, "counters": {}, "changed": None}
    overview = []
    for device in sorted(set(states) | set(with_samples)):
        latest = latest_sample(db, device)
        entry = {"device": device, **states.get(device, empty), "latest": latest}
        if latest is not None and latest["ts"] > (entry["last_seen"] or 0):
            entry["last_seen"] = latest["ts"]
        overview.append(entry)
    return overview


def latest_sample(db: Database, device: str) -> dict[str, Any] | None:
    """The newest stored sample of `device` as {ts, clock_synced, metrics}, or None."""
    found = samples.latest(db, device)
    if found is None:
        return None
    sample = found[1]
    return {"ts": sample.ts, "clock_synced": sample.clock_synced, "metrics": sample.metrics}


def outbox_size(db: Database) -> int:
    """Records stored but not yet acknowledged by the broker."""
    return outbox.count(db)


def last_records(db: Database, device: str, n: int) -> list[Record]:
    """The `n` newest records of `device` (by window start), newest first."""
    rows = db.execute(
        f"SELECT {RECORD_COLUMNS} FROM records WHERE device = ? ORDER BY ts DESC, id DESC LIMIT ?",
        [device, n],
    ).fetchall()
    return records_from_rows(rows)
