"""A request/response device on a pseudo-terminal: the base of every BMS emulator.

A protocol's emulator gives the exact request bytes it understands (built with its own codec's
`build_request`, so byte-for-byte what the driver sends) and a function that answers one of them.
This class owns the pty, the thread and the fault modes tests need: `ok`, `malformed` (one byte
of each answer flipped), `partial` (the first half of each answer), `silent` (no answer),
`noisy` (line garbage before each answer), `echo` (the request sent back before each answer,
as a 2-wire RS485 adapter that hears its own transmission). Being built on the codec's tables it
cannot prove them right; the captured frames in tests/captures are the authority.

`path` is a link in a private directory, removed at stop, never the `/dev/pts/N` name: the kernel
gives a freed pty number to the next pty opened, so a driver reopening a stopped emulator's
`/dev/pts/N` would become a second reader of another emulator's port and steal its answers. The
thread owns the pty and closes it only when it ends, so it never reads a recycled descriptor.
"""

from __future__ import annotations

import os
import select
import shutil
import tempfile
import threading
import tty
from collections.abc import Callable, Mapping

FAULTS = ("ok", "malformed", "partial", "silent", "noisy", "echo")
NOISE = b"\x00\xff\x13garbage\x11"


class PtyEmulator:
    """Answers known requests on a pty until stopped; `path` is the port to give a driver."""

    def __init__(self, requests: Mapping[bytes, object], answer: Callable[[object], bytes]):
        self._requests = dict(requests)
        self._answer = answer
        self._fault = "ok"
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._master = self._slave = -1
        self._dir = ""
        self.path = ""
        self.requests_seen = 0

    def start(self) -> PtyEmulator:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self._dir = tempfile.mkdtemp(prefix="bms-emulator-")
        self.path = os.path.join(self._dir, "tty")
        os.symlink(os.ttyname(self._slave), self.path)
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(self._master, self._slave), name="pty-bms-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering and close the pty: to a driver this is the cable being pulled."""
        if self.path:
            shutil.rmtree(self._dir, ignore_errors=True)  # first: nothing may reopen it
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)  # the thread closes the pty as it ends
            self._thread = None
        self._master = self._slave = -1

    def set_fault(self, mode: str) -> None:
        if mode not in FAULTS:
            raise ValueError(f"fault mode {mode!r} not in {FAULTS}")
        with self._lock:
            self._fault = mode

    def __enter__(self) -> PtyEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, master: int, slave: int) -> None:
        pending = bytearray()
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([master], [], [], 0.02)
                if not ready:
                    continue
                try:
                    pending += os.read(master, 4096)
                except OSError:
                    return
                self._serve(master, pending)
        finally:
            os.close(master)
            os.close(slave)

    def _serve(self, master: int, pending: bytearray) -> None:
        """Answer every complete known request in `pending`, dropping bytes before it."""
        while pending:
            hits = [(pending.find(req), req) for req in self._requests]
            hits = [(at, req) for at, req in hits if at >= 0]
            if not hits:
                longest = max(len(r) for r in self._requests)
                del pending[: max(0, len(pending) - longest)]
                return
            at, req = min(hits)
            del pending[: at + len(req)]
            self.requests_seen += 1
            self._send(master, req, self._answer(self._requests[req]))

    def _send(self, master: int, request: bytes, answer: bytes) -> None:
        with self._lock:
            fault = self._fault
        if fault == "silent" or not answer:
            return
        if fault == "malformed":
            mid = len(answer) // 2
            answer = answer[:mid] + bytes([answer[mid] ^ 0x01]) + answer[mid + 1 :]
        elif fault == "partial":
            answer = answer[: len(answer) // 2]
        elif fault == "noisy":
            answer = NOISE + answer
        elif fault == "echo":
            answer = request + answer
        os.write(master, answer)
