"""A request/response device on a pseudo-terminal: the base of every BMS emulator.

A protocol's emulator gives the exact request bytes it understands (built with its own codec's
`build_request`, so byte-for-byte what the driver sends) and a function that answers one of them.
This class owns the pty, the thread and the fault modes tests need: `ok`, `malformed` (one byte
of each answer flipped), `partial` (the first half of each answer), `silent` (no answer),
`noisy` (line garbage before each answer), `echo` (the request sent back before each answer,
as a 2-wire RS485 adapter that hears its own transmission). Being built on the codec's tables it
cannot prove them right; the captured frames in tests/captures are the authority.
"""

from __future__ import annotations

import os
import select
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
        self.path = ""
        self.requests_seen = 0

    def start(self) -> PtyEmulator:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pty-bms-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering and close the pty: to a driver this is the cable being pulled."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        for fd in (self._master, self._slave):
            if fd >= 0:
                os.close(fd)
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

    def _run(self) -> None:
        pending = bytearray()
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.02)
            if not ready:
                continue
            try:
                pending += os.read(self._master, 4096)
            except OSError:
                return
            self._serve(pending)

    def _serve(self, pending: bytearray) -> None:
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
            self._send(req, self._answer(self._requests[req]))

    def _send(self, request: bytes, answer: bytes) -> None:
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
        os.write(self._master, answer)
