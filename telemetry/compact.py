"""The compact payload of `P/telemetry` and `P/history` (`[telemetry] payload = "compact"`).

Why: on a 3G link the clinic pays for every byte, and the JSON form spends most of a record on
metric names (`"battery_voltage":12.5312`). The compact form keys each value by a short code
from one fixed, versioned table (`KEYS_V1`, in docs/mqtt.md) and sends it as an integer count of
the metric's resolution (edged.metrics.resolution): `"0":1253` is 12.53 V.

Why a fixed table in the contract rather than a per-device dictionary published retained: the
fleet collector reads through an MQTT 5 shared subscription, and a shared subscription is not
sent retained messages, nor does any one collector see every message; a record must be readable
alone. The table is append-only: a code, once given, names that metric at that scale for good
(a test holds it to the catalogue). A metric the table does not know goes under its full name
with its value as it is, so a new metric never waits for a new table.

Pure: no client, socket, clock or database. The fleet collector keeps its own copy of the table
(it imports nothing from the daemon); tests hold the two equal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from edged.readings import Record

VERSION = 1
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"

KEYS_V1: tuple[tuple[str, float | None], ...] = (
    # (metric, resolution: the value is sent as round(value / resolution); None: as it is)
    # code: the base-36 position in this table; APPEND ONLY, never reorder or rescale
    ("battery_voltage", 0.01),  # 0
    ("battery_current", 0.01),  # 1
    ("battery_power", 1),  # 2
    ("battery_soc", 0.1),  # 3
    ("battery_temperature", 0.1),  # 4
    ("battery_consumed_ah", 0.01),  # 5
    ("battery_time_to_go", 1),  # 6
    ("battery_soh", 0.1),  # 7
    ("battery_cycles", 1),  # 8
    ("cell_voltage_min", 0.001),  # 9
    ("cell_voltage_max", 0.001),  # a
    ("pv_voltage", 0.01),  # b
    ("pv_current", 0.01),  # c
    ("pv_power", 1),  # d
    ("load_current", 0.01),  # e
    ("load_power", 1),  # f
    ("load_on", 1),  # g
    ("yield_today", 0.01),  # h
    ("yield_yesterday", 0.01),  # i
    ("yield_total", 0.01),  # j
    ("max_power_today", 1),  # k
    ("charger_state", None),  # l
    ("charger_error", 1),  # m
    ("battery_starter_voltage", 0.01),  # n
    ("battery_midpoint_voltage", 0.01),  # o
    ("battery_midpoint_deviation", 0.1),  # p
    ("charger_temperature", 0.1),  # q
    ("charger_off_reason", None),  # r
    ("tracker_mode", None),  # s
    ("alarm_on", 1),  # t
    ("alarm_reason", None),  # u
    ("relay_on", 1),  # v
    ("max_power_yesterday", 1),  # w
    ("battery_deepest_discharge_ah", 0.01),  # x
    ("battery_last_discharge_ah", 0.01),  # y
    ("battery_average_discharge_ah", 0.01),  # z
    ("battery_full_discharges", 1),  # 10
    ("battery_total_ah_drawn", 0.01),  # 11
    ("battery_voltage_min_seen", 0.01),  # 12
    ("battery_voltage_max_seen", 0.01),  # 13
    ("battery_seconds_since_full", 1),  # 14
    ("battery_sync_count", 1),  # 15
    ("battery_low_voltage_alarms", 1),  # 16
    ("battery_high_voltage_alarms", 1),  # 17
    ("energy_discharged_total", 0.01),  # 18
    ("energy_charged_total", 0.01),  # 19
    ("day_sequence", 1),  # 1a
    ("battery_capacity", 0.01),  # 1b
    ("cell_voltage_delta", 0.001),  # 1c
    ("cell_count", 1),  # 1d
    ("charger_error_name", None),  # 1e
    ("charger_fault_flag", 1),  # 1f
    ("device_mode", None),  # 1g
    ("load_voltage", 0.01),  # 1h
    ("load_energy_today", 0.01),  # 1i
    ("battery_remaining_ah", 0.01),  # 1j
    ("battery_alarms", None),  # 1k
    ("bms_temperature", 0.1),  # 1l
    ("mosfet_temperature", 0.1),  # 1m
    ("charge_enabled", 1),  # 1n
    ("discharge_enabled", 1),  # 1o
    ("balancing", 1),  # 1p
    ("system_power", 1),  # 1q
    ("battery_voltage_2", 0.01),  # 1r
    ("battery_voltage_3", 0.01),  # 1s
    ("battery_current_2", 0.01),  # 1t
    ("battery_current_3", 0.01),  # 1u
    ("aux_low_voltage_alarms", 1),  # 1v
    ("aux_high_voltage_alarms", 1),  # 1w
    ("aux_voltage_min_seen", 0.01),  # 1x
    ("aux_voltage_max_seen", 0.01),  # 1y
    ("warning_reason", None),  # 1z
    ("monitor_mode", 1),  # 20
    ("ac_out_voltage", 0.01),  # 21
    ("ac_out_current", 0.01),  # 22
    ("ac_out_apparent_power", 1),  # 23
)


def code(index: int) -> str:
    """Base 36 of a position in the table: "0".."z", then "10", "11", ..."""
    digits = ""
    while True:
        index, rest = divmod(index, 36)
        digits = _DIGITS[rest] + digits
        if index == 0:
            return digits


CODES: dict[str, tuple[str, float | None]] = {
    name: (code(i), scale) for i, (name, scale) in enumerate(KEYS_V1)
}
"""Metric name -> (code, resolution)."""


def _scaled(value: Any, scale: float | None) -> Any:
    """The integer count of `scale` nearest to `value`; text, None and odd values as they are
    (the JSON encoder turns NaN and inf into null)."""
    if scale is None or isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, int) and scale == 1:
        return value
    try:  # bounds stop huge values before storage, but the publisher must never raise
        count = value / scale
    except OverflowError:  # an int too large for a float
        return None
    return round(count) if math.isfinite(count) else None


def metrics(values: Mapping[str, Any]) -> dict[str, Any]:
    """A record's metrics keyed by code, scaled; names outside the table keep their name."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        known = CODES.get(name)
        if known is None:
            out[name] = value
        else:
            out[known[0]] = _scaled(value, known[1])
    return out


def live_body(record: Record) -> dict[str, Any]:
    """`P/telemetry/{device}`: `{"v":1,"t":ts,"c":1|0,"n":sample_count,"m":{code:int}}`."""
    return {
        "v": VERSION,
        "t": record.ts,
        "c": int(record.clock_synced),
        "n": record.samples,
        "m": metrics(record.metrics),
    }


def batch_body(
    records: Iterable[Record], health: Iterable[tuple[str, Mapping[str, Any]]]
) -> dict[str, Any]:
    """`P/batch` (frugal mode): `{"v":1,"r":{device:[{"t","c","m"},...]},"h":{component:
    [body,...]}}`, each device's records and each component's health bodies oldest first.
    Records are grouped by device so the per-record keys stay few; gzip does the rest."""
    by_device: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        entry = {"t": r.ts, "c": int(r.clock_synced), "m": metrics(r.metrics)}
        by_device.setdefault(r.device, []).append(entry)
    by_component: dict[str, list[Mapping[str, Any]]] = {}
    for component, body in health:
        by_component.setdefault(component, []).append(body)
    return {"v": VERSION, "r": by_device, "h": by_component}


def history_body(records: Iterable[Record]) -> dict[str, Any]:
    """`P/history/{device}`: `{"v":1,"s":[{"t":ts,"c":1|0,"m":{...}},...]}`, oldest first."""
    samples = [{"t": r.ts, "c": int(r.clock_synced), "m": metrics(r.metrics)} for r in records]
    return {"v": VERSION, "s": samples}
