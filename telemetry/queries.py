"""Read queries over the daemon's database that commands and services share.

Rows come back as plain dicts keyed by column name, oldest first; the callers turn them into
their own types. The few writes (a remote command's id, an acknowledgement, a visit) are each
one short transaction of their own, run on the Writer's thread (`Writer.call`) by the daemon or
from a command-line process beside it.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from typing import Any

from edged.readings import Record
from telemetry import stored_metrics
from telemetry.database import Database, DatabaseError
from telemetry.rows import JobRunRow
from telemetry.store import ROW_SQL, transaction
from telemetry.stored_metrics import RECORD_COLUMNS, records_from_rows

log = logging.getLogger(__name__)

MAINTENANCE_COLUMNS = (
    "id",
    "date",
    "item",
    "action",
    "parts_cost",
    "labour_cost",
    "currency",
    "note",
    "recorded_at",
)


def maintenance_rows(db: Database, month: str | None = None) -> list[dict[str, Any]]:
    """Rows of `maintenance_log` as dicts, oldest visit first; only `month`'s when given."""
    where, params = ("WHERE substr(date, 1, 7) = ?", [month]) if month else ("", [])
    query = (
        f"SELECT {', '.join(MAINTENANCE_COLUMNS)} FROM maintenance_log {where} ORDER BY date, id"
    )
    return [dict(zip(MAINTENANCE_COLUMNS, row, strict=True)) for row in db.execute(query, params)]


def acknowledged_alarms(db: Database) -> set[str]:
    """Ids of the active alarms someone acknowledged (`edged alarms ack`, the push button)."""
    rows = db.execute("SELECT alarm_id FROM alarms WHERE active = 1 AND acked_at IS NOT NULL")
    return {row[0] for row in rows}


# --- remote commands (edged.services.remote): each a short transaction on the Writer's thread ---

COMMAND_KEEP_S = 7 * 86400.0
"""A command id is remembered this long after its expiry (a replay is then refused as expired)."""


def remember_command(db: Database, cmd_id: str, name: str, received: float, expires: float) -> bool:
    """Record `cmd_id` before its command runs; False when it was recorded before (a replay).

    Committed at once: a crash after the command ran must not let its second delivery run it."""
    with transaction(db.conn):
        cursor = db.execute(
            "INSERT OR IGNORE INTO commands (id, name, received, expires) VALUES (?, ?, ?, ?)",
            (cmd_id, name, received, expires),
        )
        db.execute("DELETE FROM commands WHERE expires < ?", (received - COMMAND_KEEP_S,))
    return cursor.rowcount == 1


def command_done(db: Database, cmd_id: str, ok: bool, error: str | None) -> None:
    with transaction(db.conn):
        db.execute("UPDATE commands SET ok = ?, error = ? WHERE id = ?", (ok, error, cmd_id))


def command_received(db: Database, cmd_id: str) -> float | None:
    """When `cmd_id` was first received, None if never (or forgotten)."""
    row = db.execute("SELECT received FROM commands WHERE id = ?", (cmd_id,)).fetchone()
    return None if row is None else float(row[0])


def acknowledge_alarm(
    db: Database, alarm: int | str, by: str, now: float
) -> tuple[str, int | None]:
    """Acknowledge alarm row `alarm` (its # in `edged alarms`) or the newest occurrence of the
    alarm id `alarm` (`{rule}.{subject}`, the `P/alarm/{alarm_id}` level), the active one if
    any: acknowledging is apart from clearing, so a cleared alarm may still be acknowledged.

    Returns (`acked` | `already` | `unknown`, the row). One short write transaction: the daemon
    never rewrites `acked_*`, so nothing races with the Writer."""
    with transaction(db.conn):
        if isinstance(alarm, int):
            sql = "SELECT id, acked_at FROM alarms WHERE id = ?"
        else:
            sql = "SELECT id, acked_at FROM alarms WHERE alarm_id = ?"
            sql += " ORDER BY active DESC, id DESC LIMIT 1"
        found = db.execute(sql, (alarm,)).fetchone()
        if found is None:
            return "unknown", None
        if found[1] is not None:
            return "already", int(found[0])
        db.execute("UPDATE alarms SET acked_at = ?, acked_by = ? WHERE id = ?", (now, by, found[0]))
    return "acked", int(found[0])


def add_maintenance(db: Database, row: Mapping[str, Any]) -> int:
    """Insert one visit (`MAINTENANCE_COLUMNS` but id) in one short transaction; its row id."""
    columns = MAINTENANCE_COLUMNS[1:]
    with transaction(db.conn):
        cursor = db.execute(
            f"INSERT INTO maintenance_log ({', '.join(columns)})"
            f" VALUES ({', '.join('?' for _ in columns)})",
            [row[c] for c in columns],
        )
    return int(cursor.lastrowid or 0)


def records_between(
    db: Database, device: str, start: float, end: float, limit: int
) -> tuple[list[Record], int]:
    """`device`'s stored records with `start <= ts < end`, oldest first, at most `limit`; and
    how many rows did not decode (damaged, left out)."""
    rows = db.execute(
        f"SELECT {RECORD_COLUMNS} FROM records WHERE device = ? AND ts >= ? AND ts < ?"
        " ORDER BY ts, id LIMIT ?",
        (device, start, end, limit),
    ).fetchall()
    decoded = [stored_metrics.decode_row(row) for row in rows]
    records = [r for r in decoded if isinstance(r, Record)]
    return records, len(decoded) - len(records)


SUMMARY_TABLES = (
    "records",
    "outbox",
    "alarms",
    "health",
    "job_runs",
    "maintenance_log",
    "commands",
)


def database_summary(db: Database) -> dict[str, Any]:
    """Size, schema version and row counts: what a technician asks first of a quiet site."""
    one = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
    return {
        "bytes": one("PRAGMA page_count") * one("PRAGMA page_size"),
        "schema": one("PRAGMA user_version"),
        "rows": {t: one(f"SELECT count(*) FROM {t}") for t in SUMMARY_TABLES},
        "active_alarms": one("SELECT count(*) FROM alarms WHERE active = 1"),
        "oldest_record": one("SELECT min(ts) FROM records"),
        "newest_record": one("SELECT max(ts) FROM records"),
        "devices": [r[0] for r in db.execute("SELECT name FROM devices ORDER BY name")],
    }


# --- alarms, health, records, jobs and saved state, for commands and the daemon's services ---

ALARM_COLUMNS = (
    "id",
    "alarm_id",
    "rule",
    "subject",
    "severity",
    "active",
    "since",
    "cleared",
    "acked_at",
    "acked_by",
    "message",
    "message_en",
)
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
)
DECISION_COLUMNS = ("action", "code", "message", "message_en")
HEALTH_TAIL = 200
"""Health rows read for the newest reading per component: the last rounds, no index needed."""


def alarm_rows(db: Database, active_only: bool = False) -> list[dict[str, Any]]:
    """Rows of `alarms` as dicts: active first, then newest first."""
    where = " WHERE active = 1" if active_only else ""
    query = (
        f"SELECT {', '.join(ALARM_COLUMNS)} FROM alarms{where}"
        " ORDER BY active DESC, since DESC, id DESC"
    )
    return [dict(zip(ALARM_COLUMNS, row, strict=True)) for row in db.execute(query)]


def latest_health(db: Database) -> dict[str, dict[str, Any]]:
    """The newest stored health reading per component: {component: {ts, ok, values}}."""
    rows = db.execute(
        "SELECT component, ts, ok, vals FROM health"
        " WHERE id > (SELECT coalesce(max(id), 0) FROM health) - ? ORDER BY id",
        (HEALTH_TAIL,),
    ).fetchall()
    return {c: {"ts": ts, "ok": bool(ok), "values": json.loads(v)} for c, ts, ok, v in rows}


def device_records_since(db: Database, device: str, since: float) -> list[Record]:
    """`device`'s stored records with `ts >= since`, in time order."""
    rows = db.execute(
        f"SELECT {RECORD_COLUMNS} FROM records WHERE device = ? AND ts >= ? ORDER BY ts, id",
        (device, since),
    ).fetchall()
    return records_from_rows(rows)


def last_job_decision(db: Database, job: str) -> dict[str, Any] | None:
    """The newest stored power-policy decision about `job` (why it waits or ran)."""
    row = db.execute(
        f"SELECT {', '.join(DECISION_COLUMNS)} FROM power_events"
        " WHERE kind = 'job' AND subject = ? ORDER BY id DESC LIMIT 1",
        (job,),
    ).fetchone()
    return dict(zip(DECISION_COLUMNS, row, strict=True)) if row else None


def last_job_run(db: Database, job: str) -> dict[str, Any] | None:
    """`job`'s newest stored run."""
    row = db.execute(
        f"SELECT {', '.join(JOB_RUN_COLUMNS)} FROM job_runs WHERE job = ? ORDER BY id DESC LIMIT 1",
        (job,),
    ).fetchone()
    return dict(zip(JOB_RUN_COLUMNS, row, strict=True)) if row else None


def job_run_after(db: Database, job: str, after_id: int, since: float) -> dict[str, Any] | None:
    """The first run of `job` stored after row `after_id` that started at `since` or later
    (`since` = -inf: the newest such run), with its row id."""
    order = "id DESC" if since == -math.inf else "id"
    row = db.execute(
        f"SELECT id, {', '.join(JOB_RUN_COLUMNS)} FROM job_runs WHERE job = ? AND"
        f" id > ? AND started >= ? ORDER BY {order} LIMIT 1",
        (job, after_id, since),
    ).fetchone()
    return dict(zip(("id", *JOB_RUN_COLUMNS), row, strict=True)) if row else None


def store_job_run(db: Database, row: JobRunRow) -> None:
    """One `job_runs` row (`JobResult.row()`), on an autocommit connection: stored at once."""
    db.execute(ROW_SQL[row.KIND], row.params())


def last_synced_successes(db: Database) -> list[tuple[str, float]]:
    """(job, start of its newest success dated by a synchronised clock) per job."""
    return db.execute(
        "SELECT job, max(started) FROM job_runs WHERE outcome = 'success'"
        " AND clock_synced = 1 GROUP BY job"
    ).fetchall()


def saved_state(db: Database) -> dict[str, str]:
    """Everything services saved in `kv` (counters, estimates, the shedding level)."""
    return dict(db.execute("SELECT key, value FROM kv").fetchall())


def saved_value(db: Database, key: str) -> str | None:
    """One `kv` value, None when never saved."""
    row = db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def active_alarm_rows(db: Database) -> list[tuple]:
    """The active alarms for the alarm service's restore, oldest first: (alarm_id, rule,
    subject, severity, since, message, message_en, value)."""
    return db.execute(
        "SELECT alarm_id, rule, subject, severity, since, message, message_en, value"
        " FROM alarms WHERE active = 1 ORDER BY id"
    ).fetchall()


# --- a period's rows, for the monthly report (maintenance.report.stored_month) ---------------

PERIOD_JOB_RUN_COLUMNS = (*JOB_RUN_COLUMNS, "clock_synced")
PERIOD_ALARM_COLUMNS = (
    "alarm_id",
    "severity",
    "since",
    "cleared",
    "acked_at",
    "message",
    "message_en",
)


def _optional(db: Database, sql: str, params: tuple) -> list[tuple] | None:
    """The rows, or None when the table is not there (a database of an older schema)."""
    try:
        return db.execute(sql, params).fetchall()
    except DatabaseError as exc:
        if "no such table" not in str(exc):
            raise
        log.info("report: %s", exc)
        return None


def records_in(db: Database, start: float, end: float) -> list[Record]:
    """Records with start <= ts < end, in stored (id) order."""
    rows = db.execute(
        f"SELECT {RECORD_COLUMNS} FROM records WHERE ts >= ? AND ts < ? ORDER BY id",
        (start, end),
    ).fetchall()
    return records_from_rows(rows)


def alarms_in(db: Database, start: float, end: float) -> list[dict[str, Any]]:
    """Alarm occurrences active at some time in [start, end), as dicts."""
    rows = _optional(
        db,
        f"SELECT {', '.join(PERIOD_ALARM_COLUMNS)} FROM alarms"
        " WHERE since < ? AND (cleared IS NULL OR cleared >= ?) ORDER BY id",
        (end, start),
    )
    return [dict(zip(PERIOD_ALARM_COLUMNS, row, strict=True)) for row in rows or ()]


def health_in(db: Database, start: float, end: float) -> list[dict[str, Any]]:
    """Health rows {component, ts, ok, values} of [start, end)."""
    rows = _optional(
        db,
        "SELECT component, ts, ok, vals FROM health WHERE ts >= ? AND ts < ? ORDER BY id",
        (start, end),
    )
    return [
        {"component": c, "ts": ts, "ok": bool(ok), "values": json.loads(v)}
        for c, ts, ok, v in rows or ()
    ]


def job_runs_in(db: Database, start: float, end: float) -> list[dict[str, Any]] | None:
    """Job runs started in [start, end); None without the table (schema before v5)."""
    rows = _optional(
        db,
        f"SELECT {', '.join(PERIOD_JOB_RUN_COLUMNS)} FROM job_runs"
        " WHERE started >= ? AND started < ? ORDER BY id",
        (start, end),
    )
    if rows is None:
        return None
    return [dict(zip(PERIOD_JOB_RUN_COLUMNS, row, strict=True)) for row in rows]


def job_waits_in(db: Database, start: float, end: float) -> list[dict[str, Any]]:
    """The power policy's `wait` decisions for jobs in [start, end): {ts, job, code}."""
    rows = _optional(
        db,
        "SELECT ts, subject, code FROM power_events WHERE kind = 'job' AND action = 'wait'"
        " AND ts >= ? AND ts < ? ORDER BY id",
        (start, end),
    )
    return [{"ts": ts, "job": job, "code": code} for ts, job, code in rows or ()]
