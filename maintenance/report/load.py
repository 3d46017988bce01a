"""Read one month of a site's stored data for the report, from the daemon's database.

Read side only: the database is opened read-only by the caller (`telemetry.store.open_db(path,
readonly=True)`), beside a running daemon. Records come in stored order (by id), from a little
before the month so the month's first interval is counted (see `rollups`). Tables another part
of edged may not have yet (`alarms`, `health`) read as empty, never as an error.
"""

from __future__ import annotations

import json
import logging
import sqlite3

import sqlite_utils

from edged.readings import Record
from maintenance.battery_health import GAP_FACTOR
from telemetry.store import record_from_row

log = logging.getLogger(__name__)


def records(db: sqlite_utils.Database, start: float, end: float, interval_s: float) -> list[Record]:
    """Records with start − GAP_FACTOR·interval ≤ ts < end, in stored order."""
    rows = db.execute(
        "SELECT id, device, ts, synced, samples, metrics FROM records"
        " WHERE ts >= ? AND ts < ? ORDER BY id",
        (start - GAP_FACTOR * interval_s, end),
    ).fetchall()
    return [record_from_row(row) for row in rows]


def _optional(db: sqlite_utils.Database, sql: str, params: tuple) -> list[tuple]:
    try:
        return db.execute(sql, params).fetchall()
    except sqlite3.OperationalError as exc:  # table not there (older schema)
        log.info("report: %s", exc)
        return []


def alarms(db: sqlite_utils.Database, start: float, end: float) -> list[dict]:
    """Alarm occurrences active at some time in [start, end), as plain dicts."""
    cols = ("alarm_id", "severity", "since", "cleared", "acked_at", "message", "message_en")
    rows = _optional(
        db,
        f"SELECT {', '.join(cols)} FROM alarms WHERE since < ? AND (cleared IS NULL OR cleared"
        " >= ?) ORDER BY id",
        (end, start),
    )
    return [dict(zip(cols, row, strict=True)) for row in rows]


def health(db: sqlite_utils.Database, start: float, end: float) -> list[dict]:
    """Health rows {component, ts, ok, values} of [start, end)."""
    rows = _optional(
        db,
        "SELECT component, ts, ok, vals FROM health WHERE ts >= ? AND ts < ? ORDER BY id",
        (start, end),
    )
    return [
        {"component": c, "ts": ts, "ok": bool(ok), "values": json.loads(v)} for c, ts, ok, v in rows
    ]
