"""The Writer's database: opened checked, a damaged file replaced, a stand-in while there is none.

The Writer must keep running whatever the file does, since records still go out live. So:
- a damaged file (at open, or found by a write) is moved aside and replaced by its salvage
  (`telemetry.recovery`), and a write that found it is made once more into the fresh file;
- a file that cannot be opened at all (a full disk, an I/O error, a newer schema) leaves the
  Writer without a database, retried at each commit, with ids past any stored one
  (`recovery.floor_ids`) so what goes out live meanwhile never reuses an id;
- readers (`Writer.call`) then get an empty, query-only stand-in in memory: what the daemon
  restores at start is "nothing stored", and a write there fails loudly.

Runs on the Writer's thread only.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

from telemetry import recovery, salvage, store
from telemetry.database import Database
from telemetry.quarantine import Quarantine

log = logging.getLogger(__name__)


class WriterDatabase:
    """The connection the Writer writes through (`db`, None while unusable) and the ids it
    hands out (`ids`: a retried batch keeps its seqs and record ids)."""

    def __init__(self, path: Path, on_recovery: Callable[[], None]) -> None:
        self.path = path
        self._on_recovery = on_recovery
        self.db: Database | None = None
        self.ids = store.Ids({}, 1, 1)
        self.recovered: salvage.Recovery | None = None
        """Set when a damaged database was moved aside and replaced (at open or later)."""
        self._empty: Database | None = None

    def open(self, failing: bool) -> bool:
        """Open the database; True when it is usable. A damaged file is moved aside, salvaged
        and replaced; any other failure leaves no database. `failing`: commits fail already,
        so the loss was logged and its end is worth a line."""
        try:
            db = recovery.open_checked(self.path)
        except (store.StoreError, sqlite3.Error, salvage.Damaged, OSError) as exc:
            if not salvage.is_damage(exc):
                self._unusable(exc, failing)
                return False
            try:
                db = self._replace_damaged(exc)
            except (store.StoreError, sqlite3.Error, OSError) as again:
                self._unusable(again, failing)
                return False
        if failing:
            log.info("database %s usable again", self.path)
        self._adopt(db)
        return True

    def write(self, batch: store.Batch, quarantine: Quarantine) -> int:
        """`store.write` the batch; a damaged database is replaced and the batch written once
        more into the fresh one (the batch is still whole: the failed transaction rolled back).
        Returns the outbox rows deleted."""
        assert self.db is not None
        try:
            return store.write(self.db, batch, self.ids, quarantine)
        except sqlite3.Error as exc:
            quarantine.forget()
            if not salvage.is_damage(exc):
                raise
            try:
                fresh = self._replace_damaged(exc)
            except (store.StoreError, OSError) as again:
                raise sqlite3.OperationalError(f"damaged database not replaced: {again}") from exc
            self._adopt(fresh)
            return store.write(fresh, batch, self.ids, quarantine)

    def stand_in(self) -> Database:
        """An empty database in memory, query-only, for readers while there is no usable one."""
        if self._empty is None:
            log.warning("no usable database: readers see an empty store until it is back")
            self._empty = Database(
                sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            )
            store.migrate(self._empty)
            self._empty.execute("PRAGMA query_only = 1")
        return self._empty

    def damaged_copies(self) -> int:
        """Damaged databases kept aside beside this one, until a technician removes them."""
        return len(salvage.damaged_copies(self.path))

    def close(self) -> None:
        if self.db is not None:
            self.db.close()

    def _adopt(self, db: Database) -> None:
        loaded = store.Ids.load(db)
        # a retried batch keeps its ids: never go back below what was handed out already
        self.ids = store.Ids(
            loaded.devices,
            max(loaded.next_seq, self.ids.next_seq),
            max(loaded.next_record_id, self.ids.next_record_id),
        )
        self.db = db

    def _unusable(self, exc: BaseException, failing: bool) -> None:
        if not failing:
            log.error(
                "database %s unusable, records go out live only until it is: %s", self.path, exc
            )
        if self.db is None and self.ids.next_record_id == 1:
            self.ids = recovery.floor_ids(self.path, store.SEQ_RANGE)

    def _replace_damaged(self, exc: BaseException) -> Database:
        """Swap a salvaged copy in for the damaged file (`recovery.replace_damaged`)."""
        if self.db is not None:
            with contextlib.suppress(sqlite3.Error):  # a damaged file may fail to close
                self.db.close()
            self.db = None
        self.recovered = recovery.replace_damaged(self.path, exc)
        self._on_recovery()
        return store.open_db(self.path)
