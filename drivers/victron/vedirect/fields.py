"""VE.Direct TEXT labels as data, and `decode(fields) -> Reading`. Pure: no I/O, no logging.

Follows Victron's VE.Direct protocol document (labels, units, scale; docs/drivers-vedirect.md,
"What is read") with its code tables in `tables`. One row per label: the metric it feeds (a
catalogue name in `edged.metrics`, else an `extra` key) and how the wire text becomes an SI
value. Unknown labels land raw in `Reading.extra` and never fail a record. The text checksum is
weak (two flipped bits can cancel), so every numeric label has plausible bounds here (tighter
than the catalogue's) and one value outside them, or a number longer than a 32-bit field,
rejects the whole record.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from drivers.victron.vedirect import tables
from edged.metrics import CATALOGUE
from edged.readings import MetricValue, Reading

Convert = Callable[[str], MetricValue | None]
"""Wire text -> value; None = not available (omitted); ValueError = malformed."""

_INTEGER = re.compile(r"-?[0-9]{1,11}")
"""Every numeric VE.Direct field is at most 32 bits: more digits are a crafted or corrupt value
(400 nines would overflow a float when scaled)."""


def _int(text: str) -> int:
    if not _INTEGER.fullmatch(text):
        raise ValueError(text)
    return int(text)


def _scaled(divisor: int) -> Convert:
    """Integer on the wire in 1/divisor of the SI unit; "---" means not available."""

    def convert(text: str) -> MetricValue | None:
        if text == "---":
            return None
        raw = _int(text)
        return raw if divisor == 1 else raw / divisor

    return convert


def _on_off(text: str) -> int:
    if text not in ("ON", "OFF"):
        raise ValueError(text)
    return int(text == "ON")


def _enum(table: dict[int, str]) -> Convert:
    return lambda text: tables.code_name(table, _int(text))


def _bits(table: dict[int, str], base: int) -> Convert:
    """AR is a decimal mask, OR a hex string like `0x00000001` (capitalised `0X` seen too)."""

    def convert(text: str) -> str:
        if base == 16 and not re.fullmatch(r"0[xX][0-9A-Fa-f]{1,8}", text):
            raise ValueError(text)
        return tables.bit_names(table, int(text, 16) if base == 16 else _int(text))

    return convert


def _ttg(text: str) -> int | None:
    minutes = _scaled(1)(text)
    return None if minutes == -1 else minutes  # -1 = infinite (not discharging)


@dataclass(frozen=True, slots=True)
class Row:
    name: str  # catalogue metric, else the `extra` key
    convert: Convert


MILLI, CENTI, ONE = _scaled(1000), _scaled(100), _scaled(1)

FIELDS: dict[str, tuple[Row, ...]] = {
    "V": (Row("battery_voltage", MILLI),),  # mV
    "V2": (Row("battery_voltage_2", MILLI),),  # mV
    "V3": (Row("battery_voltage_3", MILLI),),  # mV
    "VS": (Row("battery_starter_voltage", MILLI),),  # mV
    "VM": (Row("battery_midpoint_voltage", MILLI),),  # mV
    "DM": (Row("battery_midpoint_deviation", _scaled(10)),),  # per mille
    "VPV": (Row("pv_voltage", MILLI),),  # mV
    "PPV": (Row("pv_power", ONE),),  # W
    "I": (Row("battery_current", MILLI),),  # mA, + into the battery
    "I2": (Row("battery_current_2", MILLI),),  # mA
    "I3": (Row("battery_current_3", MILLI),),  # mA
    "IL": (Row("load_current", MILLI),),  # mA
    "LOAD": (Row("load_on", _on_off),),  # ON/OFF
    "T": (Row("battery_temperature", ONE),),  # degC
    "P": (Row("battery_power", ONE),),  # W
    "CE": (Row("battery_consumed_ah", MILLI),),  # mAh, negative when discharged
    "SOC": (Row("battery_soc", _scaled(10)),),  # per mille
    "TTG": (Row("battery_time_to_go", _ttg),),  # min, -1 = infinite
    "Alarm": (Row("alarm_on", _on_off),),  # ON/OFF
    "Relay": (Row("relay_on", _on_off),),  # ON/OFF
    "AR": (Row("alarm_reason", _bits(tables.ALARM_REASONS, 10)),),  # decimal mask
    "WARN": (Row("warning_reason", _bits(tables.ALARM_REASONS, 10)),),  # decimal mask
    "OR": (Row("charger_off_reason", _bits(tables.OFF_REASONS, 16)),),  # hex mask
    "CS": (Row("charger_state", _enum(tables.CS_STATES)),),
    "ERR": (Row("charger_error", ONE), Row("charger_error_name", _enum(tables.ERRORS))),
    "MPPT": (Row("tracker_mode", _enum(tables.TRACKER_MODES)),),
    "MODE": (Row("device_mode", _enum(tables.DEVICE_MODES)),),
    "MON": (Row("monitor_mode", ONE),),  # signed enum, 0 = battery monitor
    "H1": (Row("battery_deepest_discharge_ah", MILLI),),  # mAh
    "H2": (Row("battery_last_discharge_ah", MILLI),),  # mAh
    "H3": (Row("battery_average_discharge_ah", MILLI),),  # mAh
    "H4": (Row("battery_cycles", ONE),),
    "H5": (Row("battery_full_discharges", ONE),),
    "H6": (Row("battery_total_ah_drawn", MILLI),),  # mAh
    "H7": (Row("battery_voltage_min_seen", MILLI),),  # mV
    "H8": (Row("battery_voltage_max_seen", MILLI),),  # mV
    "H9": (Row("battery_seconds_since_full", ONE),),  # s
    "H10": (Row("battery_sync_count", ONE),),
    "H11": (Row("battery_low_voltage_alarms", ONE),),
    "H12": (Row("battery_high_voltage_alarms", ONE),),
    "H13": (Row("aux_low_voltage_alarms", ONE),),
    "H14": (Row("aux_high_voltage_alarms", ONE),),
    "H15": (Row("aux_voltage_min_seen", MILLI),),  # mV
    "H16": (Row("aux_voltage_max_seen", MILLI),),  # mV
    "H17": (Row("energy_discharged_total", CENTI),),  # 0.01 kWh
    "H18": (Row("energy_charged_total", CENTI),),  # 0.01 kWh
    "H19": (Row("yield_total", CENTI),),  # 0.01 kWh
    "H20": (Row("yield_today", CENTI),),  # 0.01 kWh
    "H21": (Row("max_power_today", ONE),),  # W
    "H22": (Row("yield_yesterday", CENTI),),  # 0.01 kWh
    "H23": (Row("max_power_yesterday", ONE),),  # W
    "HSDS": (Row("day_sequence", ONE),),  # 0..364
    "AC_OUT_V": (Row("ac_out_voltage", CENTI),),  # 0.01 V
    "AC_OUT_I": (Row("ac_out_current", _scaled(10)),),  # 0.1 A
    "AC_OUT_S": (Row("ac_out_apparent_power", ONE),),  # VA
}


def _pid(text: str) -> dict[str, str]:
    """`0xA042`, or `0x203` without zero padding on old BMVs."""
    if not re.fullmatch(r"0[xX][0-9A-Fa-f]{1,4}", text):
        raise ValueError(text)
    pid = int(text, 16)
    return {"pid": f"0x{pid:04X}", "product": tables.product_name(pid)}


def _firmware(text: str) -> dict[str, str]:
    """FW `123` = v1.23, `0308` = v3.08; a leading letter marks a release candidate (`C208`)."""
    match = re.fullmatch(r"([A-Za-z]?)([0-9]{3,4})", text)
    if not match:
        raise ValueError(text)
    rc, digits = match.groups()
    version = f"v{int(digits[:-2])}.{digits[-2:]}"
    return {"firmware": version + (f"-rc{rc}" if rc else "")}


def _firmware_24(text: str) -> dict[str, str]:
    """FWE `316FF` / `0316FF` = v3.16; the last two hex digits are FF for a release build."""
    match = re.fullmatch(r"([0-9]{3,4})([0-9A-Fa-f]{2})", text)
    if not match:
        raise ValueError(text)
    digits, build = match.groups()
    version = f"v{int(digits[:-2])}.{digits[-2:]}"
    return {"firmware": version if build.upper() == "FF" else f"{version}-{build.lower()}"}


INFO: dict[str, Callable[[str], dict[str, str]]] = {
    "PID": _pid,
    "FW": _firmware,
    "FWE": _firmware_24,
    "SER#": lambda text: {"serial": text},
    "BMV": lambda text: {"model": text},
}

BOUNDS: dict[str, tuple[float, float]] = {
    "battery_voltage": (0, 100),
    "battery_starter_voltage": (-100, 100),
    "battery_midpoint_voltage": (-100, 100),
    "battery_midpoint_deviation": (-100, 100),
    "battery_current": (-3000, 3000),  # SmartShunt 2000A
    "battery_power": (-200_000, 200_000),
    "battery_soc": (0, 100),
    "battery_temperature": (-50, 100),
    "battery_consumed_ah": (-100_000, 100_000),
    "battery_time_to_go": (0, 1_000_000),
    # 260 V would cover every MPPT in the PID table, but SmartSolar RS models go to 450 V: a
    # tighter bound would silently reject every record of such a device.
    "pv_voltage": (0, 500),
    "pv_power": (0, 30_000),
    "load_current": (0, 100),
    "yield_today": (0, 1000),
    "yield_yesterday": (0, 1000),
    "yield_total": (0, 10_000_000),
    "max_power_today": (0, 30_000),
    "max_power_yesterday": (0, 30_000),
    "battery_deepest_discharge_ah": (-1_000_000, 1_000_000),
    "battery_last_discharge_ah": (-1_000_000, 1_000_000),
    "battery_average_discharge_ah": (-1_000_000, 1_000_000),
    "battery_total_ah_drawn": (-100_000_000, 100_000_000),
    "battery_voltage_min_seen": (-100, 100),
    "battery_voltage_max_seen": (-100, 100),
    "energy_discharged_total": (0, 10_000_000),
    "energy_charged_total": (0, 10_000_000),
    "day_sequence": (0, 365),
    "battery_voltage_2": (0, 100),
    "battery_voltage_3": (0, 100),
    "battery_current_2": (-3000, 3000),
    "battery_current_3": (-3000, 3000),
    "charger_error": (0, 255),  # the ERR codes of tables.ERRORS fit a byte
    "monitor_mode": (-16, 16),  # MON: DC monitor type, a small signed code
    "aux_voltage_min_seen": (-100, 100),
    "aux_voltage_max_seen": (-100, 100),
    "ac_out_voltage": (0, 300),  # Phoenix inverters: 230 V or 120 V nominal
    "ac_out_current": (0, 200),
    "ac_out_apparent_power": (0, 30_000),
    "load_on": (0, 1),
    "alarm_on": (0, 1),
    "relay_on": (0, 1),
    **dict.fromkeys(
        (
            "battery_cycles",
            "battery_full_discharges",
            "battery_seconds_since_full",
            "battery_sync_count",
            "battery_low_voltage_alarms",
            "battery_high_voltage_alarms",
            "aux_low_voltage_alarms",
            "aux_high_voltage_alarms",
        ),
        (0, 2**32),
    ),
}


class RecordRejected(ValueError):
    """A checksum-valid record whose content is implausible: `reason` is the counter key."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def decode(fields: Iterable[tuple[str, str]]) -> Reading:
    """One record's fields -> Reading. Raises RecordRejected("bad_value" | "out_of_range")."""
    metrics: dict[str, MetricValue] = {}
    info: dict[str, str] = {}
    extra: dict[str, MetricValue] = {}
    for label, text in fields:
        try:
            if label in INFO:
                info.update(INFO[label](text))
                continue
            for row in FIELDS.get(label, ()):
                value = row.convert(text)
                if value is not None:
                    (metrics if row.name in CATALOGUE else extra)[row.name] = value
        except (ValueError, ArithmeticError):  # every converter's failure is the record's
            raise RecordRejected("bad_value", f"{label}={text[:40]!r}") from None
        if label not in FIELDS:
            extra[label] = text
    _check_bounds(metrics)
    return Reading(metrics, info, extra)


def unknown_labels(fields: Iterable[tuple[str, str]]) -> list[str]:
    """Labels this table does not know (the driver counts them; they are never fatal)."""
    return [label for label, _ in fields if label not in FIELDS and label not in INFO]


def _check_bounds(metrics: dict[str, MetricValue]) -> None:
    """Tighter VE.Direct bounds where `BOUNDS` has them, else the catalogue's (a test checks
    that every numeric label has its own row here)."""
    for name, value in metrics.items():
        if isinstance(value, str):
            continue
        bounds = BOUNDS.get(name) or CATALOGUE[name].bounds
        if bounds is None or not bounds[0] <= value <= bounds[1]:
            raise RecordRejected("out_of_range", f"{name}={value!r}")
