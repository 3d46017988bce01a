"""Pieces every BMS codec shares: the rejection event, a resynchronising frame scanner, field rows.

Pure and sans-IO like the codecs that use it (no serial, clock, logging or threads). The four BMS
protocols (protocols.md section 4) differ in framing and checksum but not in how a stream is
scanned: find a start marker, let the protocol measure and verify one frame, drop what failed and
look for the next marker. Writing that loop once keeps the four codecs to their wire rules.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

MAX_GARBAGE = 512
"""A run of marker-free bytes is reported in chunks of this size, so memory stays bounded while
the events stay identical however the stream is split."""

SIGNS = ("normal", "inverted")
"""Values of the per-device `current_sign` option: protocols.md section 5.2 asks for a per-site
flip because sign conventions differ between firmware and sources."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """Bytes the codec threw away and why: `garbage` (before any start marker), `framing` (bad
    header or end mark), `length` (implausible length field), `checksum`, `truncated` (a frame cut
    short by the next one or by the end of the answer)."""

    reason: str
    nbytes: int


class FrameScanner:
    """Base of every `ResponseParser`: buffering, resynchronisation and garbage accounting.

    Subclasses set `start` (the start-of-frame marker) and implement `_parse(buf)`, which looks at
    a buffer beginning with `start` and returns None (need more bytes) or `(event, consumed)`,
    where the event is a frame or a `Rejected`. Decisions depend only on buffered content, so
    feeding the same bytes in any chunking yields the same events.
    """

    start: bytes = b""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        """Consume `data`; return frames and `Rejected` events in stream order. Never raises."""
        self._buf += data
        events: list[Any] = []
        while self._buf:
            at = self._buf.find(self.start)
            if at < 0:
                at = self._garbage_end()
            if at > 0:
                size = min(at, MAX_GARBAGE)
                events.append(Rejected("garbage", size))
                del self._buf[:size]
                continue
            if at < 0:
                break
            result = self._parse(bytes(self._buf))
            if result is None:
                break
            event, used = result
            events.append(event)
            del self._buf[: max(used, 1)]
        return events

    def flush(self) -> list[Any]:
        """End of the stream: the buffered frame was cut short; frames after it still count.

        The cut frame's length field claimed bytes that never came, so it may have swallowed a
        whole later frame: reject up to the next start marker and scan on from there."""
        events: list[Any] = []
        while self._buf:
            nxt = self._buf.find(self.start, 1)
            cut = len(self._buf) if nxt < 0 else nxt
            events.append(Rejected("truncated", cut))
            rest = bytes(self._buf[cut:])
            self._buf = bytearray()
            events += self.feed(rest)
        return events

    def _garbage_end(self) -> int:
        """Length of the marker-free prefix, keeping a possible partial marker at the end.

        Returns -1 while the prefix is still shorter than `MAX_GARBAGE` and may yet be followed by
        a marker (so the garbage run is reported whole, not split by chunking)."""
        keep = 0
        for k in range(len(self.start) - 1, 0, -1):
            if self._buf.endswith(self.start[:k]):
                keep = k
                break
        prefix = len(self._buf) - keep
        return prefix if prefix >= MAX_GARBAGE else -1

    def _parse(self, buf: bytes) -> tuple[Any, int] | None:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Field:
    """One numeric field of a payload: where it is, how it is packed, what metric it becomes.

    `scale` converts the wire unit (`unit`, documentation only) to the catalogue's SI unit;
    `bias` is subtracted from the raw value first (Daly's 30000 current offset, its +40 °C).
    """

    offset: int
    fmt: str
    metric: str
    scale: float = 1.0
    unit: str = ""
    bias: float = 0.0

    def read(self, payload: bytes) -> float | int | None:
        """The scaled value, or None when the payload is too short to hold this field."""
        size = struct.calcsize(self.fmt)
        if self.offset < 0 or self.offset + size > len(payload):
            return None
        (raw,) = struct.unpack_from(self.fmt, payload, self.offset)
        if self.scale == 1.0 and self.bias == 0.0:
            return raw
        return round((raw - self.bias) * self.scale, 6)


def read_fields(rows: Iterable[Field], payload: bytes) -> dict[str, float | int]:
    """Apply a field table to a payload, skipping fields the payload does not reach."""
    out: dict[str, float | int] = {}
    for row in rows:
        value = row.read(payload)
        if value is not None:
            out[row.metric] = value
    return out


def flag_names(bits: int, names: Sequence[str], prefix: str = "bit") -> list[str]:
    """Names of the set bits, bit 0 first; unnamed bits become `bit<N>` so none is lost."""
    out = []
    for i in range(bits.bit_length()):
        if bits >> i & 1:
            out.append(names[i] if i < len(names) and names[i] else f"{prefix}{i}")
    return out


def alarm_text(names: Iterable[str]) -> str:
    """The `battery_alarms` value: comma-joined flag names, or "none"."""
    joined = ",".join(names)
    return joined or "none"


def join_values(values: Iterable[float]) -> str:
    """A list for `Reading.extra`, whose values must be scalars: "3.269,3.267,…"."""
    return ",".join(f"{v:g}" for v in values)


def signed_current(amps: float, sign: str) -> float:
    """Apply the `current_sign` option; `normal` keeps the codec's positive = charging."""
    return -amps if sign == "inverted" and amps else amps


def cell_metrics(cells: Sequence[float]) -> dict[str, float | int]:
    """Min, max, delta and count from per-cell volts (empty in, empty out)."""
    if not cells:
        return {}
    lo, hi = min(cells), max(cells)
    return {
        "cell_voltage_min": lo,
        "cell_voltage_max": hi,
        "cell_voltage_delta": round(hi - lo, 6),
        "cell_count": len(cells),
    }


def kelvin10_to_c(raw: int) -> float:
    """0.1 K wire temperatures (Pylontech, JBD): °C = (raw − 2731) / 10."""
    return round((raw - 2731) / 10, 1)
