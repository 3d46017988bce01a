"""Read side of the outbox: which stored records the broker has not acknowledged yet.

Deleting is the Writer's job (`Writer.ack`), after the publisher saw the PUBACK; this module
never writes. `Reader` is the publisher's read-only connection, which must outlive what the
Writer goes through: a database that cannot be opened yet (disk full at start) is retried with
a backoff, and a file the Writer moved aside (damaged) and replaced is noticed by its identity
on disk and the new one opened. A row that does not decode (a damaged page) is skipped and
reported, never raised: one bad row must not stop delivery of the others.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Collection
from pathlib import Path

from edged.readings import Record
from telemetry import store
from telemetry.database import Database
from telemetry.stored_metrics import RECORD_COLUMNS, decode_row

log = logging.getLogger(__name__)

RETRY_MIN = 1.0
"""Seconds before the first new attempt after an open or a read failed; doubled each time."""
RETRY_MAX = 60.0
"""Most seconds between attempts: the backlog goes out within this once the database is back."""


def pending(
    db: Database,
    limit: int,
    *,
    after_id: int = 0,
    upto_id: int | None = None,
    exclude: Collection[int] = (),
    damaged: list[int] | None = None,
) -> list[Record]:
    """Unacknowledged records, oldest first, skipping `exclude` (those already in flight).

    A record whose stored columns no longer decode (a flipped bit on the card that SQLite's
    page checks do not see) is left out, logged, and its id appended to `damaged` when given:
    one bad row must never stop the sweep of every later one."""
    sql = (
        f"SELECT {RECORD_COLUMNS} FROM outbox JOIN records ON records.id = outbox.record_id "
        "WHERE outbox.record_id > ?"
    )
    params: list = [after_id]
    if upto_id is not None:
        sql += " AND outbox.record_id <= ?"
        params.append(upto_id)
    if exclude:  # one JSON parameter: a long drain's in-flight set may pass SQLite's limit
        sql += " AND outbox.record_id NOT IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(list(exclude)))
    sql += " ORDER BY outbox.record_id LIMIT ?"
    params.append(limit)
    found = []
    for row in db.execute(sql, params).fetchall():
        record = decode_row(row)
        if isinstance(record, Record):
            found.append(record)
        else:
            log.warning("stored record %r unreadable: %s", row[0], record)
            if damaged is not None:
                damaged.append(row[0])
    return found


def count(db: Database) -> int:
    return db.execute("SELECT count(*) FROM outbox").fetchone()[0]


class Reader:
    """The publisher's read-only connection to the database at `path` (see module docstring).

    `generation` is bumped at every successful open: a new generation may be a new file, whose
    rows are to be swept from the start."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.generation = 0
        self.failures = 0
        """Opens and reads that failed (each episode is logged once)."""
        self._db: Database | None = None
        self._identity: tuple[int, int] | None = None
        self._retry_at = 0.0
        self._backoff = RETRY_MIN
        self._failing = False

    @property
    def retry_at(self) -> float | None:
        """Monotonic time of the next attempt to open; None while open."""
        return None if self._db is not None else self._retry_at

    def connection(self) -> Database | None:
        """The open connection, reopened first if the file at `path` is another one now; None
        while it cannot be opened (tried again once `retry_at` is past)."""
        if self._db is not None and _identity(self.path) != self._identity:
            log.warning("database %s was replaced: reading the new file", self.path)
            self.close()
            self._retry_at = 0.0
        if self._db is None and time.monotonic() >= self._retry_at:
            self._open()
        return self._db

    def retry_soon(self) -> None:
        """The Writer just committed: the database is usable again, try at once."""
        if self._db is None:
            self._retry_at = 0.0

    def read_ok(self) -> None:
        """A read on `connection()` succeeded: the episode of failures, if any, is over (an
        open alone does not end it: a damaged file opens, then fails every read)."""
        self._backoff = RETRY_MIN
        if self._failing:
            self._failing = False
            log.info("outbox of %s readable again", self.path)

    def failed(self, exc: BaseException) -> None:
        """A read on `connection()` failed: drop it and try again after the backoff."""
        self.close()
        self._fail("cannot read", exc)

    def close(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error as exc:  # a damaged file may fail to close: it is dropped anyway
                log.debug("closing %s: %s", self.path, exc)
            self._db = None

    def _open(self) -> None:
        identity = _identity(self.path)
        try:  # read-only: creating and migrating the file is the Writer's job
            db = store.open_db(self.path, readonly=True)
        except (store.StoreError, sqlite3.Error, OSError) as exc:
            self._fail("cannot open", exc)
            return
        if _identity(self.path) != identity:  # created or replaced while opening: which one?
            db.close()
            return
        self._db, self._identity = db, identity
        self.generation += 1

    def _fail(self, what: str, exc: BaseException) -> None:
        self.failures += 1
        if not self._failing:
            self._failing = True
            log.warning("publisher %s the outbox of %s (retrying): %s", what, self.path, exc)
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(RETRY_MAX, self._backoff * 2.0)


def _identity(path: Path) -> tuple[int, int] | None:
    """Which file `path` names now (device, inode); None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino
