"""The serial request/response loop the four BMS drivers share (thin I/O, no protocol knowledge).

`SerialLink.exchange` writes one request and feeds what comes back into a codec's parser until
the wanted frames arrived or the deadline passed. It maps every failure onto the two errors of
`drivers.base`: the port vanished or nothing at all came back → `DeviceUnavailable`; bytes came
back but no valid answer (checksum, framing, truncation) → `ProtocolError`. It never retries or
sleeps: the runner owns that.
"""

from __future__ import annotations

import logging
import termios
import time
from collections.abc import Callable
from typing import Any, Protocol

import serial

from drivers.base import Counters, DeviceUnavailable, ProtocolError
from drivers.battery.common import Rejected
from edged.readings import Reading

log = logging.getLogger(__name__)

POLL = 0.05
"""Longest single blocking read, so a deadline is never overshot by more than this."""

PORT_ERRORS = (serial.SerialException, OSError, termios.error)
"""What a vanished port raises: pyserial wraps most, but tcflush on a dead pty leaks termios."""

TOLERATED = frozenset({"garbage", "unexpected"})
"""Rejections that do not condemn an answer: line noise before it, another device's frame."""


class Parser(Protocol):
    def feed(self, data: bytes) -> list[Any]: ...

    def flush(self) -> list[Any]: ...


class SerialLink:
    """One serial port, opened and closed by the driver, shared by its requests."""

    def __init__(self, port: str, baudrate: int, counters: Counters) -> None:
        self.port = port
        self.baudrate = baudrate
        self.counters = counters
        self._serial: serial.Serial | None = None
        self.heard = False

    def open(self) -> None:
        try:
            self._serial = serial.Serial(self.port, self.baudrate, timeout=POLL, exclusive=True)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceUnavailable(f"cannot open {self.port!r}: {exc}") from exc

    def close(self) -> None:
        if self._serial is not None:
            try:
                self._serial.close()
            except PORT_ERRORS:
                log.debug("closing %r failed", self.port, exc_info=True)
            self._serial = None

    def begin_poll(self) -> None:
        """Drop stale bytes (a late answer to an earlier poll) and forget what was heard, so
        silence is judged over the whole poll: a device that answered the first request but
        not the second is misbehaving (ProtocolError), not gone (DeviceUnavailable)."""
        self.heard = False
        try:
            self._port().reset_input_buffer()
        except PORT_ERRORS as exc:
            raise DeviceUnavailable(f"{self.port!r} vanished: {exc}") from exc

    def exchange(
        self,
        request: bytes,
        parser: Parser,
        want: Callable[[Any], bool],
        deadline: float,
        count: int = 1,
    ) -> list[Any]:
        """Send `request`; return the first `count` frames accepted by `want`."""
        self._write(request)
        got: list[Any] = []
        while len(got) < count and time.monotonic() < deadline:
            data = self._read(deadline)
            self.heard = self.heard or bool(data)
            self._take(parser.feed(data), want, got, count)
        if len(got) < count:
            self._take(parser.flush(), want, got, count)
            if not self.heard:
                raise DeviceUnavailable(f"no answer on {self.port!r} to {request.hex()!r}")
            raise ProtocolError(f"incomplete answer to {request.hex()!r}")
        return got

    def _take(self, events: list[Any], want: Callable[[Any], bool], got: list, count: int) -> None:
        for event in events:
            if isinstance(event, Rejected):
                self._reject(event)
            elif want(event) and len(got) < count:
                self.counters.accepted += 1
                got.append(event)
            else:
                self.counters.reject("unexpected")

    def _reject(self, event: Rejected) -> None:
        self.counters.reject(event.reason)
        if event.reason not in TOLERATED:
            raise ProtocolError(f"{event.reason} ({event.nbytes} bytes) from {self.port!r}")

    def _port(self) -> serial.Serial:
        if self._serial is None:
            raise DeviceUnavailable(f"{self.port!r} is not open")
        return self._serial

    def _write(self, request: bytes) -> None:
        try:
            self._port().write(request)
        except PORT_ERRORS as exc:
            raise DeviceUnavailable(f"writing to {self.port!r} failed: {exc}") from exc

    def _read(self, deadline: float) -> bytes:
        port = self._port()
        try:
            port.timeout = max(0.0, min(POLL, deadline - time.monotonic()))
            return port.read(max(1, port.in_waiting))
        except PORT_ERRORS as exc:
            raise DeviceUnavailable(f"{self.port!r} vanished: {exc}") from exc


class SerialBmsDriver:
    """The `Driver` shell the four BMS drivers share: counters, info, open/close, one poll.

    Subclasses implement `poll(deadline)`: the protocol's sequence of exchanges and its decode.
    """

    def __init__(self, port: str, baudrate: int) -> None:
        self.counters = Counters()
        self.info: dict[str, str] = {}
        self.link = SerialLink(port, baudrate, self.counters)

    def open(self) -> None:
        self.link.open()

    def close(self) -> None:
        self.link.close()

    def read(self, deadline: float) -> list[Reading]:
        self.link.begin_poll()
        reading = self.poll(deadline)
        if not reading.metrics:
            raise ProtocolError(f"answers from {self.link.port!r} held no values")
        self.info.update(reading.info)
        return [reading]

    def poll(self, deadline: float) -> Reading:
        raise NotImplementedError
