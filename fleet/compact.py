"""The compact record form (docs/mqtt.md, "Compact records") read back into metric names.

The site sends `{"v":1,"t":ts,"c":1,"n":60,"m":{"0":1253,...}}` live and
`{"v":1,"s":[{"t":..,"c":..,"m":{...}},...]}` as history: each key of `m` a code of the table
below (its base-36 position) and its value an integer count of the metric's resolution; a key
that is no code is a metric name with its value as it is. This is the collector's own copy of the
table (it imports nothing from the daemon; a test holds it equal to the daemon's): APPEND ONLY.

Pure; never raises but `Bad` with the reason, which the caller turns into a counted refusal.
"""

from __future__ import annotations

import math
from typing import Any

VERSIONS = (1,)
MAX_COUNT = 2**53  # larger integers lose precision as floats; no metric's bounds need them

KEYS_V1: tuple[tuple[str, float | None], ...] = (
    ("battery_voltage", 0.01),
    ("battery_current", 0.01),
    ("battery_power", 1),
    ("battery_soc", 0.1),
    ("battery_temperature", 0.1),
    ("battery_consumed_ah", 0.01),
    ("battery_time_to_go", 1),
    ("battery_soh", 0.1),
    ("battery_cycles", 1),
    ("cell_voltage_min", 0.001),
    ("cell_voltage_max", 0.001),
    ("pv_voltage", 0.01),
    ("pv_current", 0.01),
    ("pv_power", 1),
    ("load_current", 0.01),
    ("load_power", 1),
    ("load_on", 1),
    ("yield_today", 0.01),
    ("yield_yesterday", 0.01),
    ("yield_total", 0.01),
    ("max_power_today", 1),
    ("charger_state", None),
    ("charger_error", 1),
    ("battery_starter_voltage", 0.01),
    ("battery_midpoint_voltage", 0.01),
    ("battery_midpoint_deviation", 0.1),
    ("charger_temperature", 0.1),
    ("charger_off_reason", None),
    ("tracker_mode", None),
    ("alarm_on", 1),
    ("alarm_reason", None),
    ("relay_on", 1),
    ("max_power_yesterday", 1),
    ("battery_deepest_discharge_ah", 0.01),
    ("battery_last_discharge_ah", 0.01),
    ("battery_average_discharge_ah", 0.01),
    ("battery_full_discharges", 1),
    ("battery_total_ah_drawn", 0.01),
    ("battery_voltage_min_seen", 0.01),
    ("battery_voltage_max_seen", 0.01),
    ("battery_seconds_since_full", 1),
    ("battery_sync_count", 1),
    ("battery_low_voltage_alarms", 1),
    ("battery_high_voltage_alarms", 1),
    ("energy_discharged_total", 0.01),
    ("energy_charged_total", 0.01),
    ("day_sequence", 1),
    ("battery_capacity", 0.01),
    ("cell_voltage_delta", 0.001),
    ("cell_count", 1),
    ("charger_error_name", None),
    ("charger_fault_flag", 1),
    ("device_mode", None),
    ("load_voltage", 0.01),
    ("load_energy_today", 0.01),
    ("battery_remaining_ah", 0.01),
    ("battery_alarms", None),
    ("bms_temperature", 0.1),
    ("mosfet_temperature", 0.1),
    ("charge_enabled", 1),
    ("discharge_enabled", 1),
    ("balancing", 1),
    ("system_power", 1),
    ("battery_voltage_2", 0.01),
    ("battery_voltage_3", 0.01),
    ("battery_current_2", 0.01),
    ("battery_current_3", 0.01),
    ("aux_low_voltage_alarms", 1),
    ("aux_high_voltage_alarms", 1),
    ("aux_voltage_min_seen", 0.01),
    ("aux_voltage_max_seen", 0.01),
    ("warning_reason", None),
    ("monitor_mode", 1),
    ("ac_out_voltage", 0.01),
    ("ac_out_current", 0.01),
    ("ac_out_apparent_power", 1),
)
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


class Bad(Exception):
    """Why a compact body cannot be read."""


def _code(index: int) -> str:
    digits = ""
    while True:
        index, rest = divmod(index, 36)
        digits = _DIGITS[rest] + digits
        if index == 0:
            return digits


def _places(scale: float) -> int:
    return max(0, -math.floor(math.log10(scale) + 1e-9))


TABLE_V1: dict[str, tuple[str, float | None, int]] = {
    _code(i): (name, scale, _places(scale) if scale else 0)
    for i, (name, scale) in enumerate(KEYS_V1)
}
"""Code -> (metric name, resolution, decimal places of the resolution)."""


def version(body: dict[str, Any]) -> int:
    v = body.get("v")
    if isinstance(v, bool) or v not in VERSIONS:
        raise Bad(f"unknown compact version {str(v)[:20]!r}")
    return v


def metrics(kind: str, m: Any) -> dict[str, Any]:
    """Metric names and values of one compact record's `m`."""
    if not isinstance(m, dict):
        raise Bad(f"{kind}: m is not an object")
    out: dict[str, Any] = {}
    for key, value in m.items():
        known = TABLE_V1.get(key)
        if known is None:
            out[key] = value  # a metric the table does not know yet: its name, its value
            continue
        name, scale, places = known
        out[name] = _unscaled(kind, name, value, scale, places)
    return out


def _unscaled(kind: str, name: str, value: Any, scale: float | None, places: int) -> Any:
    if scale is None or value is None or isinstance(value, str | bool):
        return value
    if not isinstance(value, int | float):
        raise Bad(f"{kind}: {name} is not a number")
    if abs(value) > MAX_COUNT or not math.isfinite(value):  # a huge int is no float: abs first
        raise Bad(f"{kind}: {name} out of range")
    if scale == 1:
        return value
    return round(value * scale, places)
