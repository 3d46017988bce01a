"""Pure register decoding: raw 16-bit words + a register map -> catalogue metrics in SI units.

No I/O, no clock, no logging, and it never raises on device data: anything it cannot trust
(a "not available" sentinel, a value outside the map's plausible range, a word that is not a
16-bit integer, a NaN float) is left out of the metrics and listed in `Decoded.rejected`, so
stale or invented numbers never look live. `encode` is the inverse, used by the simulator and
by round-trip tests (protocols.md §2.1 scale semantics, §3.1 word order and status bits).

Identity strings (`[[info]]` rows) follow the GX's own encoder, dbus_modbustcp mappings.cpp
`Mappings::getValue` (mb_type_string): Latin-1 bytes, two per register, high byte first, the
rest of the run zero; an invalid D-Bus value is all zeros (tests: test/mapping_test.h readString,
readShortString, where a portal id "a1b2c3e4f5a6" fills 800..805).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

from edged.metrics import CATALOGUE
from edged.readings import MetricValue

from .regmap import Field, InfoRegister, Register, RegisterMap

Words = Mapping[tuple[int, int], int]
"""(function code, address) -> raw 16-bit word, as read from the device."""


@dataclass(slots=True)
class Decoded:
    metrics: dict[str, MetricValue] = field(default_factory=dict)
    extra: dict[str, MetricValue] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)
    """One `reason:what` per value left out (na, range, garbage)."""


def decode(rmap: RegisterMap, words: Words, previous: Words | None = None) -> Decoded:
    """Decode every register whose words are all present; `previous` flags wrapped counters."""
    out = Decoded()
    alarms: dict[str, list[str]] = {}
    for reg in rmap.registers:
        raw = unsigned(reg, words, rmap.word_order)
        if raw is None:
            if any((reg.function, a) in words for a in range(reg.address, reg.address + reg.width)):
                out.rejected.append(f"garbage:{label(reg)}")
            continue
        _decode_one(rmap, reg, raw, out, alarms)
        if reg.wraps and reg.metric:
            old = unsigned(reg, previous or {}, rmap.word_order)
            out.extra[f"{reg.metric}_modulo"] = _real(reg, 1 << (16 * reg.width))
            if old is not None and raw < old:
                out.extra[f"{reg.metric}_wrapped"] = 1
    for metric, names in alarms.items():
        out.metrics[metric] = ",".join(names) or "none"
    return out


def label(reg: Register) -> str:
    return reg.metric or reg.text_metric or reg.key


def unsigned(reg: Register, words: Words, word_order: str) -> int | None:
    """The register's words joined into one unsigned integer, or None if absent or not 16-bit."""
    parts = [words.get((reg.function, a)) for a in range(reg.address, reg.address + reg.width)]
    if not all(map(_is_word, parts)):
        return None
    if word_order == "low_first":
        parts.reverse()
    value = 0
    for w in parts:
        value = value << 16 | w
    return value


def _is_word(w: object) -> bool:
    return isinstance(w, int) and not isinstance(w, bool) and 0 <= w <= 0xFFFF


def decode_string(words: Sequence[object]) -> str | None:
    """Text of a string register run: "" when the device says nothing (all NUL or spaces), None
    when the words are not text (not 16-bit, or a byte outside printable ASCII before the first
    NUL): a serial number is shown as the device sent it or not at all, never half-garbled."""
    if not all(map(_is_word, words)):
        return None
    data = b"".join(w.to_bytes(2, "big") for w in cast(Sequence[int], words))
    text = data.split(b"\0", 1)[0].decode("latin-1").strip(" ")
    return text if all(" " <= c <= "~" for c in text) else None


def decode_info(rmap: RegisterMap, words: Words) -> tuple[dict[str, str], list[str]]:
    """The identity values among `words` (info key -> text) and one `reason:name` per row left
    out: `na` for an empty string (the GX's "invalid"), `garbage` for words that are not text.
    Rows none of whose words were read (an exception answer) are simply absent."""
    info: dict[str, str] = {}
    rejected: list[str] = []
    for row in rmap.info:
        parts = [words.get((row.function, a)) for a in range(row.address, row.address + row.count)]
        if all(p is None for p in parts):
            continue
        text = decode_string(parts)
        if text:
            info[row.name] = text
        else:
            rejected.append(f"{'garbage' if text is None else 'na'}:{row.name}")
    return info, rejected


def _decode_one(rmap: RegisterMap, reg: Register, raw: int, out: Decoded, alarms: dict) -> None:
    if raw in reg.na:
        out.rejected.append(f"na:{label(reg)}")
        return
    if reg.metric:
        value = _scaled(reg, raw)
        if (
            value is None
            or (reg.lo is not None and value < reg.lo)
            or (reg.hi is not None and value > reg.hi)
        ):
            out.rejected.append(f"range:{reg.metric}")
        else:
            out.metrics[reg.metric] = value
    if reg.enum and reg.text_metric:
        out.metrics[reg.text_metric] = enum_name(rmap, reg.enum, raw)
    for f in reg.fields:
        _decode_field(rmap, f, raw, out, alarms)


def _decode_field(rmap: RegisterMap, f: Field, raw: int, out: Decoded, alarms: dict) -> None:
    value = raw & f.mask if f.mask is not None else (raw >> f.lsb) & ((1 << f.width) - 1)
    if f.when is not None and raw & f.when[0] != f.when[1]:
        value = 0
    if f.alarm:
        names = alarms.setdefault(f.alarm, [])
        name = enum_name(rmap, f.enum, value) if f.enum else str(f.name)
        if value and name:  # an enum may name a non-zero code "" = normal, not an alarm
            names.append(name)
    elif f.metric and CATALOGUE[f.metric].text:
        out.metrics[f.metric] = enum_name(rmap, f.enum, value) if f.enum else str(value)
    elif f.metric:
        out.metrics[f.metric] = value


def enum_name(rmap: RegisterMap, enum: str, code: int) -> str:
    """The table's name for `code`; unknown codes stay visible as `code_N`, never guessed."""
    return rmap.enums.get(enum, {}).get(code, f"code_{code}")


def _signed(reg: Register, raw: int) -> int | float | None:
    bits = 16 * reg.width
    if reg.type == "float32":
        value = struct.unpack(">f", raw.to_bytes(4, "big"))[0]
        return value if math.isfinite(value) else None
    if reg.type.startswith("int") and raw >= 1 << (bits - 1):
        return raw - (1 << bits)
    return raw


def _scaled(reg: Register, raw: int) -> MetricValue | None:
    value = _signed(reg, raw)
    return None if value is None else _real(reg, value)


def _real(reg: Register, value: int | float) -> int | float:
    if reg.scale == 1 and reg.factor == 1 and isinstance(value, int):
        return value
    return round(value / reg.scale * reg.factor, 6) + 0.0  # + 0.0 turns -0.0 (scale -10) into 0.0


# --- inverse, for the simulator and round-trip tests --------------------------------------------


def encode(rmap: RegisterMap, reg: Register, value: float | int) -> list[int]:
    """Words that decode back to `value` (metric units) for `reg`, in the map's word order."""
    scaled = value / reg.factor * reg.scale
    bits = 16 * reg.width
    if reg.type == "float32":
        raw = int.from_bytes(struct.pack(">f", scaled), "big")
    else:
        raw = round(scaled) % (1 << bits)
    return words_of(rmap, reg, raw)


def encode_code(rmap: RegisterMap, enum: str, name: str) -> int:
    """The code an enum table gives `name` (ValueError if the table has no such name)."""
    for code, text in rmap.enums.get(enum, {}).items():
        if text == name:
            return code
    raise ValueError(f"enum {enum!r} has no name {name!r}")


def words_of(rmap: RegisterMap, reg: Register, raw: int) -> list[int]:
    """Split an unsigned raw value into the register's words, in wire order."""
    words = [(raw >> (16 * i)) & 0xFFFF for i in range(reg.width)]
    return words if rmap.word_order == "low_first" else words[::-1]


def encode_string(row: InfoRegister, text: str) -> list[int]:
    """Words that decode back to `text` for `row`, NUL-padded as a GX pads a short value."""
    data = text.encode("ascii")
    if len(data) > 2 * row.count:
        raise ValueError(f"{text!r} does not fit in {row.count} registers")
    data = data.ljust(2 * row.count, b"\0")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
