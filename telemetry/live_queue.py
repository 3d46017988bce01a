"""Live means live: the records waiting for a slot on `P/telemetry`, and the test of freshness.

A record goes live only if its window ended less than one publish interval ago by the wall
clock AND it closed less than one interval ago by the monotonic clock (`is_live`); it is
checked when queued and again when handed out, so a record that waited behind a slow broker
goes out as history (with the stale records of its device behind it) instead of posing as now.
No I/O; the clocks are passed in, so tests use their own.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from edged.readings import Record

LIVE_QUEUE_MAX = 1000
"""Live records waiting for a free in-flight slot; beyond that they wait in the outbox."""


def is_live(
    ts: float, interval: float, closed_mono: float, now_wall: float, now_mono: float
) -> bool:
    """Whether a record of the window starting at `ts`, closed at monotonic `closed_mono`,
    may still go on the live topic: its window ended less than one `interval` ago by the wall
    clock, and it closed less than one `interval` ago by the monotonic clock. The wall clock
    alone would pass an old record after a backward jump, the monotonic clock alone a record
    whose `ts` reads old after a forward jump: both must agree."""
    return now_wall - (ts + interval) < interval and now_mono - closed_mono < interval


class LiveQueue:
    """Records queued live, with the monotonic time each window closed."""

    def __init__(
        self, interval: float, wall: Callable[[], float], mono: Callable[[], float]
    ) -> None:
        self._interval = interval
        self._wall, self._mono = wall, mono
        self._queue: deque[tuple[Record, float]] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def fresh(self, record: Record, closed_mono: float) -> bool:
        return is_live(record.ts, self._interval, closed_mono, self._wall(), self._mono())

    def offer(self, record: Record, closed_mono: float) -> bool:
        """Queue `record` if there is room and it is still fresh; whether it was queued."""
        if len(self._queue) >= LIVE_QUEUE_MAX or not self.fresh(record, closed_mono):
            return False
        self._queue.append((record, closed_mono))
        return True

    def take(self, batch: int) -> tuple[bool, tuple[Record, ...]]:
        """The next record, live (True, (record,)); or, if it waited too long, it and up to
        `batch` - 1 stale records of the same device behind it, as history (False, records)."""
        record, closed_mono = self._queue.popleft()
        if self.fresh(record, closed_mono):
            return True, (record,)
        late = [record]
        while self._queue and len(late) < batch:
            following, closed = self._queue[0]
            if following.device != record.device or self.fresh(following, closed):
                break
            late.append(self._queue.popleft()[0])
        return False, tuple(late)

    def clear(self) -> None:
        self._queue.clear()
