"""A serial device on a pseudo-terminal that replays recorded bytes, for known-value tests.

Like a real port: `unplug()` closes the master and removes the link (the reader gets EIO),
`replug()` creates a new pty behind the same link.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path


class ReplayPty:
    def __init__(self, link: Path, chunks: list[bytes], period: float = 0.2) -> None:
        self.link, self.chunks, self.period = link, chunks, period
        self.master: int | None = None
        self.sent = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.replug()
        self._thread.start()

    def replug(self) -> None:
        import tty

        master, slave = os.openpty()
        tty.setraw(slave)
        name = os.ttyname(slave)
        os.close(slave)  # the reader opens it by name, like a real device node
        os.set_blocking(master, False)  # nobody reading must not block the writer thread
        with self._lock:
            self.master = master
        tmp = self.link.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(name)
        tmp.replace(self.link)

    def unplug(self) -> None:
        with self._lock:
            master, self.master = self.master, None
        self.link.unlink(missing_ok=True)
        if master is not None:
            os.close(master)

    def _run(self) -> None:
        i = 0
        while not self._stop.wait(self.period):
            with self._lock:
                if self.master is None:
                    continue
                try:
                    os.write(self.master, self.chunks[i % len(self.chunks)])
                    self.sent += 1
                except OSError:
                    continue
            i += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.unplug()


def wait_until(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
