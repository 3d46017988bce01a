"""The Writer: the daemon's writer of telemetry, in one batch per cadence.

Other writes are few and short, each in its own transaction: the hourly roll-up and its pruning
(`edged.services.rollups`) and the commands `edged alarms ack` and `edged maintenance log`.

Runners `put` samples into a bounded queue (never blocking: a full queue drops and counts), the
publisher `ack`s record ids; every `commit_interval` seconds the Writer drains all of it into ONE
transaction (one sample block per device, closed windows as records + outbox rows, changed
device states, outbox deletions), then hands the new records to `on_records`. Batching is what
keeps the SD card alive: the bytes written per sample are dominated by the pages rewritten per
commit, about five 1 KiB pages whatever the cadence (see bench/bench_store.py for the figures).
A device state whose liveness and info did not change is written at most every
`state_refresh` seconds (`telemetry.state_pacing`: the runner refreshes it every minute only
to update counters).

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

A failing commit (disk full, I/O error) keeps the batch in memory, bounded by `max_queue`
samples, and retries with a backoff; windows closing meanwhile still go live. A damaged
database is moved aside and replaced by its salvage (`telemetry.recovery`); a row SQLite
rejects is set aside (`telemetry.quarantine`); see docs/architecture.md ("When the store
fails").

Follows docs/architecture.md ("Store API"). Reading is `telemetry.outbox` / `status_view`'s job.
"""

from __future__ import annotations

import contextlib
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
from telemetry import pruning, recovery, replay, salvage, samples, store
from telemetry.database import Database
from telemetry.lock import DatabaseLock
from telemetry.quarantine import Quarantine
from telemetry.rows import DeviceStateRow, KvRow, Row
from telemetry.state_pacing import StatePacer
from telemetry.windows import ClosedWindow, WindowAggregator

log = logging.getLogger(__name__)

T = TypeVar("T")
_STOP = object()
STATE_REFRESH = 300.0
"""Seconds between writes of an unchanged device state (counters, last_seen) per device."""
RETRY_MAX = 30.0
"""Most seconds between two commit attempts while commits fail (disk full): the backoff
doubles from `commit_interval` up to this, so storage resumes within it once there is room."""
CLOSE_EVERY = 1.0
"""Most seconds between folds of the queued samples into their windows (in memory, no write):
a window's record is handed to `on_closed` about a second after it ends, not at the next
commit; a quarter of the publish interval when that is shorter, so a record is still live
(its window ended less than one interval ago) when it reaches the publisher."""
ACK_CHUNK = 2000
"""Most outbox rows deleted per transaction. A drain acknowledges thousands of records a
second: held until the next commit (180 s) and deleted in one transaction, 150,000 of them
cost 12 MB (the id set, the statement's parameters, the pages the transaction dirties). Once
this many acks wait, the Writer deletes them at once, in transactions of their own."""


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
        self._on_closed = on_closed
        self._release_memory = release_memory
        """Gives the memory freed after a large transaction back to the system (the daemon
        passes `edged.memory.trim`: glibc keeps it in its arenas otherwise, so RSS would stay at
        a drain's peak); a few ms, called after large transactions only."""
        self._max_queue = max_queue
        self._queue: queue.Queue[Sample] = queue.Queue(maxsize=max_queue)
        self._calls: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()  # guards _states, _acks, _rows, _stats, _dropping
        self._states = StatePacer(state_refresh)
        self._acks: set[int] = set()
        self._acks_woken = False  # a deletion of waiting acks is queued (see `ack`)
        self._rows: list[tuple[str, tuple]] = []
        self._dropping = False
        self._stats = dict.fromkeys(
            (
                "samples_written",
                "records_created",
                "commits",
                "dropped",
                "acked",
                "commit_failures",
                "rejected",
                "pruned",
                "quarantined",
                "recoveries",
                "replay_withheld",
                "samples_covered",
            ),
            0,
        )
        self._agg = WindowAggregator(publish_interval, grace)
        self._close_every = min(CLOSE_EVERY, publish_interval / 4)
        self._batch = store.Batch()
        self._finished = False
        self._failures = 0  # commits failed in a row
        self._retry_at = 0.0  # monotonic time of the next attempt after a failure
        self._quarantine = Quarantine(self.path)  # rows SQLite rejected in the pending commit
        self.recovered: salvage.Recovery | None = None
        """Set when a damaged database was moved aside and replaced (at open or later)."""
        self._lock_file = DatabaseLock(self.path)
        self._lock_file.acquire()  # DatabaseBusy: another daemon owns this database
        self._db: Database | None = None
        self._empty: Database | None = None  # see `call`
        self._ids = store.Ids({}, 1, 1)
        self._heartbeat = time.monotonic()
        if self._open():
            self._replay()

    # --- called from other threads ------------------------------------------------------------

    def put(self, sample: Sample) -> None:
        """Queue a sample; never blocks. A full queue drops it (counted, logged once per burst)."""
        try:
            self._queue.put_nowait(sample)
        except queue.Full:
            with self._lock:
                self._stats["dropped"] += 1  # not _count: the same lock guards _dropping
                first = not self._dropping
                self._dropping = True
            if first:
                log.warning("writer queue full (%d samples): dropping samples", self._max_queue)
        else:
            if self._dropping:
                with self._lock:
                    self._dropping = False

    def put_state(self, device: str, state: DeviceState) -> None:
        """Upsert `device_state`: at the next commit when its liveness or info changed, else
        at most every `state_refresh` s; the newest at stop.
        """
        with self._lock:
            self._states.put(DeviceStateRow(device, state, time.time()))

    def put_row(self, row: Row, soon: bool = False) -> None:
        """Write a small row (`telemetry.rows`: health, alarm change, job run, power event, kv)
        at the next commit, in order; no commit of its own (the SD card pays per commit, not
        per row).

        `soon`: commit within a second instead (an alarm raised or cleared: `edged status`
        shows it from the live view at once, and `edged alarms ack` needs its stored row then,
        not up to `commit_interval` later). Alarm rules hold a delay, so this stays rare."""
        if row.KIND not in store.ROW_SQL:
            raise ValueError(f"unknown row kind {row.KIND!r}")
        with self._lock:
            self._rows.append((row.KIND, row.params()))
        if soon:
            self._calls.put((lambda _db: self._commit(), Future()))

    def ack(self, ids: list[int]) -> None:
        """Delete these outbox rows at the next commit (the broker acknowledged them), or
        sooner, `ACK_CHUNK` at a time, when that many wait (a drain)."""
        with self._lock:
            self._acks.update(ids)
            wake = len(self._acks) >= ACK_CHUNK and not self._acks_woken
            self._acks_woken = self._acks_woken or wake
        if wake:
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
        return self._submit(lambda db: fn(db if db is not None else self._stand_in()), timeout)

    def storage_health(self) -> dict[str, bool | int]:
        """Facts for the alarm service: `failing` (no database, or the last commit failed) and
        `damaged_copies` (damaged databases kept aside, until a technician removes them)."""
        return {
            "failing": self._db is None or self._failures > 0,
            "damaged_copies": len(salvage.damaged_copies(self.path)),
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
        with self._lock:
            return dict(self._stats)

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
                wake = min(next_commit, last_close + self._close_every)
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
                        future.set_result(fn(self._db))  # None without a database
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
                    "no usable database" if self._db is None else "the last commit failed",
                )
        finally:
            self._finished = True
            if self._db is not None:
                self._db.close()
            self._lock_file.release()

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._stats[key] += n

    def _replay(self) -> None:
        """Refold stored samples no record covers yet: the windows open when we last stopped;
        after a crash, withhold those that may have gone out live (`telemetry.replay`)."""
        clean = replay.take_clean_stop(self._db)
        devices = list(self._ids.devices)
        done = replay.replay(self._db, self._agg, devices, clean, self.commit_interval)
        self._store_closed(done.records)
        self._batch.rows.extend(("kv", row) for row in done.kv_rows())
        self._count("replay_withheld", len(done.withheld))
        for window in done.withheld:
            log.warning(
                "window %s of %r ended before the restart and may have gone out live: its %d"
                " stored samples are kept but not published again",
                window.record.ts,
                window.record.device,
                window.record.samples,
            )
        if self._agg.open_devices:
            log.info("replayed open windows of %s", self._agg.open_devices)

    def _store_closed(self, windows: list[ClosedWindow]) -> None:
        for window in windows:
            self._batch.records.append((self._ids.next_record_id, *window))
            self._ids.next_record_id += 1

    def _drain(self, now: float) -> None:
        """Move queued samples into the batch as one block per device (contiguous seqs), and
        fold each, as stored, into its window."""
        by_device: dict[str, list[Sample]] = {}
        while True:
            try:
                sample = self._queue.get_nowait()
            except queue.Empty:
                break
            stored = samples.storable(sample)
            if stored is None:
                self._count("rejected")
                log.warning("sample of %r not storable, dropped: %r", sample.device, sample)
                continue
            by_device.setdefault(stored.device, []).append(stored)
        for device, group in by_device.items():
            block = self._batch.block_for(device, self._ids)
            for sample in group:
                if not block.has_room():
                    block = self._batch.block_for(device, self._ids)
                block.samples.append(sample)
                self._store_closed(self._agg.add(sample, block.last_seq, now))

    def _close_windows(self) -> None:
        """Fold the queued samples into the batch; hand the records of windows that closed to
        `on_closed` now, before their commit (they are committed, with their outbox rows
        unless already acknowledged, at the next commit, like every record)."""
        now, before = time.monotonic(), len(self._batch.records)
        self._drain(now)
        self._store_closed(self._agg.close_due(now))
        closed = self._batch.records[before:]
        if not closed or self._on_closed is None:
            return
        try:
            self._on_closed([store.with_id(record, rid) for rid, record, _ in closed])
        except Exception:  # the publisher's bug must not stop storage; the outbox has them
            log.exception("on_closed callback failed; the records go out after their commit")

    # --- opening: a damaged file is set aside and replaced, a full disk is waited out ---------

    def _open(self) -> bool:
        """Open the database; True when it is usable. A damaged file is moved aside, salvaged
        and replaced; any other failure (full disk, I/O error, a newer schema) leaves the Writer
        without a database, retrying at each commit, while records still go out live."""
        try:
            db = recovery.open_checked(self.path)
        except (store.StoreError, sqlite3.Error, salvage.Damaged, OSError) as exc:
            if not salvage.is_damage(exc):
                self._no_database(exc)
                return False
            try:
                db = self._replace_damaged(exc)
            except (store.StoreError, sqlite3.Error, OSError) as again:
                self._no_database(again)
                return False
        if self._failures:
            log.info("database %s usable again", self.path)
        self._adopt(db)
        return True

    def _adopt(self, db: Database) -> None:
        loaded = store.Ids.load(db)
        # a retried batch keeps its ids: never go back below what was handed out already
        self._ids = store.Ids(
            loaded.devices,
            max(loaded.next_seq, self._ids.next_seq),
            max(loaded.next_record_id, self._ids.next_record_id),
        )
        self._db = db

    def _stand_in(self) -> Database:
        if self._empty is None:
            log.warning("no usable database: readers see an empty store until it is back")
            self._empty = Database(
                sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            )
            store.migrate(self._empty)
            self._empty.execute("PRAGMA query_only = 1")
        return self._empty

    def _no_database(self, exc: BaseException) -> None:
        if self._failures == 0:
            log.error(
                "database %s unusable, records go out live only until it is: %s", self.path, exc
            )
        if self._db is None and self._ids.next_record_id == 1:
            self._ids = recovery.floor_ids(self.path, store.SEQ_RANGE)

    def _replace_damaged(self, exc: BaseException) -> Database:
        """Swap a salvaged copy in for the damaged file (`recovery.replace_damaged`)."""
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):  # a damaged file may fail to close
                self._db.close()
            self._db = None
        self.recovered = recovery.replace_damaged(self.path, exc)
        self._count("recoveries")
        return store.open_db(self.path)

    # --- committing ---------------------------------------------------------------------------

    def _commit(self, final: bool = False, force: bool = False) -> bool:
        self._close_windows()  # records closing now go out live even if this commit fails
        now = time.monotonic()
        with self._lock:
            self._states.take(self._batch.states, now, final)
            self._batch.acks.update(self._acks)
            self._batch.rows.extend(self._rows)
            self._acks, self._rows = set(), []
        rest = _split_acks(self._batch)
        if self._batch.empty():
            return True
        if not (final or force) and now < self._retry_at:
            self._batch.acks.update(rest)
            self._count("dropped", self._batch.bound(self._max_queue))
            return False  # backing off: the disk is still full, most likely
        if not self.keep_raw_samples:  # before the write: a failed one keeps them dropped
            self._count("samples_covered", self._batch.drop_covered())
        if self._db is None and not self._open():
            self._batch.acks.update(rest)
            return self._failed(now, "no usable database")
        try:
            acked = self._write()
        except sqlite3.Error as exc:
            self._batch.acks.update(rest)
            return self._failed(now, exc)
        if self._failures:
            log.info("commits succeed again after %d failed", self._failures)
        self._failures, self._retry_at = 0, 0.0
        self._count("quarantined", self._quarantine.keep())
        done, self._batch = self._batch, store.Batch()
        self._states.written(done.states.values(), now)
        self._account(done, acked)
        if rest:  # deleted now, in transactions of their own
            with self._lock:
                self._acks.update(rest)
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
        ready: list[int] = []
        with self._lock:
            self._acks_woken = False
            if self._db is not None and not self._failures:
                ready = sorted(i for i in self._acks if floor is None or i < floor)
                self._acks.difference_update(ready)
        deleted = 0
        for start in range(0, len(ready), ACK_CHUNK):
            chunk = set(ready[start : start + ACK_CHUNK])
            try:
                deleted += store.write(self._db, store.Batch(acks=chunk), self._ids)
            except sqlite3.Error as exc:  # the next commit retries them, with its backoff
                log.warning("deleting %d acknowledged outbox rows failed: %s", len(chunk), exc)
                with self._lock:  # not `ack`: that would wake this again at once
                    self._acks.update(ready[start:])
                break
        self._count("acked", deleted)
        if deleted:
            self._free_memory()

    def _write(self) -> int:
        """`store.write` the batch; a damaged database is replaced and the batch written once
        more into the fresh one (the batch is still whole: the failed transaction rolled back)."""
        assert self._db is not None
        try:
            return store.write(self._db, self._batch, self._ids, self._quarantine)
        except sqlite3.Error as exc:
            self._quarantine.forget()
            if not salvage.is_damage(exc):
                raise
            try:
                fresh = self._replace_damaged(exc)
            except (store.StoreError, OSError) as again:
                raise sqlite3.OperationalError(f"damaged database not replaced: {again}") from exc
            self._adopt(fresh)
            return store.write(fresh, self._batch, self._ids, self._quarantine)

    def _failed(self, now: float, exc: BaseException | str) -> bool:
        self._quarantine.forget()
        self._failures += 1
        self._retry_at = now + min(RETRY_MAX, self.commit_interval * 2.0 ** min(self._failures, 20))
        self._count("commit_failures")
        self._count("dropped", self._batch.bound(self._max_queue))
        log_at = logging.ERROR if self._failures == 1 else logging.DEBUG  # once each way
        log.log(
            log_at,
            "commit failed, keeping %d samples / %d records for the next try: %s",
            self._batch.sample_count,
            len(self._batch.records),
            exc,
        )
        return False

    def _free_memory(self) -> None:
        if self._release_memory is not None:
            self._release_memory()

    def _account(self, done: store.Batch, acked: int) -> None:
        with self._lock:
            self._stats["commits"] += 1
            self._stats["samples_written"] += done.sample_count
            self._stats["records_created"] += len(done.records)
            self._stats["acked"] += acked

    def _publish(self, done: store.Batch) -> None:
        if not done.records or self._on_records is None:
            return
        records = [store.with_id(record, rid) for rid, record, _ in done.records]
        try:
            self._on_records(records)
        except Exception:  # the publisher's bug must not stop storage; the outbox has them
            log.exception("on_records callback failed; records stay in the outbox")


def _split_acks(batch: store.Batch) -> list[int]:
    """Keep the `ACK_CHUNK` oldest acks in `batch` (one transaction); return the others."""
    if len(batch.acks) <= ACK_CHUNK:
        return []
    ordered = sorted(batch.acks)
    batch.acks = set(ordered[:ACK_CHUNK])
    return ordered[ACK_CHUNK:]
