"""Stop requests from signals, noted without a lock.

A Python signal handler runs in the main thread between two bytecodes, possibly while that
thread is inside `Event.wait()` and holds the event's own lock: a handler that calls
`Event.set()` then waits for that lock forever, and the process never stops (SIGTERM from
systemd ends in SIGKILL, the final commit lost). The handler here only notes the signal; the
main thread's own loop, which wakes every `POLL` seconds, turns the note into the stop.
"""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType

POLL = 1.0
"""How often `wait` looks at the note: the longest a signal waits to be acted on. A second,
because every wake-up costs a solar site's CPU (a 0.2 s step cost 0.07 % of a core, a quarter of
the whole daemon's); a stop has 90 s under systemd, and the main loop wakes every second anyway."""


class StopSignals:
    """The first stop signal received, if any; `install` from the main thread only."""

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._installed: set[signal.Signals] = set()

    def install(self, *signals: signal.Signals) -> StopSignals:
        for sig in signals:
            signal.signal(sig, self._note)
            self._installed.add(sig)
        return self

    def block(self) -> None:
        """Once stopped: later stop signals stay pending. The interpreter's exit puts the
        default action back, which would end an orderly stop as killed by the signal."""
        signal.pthread_sigmask(signal.SIG_BLOCK, self._installed)

    def _note(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is None:  # a plain store: no lock, no allocation worth naming
            self.received = signal.Signals(signum)

    def wait(self, timeout: float | None = None, event: threading.Event | None = None) -> bool:
        """True once a signal was noted or `event` is set; False after `timeout` seconds.

        Sleeps in steps of at most `POLL`: the note cannot wake a sleeper, so it is looked at
        between steps."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.received is None:
            step = POLL if deadline is None else min(POLL, deadline - time.monotonic())
            if step <= 0:
                return False
            if event is not None:
                if event.wait(step):
                    return True
            else:
                time.sleep(step)
        return True
