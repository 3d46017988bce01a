"""A bounded log of one source's transitions (a device lost and back, the broker link up and down).

Each transition is logged once, as it happens, which is right for a cable pulled out once a week
and wrong for one that flaps every second: the journal lives on the SD card, and two lines a
second are 170,000 lines a day. So a source logs at most `burst` transitions per `window`
seconds; the next ones are only counted, and when the window ends one line says how many were
not logged and what the last one was. Bounded: at most `burst` + 2 lines per window per source.

Thread-safe (paho calls its callbacks on its own thread). No I/O but the logger.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

BURST = 4
WINDOW = 600.0


class EventLog:
    def __init__(
        self,
        logger: logging.Logger,
        source: str,
        *,
        burst: int = BURST,
        window: float = WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger, self.source, self.burst, self.window = logger, source, burst, window
        self._clock = clock
        self._lock = threading.Lock()
        self._start: float | None = None
        self._logged = 0
        self._muted = 0
        self._last: tuple[int, str, tuple] | None = None
        self.events = 0
        """Every transition since start, logged or not (for counters)."""
        self.muted = 0
        """Transitions counted but not logged since start."""

    def log(self, level: int, msg: str, *args: object) -> None:
        """Log one transition, or count it when this source has logged `burst` this window."""
        with self._lock:
            now = self._clock()
            self._roll(now)
            if self._start is None:
                self._start = now
            self.events += 1
            if self._logged < self.burst:
                self._logged += 1
                self.logger.log(level, msg, *args)
                if self._logged == self.burst:
                    self.logger.warning(
                        "%s is flapping (%d transitions within %.0f s): the next ones are only"
                        " counted, one line sums them up when the %.0f s are over",
                        self.source,
                        self.burst,
                        self.window,
                        self.window,
                    )
            else:
                self._muted += 1
                self.muted += 1
                self._last = (level, msg, args)

    def tick(self) -> None:
        """Called by the owner's loop: ends a window that is over (its summary line, if any)."""
        with self._lock:
            self._roll(self._clock())

    def _roll(self, now: float) -> None:
        if self._start is not None and now - self._start < self.window:
            return
        if self._muted and self._last is not None:
            level, msg, args = self._last
            self.logger.log(
                max(level, logging.WARNING),
                "%s: %d transitions not logged in the last %.0f s; the last one: " + msg,
                self.source,
                self._muted,
                now - (self._start or now),
                *args,
            )
        self._start = None  # the next window starts at its first transition
        self._logged = self._muted = 0
        self._last = None
