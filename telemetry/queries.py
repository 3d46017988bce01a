"""Read queries over the daemon's database that commands and services share.

Rows come back as plain dicts keyed by column name, oldest first; the callers turn them into
their own types. The few writes (a remote command's id, an acknowledgement, a visit) are each
one short transaction of their own, run on the Writer's thread (`Writer.call`) by the daemon or
from a command-line process beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edged.readings import Record
from telemetry import outbox
from telemetry.database import Database
from telemetry.store import RECORD_COLUMNS, transaction

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
    decoded = [outbox.decode(row) for row in rows]
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
