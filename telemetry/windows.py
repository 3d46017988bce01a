"""Per-device publish windows: folds samples into one `Record` per device per window.

Pure: no SQLite, no threads, no clock reads. The Writer owns one aggregator, feeds it every
sample (with the sequence number the sample gets in the `samples` table) and stores what it
closes. A window is `[floor(ts / interval) * interval, + interval)` in wall-clock time; a sample
of a later window closes the open one (a forward clock jump just closes it). `close_due` closes
a window `settle` after its end (a record is live for only one interval after its window ends,
so it must not wait for the device's next sample): that moment is set on the *monotonic* clock
when the window opens, from how far its first sample's `ts` lies before the window's end, so a
wall-clock jump changes nothing. It also closes windows that saw no sample for
`interval + grace` (monotonic: a device gone silent).

One `(device, ts)`, one record: a window that closed never opens again. Each device has a
frontier, the start of its newest window (open or closed, and the newest stored record's at
start, see `resume`). A sample whose window is not after the frontier (the wall clock stepped
back) is folded into the open window while that window is younger than one interval on the
monotonic clock, else into a new window one interval after the frontier. So a small backward
jump loses nothing and a large one makes windows of one interval each, labelled after the
frontier, until the wall clock catches up; such records are marked unsynced (`clock_synced`
false), since their `ts` is not their samples' time.

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
    first_mono: float
    due_mono: float
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
        # Samples are stamped by the runner a moment before the Writer folds them: a window
        # closes that long after its end, so the samples stamped inside it are in it.
        self.settle = min(1.0, publish_interval / 4)
        self._open: dict[str, _Window] = {}
        self._frontier: dict[str, float] = {}  # device -> start of its newest window
        self._settled: dict[str, float] = {}  # device -> start of the window `close_due` closed

    def window_start(self, ts: float) -> float:
        start = math.floor(ts / self.interval) * self.interval
        return float(start)

    def resume(self, device: str, last_start: float) -> None:
        """Windows up to `last_start` (`device`'s newest stored record) are never reopened."""
        self._frontier[device] = max(last_start, self._frontier.get(device, last_start))

    def frontier(self, device: str) -> float | None:
        """The start of `device`'s newest window, open or closed (None: none seen)."""
        return self._frontier.get(device)

    def add(self, sample: Sample, seq: int, now_mono: float) -> list[ClosedWindow]:
        """Fold `sample` (stored as `seq`, seen at monotonic time `now_mono`) into its window."""
        device, start = sample.device, self.window_start(sample.ts)
        closed: list[ClosedWindow] = []
        window = self._open.get(device)
        frontier = self._frontier.get(device)
        stepped_back = frontier is not None and start <= frontier
        if window is not None and start == window.start:
            pass
        elif window is None and start == self._settled.get(device):
            # Stamped just before its window's end, folded just after it closed: not a clock
            # step, so the next window takes it and stays synced.
            window = self._open_window(device, frontier + self.interval, sample, seq, now_mono)
        elif stepped_back and window is not None and now_mono - window.first_mono < self.interval:
            window.synced = False  # the wall clock stepped back: this sample's ts is not its time
        else:
            if window is not None:
                closed.append(self._open.pop(device).close(device))
            if stepped_back:
                start = frontier + self.interval
            window = self._open_window(device, start, sample, seq, now_mono)
            window.synced = not stepped_back
        window.fold(sample, seq, now_mono)
        return closed

    def _open_window(
        self, device: str, start: float, sample: Sample, seq: int, now_mono: float
    ) -> _Window:
        """A new window from `start`, due to close `settle` after its end (monotonic)."""
        to_end = min(self.interval, max(0.0, start + self.interval - sample.ts))
        window = _Window(start, seq, now_mono, now_mono, now_mono + to_end + self.settle)
        self._open[device] = window
        self._frontier[device] = start
        return window

    def drop_open(self, device: str) -> ClosedWindow | None:
        """Forget `device`'s open window without a record (its start stays the frontier)."""
        window = self._open.pop(device, None)
        return None if window is None else window.close(device)

    def close_due(self, now_mono: float) -> list[ClosedWindow]:
        """Close windows that ended `settle` ago, and those whose device sent nothing for
        `interval + grace` seconds (both on the monotonic clock)."""
        limit = self.interval + self.grace
        due = [
            d
            for d, w in self._open.items()
            if now_mono >= w.due_mono or now_mono - w.last_mono >= limit
        ]
        self._settled.update((d, self._open[d].start) for d in due)
        return [self._open.pop(device).close(device) for device in due]

    def flush_all(self) -> list[ClosedWindow]:
        """Close every open window (the windows are partial: only for a final shutdown)."""
        closed = [window.close(device) for device, window in self._open.items()]
        self._open.clear()
        return closed

    @property
    def open_devices(self) -> list[str]:
        return list(self._open)

    def open_start(self, device: str) -> float | None:
        window = self._open.get(device)
        return None if window is None else window.start
