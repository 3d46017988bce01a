"""Pylontech RS485 frames (protocols.md 4.1): pure, sans-IO.

`~` VER ADR CID1 CID2 LENGTH INFO CHKSUM `\\r`, everything between the markers ASCII hex. LENGTH =
LCHKSUM nibble + 12-bit LENID (number of INFO chars); CHKSUM = two's complement of the sum of
the ASCII bytes after `~` through INFO, mod 65536. In responses CID2 is the return code.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.battery.common import FrameScanner, Rejected

SOI, EOI = b"~", b"\r"
VERSION = 0x20
CID1_BATTERY = 0x46
ANALOG_VALUES, ALARM_INFO = 0x42, 0x44
RETURN_CODES = {
    0x00: "normal",
    0x01: "VER error",
    0x02: "CHKSUM error",
    0x03: "LCHKSUM error",
    0x04: "CID2 invalid",
    0x05: "command format error",
    0x06: "invalid data",
    0x90: "ADR error",
    0x91: "internal communication error",
}
HEADER = 13  # `~` + VER ADR CID1 CID2 (8 chars) + LENGTH (4 chars)
_HEX = frozenset(b"0123456789ABCDEFabcdef")


@dataclass(frozen=True, slots=True)
class Frame:
    """One verified frame; `cid2` is the command in requests, the return code in responses."""

    ver: int
    adr: int
    cid1: int
    cid2: int
    info: bytes


def length_field(lenid: int) -> int:
    """LENGTH: LENID in the low 12 bits, its nibble-sum check in the top nibble."""
    nibbles = (lenid & 0xF) + (lenid >> 4 & 0xF) + (lenid >> 8 & 0xF)
    return (-nibbles % 16) << 12 | lenid


def checksum(body: bytes) -> bytes:
    """CHKSUM over the ASCII after `~` through INFO, as 4 uppercase hex chars."""
    return b"%04X" % (-sum(body) & 0xFFFF)


def encode(adr: int, cid2: int, info: bytes = b"", ver: int = VERSION, cid1: int = CID1_BATTERY):
    """Any frame; INFO is given as raw bytes and sent as hex."""
    info_hex = info.hex().upper().encode()
    body = b"%02X%02X%02X%02X%04X" % (ver, adr, cid1, cid2, length_field(len(info_hex)))
    body += info_hex
    return SOI + body + checksum(body) + EOI


def build_request(cid2: int, address: int, info: bytes | None = None) -> bytes:
    """A command to pack `address`; the analog (0x42) and alarm (0x44) commands carry the address
    as their one INFO byte (`~20024642E00202FD33\\r` asks pack 2 for analog values)."""
    return encode(address, cid2, bytes([address]) if info is None else info)


def encode_response(address: int, info: bytes, rtn: int = 0) -> bytes:
    """What pack `address` sends back (for the emulator and round-trip tests)."""
    return encode(address, rtn, info)


class ResponseParser(FrameScanner):
    """Splits a byte stream into verified `Frame`s and `Rejected` events; never raises."""

    start = SOI

    def _parse(self, buf: bytes) -> tuple[Frame | Rejected, int] | None:
        bad = _first_non_hex(buf, 1, HEADER)
        if bad is not None:
            return Rejected("truncated", bad), bad
        if len(buf) < HEADER:
            return None
        length = int(buf[9:13], 16)
        lenid = length & 0x0FFF
        if length_field(lenid) != length or lenid % 2:
            return Rejected("length", 1), 1
        total = HEADER + lenid + 4 + 1
        bad = _first_non_hex(buf, HEADER, total - 1)
        if bad is not None:
            return Rejected("truncated", bad), bad
        if len(buf) < total:
            return None
        if buf[total - 1 : total] != EOI:
            # Everything before is hex, so no other frame hides in it: drop it all.
            reason = "truncated" if buf[total - 1 : total] == SOI else "framing"
            return Rejected(reason, total - 1), total - 1
        if checksum(buf[1 : total - 5]) != buf[total - 5 : total - 1]:
            return Rejected("checksum", total), total
        head = bytes.fromhex(buf[1:9].decode())
        return Frame(*head, bytes.fromhex(buf[HEADER : total - 5].decode())), total


def _first_non_hex(buf: bytes, lo: int, hi: int) -> int | None:
    """Offset of the first non-hex byte in buf[lo:hi] (as far as received), else None."""
    for i in range(lo, min(hi, len(buf))):
        if buf[i] not in _HEX:
            return i
    return None
