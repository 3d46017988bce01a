"""The handle every store function takes: one stdlib sqlite3 connection and `execute`.

The daemon needs nothing more from a database handle than its connection and `execute`; a
richer wrapper (sqlite-utils) costs the daemon ~12 MB of RSS in imports alone (click, dateutil,
pluggy, tabulate), a quarter of its footprint target on a Pi. Every connection gets the SQL
functions the schema's queries need (`metrics_json`, `telemetry.stored_metrics`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from telemetry import stored_metrics

DatabaseError = sqlite3.Error
"""What a failing query raises (damage, I/O, locked too long): callers outside telemetry catch
this name and need not know the store is SQLite."""


class Database:
    """A connection and the few calls the store makes on it."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        # Triggers that fire other triggers behave as they did under sqlite-utils.
        conn.execute("PRAGMA recursive_triggers = on")
        stored_metrics.register(conn)

    def execute(
        self, sql: str, parameters: Iterable[Any] | Mapping[str, Any] | None = None
    ) -> sqlite3.Cursor:
        if parameters is None:
            return self.conn.execute(sql)
        return self.conn.execute(sql, parameters)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (also when COMMIT itself fails)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
