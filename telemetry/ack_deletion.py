"""Acknowledged outbox rows: gathered from the publisher, deleted `ACK_CHUNK` per transaction.

The publisher acknowledges from its own thread; the rows go with the Writer's next commit. A
drain acknowledges thousands of records a second, though: held for a 180-s commit and deleted
in one transaction, 150,000 of them cost 12 MB (the id set, the statement's parameters, the
pages the transaction dirties). So once `ACK_CHUNK` wait, the Writer is woken to delete them
at once, in transactions of their own, and a commit holding more keeps only `ACK_CHUNK` of
them (`split_for_commit`) and deletes the rest the same way after it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable

from telemetry import store
from telemetry.database import Database

log = logging.getLogger(__name__)

ACK_CHUNK = 2000
"""Most outbox rows deleted per transaction, and the number of waiting acks that wakes the
Writer to delete them before its next commit."""


class WaitingAcks:
    """Record ids the broker acknowledged, not deleted yet; safe to call from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards _ids, _woken
        self._ids: set[int] = set()
        self._woken = False  # a deletion of the waiting acks is queued on the Writer's thread

    def add(self, ids: Iterable[int]) -> bool:
        """Keep these ids; True when the caller should queue a deletion now (`ACK_CHUNK` wait
        and none is queued yet: one wake per chunk would flood the Writer's calls)."""
        with self._lock:
            self._ids.update(ids)
            wake = len(self._ids) >= ACK_CHUNK and not self._woken
            self._woken = self._woken or wake
        return wake

    def put_back(self, ids: Iterable[int]) -> None:
        """Ids taken but not deleted (a failed transaction): they wait for the next commit.
        Not `add`: that would wake the deletion again at once."""
        with self._lock:
            self._ids.update(ids)

    def take_all(self) -> set[int]:
        """Every waiting id, for the commit about to be written."""
        with self._lock:
            taken, self._ids = self._ids, set()
        return taken

    def take_ready(self, below: int | None, deletable: bool) -> list[int]:
        """The waiting ids below `below` (the pending batch's first record id: acks of records
        not committed yet stay for that commit, which then writes no outbox row for them),
        sorted; none while not `deletable` (no database, or commits failing: the commit's
        backoff decides). Clears the wake, so the next `ACK_CHUNK` wake again."""
        with self._lock:
            self._woken = False
            if not deletable:
                return []
            ready = sorted(i for i in self._ids if below is None or i < below)
            self._ids.difference_update(ready)
        return ready


def split_for_commit(batch: store.Batch) -> list[int]:
    """Keep the `ACK_CHUNK` oldest acks in `batch` (one transaction); return the others."""
    if len(batch.acks) <= ACK_CHUNK:
        return []
    ordered = sorted(batch.acks)
    batch.acks = set(ordered[:ACK_CHUNK])
    return ordered[ACK_CHUNK:]


def delete_in_chunks(db: Database, ids: store.Ids, ready: list[int]) -> tuple[int, list[int]]:
    """Delete the outbox rows of `ready`, `ACK_CHUNK` per transaction. Returns how many rows
    went and the ids left when a transaction failed (the next commit retries them, with its
    backoff)."""
    deleted = 0
    for start in range(0, len(ready), ACK_CHUNK):
        chunk = set(ready[start : start + ACK_CHUNK])
        try:
            deleted += store.write(db, store.Batch(acks=chunk), ids)
        except sqlite3.Error as exc:
            log.warning("deleting %d acknowledged outbox rows failed: %s", len(chunk), exc)
            return deleted, ready[start:]
    return deleted, []
