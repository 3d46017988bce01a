"""What runners and services hand the Writer between two commits: samples, device states, rows.

Runners call `put` from their own threads once a second each, and must never wait on the SD
card: the sample queue is bounded and a full one drops the sample, counts it and logs once per
burst (a Writer stuck on a failing card must not hold every device's read loop). Device states
wait in a `StatePacer` (only the newest per device, written when it matters) and small rows in
order, until the Writer's thread takes them into its batch (`take`) and folds the queued
samples into their windows (`drain`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable

from edged.readings import DeviceState, Sample
from telemetry import samples, store
from telemetry.rows import DeviceStateRow, Row
from telemetry.state_pacing import StatePacer

log = logging.getLogger(__name__)

Count = Callable[[str, int], None]
"""Adds to one of the Writer's counters (`Writer.stats`)."""


class Intake:
    """The queued samples, waiting device states and rows; safe to call from any thread."""

    def __init__(self, max_queue: int, state_refresh: float, count: Count) -> None:
        self.max_queue = max_queue
        self._count = count
        self._samples: queue.Queue[Sample] = queue.Queue(maxsize=max_queue)
        self._lock = threading.Lock()  # guards _states, _rows, _dropping
        self._states = StatePacer(state_refresh)
        self._rows: list[tuple[str, tuple]] = []
        self._dropping = False

    @property
    def queued(self) -> int:
        """Samples put and not drained yet."""
        return self._samples.qsize()

    def put(self, sample: Sample) -> None:
        """Queue a sample; never blocks. A full queue drops it (counted, logged once per burst)."""
        try:
            self._samples.put_nowait(sample)
        except queue.Full:
            self._count("dropped", 1)
            with self._lock:
                first = not self._dropping
                self._dropping = True
            if first:
                log.warning("writer queue full (%d samples): dropping samples", self.max_queue)
        else:
            if self._dropping:
                with self._lock:
                    self._dropping = False

    def put_state(self, device: str, state: DeviceState) -> None:
        """The device's newest state, for the commit `StatePacer` decides."""
        with self._lock:
            self._states.put(DeviceStateRow(device, state, time.time()))

    def put_row(self, row: Row) -> None:
        """A small row for the next commit, after those put before it."""
        if row.KIND not in store.ROW_SQL:
            raise ValueError(f"unknown row kind {row.KIND!r}")
        with self._lock:
            self._rows.append((row.KIND, row.params()))

    def take(self, batch: store.Batch, now: float, final: bool) -> None:
        """Move the states due at monotonic `now` (all of them when `final`) and every waiting
        row into `batch`, the commit about to be written."""
        with self._lock:
            self._states.take(batch.states, now, final)
            batch.rows.extend(self._rows)
            self._rows = []

    def states_written(self, rows: Iterable[DeviceStateRow], now: float) -> None:
        """The commit holding these states succeeded at monotonic `now` (their pace restarts)."""
        self._states.written(rows, now)

    def drain(self) -> dict[str, list[Sample]]:
        """Take every queued sample, as stored (`samples.storable`: ts to the ms), grouped by
        device in arrival order; a sample that cannot be stored is dropped, counted, logged."""
        by_device: dict[str, list[Sample]] = {}
        while True:
            try:
                sample = self._samples.get_nowait()
            except queue.Empty:
                return by_device
            stored = samples.storable(sample)
            if stored is None:
                self._count("rejected", 1)
                log.warning("sample of %r not storable, dropped: %r", sample.device, sample)
                continue
            by_device.setdefault(stored.device, []).append(stored)
