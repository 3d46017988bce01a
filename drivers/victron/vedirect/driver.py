"""VE.Direct TEXT driver: the thin I/O shell around `codec`, `assembler` and `fields`.

Follows the VE.Direct protocol (19200 8N1, one cycle of blocks per second, device pushes).
It opens the port, reads until the runner's deadline, and hands back decoded readings. It never
retries, sleeps or judges staleness (the runner does): a port that cannot be opened or vanishes
raises `DeviceUnavailable`; silence or garbage just yields no readings, counted in `counters`.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

import serial

from drivers.base import Counters, DeviceUnavailable
from drivers.victron.vedirect.assembler import BlockAssembler
from drivers.victron.vedirect.codec import Block, Event, HexFrame, Rejected, TextCodec
from drivers.victron.vedirect.fields import RecordRejected, decode, unknown_labels
from edged.readings import Reading

log = logging.getLogger(__name__)

POLL = 0.05
"""Serial read timeout at open; each `read` then sets it to the time left before its deadline."""
READ_CHUNK = 4096


class VeDirectDriver:
    """One VE.Direct device on one serial port (USB cable, or a pty in tests and demos)."""

    def __init__(self, port: str, baudrate: int = 19200) -> None:
        self.port = port
        self.baudrate = baudrate
        self.counters = Counters()
        self.info: dict[str, str] = {}
        self.unknown_labels: Counter[str] = Counter()
        """Labels outside the field table, with how often they were seen (never fatal)."""
        self.hex_frames = 0
        """Valid HEX frames seen (async on newer firmware); not decoded into readings."""
        self._serial: serial.Serial | None = None
        self._codec = TextCodec()
        self._assembler = BlockAssembler()

    def open(self) -> None:
        """Open the port; a fresh codec drops the partial block the port was opened into."""
        self.close()
        try:
            port = serial.Serial(
                self.port,
                self.baudrate,
                bytesize=serial.EIGHTBITS,
                parity=serial.PARITY_NONE,
                stopbits=serial.STOPBITS_ONE,
                timeout=POLL,
            )
            port.reset_input_buffer()  # bytes queued while nobody listened are stale
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceUnavailable(f"cannot open {self.port!r}: {exc}") from exc
        self._serial = port
        self._codec = TextCodec()
        self._assembler = BlockAssembler()

    def read(self, deadline: float) -> list[Reading]:
        """Readings completed before `deadline` (monotonic); [] when the line stays quiet."""
        if self._serial is None:
            raise DeviceUnavailable(f"{self.port!r} is not open")
        readings: list[Reading] = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                # One blocking read until the deadline (or a full buffer) rather than many small
                # ones: at ~250 bytes/s the daemon then wakes about once a second per device.
                self._serial.timeout = left
                data = self._serial.read(READ_CHUNK)
            except (serial.SerialException, OSError) as exc:
                self.close()
                raise DeviceUnavailable(f"{self.port!r} vanished: {exc}") from exc
            if data:
                readings.extend(self._consume(self._codec.feed(data)))
        return readings

    def close(self) -> None:
        port, self._serial = self._serial, None
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError) as exc:
                log.debug("closing %r: %s", self.port, exc)

    def _consume(self, events: list[Event]) -> list[Reading]:
        readings: list[Reading] = []
        for event in events:
            if isinstance(event, Block):
                self.counters.accepted += 1
                for record in self._assembler.add(event.fields):
                    reading = self._decode(record)
                    if reading is not None:
                        readings.append(reading)
            elif isinstance(event, Rejected):
                self.counters.reject(event.reason)
            elif isinstance(event, HexFrame):
                self.hex_frames += 1
        return readings

    def _decode(self, record: tuple[tuple[str, str], ...]) -> Reading | None:
        try:
            reading = decode(record)
        except RecordRejected as exc:
            self.counters.reject(exc.reason)
            log.debug("%r: record rejected: %s", self.port, exc)
            return None
        for label in unknown_labels(record):
            if not self.unknown_labels[label]:
                log.info("%r: unknown VE.Direct label %r (kept raw in extra)", self.port, label)
            self.unknown_labels[label] += 1
        self.info.update(reading.info)
        return reading
