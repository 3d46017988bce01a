"""Per-device publish windows: folds samples into one `Record` per device per window.

Pure: no SQLite, no threads, no clock reads. The Writer owns one aggregator, feeds it every
sample (with the sequence number the sample gets in the `samples` table) and stores what it
closes. A window is `[floor(ts / interval) * interval, + interval)` in wall-clock time; a sample
falling in another window than the open one closes the open one, so a clock jump (backwards or
forwards) just closes it. A device that goes silent would keep its window open forever, so
`close_idle` closes windows that saw no sample for `interval + grace` on the *monotonic* clock
(wall time may jump; the monotonic clock does not).

Follows docs/architecture.md ("Writer": window aggregation) and the catalogue's `aggregate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

from edged.metrics import aggregate
from edged.readings import MetricValue, Record, Sample


class ClosedWindow(NamedTuple):
    """A closed window: the record to store and the newest sample seq folded into it.

    `last_seq` goes to `records.last_seq`; a restart replays samples after it (see Writer).
    """

    record: Record
    last_seq: int


@dataclass(slots=True)
class _Window:
    start: float
    last_seq: int
    last_mono: float
    count: int = 0
    synced: bool = True
    values: dict[str, list[MetricValue]] = field(default_factory=dict)

    def fold(self, sample: Sample, seq: int, mono: float) -> None:
        self.count += 1
        self.synced = self.synced and sample.clock_synced
        self.last_seq = max(self.last_seq, seq)
        self.last_mono = mono
        for name, value in sample.metrics.items():
            self.values.setdefault(name, []).append(value)

    def close(self, device: str) -> ClosedWindow:
        metrics = {name: aggregate(name, vals) for name, vals in self.values.items()}
        record = Record(device, self.start, self.synced, self.count, metrics)
        return ClosedWindow(record, self.last_seq)


class WindowAggregator:
    """Open windows of every device; returns the windows each call closes, oldest first."""

    def __init__(self, publish_interval: float, grace: float | None = None) -> None:
        if publish_interval <= 0:
            raise ValueError(f"publish_interval must be > 0, got {publish_interval!r}")
        self.interval = publish_interval
        # Default grace: a device polled slower than it publishes still gets a chance to report.
        self.grace = publish_interval / 2 if grace is None else grace
        self._open: dict[str, _Window] = {}

    def window_start(self, ts: float) -> float:
        start = math.floor(ts / self.interval) * self.interval
        return float(start)

    def add(self, sample: Sample, seq: int, now_mono: float) -> list[ClosedWindow]:
        """Fold `sample` (stored as `seq`, seen at monotonic time `now_mono`) into its window."""
        start = self.window_start(sample.ts)
        closed: list[ClosedWindow] = []
        window = self._open.get(sample.device)
        if window is not None and window.start != start:
            closed.append(window.close(sample.device))
            window = None
        if window is None:
            window = self._open[sample.device] = _Window(start, seq, now_mono)
        window.fold(sample, seq, now_mono)
        return closed

    def close_idle(self, now_mono: float) -> list[ClosedWindow]:
        """Close windows whose device sent nothing for `interval + grace` seconds (monotonic)."""
        limit = self.interval + self.grace
        idle = [d for d, w in self._open.items() if now_mono - w.last_mono >= limit]
        return [self._open.pop(device).close(device) for device in idle]

    def flush_all(self) -> list[ClosedWindow]:
        """Close every open window (the windows are partial: only for a final shutdown)."""
        closed = [window.close(device) for device, window in self._open.items()]
        self._open.clear()
        return closed

    @property
    def open_devices(self) -> list[str]:
        return list(self._open)
