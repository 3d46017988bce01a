"""Deleting old rows from the SD-card database, in short transactions, never what is still needed.

Run by the Writer (`Writer.prune`, hourly) and behind the roll-ups
(`maintenance.report.rollup_store.prune_records`). Each batch is its own transaction, so a prune
over months of history never holds the write lock, nor a WAL of the whole deletion, for long.
"""

from __future__ import annotations

import json
import sqlite3

from telemetry.database import Database, transaction


def covered_seqs(db: Database) -> dict[str, int]:
    """Per device, the newest sample seq some record covers (samples after it are in no record)."""
    return dict(db.execute("SELECT device, max(last_seq) FROM records GROUP BY device").fetchall())


def prune(
    db: Database,
    samples_before: float,
    records_before: float | None,
    batch: int = 500,
    health_before: float | None = None,
) -> int:
    """Delete old rows in short transactions; returns how many samples and records went.
    Health rows go before `health_before` (default: `samples_before`).

    A block goes when all its samples are older than `samples_before` and covered by a record.
    Never deleted: samples no record covers yet (an open window, replayed at start), records
    still in the outbox, and each device's newest record (it says what is covered).
    """
    covered = covered_seqs(db)
    total = 0
    for name, device_id in db.execute("SELECT name, id FROM devices").fetchall():
        top = covered.get(name, 0)
        total += _delete_in_batches(
            db.conn,
            (
                "DELETE FROM sample_blocks WHERE first_seq IN (SELECT first_seq FROM sample_blocks"
                " WHERE first_seq <= ? AND last_seq <= ? AND device_id = ? AND ts_max < ? LIMIT ?)"
                " RETURNING last_seq - first_seq + 1"
            ),
            (top, top, device_id, samples_before, batch),
        )
    total += _delete_in_batches(
        db.conn,
        "DELETE FROM health WHERE id IN (SELECT id FROM health WHERE ts < ? LIMIT ?) RETURNING 1",
        (samples_before if health_before is None else health_before, batch),
    )
    if records_before is not None:
        # each device's newest record, found once: re-grouping the whole table for every batch
        # made a first prune over months of records quadratic (bench/bench_rollups.py)
        rows = db.execute("SELECT max(id) FROM records GROUP BY device").fetchall()
        newest = json.dumps([i for (i,) in rows])
        total += _delete_in_batches(
            db.conn,
            (
                "DELETE FROM records WHERE id IN (SELECT id FROM records WHERE ts < ?"
                " AND id NOT IN (SELECT record_id FROM outbox)"
                " AND id NOT IN (SELECT value FROM json_each(?)) LIMIT ?) RETURNING 1"
            ),
            (records_before, newest, batch),
        )
    return total


def _delete_in_batches(conn: sqlite3.Connection, sql: str, params: tuple) -> int:
    """Run a `DELETE ... LIMIT ? RETURNING count` until it deletes fewer rows than the limit."""
    total, limit = 0, params[-1]
    while True:
        with transaction(conn):
            rows = conn.execute(sql, params).fetchall()
        total += sum(n for (n,) in rows)
        if len(rows) < limit:
            return total
