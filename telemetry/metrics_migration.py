"""Schema v8's conversion of `records.metrics` to its stored form, in bounded batches.

Why not one transaction, as every other migration: a site's `records` may hold months of
windows (tens of MB). One transaction rewriting them all would append the whole table to the
WAL, so the upgrade would need free space about the size of the database and hold every row's
new form until its commit; on a nearly full card it would fail at each start. Instead v8's step
in `telemetry.schema` only bumps the version and sets a progress mark in `kv` (`MARK`, the last
record id converted), and `convert` rewrites `BATCH` records a transaction, moving the mark in
the same transaction. Readers take both forms (`telemetry.stored_metrics.metrics_of`), so a
database between two batches is whole: a power cut mid-way leaves one that opens, reads, and
whose next writable open (the Writer's) goes on from the mark. No VACUUM: rows shrink in place
and the pages they free are reused by later commits.
"""

from __future__ import annotations

import logging
import sqlite3

from telemetry import stored_metrics
from telemetry.database import Database, transaction

log = logging.getLogger(__name__)

MARK = "schema.v8.records_converted"
"""`kv` key: the id of the last record converted; absent once the conversion is done."""
BATCH = 500
"""Records per transaction: ~0.2 MB of old JSON in memory and in the WAL at most."""

START_SQL = f"INSERT OR REPLACE INTO kv (key, value) VALUES ('{MARK}', '0')"
"""v8's step (in its version bump's transaction): the conversion starts from the first record."""


def convert(db: Database, batch: int = BATCH) -> int:
    """Convert the records after the progress mark, `batch` a transaction, until none is left;
    returns how many were rewritten. Nothing to do (and one indexed read) once done."""
    conn = db.conn
    row = conn.execute("SELECT value FROM kv WHERE key = ?", (MARK,)).fetchone()
    if row is None:
        return 0
    after, converted, unreadable = int(row[0]), 0, 0
    log.info("converting stored records to schema v8 from id %d", after)
    while True:
        with transaction(conn):
            rows = conn.execute(
                "SELECT id, metrics FROM records WHERE id > ? ORDER BY id LIMIT ?", (after, batch)
            ).fetchall()
            if not rows:
                conn.execute("DELETE FROM kv WHERE key = ?", (MARK,))
                break
            updates, bad = _converted(rows)
            conn.executemany("UPDATE records SET metrics = ? WHERE id = ?", updates)
            after = rows[-1][0]
            conn.execute("UPDATE kv SET value = ? WHERE key = ?", (str(after), MARK))
        converted += len(updates)
        unreadable += bad
    if converted or unreadable:
        log.info(
            "schema v8: %d records converted, %d unreadable left as they were",
            converted,
            unreadable,
        )
    return converted


def _converted(rows: list[tuple]) -> tuple[list[tuple[bytes, int]], int]:
    """(new value, id) of the rows still in the old form; and how many of those do not decode
    (left as they are: readers leave them out and count them, as before v8)."""
    updates, bad = [], 0
    for rid, stored in rows:
        if not isinstance(stored, str):
            continue  # written since the upgrade, or already converted
        try:
            updates.append((stored_metrics.encode(stored_metrics.metrics_of(stored)), rid))
        except stored_metrics.DamagedMetrics:
            bad += 1
    return updates, bad


def converting(conn: sqlite3.Connection) -> bool:
    """Whether a conversion is under way (started, not finished)."""
    return conn.execute("SELECT 1 FROM kv WHERE key = ?", (MARK,)).fetchone() is not None
