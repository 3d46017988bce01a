"""Daly "A5" UART/RS485 frames (protocols.md 4.3): pure, sans-IO.

Every frame is 13 bytes: `A5` address command `08` 8 data bytes, then the low byte of the sum of
the first 12. Requests from a host use address 0x40 (board n on a shared bus: 0x3F + n);
responses carry the board's own address (0x01). This module frames and verifies only.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.battery.common import FrameScanner, Rejected

START, DATA_LEN, SIZE = 0xA5, 0x08, 13
HOST_ADDRESS = 0x40
SOC_VOLTAGE_CURRENT = 0x90
CELL_MIN_MAX = 0x91
TEMPERATURES = 0x92
MOS_STATUS = 0x93
STATUS_INFO = 0x94
CELL_VOLTAGES = 0x95
FAILURES = 0x98


@dataclass(frozen=True, slots=True)
class Frame:
    address: int
    command: int
    data: bytes


def checksum(first12: bytes) -> int:
    return sum(first12) & 0xFF


def encode(address: int, command: int, data: bytes = bytes(8)) -> bytes:
    """Any frame; `data` is padded or cut to the protocol's fixed 8 bytes."""
    head = bytes([START, address & 0xFF, command & 0xFF, DATA_LEN]) + data[:8].ljust(8, b"\0")
    return head + bytes([checksum(head)])


def build_request(command: int, board: int = 1) -> bytes:
    """A read request to board `board` (1 → address 0x40, the plain host address); data bytes are
    don't-care, zero as in the protocol document's example `A5 40 90 08 00…00 7D`."""
    return encode(0x3F + board, command)


def encode_response(command: int, data: bytes, address: int = 0x01) -> bytes:
    """What the BMS sends back (for the emulator and round-trip tests)."""
    return encode(address, command, data)


class ResponseParser(FrameScanner):
    """Splits a byte stream into verified `Frame`s and `Rejected` events; never raises."""

    start = bytes([START])

    def _parse(self, buf: bytes) -> tuple[Frame | Rejected, int] | None:
        if len(buf) >= 4 and buf[3] != DATA_LEN:
            return Rejected("framing", 1), 1
        if len(buf) < SIZE:
            return None
        if checksum(buf[:12]) != buf[12]:
            # 0xA5 may be a data byte, so resync at the next one inside the window rather than
            # skipping 13 bytes that may hold the start of a good frame cut short before it.
            nxt = buf.find(bytes([START]), 1, SIZE)
            used = SIZE if nxt < 0 else nxt
            return Rejected("checksum", used), used
        return Frame(buf[1], buf[2], buf[4:12]), SIZE
