"""Daly payload tables (protocols.md 4.3) and the decoder from verified frames to a `Reading`.

All values big-endian in the 8 data bytes of each answer:

| cmd | off | wire | metric |
|---|---|---|---|
| 0x90 | 0 | u16 0.1 V | battery_voltage |
| 0x90 | 4 | u16 0.1 A, offset 30000 | battery_current (sign per `current_sign`) |
| 0x90 | 6 | u16 0.1 % | battery_soc |
| 0x91 | 0 / 3 | u16 mV (+ cell no) | cell_voltage_max / cell_voltage_min |
| 0x92 | 0 / 2 | u8 °C + 40 (+ sensor no) | battery_temperature (the max); extra temperature_min |
| 0x93 | 1 / 2 | u8 0/1 | charge_enabled / discharge_enabled |
| 0x93 | 4 | u32 mAh | battery_remaining_ah |
| 0x94 | 0 | u8 | cell_count |
| 0x94 | 5 | u16 | battery_cycles |
| 0x95 | 0, 1–6 | frame no, 3 × u16 mV | per-cell volts (first cell_count) → min/max/delta, extra |
| 0x98 | 0–6 | failure bitmap, byte 0 bit 0 first | battery_alarms (FAILURES names) |

Options (protocols.md 4.3 [conflict]):

| option | values | default | why |
|---|---|---|---|
| current_sign | `normal`, `inverted` | `normal` | (raw − 30000) / 10, + = charging, as in |
| | | | the protocol's example (30113 → +11.3 A); python-daly-bms reads it the other way |
"""

from __future__ import annotations

from collections.abc import Iterable

from drivers.battery import common
from drivers.battery.common import Field, alarm_text, cell_metrics, join_values, read_fields
from drivers.battery.daly import codec
from drivers.battery.daly.codec import Frame
from edged.readings import Reading

TABLES: dict[int, tuple[Field, ...]] = {
    codec.SOC_VOLTAGE_CURRENT: (
        Field(0, ">H", "battery_voltage", 0.1, "0.1 V"),
        Field(4, ">H", "battery_current", 0.1, "0.1 A", bias=30000),
        Field(6, ">H", "battery_soc", 0.1, "0.1 %"),
    ),
    codec.CELL_MIN_MAX: (
        Field(0, ">H", "cell_voltage_max", 0.001, "mV"),
        Field(3, ">H", "cell_voltage_min", 0.001, "mV"),
    ),
    codec.TEMPERATURES: (
        Field(0, ">B", "battery_temperature", 1, "°C + 40", bias=40),
        Field(2, ">B", "temperature_min", 1, "°C + 40", bias=40),
    ),
    codec.MOS_STATUS: (
        Field(1, ">B", "charge_enabled", 1, "0/1"),
        Field(2, ">B", "discharge_enabled", 1, "0/1"),
        Field(4, ">I", "battery_remaining_ah", 0.001, "mAh"),
    ),
    codec.STATUS_INFO: (
        Field(0, ">B", "cell_count", 1, "count"),
        Field(5, ">H", "battery_cycles", 1, "count"),
    ),
}
EXTRA = frozenset({"temperature_min"})
STATES = ("stationary", "charging", "discharging")

_LEVELS = ("level1", "level2")
FAILURES: tuple[str, ...] = (
    *(f"cell_voltage_{hl}_{lv}" for hl in ("high", "low") for lv in _LEVELS),
    *(f"total_voltage_{hl}_{lv}" for hl in ("high", "low") for lv in _LEVELS),
    *(
        f"{cd}_temperature_{hl}_{lv}"
        for cd in ("charge", "discharge")
        for hl in ("high", "low")
        for lv in _LEVELS
    ),
    *(f"{cd}_overcurrent_{lv}" for cd in ("charge", "discharge") for lv in _LEVELS),
    *(f"soc_{hl}_{lv}" for hl in ("high", "low") for lv in _LEVELS),
    "cell_voltage_difference_level1",
    "cell_voltage_difference_level2",
    "temperature_difference_level1",
    "temperature_difference_level2",
    "",
    "",
    "",
    "",
    "charge_mos_overtemperature",
    "discharge_mos_overtemperature",
    "charge_mos_temperature_sensor_failure",
    "discharge_mos_temperature_sensor_failure",
    "charge_mos_adhesion_failure",
    "discharge_mos_adhesion_failure",
    "charge_mos_breaker_failure",
    "discharge_mos_breaker_failure",
    "afe_chip_failure",
    "cell_collect_drop_off",
    "temperature_sensor_failure",
    "eeprom_failure",
    "rtc_failure",
    "precharge_failure",
    "vehicle_communication_failure",
    "intranet_communication_failure",
    "current_module_failure",
    "voltage_detection_module_failure",
    "short_circuit_protection_failure",
    "low_voltage_no_charging",
)


def decode(frames: Iterable[Frame], *, current_sign: str = "normal") -> Reading:
    """Merge one poll's answers (any subset, any order) into one `Reading` (SI units)."""
    metrics: dict = {}
    extra: dict = {}
    cell_frames: dict[int, bytes] = {}
    for frame in frames:
        if frame.command in TABLES:
            metrics.update(read_fields(TABLES[frame.command], frame.data))
        if frame.command == codec.MOS_STATUS and frame.data[0] < len(STATES):
            extra["state"] = STATES[frame.data[0]]
        elif frame.command == codec.CELL_VOLTAGES:
            cell_frames.setdefault(frame.data[0], frame.data[1:7])
        elif frame.command == codec.FAILURES:
            bits = int.from_bytes(frame.data[:7], "little")
            metrics["battery_alarms"] = alarm_text(common.flag_names(bits, FAILURES))
    for name in EXTRA & metrics.keys():
        extra[name] = metrics.pop(name)
    if "battery_current" in metrics:
        metrics["battery_current"] = common.signed_current(metrics["battery_current"], current_sign)
    _cells(cell_frames, metrics, extra)
    return Reading(metrics=metrics, extra=extra)


def _cells(cell_frames: dict[int, bytes], metrics: dict, extra: dict) -> None:
    """Per-cell volts from the 0x95 frames in frame-number order, padding cut at cell_count."""
    raw = b"".join(cell_frames[n] for n in sorted(cell_frames))
    volts = [round(int.from_bytes(raw[i : i + 2], "big") / 1000, 3) for i in range(0, len(raw), 2)]
    count = metrics.get("cell_count")
    if count is None:
        return  # without 0x94 the padding cannot be told from cells
    volts = volts[:count]
    if len(volts) == count and volts:
        metrics.update(cell_metrics(volts))
        extra["cell_voltages"] = join_values(volts)
