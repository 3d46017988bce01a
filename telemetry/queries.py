"""Read queries over the daemon's database that commands and services share.

Rows come back as plain dicts keyed by column name, oldest first; the callers turn them into
their own types. Nothing here writes.
"""

from __future__ import annotations

from typing import Any

from telemetry.database import Database

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
