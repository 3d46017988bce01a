"""Read one month of a site's stored data for the report, from the daemon's database.

Read side only: the database is opened read-only by the caller (`telemetry.store.open_db(path,
readonly=True)`), beside a running daemon. `series` gives the month's hourly rollups: the
stored rows (`rollup_store`) for what `roll_up` has done, continued in memory with the records
stored since, exactly as the next `roll_up` would, so the report is the same before and after
old records are pruned. A database `roll_up` has not reached the month yet gives its records
instead (in stored order, from a little before the month so its first interval is counted,
see `rollups`). Tables another part of edged may not have yet read as empty, never as an error.
"""

from __future__ import annotations

import json
import logging
import sqlite3

from edged.readings import Record
from maintenance.energy.battery_health import GAP_FACTOR
from maintenance.report import rollup_store
from maintenance.report.month import bounds
from maintenance.report.rollups import DAY
from telemetry.database import Database
from telemetry.store import record_from_row

log = logging.getLogger(__name__)


def records(db: Database, start: float, end: float, interval_s: float) -> list[Record]:
    """Records with start − GAP_FACTOR·interval ≤ ts < end, in stored order."""
    rows = db.execute(
        "SELECT id, device, ts, synced, samples, metrics FROM records"
        " WHERE ts >= ? AND ts < ? ORDER BY id",
        (start - GAP_FACTOR * interval_s, end),
    ).fetchall()
    return [record_from_row(row) for row in rows]


def series(db: Database, month: str, interval_s: float) -> dict[str, list]:
    """`{"rollups": hourly rows}` or `{"records": records}` of `month`, for `build_report`."""
    start, end = bounds(month)
    last_id, cutoff, state = rollup_store.load_state(db)
    if cutoff is None or cutoff < start - DAY:  # roll_up has not reached the month yet
        return {"records": records(db, start, end, interval_s)}
    hourly = {(r.device, r.start): r for r in rollup_store.stored(db, start, end)}
    newer = rollup_store.pending(db, last_id)
    continued, _ = rollup_store.continue_rollup(db.conn, newer, state, interval_s)
    hourly.update({(r.device, r.start): r for r in continued if start <= r.start < end})
    return {"rollups": sorted(hourly.values(), key=lambda r: (r.device, r.start))}


def _optional(db: Database, sql: str, params: tuple) -> list[tuple]:
    try:
        return db.execute(sql, params).fetchall()
    except sqlite3.OperationalError as exc:  # table not there (older schema)
        log.info("report: %s", exc)
        return []


def alarms(db: Database, start: float, end: float) -> list[dict]:
    """Alarm occurrences active at some time in [start, end), as plain dicts."""
    cols = ("alarm_id", "severity", "since", "cleared", "acked_at", "message", "message_en")
    rows = _optional(
        db,
        f"SELECT {', '.join(cols)} FROM alarms WHERE since < ? AND (cleared IS NULL OR cleared"
        " >= ?) ORDER BY id",
        (end, start),
    )
    return [dict(zip(cols, row, strict=True)) for row in rows]


def health(db: Database, start: float, end: float) -> list[dict]:
    """Health rows {component, ts, ok, values} of [start, end)."""
    rows = _optional(
        db,
        "SELECT component, ts, ok, vals FROM health WHERE ts >= ? AND ts < ? ORDER BY id",
        (start, end),
    )
    return [
        {"component": c, "ts": ts, "ok": bool(ok), "values": json.loads(v)} for c, ts, ok, v in rows
    ]


JOB_RUN_COLUMNS = (
    "job",
    "kind",
    "trigger",
    "started",
    "ended",
    "duration_s",
    "outcome",
    "exit_code",
    "reason",
    "reason_en",
    "clock_synced",
)


def job_runs(db: Database, start: float, end: float) -> list[dict] | None:
    """Job runs started in [start, end) (`job_runs`, schema v5); None without the table."""
    try:
        rows = db.execute(
            f"SELECT {', '.join(JOB_RUN_COLUMNS)} FROM job_runs WHERE started >= ? AND started < ?"
            " ORDER BY id",
            (start, end),
        ).fetchall()
    except sqlite3.OperationalError as exc:
        log.info("report: %s", exc)
        return None
    return [dict(zip(JOB_RUN_COLUMNS, row, strict=True)) for row in rows]


def job_waits(db: Database, start: float, end: float) -> list[dict]:
    """The power policy's `wait` decisions for jobs in [start, end): {ts, job, code}."""
    rows = _optional(
        db,
        "SELECT ts, subject, code FROM power_events WHERE kind = 'job' AND action = 'wait'"
        " AND ts >= ? AND ts < ? ORDER BY id",
        (start, end),
    )
    return [{"ts": ts, "job": job, "code": code} for ts, job, code in rows]
