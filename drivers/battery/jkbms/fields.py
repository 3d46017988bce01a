"""JK BMS information ids (protocols.md 4.4) and the decoder from a verified frame to a `Reading`.

| id | wire | metric |
|---|---|---|
| 0x79 | (cell no, u16 mV) × n | cell min/max/delta/count; extra cell_voltages |
| 0x80 | u16 °C, >100 means −(raw − 100) | bms_temperature (MOS) |
| 0x81 / 0x82 | same (box / battery) | extra temperatures / battery_temperature |
| 0x83 | u16 10 mV | battery_voltage |
| 0x84 | u16, encoding per `current_encoding` | battery_current |
| 0x85 | u8 % | battery_soc |
| 0x87 | u16 | battery_cycles |
| 0x89 | u32 Ah | extra total_cycle_capacity_ah |
| 0x8A | u16 | cell_count |
| 0x8B | warning bitmap | battery_alarms (WARNINGS names) |
| 0x8C | bit0 charge MOS, bit1 discharge MOS, bit2 balancer | charge/discharge_enabled, balancing |
| 0xAA | u32 Ah | battery_capacity |
| 0xB4 / 0xB7 / 0xBA | ASCII | info device_id / firmware / product |
| 0xC0 | protocol version | selects the current encoding when `auto` |

Options (protocols.md 4.4: the current encoding depends on the protocol version):

| option | values | default | meaning |
|---|---|---|---|
| current_encoding | `auto`, `sign_bit`, `offset` | `auto` | 0xC0 = 1 → sign_bit, else offset |
| | | | `sign_bit`: bit 15 set = charging, low 15 bits × 10 mA |
| | | | `offset`: (10000 − raw) × 10 mA [unverified sign] |
| current_sign | `normal`, `inverted` | `normal` | flips the result for a pack read the other way |
"""

from __future__ import annotations

from drivers.battery.common import (
    alarm_text,
    cell_metrics,
    flag_names,
    join_values,
    signed_current,
)
from drivers.battery.jkbms.codec import CELLS, Frame
from edged.readings import Reading

ENCODINGS = ("auto", "sign_bit", "offset")
UINTS = {  # id → (metric, scale); wire units in the module table
    0x83: ("battery_voltage", 0.01),
    0x85: ("battery_soc", 1),
    0x87: ("battery_cycles", 1),
    0x8A: ("cell_count", 1),
    0xAA: ("battery_capacity", 1),
}
TEXTS = {0xB4: "device_id", 0xB7: "firmware", 0xBA: "product"}
WARNINGS = (
    "low_capacity",
    "mos_overtemperature",
    "charge_overvoltage",
    "discharge_undervoltage",
    "battery_overtemperature",
    "charge_overcurrent",
    "discharge_overcurrent",
    "cell_voltage_difference",
    "box_overtemperature",
    "battery_low_temperature",
    "cell_overvoltage",
    "cell_undervoltage",
    "protection_309_a",
    "protection_309_b",
)


def decode(
    frame: Frame, *, current_encoding: str = "auto", current_sign: str = "normal"
) -> Reading:
    """One read-all answer → one `Reading` (SI units)."""
    f = frame.fields
    metrics: dict = {}
    extra: dict = {}
    for ident, (name, scale) in UINTS.items():
        if ident in f:
            raw = int.from_bytes(f[ident], "big")
            metrics[name] = raw if scale == 1 else round(raw * scale, 6)
    if 0x84 in f:
        amps = _current(int.from_bytes(f[0x84], "big"), current_encoding, f.get(0xC0, b""))
        metrics["battery_current"] = signed_current(amps, current_sign)
    _temperatures(f, metrics, extra)
    if 0x8B in f:
        metrics["battery_alarms"] = alarm_text(flag_names(int.from_bytes(f[0x8B], "big"), WARNINGS))
    if 0x8C in f:
        status = int.from_bytes(f[0x8C], "big")
        metrics["charge_enabled"] = status & 1
        metrics["discharge_enabled"] = status >> 1 & 1
        metrics["balancing"] = status >> 2 & 1
    if 0x89 in f:
        extra["total_cycle_capacity_ah"] = int.from_bytes(f[0x89], "big")
    if CELLS in f:
        cells = f[CELLS]
        volts = [
            round(int.from_bytes(cells[i + 1 : i + 3], "big") / 1000, 3)
            for i in range(0, len(cells) - 2, 3)
        ]
        metrics.update(cell_metrics(volts))  # 0x8A's count, if present, is the same number
        if volts:
            extra["cell_voltages"] = join_values(volts)
    info = {key: _text(f[i]) for i, key in TEXTS.items() if i in f and _text(f[i])}
    return Reading(metrics=metrics, info=info, extra=extra)


def _current(raw: int, encoding: str, version: bytes) -> float:
    if encoding == "auto":
        encoding = "sign_bit" if version == b"\x01" else "offset"
    if encoding == "sign_bit":
        magnitude = round((raw & 0x7FFF) * 0.01, 6)
        return magnitude if raw & 0x8000 or not magnitude else -magnitude
    return round((10000 - raw) * 0.01, 6)


def _temperatures(f: dict[int, bytes], metrics: dict, extra: dict) -> None:
    temps = {i: _celsius(int.from_bytes(f[i], "big")) for i in (0x80, 0x81, 0x82) if i in f}
    if 0x80 in temps:
        metrics["bms_temperature"] = temps[0x80]
    if 0x82 in temps:
        metrics["battery_temperature"] = temps[0x82]
    if temps:
        extra["temperatures"] = join_values(temps.values())  # MOS, box, battery


def _celsius(raw: int) -> int:
    """0–140 on the wire; above 100 the value is negative (101 = −1 °C)."""
    return -(raw - 100) if raw > 100 else raw


def _text(value: bytes) -> str:
    return value.split(b"\0", 1)[0].decode("ascii", "replace").strip().rstrip("_")
