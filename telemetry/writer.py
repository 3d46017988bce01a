"""The Writer: the daemon's writer of telemetry, in one batch per cadence.

Other writes are few and short, each in its own transaction: the hourly roll-up and its pruning
(`edged.services.rollups`) and the commands `edged alarms ack` and `edged maintenance log`.

Runners `put` samples and device states, services rows (`telemetry.intake`), the publisher
`ack`s record ids (`telemetry.ack_deletion`); none of them ever waits on the card. Every
`commit_interval` seconds the Writer writes all of it in ONE transaction (one sample block per
device, closed windows as records + outbox rows, the device states due, outbox deletions), then
hands the new records to `on_records`. Batching is what keeps the SD card alive: the bytes
written per sample are dominated by the pages rewritten per commit, about five 1 KiB pages
whatever the cadence (see bench/bench_store.py for the figures).

Loss window: with `synchronous = FULL` a commit is on the card when it returns, so a power cut
or SIGKILL loses at most the samples read since the last commit (<= commit_interval seconds).
Open windows are not lost: at start the Writer replays the stored samples that no record covers
yet (seq > the device's newest `records.last_seq`). Samples are folded into windows as they are
stored (`samples.storable`: ts to the ms), so a replayed window equals the live one.

One `(device, ts)`, one content. A window's record goes live before its commit, so after a
crash a replayed window that already ended may have gone out whole: it is withheld, not
re-aggregated into a second, different record. The final commit of a clean stop stores the
marker that tells the next start no window went out; `telemetry.replay` holds the rules. The
aggregator never reopens a device's newest stored window (`WindowAggregator.resume`),
whatever the wall clock does.

When the store fails the Writer runs on and windows still go out live: a failed commit's batch
is kept and retried with a backoff (`telemetry.commit_retry`), a damaged database is replaced
by its salvage and readers get a stand-in while there is none (`telemetry.writer_database`), a
row SQLite rejects is set aside (`telemetry.quarantine`); see docs/architecture.md ("When the
store fails").

Follows docs/architecture.md ("Store API"). Reading is `telemetry.outbox` / `status_view`'s job.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from edged.readings import DeviceState, Record, Sample
from telemetry import ack_deletion, pruning, replay, salvage, store
from telemetry.ack_deletion import ACK_CHUNK, WaitingAcks
from telemetry.commit_retry import CommitRetry
from telemetry.database import Database
from telemetry.intake import Intake
from telemetry.lock import DatabaseLock
from telemetry.quarantine import Quarantine
from telemetry.rows import KvRow, Row
from telemetry.window_folding import WindowFolding
from telemetry.writer_database import WriterDatabase
from telemetry.writer_stats import WriterStats

log = logging.getLogger(__name__)

T = TypeVar("T")
_STOP = object()
STATE_REFRESH = 300.0
"""Seconds between writes of an unchanged device state (counters, last_seen) per device."""


class Writer(threading.Thread):
    """One thread, one connection; everything it stores goes through one transaction per cycle."""

    def __init__(
        self,
        path: str | Path,
        publish_interval: float,
        commit_interval: float,
        on_records: Callable[[list[Record]], None] | None = None,
        max_queue: int = 20000,
        on_closed: Callable[[list[Record]], None] | None = None,
        *,
        grace: float | None = None,
        state_refresh: float = STATE_REFRESH,
        keep_raw_samples: bool = True,
        release_memory: Callable[[], object] | None = None,
    ) -> None:
        super().__init__(name="edged-writer", daemon=True)
        self.path = Path(path)
        self.commit_interval = commit_interval
        self.keep_raw_samples = keep_raw_samples
        """False: a commit stores only the samples no record covers yet, and each device's
        newest (`store.Batch.drop_covered`); True: every sample, pruned after its retention."""
        self._on_records = on_records
        self._release_memory = release_memory
        """Gives the memory freed after a large transaction back to the system (the daemon
        passes `edged.memory.trim`: glibc keeps it in its arenas otherwise, so RSS would stay at
        a drain's peak); a few ms, called after large transactions only."""
        self._calls: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._stats = WriterStats()
        self._count = self._stats.add
        self._intake = Intake(max_queue, state_refresh, self._count)
        self._acks = WaitingAcks()
        self._folding = WindowFolding(publish_interval, grace, on_closed)
        self._batch = store.Batch()
        self._finished = False
        self._retry = CommitRetry(max_queue, self._count)
        self._quarantine = Quarantine(self.path)  # rows SQLite rejected in the pending commit
        self._lock_file = DatabaseLock(self.path)
        self._lock_file.acquire()  # DatabaseBusy: another daemon owns this database
        self._database = WriterDatabase(self.path, lambda: self._count("recoveries"))
        self._heartbeat = time.monotonic()
        if self._database.open(failing=False):
            self._replay()

    # --- called from other threads ------------------------------------------------------------

    def put(self, sample: Sample) -> None:
        """Queue a sample; never blocks. A full queue drops it (counted, logged once per burst)."""
        self._intake.put(sample)

    def put_state(self, device: str, state: DeviceState) -> None:
        """Upsert `device_state`: at the next commit when its liveness or info changed, else
        at most every `state_refresh` s; the newest at stop.
        """
        self._intake.put_state(device, state)

    def put_row(self, row: Row, soon: bool = False) -> None:
        """Write a small row (`telemetry.rows`: health, alarm change, job run, power event, kv)
        at the next commit, in order; no commit of its own (the SD card pays per commit, not
        per row).

        `soon`: commit within a second instead (an alarm raised or cleared: `edged status`
        shows it from the live view at once, and `edged alarms ack` needs its stored row then,
        not up to `commit_interval` later). Alarm rules hold a delay, so this stays rare."""
        self._intake.put_row(row)
        if soon:
            self._calls.put((lambda _db: self._commit(), Future()))

    def ack(self, ids: list[int]) -> None:
        """Delete these outbox rows at the next commit (the broker acknowledged them), or
        sooner, `ACK_CHUNK` at a time, when that many wait (a drain)."""
        if self._acks.add(ids):
            self._calls.put((lambda _db: self._delete_acks(), Future()))

    def flush(self, timeout: float = 30.0) -> bool:
        """Commit now and wait. True when nothing is left pending (False: the commit failed).

        Like any commit it holds back unchanged device states (see `put_state`); `stop` does not.
        It does not wait for the backoff of failing commits.
        """
        return self._submit(lambda _db: self._commit(force=True), timeout)

    def call(self, fn: Callable[[Database], T], timeout: float = 30.0) -> T:
        """Run `fn(db)` on the writer thread between commits (maintenance jobs, tests).

        While there is no usable database (disk full at start) `fn` gets an empty, query-only
        one in memory: what the daemon restores at start (alarms, jobs, counters) is then
        "nothing stored", every component runs on, and a write there fails loudly.
        """
        stand_in = self._database.stand_in
        return self._submit(lambda db: fn(db if db is not None else stand_in()), timeout)

    def storage_health(self) -> dict[str, bool | int]:
        """Facts for the alarm service: `failing` (no database, or the last commit failed) and
        `damaged_copies` (damaged databases kept aside, until a technician removes them)."""
        return {
            "failing": self._database.db is None or self._retry.failures > 0,
            "damaged_copies": self._database.damaged_copies(),
        }

    def _submit(self, fn: Callable[[Database | None], T], timeout: float) -> T:
        if not self.is_alive():
            raise RuntimeError("writer thread is not running")
        future: Future[T] = Future()
        self._calls.put((fn, future))
        return future.result(timeout)

    def prune(
        self,
        max_age: float,
        records_max_age: float | None = None,
        health_max_age: float | None = None,
    ) -> int:
        """Delete samples older than `max_age` seconds (acknowledged records older than
        `records_max_age`, health rows older than `health_max_age` (default `max_age`), if
        given) on the writer thread, in short transactions; returns how many rows went.

        Samples of a still-open window and records still in the outbox are never deleted.
        """
        now = time.time()
        records_before = None if records_max_age is None else now - records_max_age
        health_before = None if health_max_age is None else now - health_max_age
        try:
            pruned = self.call(
                lambda db: pruning.prune(
                    db, now - max_age, records_before, health_before=health_before
                ),
                600.0,
            )
        except sqlite3.Error as exc:  # no database (disk full): nothing to prune
            log.warning("prune skipped: %s", exc)
            return 0
        self._count("pruned", pruned)
        return pruned

    def stop(self, timeout: float = 30.0) -> None:
        """Final commit (open windows stay open: their samples are replayed at the next start)."""
        if self.is_alive():
            self._calls.put(_STOP)
            self.join(timeout)
        elif not self._finished:  # never started: still commit what was put
            self._finish()

    @property
    def stats(self) -> dict[str, int]:
        """The counters (`telemetry.writer_stats.COUNTERS`), as they are now."""
        return self._stats.snapshot()

    @property
    def recovered(self) -> salvage.Recovery | None:
        """Set when a damaged database was moved aside and replaced (at open or later)."""
        return self._database.recovered

    @property
    def heartbeat(self) -> float:
        """`time.monotonic()` when the writer's loop last went round (it does at least every
        second: a commit made, failed or with nothing to write, a fold of windows, a `call`).
        Stale only when the thread hangs; a failing store is the storage alarm's business."""
        return self._heartbeat

    # --- the writer thread --------------------------------------------------------------------

    def set_commit_interval(self, seconds: float) -> None:
        """Change the cadence now (faster while the battery is low, see telemetry.cadence)."""
        self.commit_interval = seconds
        self._calls.put((lambda _db: None, Future()))  # wake the loop so it re-plans

    def run(self) -> None:
        last_commit = last_close = time.monotonic()
        try:
            while True:
                self._heartbeat = time.monotonic()
                next_commit = last_commit + self.commit_interval
                wake = min(next_commit, last_close + self._folding.every)
                try:
                    item = self._calls.get(timeout=max(0.0, wake - time.monotonic()))
                except queue.Empty:
                    if time.monotonic() >= next_commit:
                        self._commit()
                        last_commit = last_close = time.monotonic()
                    else:
                        self._close_windows()
                        last_close = time.monotonic()
                    continue
                if item is _STOP:
                    break
                fn, future = item
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn(self._database.db))  # None without a database
                    except BaseException as exc:  # handed to the caller, not swallowed
                        future.set_exception(exc)
        finally:
            self._finish()

    def _finish(self) -> None:
        try:
            # Committed with the last records: the next start knows no window went out unstored.
            self.put_row(KvRow(replay.CLEAN_STOP_KEY, "1"))
            if not self._commit(final=True):
                log.error(
                    "stopping with %d samples / %d records not stored: %s",
                    self._batch.sample_count,
                    len(self._batch.records),
                    "no usable database" if self._database.db is None else "the last commit failed",
                )
        finally:
            self._finished = True
            self._database.close()
            self._lock_file.release()

    def _replay(self) -> None:
        """Refold stored samples no record covers yet: the windows open when we last stopped;
        after a crash, withhold those that may have gone out live (`telemetry.replay`)."""
        assert self._database.db is not None
        devices = list(self._database.ids.devices)
        agg = self._folding.agg
        done = replay.at_start(self._database.db, agg, devices, self.commit_interval)
        self._folding.add_closed(self._batch, self._database.ids, done.records)
        self._batch.rows.extend(("kv", row) for row in done.kv_rows())
        self._count("replay_withheld", len(done.withheld))

    def _close_windows(self) -> None:
        """Fold the queued samples into the batch and their windows; the records of windows
        that closed go to `on_closed` now, before their commit (`telemetry.window_folding`)."""
        now = time.monotonic()
        self._folding.fold(self._batch, self._database.ids, self._intake.drain(), now)

    # --- committing ---------------------------------------------------------------------------

    def _commit(self, final: bool = False, force: bool = False) -> bool:
        self._close_windows()  # records closing now go out live even if this commit fails
        now = time.monotonic()
        self._intake.take(self._batch, now, final)
        self._batch.acks.update(self._acks.take_all())
        rest = ack_deletion.split_for_commit(self._batch)
        if self._batch.empty():
            return True
        if not (final or force) and self._retry.backing_off(now):
            self._batch.acks.update(rest)
            self._retry.hold(self._batch)
            return False  # backing off: the disk is still full, most likely
        if not self.keep_raw_samples:  # before the write: a failed one keeps them dropped
            self._count("samples_covered", self._batch.drop_covered())
        if self._database.db is None and not self._database.open(self._retry.failures > 0):
            self._batch.acks.update(rest)
            return self._failed(now, "no usable database")
        try:
            acked = self._database.write(self._batch, self._quarantine)
        except sqlite3.Error as exc:
            self._batch.acks.update(rest)
            return self._failed(now, exc)
        self._retry.succeeded()
        self._count("quarantined", self._quarantine.keep())
        done, self._batch = self._batch, store.Batch()
        self._intake.states_written(done.states.values(), now)
        self._stats.committed(done, acked)
        if rest:  # deleted now, in transactions of their own
            self._acks.put_back(rest)
            self._delete_acks()
        elif len(done.records) + acked >= ACK_CHUNK:
            self._free_memory()
        self._publish(done)
        return True

    def _delete_acks(self) -> None:
        """Delete waiting acks, `ACK_CHUNK` per transaction, between commits (see `ack`).

        Acks of records in the pending batch stay for its commit (which then writes no outbox
        row for them); so do all of them while commits fail (the commit's backoff rules)."""
        floor = self._batch.records[0][0] if self._batch.records else None
        db = self._database.db
        ready = self._acks.take_ready(floor, db is not None and not self._retry.failures)
        if not ready or db is None:
            return
        deleted, left = ack_deletion.delete_in_chunks(db, self._database.ids, ready)
        self._acks.put_back(left)
        self._count("acked", deleted)
        if deleted:
            self._free_memory()

    def _failed(self, now: float, why: BaseException | str) -> bool:
        self._quarantine.forget()  # the retry skips the same rows again
        self._retry.failed(self._batch, now, self.commit_interval, why)
        return False

    def _free_memory(self) -> None:
        if self._release_memory is not None:
            self._release_memory()

    def _publish(self, done: store.Batch) -> None:
        if not done.records or self._on_records is None:
            return
        records = [store.with_id(record, rid) for rid, record, _ in done.records]
        try:
            self._on_records(records)
        except Exception:  # the publisher's bug must not stop storage; the outbox has them
            log.exception("on_records callback failed; records stay in the outbox")
