"""Pure register decoding: raw 16-bit words + a register map -> catalogue metrics in SI units.

No I/O, no clock, no logging, and it never raises on device data: anything it cannot trust
(a "not available" sentinel, a value outside the map's plausible range, a word that is not a
16-bit integer, a NaN float) is left out of the metrics and listed in `Decoded.rejected`, so
stale or invented numbers never look live. `encode` is the inverse, used by the simulator and
by round-trip tests (protocols.md §2.1 scale semantics, §3.1 word order and status bits).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

from edged.metrics import CATALOGUE
from edged.readings import MetricValue

from .regmap import Field, Register, RegisterMap

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
    if not all(isinstance(w, int) and not isinstance(w, bool) and 0 <= w <= 0xFFFF for w in parts):
        return None
    if word_order == "low_first":
        parts.reverse()
    value = 0
    for w in parts:
        value = value << 16 | w
    return value


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
