"""JBD / Xiaoxiang "Smart BMS" frames (protocols.md 4.2): pure, sans-IO.

Request `DD A5 reg len data chk(2) 77`, response `DD reg status len data chk(2) 77`; the checksum
is 0x10000 − the sum of the bytes from offset 2 through the last data byte, big-endian. This
module frames and verifies only; `fields.py` gives the payloads meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.battery.common import FrameScanner, Rejected

START, END = 0xDD, 0x77
READ, WRITE = 0xA5, 0x5A
BASIC_INFO, CELL_VOLTAGES, HARDWARE = 0x03, 0x04, 0x05


@dataclass(frozen=True, slots=True)
class Frame:
    """One verified response: which register, the BMS status byte (0 = ok) and the payload."""

    register: int
    status: int
    payload: bytes


def checksum(body: bytes) -> bytes:
    """The two check bytes for `body` = the bytes from offset 2 through the last data byte."""
    return ((0x10000 - sum(body)) & 0xFFFF).to_bytes(2, "big")


def build_request(register: int, data: bytes = b"", mode: int = READ) -> bytes:
    """A read (default) or write request; `DD A5 03 00 FF FD 77` reads basic info."""
    body = bytes([register & 0xFF, len(data)]) + data
    return bytes([START, mode]) + body + checksum(body) + bytes([END])


def encode_response(register: int, payload: bytes, status: int = 0) -> bytes:
    """What the BMS sends back (used by the emulator and round-trip tests)."""
    body = bytes([status & 0xFF, len(payload)]) + payload
    return bytes([START, register & 0xFF]) + body + checksum(body) + bytes([END])


class ResponseParser(FrameScanner):
    """Splits a byte stream into verified `Frame`s and `Rejected` events; never raises."""

    start = bytes([START])

    def _parse(self, buf: bytes) -> tuple[Frame | Rejected, int] | None:
        if len(buf) < 4:
            return None
        total = 4 + buf[3] + 3
        if len(buf) < total:
            return None
        if buf[total - 1] != END:
            # Cut short (or a stray 0xDD in noise): drop the marker only and rescan, so a real
            # frame hidden inside the claimed span is still found.
            return Rejected("framing", 1), 1
        if checksum(buf[2 : total - 3]) != buf[total - 3 : total - 1]:
            return Rejected("checksum", total), total
        return Frame(buf[1], buf[2], buf[4 : total - 3]), total
