"""The metric catalogue of the MQTT contract (docs/mqtt.md): names, SI units, and how samples
aggregate.

Drivers may emit only these names (a conformance test walks every driver), publishers and
reports rely on the units. `aggregate` says how a publish window of samples becomes one value:
`mean` for instantaneous quantities, `last` for counters, totals and states.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Aggregate(Enum):
    MEAN = "mean"
    LAST = "last"
    MAX = "max"


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    unit: str
    aggregate: Aggregate
    text: bool = False


_M, _L, _X = Aggregate.MEAN, Aggregate.LAST, Aggregate.MAX

CATALOGUE: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("battery_voltage", "V", _M),
        Metric("battery_current", "A", _M),
        Metric("battery_power", "W", _M),
        Metric("battery_soc", "%", _L),
        Metric("battery_temperature", "°C", _M),
        Metric("battery_consumed_ah", "Ah", _L),
        Metric("battery_time_to_go", "min", _L),
        Metric("battery_soh", "%", _L),
        Metric("battery_cycles", "count", _L),
        Metric("cell_voltage_min", "V", _M),
        Metric("cell_voltage_max", "V", _M),
        Metric("pv_voltage", "V", _M),
        Metric("pv_current", "A", _M),
        Metric("pv_power", "W", _M),
        Metric("load_current", "A", _M),
        Metric("load_power", "W", _M),
        Metric("load_on", "0/1", _L),
        Metric("yield_today", "kWh", _L),
        Metric("yield_yesterday", "kWh", _L),
        Metric("yield_total", "kWh", _L),
        Metric("max_power_today", "W", _L),
        Metric("charger_state", "text", _L, text=True),
        Metric("charger_error", "int", _L),
        # Extensions beyond the contract's table (documented in docs/metrics.md).
        Metric("battery_starter_voltage", "V", _M),
        Metric("battery_midpoint_voltage", "V", _M),
        Metric("battery_midpoint_deviation", "%", _M),
        Metric("charger_temperature", "°C", _M),
        Metric("charger_off_reason", "text", _L, text=True),
        Metric("tracker_mode", "text", _L, text=True),
        Metric("alarm_on", "0/1", _L),
        Metric("alarm_reason", "text", _L, text=True),
        Metric("relay_on", "0/1", _L),
        Metric("max_power_yesterday", "W", _L),
        Metric("battery_deepest_discharge_ah", "Ah", _L),
        Metric("battery_last_discharge_ah", "Ah", _L),
        Metric("battery_average_discharge_ah", "Ah", _L),
        Metric("battery_full_discharges", "count", _L),
        Metric("battery_total_ah_drawn", "Ah", _L),
        Metric("battery_voltage_min_seen", "V", _L),
        Metric("battery_voltage_max_seen", "V", _L),
        Metric("battery_seconds_since_full", "s", _L),
        Metric("battery_sync_count", "count", _L),
        Metric("battery_low_voltage_alarms", "count", _L),
        Metric("battery_high_voltage_alarms", "count", _L),
        Metric("energy_discharged_total", "kWh", _L),
        Metric("energy_charged_total", "kWh", _L),
        Metric("day_sequence", "count", _L),
        Metric("battery_capacity", "Ah", _L),
        Metric("cell_voltage_delta", "V", _M),
        Metric("cell_count", "count", _L),
        Metric("charger_error_name", "text", _L, text=True),
        Metric("device_mode", "text", _L, text=True),
        Metric("load_voltage", "V", _M),
        Metric("load_energy_today", "kWh", _L),
        Metric("battery_remaining_ah", "Ah", _L),
        Metric("battery_alarms", "text", _L, text=True),
        Metric("bms_temperature", "°C", _M),
        Metric("charge_enabled", "0/1", _L),
        Metric("discharge_enabled", "0/1", _L),
        Metric("balancing", "0/1", _L),
        Metric("system_power", "W", _M),
        Metric("battery_voltage_2", "V", _M),
        Metric("battery_voltage_3", "V", _M),
        Metric("battery_current_2", "A", _M),
        Metric("battery_current_3", "A", _M),
        Metric("aux_low_voltage_alarms", "count", _L),
        Metric("aux_high_voltage_alarms", "count", _L),
        Metric("aux_voltage_min_seen", "V", _L),
        Metric("aux_voltage_max_seen", "V", _L),
        Metric("warning_reason", "text", _L, text=True),
        Metric("monitor_mode", "int", _L),
        Metric("ac_out_voltage", "V", _M),
        Metric("ac_out_current", "A", _M),
        Metric("ac_out_apparent_power", "VA", _M),
    )
}


def aggregate(name: str, values: list) -> object:
    """Fold one window of sample values of metric `name` into the published value."""
    metric = CATALOGUE.get(name)
    how = metric.aggregate if metric else Aggregate.LAST
    if how is Aggregate.LAST or any(isinstance(v, str) for v in values):
        return values[-1]
    if how is Aggregate.MAX:
        return max(values)
    mean = sum(values) / len(values)
    return round(mean, 4)
