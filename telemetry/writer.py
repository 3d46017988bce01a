"""The Writer: the daemon's writer of telemetry, in one batch per cadence.

Other writes are few and short, each in its own transaction: the hourly roll-up and its pruning
(`edged.services.rollups`) and the commands `edged alarms ack` and `edged maintenance log`.

Runners `put` samples into a bounded queue (never blocking: a full queue drops and counts), the
publisher `ack`s record ids; every `commit_interval` seconds the Writer drains all of it into ONE
transaction (one sample block per device, closed windows as records + outbox rows, changed
device states, outbox deletions), then hands the new records to `on_records`. Batching is what
keeps the SD card alive: the bytes written per sample are dominated by the pages rewritten per
commit, about five 1 KiB pages whatever the cadence (see bench/bench_store.py for the figures).
A device state whose `state` and `info` did not change is written at most every
`state_refresh` seconds (the runner refreshes it every minute only to update counters).

Loss window: with `synchronous = FULL` a commit is on the card when it returns, so a power cut
or SIGKILL loses at most the samples read since the last commit (<= commit_interval seconds).
Open windows are not lost: at start the Writer replays the stored samples that no record covers
yet (seq > the device's newest `records.last_seq`). Samples are folded into windows as they are
stored (`samples.storable`: ts to the ms), so a replayed window equals the live one. A failing
commit (disk full, I/O error) keeps the batch in memory, bounded by `max_queue` samples, and
retries at the next cadence.

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

import sqlite_utils

from edged.readings import Record, Sample
from telemetry import samples, store
from telemetry.windows import ClosedWindow, WindowAggregator

log = logging.getLogger(__name__)

T = TypeVar("T")
_STOP = object()
STATE_REFRESH = 300.0
"""Seconds between writes of an unchanged device state (counters, last_seen) per device."""
CLOSE_EVERY = 1.0
"""Seconds between folds of the queued samples into their windows (in memory, no write): a
window's record is handed to `on_closed` about a second after it ends, not at the next commit."""


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
    ) -> None:
        super().__init__(name="edged-writer", daemon=True)
        self.path = Path(path)
        self.commit_interval = commit_interval
        self.state_refresh = state_refresh
        self._on_records = on_records
        self._on_closed = on_closed
        self._max_queue = max_queue
        self._queue: queue.Queue[Sample] = queue.Queue(maxsize=max_queue)
        self._calls: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()  # guards _states, _acks, _rows, _stats, _dropping
        self._states: dict[str, dict] = {}
        self._written: dict[str, tuple[tuple, float]] = {}  # device -> (state key, monotonic)
        self._acks: set[int] = set()
        self._rows: list[tuple[str, tuple]] = []
        self._dropping = False
        self._stats = dict.fromkeys(
            ("samples_written", "records_created", "commits", "dropped", "acked",
             "commit_failures", "rejected", "pruned"), 0,
        )  # fmt: skip
        self._agg = WindowAggregator(publish_interval, grace)
        self._db = store.open_db(self.path)  # fails here, in the caller, when the store is unusable
        self._ids = store.Ids.load(self._db)
        self._batch = store.Batch()
        self._finished = False
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

    def put_state(self, device: str, state: dict) -> None:
        """Upsert `device_state` (keys: state, last_seen, info, counters): at the next commit
        when `state` or `info` changed, else at most every `state_refresh` s; the newest at stop.
        """
        with self._lock:
            self._states[device] = {**state, "changed": time.time()}

    def put_row(self, kind: str, params: tuple) -> None:
        """Write a small row (`store.ROW_SQL[kind]`: health, alarm change, kv) at the next
        commit, in order; no commit of its own (the SD card pays per commit, not per row)."""
        if kind not in store.ROW_SQL:
            raise ValueError(f"unknown row kind {kind!r}")
        with self._lock:
            self._rows.append((kind, params))

    def ack(self, ids: list[int]) -> None:
        """Delete these outbox rows at the next commit (the broker acknowledged them)."""
        with self._lock:
            self._acks.update(ids)

    def flush(self, timeout: float = 30.0) -> bool:
        """Commit now and wait. True when nothing is left pending (False: the commit failed).

        Like any commit it holds back unchanged device states (see `put_state`); `stop` does not.
        """
        return self.call(lambda _db: self._commit(), timeout)

    def call(self, fn: Callable[[sqlite_utils.Database], T], timeout: float = 30.0) -> T:
        """Run `fn(db)` on the writer thread between commits (maintenance jobs, tests)."""
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
        pruned = self.call(
            lambda db: store.prune(db, now - max_age, records_before, health_before=health_before),
            600.0,
        )
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

    # --- the writer thread --------------------------------------------------------------------

    def set_commit_interval(self, seconds: float) -> None:
        """Change the cadence now (faster while the battery is low, see telemetry.cadence)."""
        self.commit_interval = seconds
        self._calls.put((lambda _db: None, Future()))  # wake the loop so it re-plans

    def run(self) -> None:
        last_commit = last_close = time.monotonic()
        try:
            while True:
                next_commit = last_commit + self.commit_interval
                wake = min(next_commit, last_close + CLOSE_EVERY)
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
                        future.set_result(fn(self._db))
                    except BaseException as exc:  # handed to the caller, not swallowed
                        future.set_exception(exc)
        finally:
            self._finish()

    def _finish(self) -> None:
        try:
            self._commit(final=True)
        finally:
            self._finished = True
            self._db.close()

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._stats[key] += n

    def _replay(self) -> None:
        """Refold stored samples no record covers yet: the windows open when we last stopped."""
        now = time.monotonic()
        covered = store.covered_seqs(self._db)
        for device in self._ids.devices:
            for seq, sample in store.read_samples(
                self._db, device=device, after_seq=covered.get(device, 0)
            ):
                self._store_closed(self._agg.add(sample, seq, now))
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
            block = samples.Block(device, self._ids.next_seq, group)
            self._ids.next_seq += len(group)
            self._batch.blocks.append(block)
            for seq, sample in enumerate(group, block.first_seq):
                self._store_closed(self._agg.add(sample, seq, now))

    def _close_windows(self) -> None:
        """Fold the queued samples into the batch; hand the records of windows that closed to
        `on_closed` now, before their commit (they are committed, with their outbox rows
        unless already acknowledged, at the next commit, like every record)."""
        now, before = time.monotonic(), len(self._batch.records)
        self._drain(now)
        self._store_closed(self._agg.close_idle(now))
        closed = self._batch.records[before:]
        if not closed or self._on_closed is None:
            return
        try:
            self._on_closed([store.with_id(record, rid) for rid, record, _ in closed])
        except Exception:  # the publisher's bug must not stop storage; the outbox has them
            log.exception("on_closed callback failed; the records go out after their commit")

    def _take_states(self, now: float, final: bool) -> None:
        """Move the device states due for writing into the batch (caller holds the lock)."""
        for device, state in list(self._states.items()):
            written = self._written.get(device)
            if (
                final
                or written is None
                or written[0] != _state_key(state)
                or now - written[1] >= self.state_refresh
                or device in self._batch.states  # a failed commit's older state: take the newer
            ):
                self._batch.states[device] = self._states.pop(device)

    def _commit(self, final: bool = False) -> bool:
        now = time.monotonic()
        self._drain(now)
        self._store_closed(self._agg.close_idle(now))
        with self._lock:
            self._take_states(now, final)
            self._batch.acks.update(self._acks)
            self._batch.rows.extend(self._rows)
            self._acks, self._rows = set(), []
        if self._batch.empty():
            return True
        try:
            acked = store.write(self._db, self._batch, self._ids)
        except sqlite3.Error as exc:
            self._count("commit_failures")
            self._count("dropped", self._batch.bound(self._max_queue))
            log.error(
                "commit failed, keeping %d samples / %d records for the next try: %s",
                self._batch.sample_count, len(self._batch.records), exc,
            )  # fmt: skip
            return False
        done, self._batch = self._batch, store.Batch()
        self._written.update((d, (_state_key(s), now)) for d, s in done.states.items())
        self._account(done, acked)
        self._publish(done)
        return True

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


def _state_key(state: dict) -> tuple:
    """What makes a device state worth writing at once: its value and the device's identity."""
    return state.get("state"), state.get("info")
