"""The `rollups` table and the roll-up's saved progress, as rows: SQL only.

`maintenance.report.rollup_store` owns what a row means (its body is the report's compressed
format, its progress a watermark over record ids); this module only reads and writes them. The
write is one short transaction: the rows and the progress together, so a pass cut by a power
cut leaves either both or neither.
"""

from __future__ import annotations

from collections.abc import Iterable

from edged.readings import Record
from telemetry.database import Database, DatabaseError
from telemetry.store import transaction
from telemetry.stored_metrics import RECORD_COLUMNS, records_from_rows

Row = tuple[str, int, int, bytes]
"""(device, period_s, start, body)."""
_COLUMNS = "device, period_s, start, body"


def saved_progress(db: Database, key: str) -> str | None:
    """The progress saved under `key` in `kv`; None when never saved (or no `kv` table yet)."""
    try:
        row = db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
    except DatabaseError as exc:
        if "no such table" not in str(exc):
            raise
        return None
    return None if row is None else row[0]


def rows_between(db: Database, start: float, end: float, period_s: int) -> list[Row]:
    """Rows of `period_s` with start <= bucket start < end (every device)."""
    return db.execute(
        f"SELECT {_COLUMNS} FROM rollups WHERE start >= ? AND start < ? AND period_s = ?",
        (start, end, period_s),
    ).fetchall()


def device_rows_between(
    db: Database, device: str, start: float, end: float, period_s: int
) -> list[Row]:
    """`device`'s rows of `period_s` with start <= bucket start < end."""
    return db.execute(
        f"SELECT {_COLUMNS} FROM rollups WHERE start >= ? AND start < ? AND period_s = ?"
        " AND device = ?",
        (start, end, period_s, device),
    ).fetchall()


def row_at(db: Database, device: str, start: int, period_s: int) -> Row | None:
    return db.execute(
        f"SELECT {_COLUMNS} FROM rollups WHERE start = ? AND period_s = ? AND device = ?",
        (start, period_s, device),
    ).fetchone()


def records_after(db: Database, after_id: int, upto_id: float = float("inf")) -> list[Record]:
    """Records with after_id < id <= upto_id, in id (stored) order."""
    rows = db.execute(
        f"SELECT {RECORD_COLUMNS} FROM records WHERE id > ? AND id <= ? ORDER BY id",
        (after_id, upto_id),
    ).fetchall()
    return records_from_rows(rows)


def next_batch(db: Database, after_id: int, before_ts: float, batch: int) -> tuple[int | None, int]:
    """Of the next `batch` records after `after_id` (id order): the last id stamped before
    `before_ts` (None if none is), and how many there are."""
    (upto, seen), *_ = db.execute(
        "SELECT max(id) FILTER (WHERE ts < ?), count(*) FROM (SELECT id, ts FROM records"
        " WHERE id > ? ORDER BY id LIMIT ?)",
        (before_ts, after_id, batch),
    ).fetchall()
    return upto, seen


def oldest_after(db: Database, after_id: int) -> float | None:
    """The oldest `ts` of the records after `after_id`, None if there is none."""
    return db.execute("SELECT min(ts) FROM records WHERE id > ?", (after_id,)).fetchone()[0]


def save(db: Database, rows: Iterable[Row], key: str, progress: str) -> None:
    """Upsert `rows` and save `progress` under `key`, in one transaction."""
    with transaction(db.conn):
        db.conn.executemany(
            f"INSERT INTO rollups ({_COLUMNS}) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (start, period_s, device) DO UPDATE SET body = excluded.body",
            list(rows),
        )
        db.execute(
            "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET"
            " value = excluded.value",
            (key, progress),
        )
