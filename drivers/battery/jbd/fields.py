"""JBD payload tables (protocols.md 4.2) and the decoder from verified frames to a `Reading`.

Register 0x03 (basic info, big-endian):

| off | wire | metric | scale |
|---|---|---|---|
| 0 | u16 10 mV | battery_voltage | 0.01 |
| 2 | s16 10 mA, + = charging | battery_current | 0.01 |
| 4 | u16 10 mAh | battery_remaining_ah | 0.01 |
| 6 | u16 10 mAh | battery_capacity | 0.01 |
| 8 | u16 | battery_cycles | 1 |
| 12,14 | balance bitmasks cells 1–16, 17–32 | balancing (any bit) | |
| 16 | protection bitmask | battery_alarms (PROTECTION names) | |
| 18 | software version (0x80 = 8.0) | info firmware | |
| 19 | u8 % | battery_soc | 1 |
| 20 | FET bits: 0 charge, 1 discharge | charge_enabled, discharge_enabled | |
| 21 | u8 | cell_count | |
| 22 | NTC count k, then k × u16 0.1 K | mosfet_temperature (1st of k ≥ 2), | |
| | | battery_temperature (mean of the rest), extra temperatures | |

Register 0x04: n × u16 mV → per-cell volts, cell min/max/delta/count.

A board with several NTCs reports its MOSFET on the first (dbus-serialbattery's JBD driver maps
sensor 0 to the MOSFET, 1.. to the cells): the FETs run tens of degrees above the cells under
current, so folding them into the mean made a warm pack look hot. A lone NTC is a cell probe.

Options: `current_sign` (`normal` keeps + = charging as the 0x03 field is documented; `inverted`
flips it for a pack wired or configured the other way).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from drivers.battery.common import (
    Field,
    alarm_text,
    cell_metrics,
    flag_names,
    join_values,
    kelvin10_to_c,
    read_fields,
    signed_current,
)
from drivers.battery.jbd.codec import BASIC_INFO, CELL_VOLTAGES, Frame
from edged.readings import Reading

BASIC: tuple[Field, ...] = (
    Field(0, ">H", "battery_voltage", 0.01, "10 mV"),
    Field(2, ">h", "battery_current", 0.01, "10 mA"),
    Field(4, ">H", "battery_remaining_ah", 0.01, "10 mAh"),
    Field(6, ">H", "battery_capacity", 0.01, "10 mAh"),
    Field(8, ">H", "battery_cycles", 1, "count"),
    Field(19, ">B", "battery_soc", 1, "%"),
    Field(21, ">B", "cell_count", 1, "count"),
)

# Bit order as in the common JBD protocol document; [unverified] per protocols.md, so unknown
# bits still surface as "bit<N>" rather than vanish.
PROTECTION = (
    "cell_overvoltage",
    "cell_undervoltage",
    "pack_overvoltage",
    "pack_undervoltage",
    "charge_overtemperature",
    "charge_undertemperature",
    "discharge_overtemperature",
    "discharge_undertemperature",
    "charge_overcurrent",
    "discharge_overcurrent",
    "short_circuit",
    "frontend_ic_error",
    "software_mos_lock",
)


def decode(frames: Iterable[Frame], *, current_sign: str = "normal") -> Reading:
    """Merge the 0x03 and 0x04 answers of one poll into one `Reading` (SI units)."""
    metrics: dict = {}
    info: dict[str, str] = {}
    extra: dict = {}
    for frame in frames:
        if frame.status != 0:
            continue
        if frame.register == BASIC_INFO:
            _basic(frame.payload, metrics, info, extra)
        elif frame.register == CELL_VOLTAGES:
            _cells(frame.payload, metrics, extra)
    if "battery_current" in metrics:
        metrics["battery_current"] = signed_current(metrics["battery_current"], current_sign)
    return Reading(metrics=metrics, info=info, extra=extra)


def _basic(payload: bytes, metrics: dict, info: dict, extra: dict) -> None:
    metrics.update(read_fields(BASIC, payload))
    if len(payload) < 23:
        return
    balance_lo, balance_hi, protection = struct.unpack_from(">HHH", payload, 12)
    metrics["balancing"] = int(bool(balance_lo or balance_hi))
    metrics["battery_alarms"] = alarm_text(flag_names(protection, PROTECTION))
    metrics["charge_enabled"] = payload[20] & 1
    metrics["discharge_enabled"] = payload[20] >> 1 & 1
    info["firmware"] = f"{payload[18] >> 4}.{payload[18] & 0x0F}"
    date = struct.unpack_from(">H", payload, 10)[0]
    extra["production_date"] = f"{2000 + (date >> 9)}-{date >> 5 & 0x0F:02d}-{date & 0x1F:02d}"
    ntc = payload[22]
    raw = payload[23 : 23 + 2 * ntc]
    temps = [kelvin10_to_c(v) for (v,) in struct.iter_unpack(">H", raw[: len(raw) // 2 * 2])]
    if len(temps) >= 2:
        metrics["mosfet_temperature"] = temps[0]
    cells = temps[1:] if len(temps) >= 2 else temps
    if cells:
        metrics["battery_temperature"] = round(sum(cells) / len(cells), 2)
    if temps:
        extra["temperatures"] = join_values(temps)


def _cells(payload: bytes, metrics: dict, extra: dict) -> None:
    even = payload[: len(payload) // 2 * 2]
    cells = [round(mv / 1000, 3) for (mv,) in struct.iter_unpack(">H", even)]
    metrics.update(cell_metrics(cells))
    if cells:
        extra["cell_voltages"] = join_values(cells)
