"""JK BMS RS485/TTL "4E 57" frames (protocols.md 4.4): pure, sans-IO.

`4E 57` | LENGTH (2, from itself through the checksum) | terminal no (4) | command (1) | source
(1) | transport type (1) | information (id-value pairs) | record no (4) | `68` | checksum (4: two
unused zero bytes, then the low 16 bits of the sum of every byte from `4E` through `68`).
Information ids have fixed value sizes (0x79 carries its own length), listed in `SIZES`; the
codec splits them so `fields.py` only interprets values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.battery.common import FrameScanner, Rejected

START, END_MARK = b"NW", 0x68
READ_ALL = 0x06
SOURCE_PC, REQUEST, RESPONSE = 0x03, 0x00, 0x01
HEAD, TAIL = 11, 9  # bytes before the information; record no + end mark + checksum after it
MAX_LENGTH = 2048

SIZES: dict[int, int] = {
    **dict.fromkeys((0x80, 0x81, 0x82, 0x83, 0x84, 0x87, 0x8A, 0x8B, 0x8C), 2),
    **dict.fromkeys((0x85, 0x86), 1),
    0x89: 4,
    **dict.fromkeys(range(0x8E, 0xA9), 2),
    **dict.fromkeys((0x9D, 0xA9, 0xAB, 0xAC, 0xAE, 0xAF, 0xB1, 0xB3, 0xB8, 0xC0), 1),
    **dict.fromkeys((0xAA, 0xB5, 0xB6, 0xB9), 4),
    0xAD: 2,
    0xB0: 2,
    0xB2: 10,
    0xB4: 8,
    0xB7: 15,
    0xBA: 24,
}
CELLS = 0x79  # 1 length byte, then that many bytes of (cell no, mV u16) triples


@dataclass(frozen=True, slots=True)
class Frame:
    """One verified frame; `fields` maps information id → raw value bytes. `unparsed` holds the
    information from the first id of unknown size on (kept, counted by the caller, never fatal)."""

    terminal: int
    command: int
    source: int
    transport: int
    fields: dict[int, bytes] = field(default_factory=dict)
    record: int = 0
    unparsed: bytes = b""


def split_fields(info: bytes) -> tuple[dict[int, bytes], bytes]:
    """Information bytes → ({id: value}, the rest from the first unknown or cut id)."""
    out: dict[int, bytes] = {}
    pos = 0
    while pos < len(info):
        ident = info[pos]
        if ident == CELLS and pos + 1 < len(info):
            size, start = info[pos + 1], pos + 2
        elif ident in SIZES:
            size, start = SIZES[ident], pos + 1
        else:
            break
        if start + size > len(info):
            break
        out[ident] = info[start : start + size]
        pos = start + size
    return out, info[pos:]


def join_fields(fields: list[tuple[int, bytes]]) -> bytes:
    """The inverse of `split_fields` (0x79 gets its length byte)."""
    return b"".join(bytes([i, len(v)]) + v if i == CELLS else bytes([i]) + v for i, v in fields)


def encode(
    command: int, info: bytes, transport: int, source: int, terminal: int = 0, record: int = 0
) -> bytes:
    """Any frame, length and checksum computed."""
    length = 2 + 4 + 3 + len(info) + TAIL
    body = START + length.to_bytes(2, "big") + terminal.to_bytes(4, "big")
    body += bytes([command, source, transport]) + info + record.to_bytes(4, "big")
    body += bytes([END_MARK])
    return body + (sum(body) & 0xFFFF).to_bytes(4, "big")


READ_ALL_IDS = frozenset({CELLS, 0x83, 0x84, 0x85})
"""Ids only a read-all answer carries: cell voltages, total voltage, current, SOC."""


def is_read_all_answer(frame: Frame) -> bool:
    """A response frame carrying the read-all fields, whatever its command byte.

    The command byte of the answer is 0x06 on most firmware, but some (the 11.XW series, for one)
    answer read-all with 0x03: checking it dropped every answer and the pack never went `ok`.
    The transport byte already tells a response from an RS485 adapter's echo of our request.
    """
    return frame.transport == RESPONSE and not READ_ALL_IDS.isdisjoint(frame.fields)


def build_request(command: int = READ_ALL, info: bytes = b"\x00") -> bytes:
    """Read-all from a PC: `4E 57 00 13 00 00 00 00 06 03 00 00 00 00 00 00 68 00 00 01 29`."""
    return encode(command, info, REQUEST, SOURCE_PC)


def encode_response(fields: list[tuple[int, bytes]], command: int = READ_ALL) -> bytes:
    """What the BMS answers (for the emulator and round-trip tests)."""
    return encode(command, join_fields(fields), RESPONSE, 0)


class ResponseParser(FrameScanner):
    """Splits a byte stream into verified `Frame`s and `Rejected` events; never raises."""

    start = START

    def _parse(self, buf: bytes) -> tuple[Frame | Rejected, int] | None:
        if len(buf) < 4:
            return None
        total = 2 + int.from_bytes(buf[2:4], "big")
        if not HEAD + TAIL <= total <= MAX_LENGTH:
            return Rejected("length", 1), 1
        if len(buf) < total:
            return None
        if buf[total - 5] != END_MARK:
            return Rejected("framing", 1), 1
        if sum(buf[: total - 4]) & 0xFFFF != int.from_bytes(buf[total - 2 : total], "big"):
            nxt = buf.find(START, 1, total)
            used = total if nxt < 0 else nxt
            return Rejected("checksum", used), used
        fields, rest = split_fields(buf[HEAD : total - TAIL])
        head = (int.from_bytes(buf[4:8], "big"), buf[8], buf[9], buf[10])
        record = int.from_bytes(buf[total - TAIL : total - 5], "big")
        return Frame(*head, fields=fields, record=record, unparsed=rest), total
