"""Hourly in the daemon: roll the new records up, then prune the raw records the rollups cover.

Runs on its own thread and its own connection (`roll_up` holds the write lock only for its
writes, so the Writer's commits are not held up), at most one at a time. Records go after
`storage.record_retention_days`, only once rolled up and acknowledged by the broker; the
hourly and daily rollups stay for years (about 2 MB per device-year, docs/report.md).
"""

from __future__ import annotations

import logging
import threading
import time

from edged import memory
from edged.config.settings import Config
from telemetry.database import DatabaseError
from telemetry.store import StoreError, open_db

log = logging.getLogger(__name__)


class RollupTask:
    def __init__(self, config: Config) -> None:
        self._config = config
        self._thread: threading.Thread | None = None
        self.last: tuple[int, int] | None = None  # (records rolled up, records pruned)

    def start(self) -> None:
        """Start a round in the background unless one is still running."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self.run_once, name="rollups", daemon=True)
        self._thread.start()

    def run_once(self) -> tuple[int, int] | None:
        # imported here: the report's modules cost the daemon RAM it needs only once an hour
        from maintenance.report.rollup_store import prune_records, roll_up

        storage, now = self._config.storage, time.time()
        try:
            db = open_db(storage.path, occasional=True)
        except StoreError as exc:
            log.error("rollups skipped: %s", exc)
            return None
        try:
            rolled = roll_up(db, now, self._config.telemetry.publish_interval)
            pruned = prune_records(db, now - storage.record_retention_days * 86400)
        except DatabaseError as exc:  # disk full, locked too long: next hour tries again
            log.error("rollups failed (retried next hour): %s", exc)
            return None
        finally:
            db.conn.close()
            memory.trim()  # a round over a long history frees megabytes: give them back
        if rolled or pruned:
            log.info("rolled up %d record(s), pruned %d rolled-up record(s)", rolled, pruned)
        self.last = (rolled, pruned)
        return self.last

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
