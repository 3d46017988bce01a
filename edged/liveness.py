"""Whether a device's data is live: ok, stale, or offline, from the time of its last good read.

Pure and monotonic-clock based (the wall clock may jump at NTP sync; liveness must not).
"""

from __future__ import annotations

from edged.readings import Liveness


def state(
    last_good: float | None, now: float, stale_after: float, offline_after: float
) -> Liveness:
    """`last_good` and `now` are monotonic seconds; None means never read since start."""
    if last_good is None:
        return Liveness.OFFLINE
    age = now - last_good
    if age >= offline_after:
        return Liveness.OFFLINE
    if age >= stale_after:
        return Liveness.STALE
    return Liveness.OK


class Backoff:
    """Capped exponential delays for reopening a port: 0.5, 1, 2, 4, cap..."""

    def __init__(self, first: float = 0.5, cap: float = 5.0) -> None:
        self.first, self.cap = first, cap
        self._next = first

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.cap)
        return delay

    def reset(self) -> None:
        self._next = self.first
