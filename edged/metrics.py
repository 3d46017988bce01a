"""The metric catalogue: names, SI units, plausible bounds, and how samples aggregate.

Drivers may emit only these names (a conformance test walks every driver), publishers and
reports rely on the units. `aggregate` says how a publish window of samples becomes one value:
`mean` for instantaneous quantities, `last` for counters, totals and states.

Every numeric metric carries `bounds`: the widest range any supported device can physically
report. They are deliberately loose (a 48 V site and a 450 V PV string share them); their job is
to stop what no device can mean (a value of 400 digits, NaN, -90000 V) before it is stored or
folded into a window, whatever the driver. `check` applies them; the runner calls it once for
every reading (see `edged.runner`). A codec may keep tighter, per-protocol bounds of its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from edged.readings import MetricValue


class Aggregate(Enum):
    MEAN = "mean"
    LAST = "last"
    MAX = "max"


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    unit: str
    aggregate: Aggregate
    bounds: tuple[float, float] | None = None
    """Inclusive (low, high) in `unit`; None only for text metrics."""
    text: bool = False


@dataclass(frozen=True, slots=True)
class Rejection:
    """One value `check` refused: which metric, why (the counter key), and the value as given."""

    metric: str
    reason: str
    value: object


NOT_FINITE, NOT_NUMERIC, NOT_TEXT = "not_finite", "not_numeric", "not_text"
OUT_OF_BOUNDS, UNKNOWN_METRIC = "out_of_bounds", "unknown_metric"
"""The reasons of `Rejection`, shown as `rejected_<reason>` counters in `edged status`."""

_M, _L, _X = Aggregate.MEAN, Aggregate.LAST, Aggregate.MAX
_TEXT = {"aggregate": _L, "text": True}
_COUNT = (0, 2**32)  # 32-bit device counters
_BIT = (0, 1)
_KV = (-1000, 1000)  # any DC voltage on a site, either polarity (midpoint, aux, min/max seen)
_AMPS = (-10_000, 10_000)
_WATTS = (-1_000_000, 1_000_000)
_CELSIUS = (-60, 150)
_AH = (-10_000_000, 10_000_000)
_KWH = (0, 100_000_000)

CATALOGUE: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("battery_voltage", "V", _M, (0, 1000)),
        Metric("battery_current", "A", _M, _AMPS),
        Metric("battery_power", "W", _M, _WATTS),
        Metric("battery_soc", "%", _L, (0, 100)),
        Metric("battery_temperature", "°C", _M, _CELSIUS),
        Metric("battery_consumed_ah", "Ah", _L, _AH),
        Metric("battery_time_to_go", "min", _L, (0, 10_000_000)),
        Metric("battery_soh", "%", _L, (0, 100)),
        Metric("battery_cycles", "count", _L, _COUNT),
        Metric("cell_voltage_min", "V", _M, (0, 10)),
        Metric("cell_voltage_max", "V", _M, (0, 10)),
        Metric("pv_voltage", "V", _M, (0, 2000)),
        Metric("pv_current", "A", _M, (0, 10_000)),
        Metric("pv_power", "W", _M, (0, 1_000_000)),
        Metric("load_current", "A", _M, _AMPS),
        Metric("load_power", "W", _M, _WATTS),
        Metric("load_on", "0/1", _L, _BIT),
        Metric("yield_today", "kWh", _L, (0, 100_000)),
        Metric("yield_yesterday", "kWh", _L, (0, 100_000)),
        Metric("yield_total", "kWh", _L, _KWH),
        Metric("max_power_today", "W", _L, (0, 1_000_000)),
        Metric("charger_state", "text", **_TEXT),
        Metric("charger_error", "int", _L, (0, 65_535)),  # a code or a 16-bit fault mask
        # Extensions beyond the contract's table (documented in docs/metrics.md).
        Metric("battery_starter_voltage", "V", _M, _KV),
        Metric("battery_midpoint_voltage", "V", _M, _KV),
        Metric("battery_midpoint_deviation", "%", _M, (-100, 100)),
        Metric("charger_temperature", "°C", _M, _CELSIUS),
        Metric("charger_off_reason", "text", **_TEXT),
        Metric("tracker_mode", "text", **_TEXT),
        Metric("alarm_on", "0/1", _L, _BIT),
        Metric("alarm_reason", "text", **_TEXT),
        Metric("relay_on", "0/1", _L, _BIT),
        Metric("max_power_yesterday", "W", _L, (0, 1_000_000)),
        Metric("battery_deepest_discharge_ah", "Ah", _L, _AH),
        Metric("battery_last_discharge_ah", "Ah", _L, _AH),
        Metric("battery_average_discharge_ah", "Ah", _L, _AH),
        Metric("battery_full_discharges", "count", _L, _COUNT),
        Metric("battery_total_ah_drawn", "Ah", _L, (-1e9, 1e9)),
        Metric("battery_voltage_min_seen", "V", _L, _KV),
        Metric("battery_voltage_max_seen", "V", _L, _KV),
        Metric("battery_seconds_since_full", "s", _L, _COUNT),
        Metric("battery_sync_count", "count", _L, _COUNT),
        Metric("battery_low_voltage_alarms", "count", _L, _COUNT),
        Metric("battery_high_voltage_alarms", "count", _L, _COUNT),
        Metric("energy_discharged_total", "kWh", _L, _KWH),
        Metric("energy_charged_total", "kWh", _L, _KWH),
        Metric("day_sequence", "count", _L, (0, 366)),
        Metric("battery_capacity", "Ah", _L, (0, 1_000_000)),
        Metric("cell_voltage_delta", "V", _M, (0, 10)),
        Metric("cell_count", "count", _L, (0, 1024)),
        Metric("charger_error_name", "text", **_TEXT),
        Metric("charger_fault_flag", "0/1", _L, _BIT),
        Metric("device_mode", "text", **_TEXT),
        Metric("load_voltage", "V", _M, (0, 1000)),
        Metric("load_energy_today", "kWh", _L, (0, 100_000)),
        Metric("battery_remaining_ah", "Ah", _L, (0, 1_000_000)),
        Metric("battery_alarms", "text", **_TEXT),
        Metric("bms_temperature", "°C", _M, _CELSIUS),
        Metric("mosfet_temperature", "°C", _M, _CELSIUS),
        Metric("charge_enabled", "0/1", _L, _BIT),
        Metric("discharge_enabled", "0/1", _L, _BIT),
        Metric("balancing", "0/1", _L, _BIT),
        Metric("system_power", "W", _M, _WATTS),
        Metric("battery_voltage_2", "V", _M, (0, 1000)),
        Metric("battery_voltage_3", "V", _M, (0, 1000)),
        Metric("battery_current_2", "A", _M, _AMPS),
        Metric("battery_current_3", "A", _M, _AMPS),
        Metric("aux_low_voltage_alarms", "count", _L, _COUNT),
        Metric("aux_high_voltage_alarms", "count", _L, _COUNT),
        Metric("aux_voltage_min_seen", "V", _L, _KV),
        Metric("aux_voltage_max_seen", "V", _L, _KV),
        Metric("warning_reason", "text", **_TEXT),
        Metric("monitor_mode", "int", _L, (-128, 127)),  # a signed enum code
        Metric("ac_out_voltage", "V", _M, (0, 1000)),
        Metric("ac_out_current", "A", _M, (0, 10_000)),
        Metric("ac_out_apparent_power", "VA", _M, (0, 1_000_000)),
    )
}


RESOLUTION_BY_UNIT: dict[str, float] = {
    "V": 0.01,
    "A": 0.01,
    "W": 1,
    "VA": 1,
    "%": 0.1,
    "°C": 0.1,
    "Ah": 0.01,
    "kWh": 0.01,
    "min": 1,
    "s": 1,
    "count": 1,
    "0/1": 1,
    "int": 1,
}
"""The step a technician reads a metric's value at: what the compact payload keeps (telemetry.
compact). It is the dashboard's resolution, not the device's wire unit: a window's mean carries
four decimals that no one reads and that cost the metered uplink bytes."""
_FINER = {"cell_voltage_min": 0.001, "cell_voltage_max": 0.001, "cell_voltage_delta": 0.001}
"""Cell voltages are told apart by millivolts (balancing, a weak cell)."""


def resolution(name: str) -> float | None:
    """The step of metric `name`'s values (see RESOLUTION_BY_UNIT); None for text metrics and
    names outside the catalogue (their values are sent as they are)."""
    metric = CATALOGUE.get(name)
    if metric is None or metric.text:
        return None
    return _FINER.get(name, RESOLUTION_BY_UNIT.get(metric.unit))


def check(metrics: Mapping[str, object]) -> tuple[dict[str, MetricValue], list[Rejection]]:
    """Split one reading's metrics into the values fit to store and the ones refused.

    Never raises, whatever the values are: a text metric must be a `str`; a numeric one an
    `int` or `float` (not a bool), finite, and within the metric's bounds, which also stops
    integers too large to store or to average. Names outside the catalogue are refused too.
    """
    kept: dict[str, MetricValue] = {}
    refused: list[Rejection] = []
    for name, value in metrics.items():
        reason = _fault(CATALOGUE.get(name), value)
        if reason is None:
            kept[name] = value  # type: ignore[assignment]  # _fault checked the type
        else:
            refused.append(Rejection(name, reason, value))
    return kept, refused


def _fault(metric: Metric | None, value: object) -> str | None:
    if metric is None:
        return UNKNOWN_METRIC
    if metric.text:
        return None if isinstance(value, str) else NOT_TEXT
    if isinstance(value, bool) or not isinstance(value, int | float):
        return NOT_NUMERIC
    if isinstance(value, float) and not math.isfinite(value):
        return NOT_FINITE
    low, high = metric.bounds or (-math.inf, math.inf)
    return None if low <= value <= high else OUT_OF_BOUNDS


def aggregate(name: str, values: list) -> object:
    """Fold one window of sample values of metric `name` into the published value.

    Never raises: values reach here through `check`, but a window fold that raised would stop
    the writer thread (and with it storage for every device), so a mean that cannot be taken
    (values that are not numbers, or too large for a float) falls back to the last value.
    """
    if not values:
        return None
    metric = CATALOGUE.get(name)
    how = metric.aggregate if metric else Aggregate.LAST
    if how is Aggregate.LAST or any(isinstance(v, str) for v in values):
        return values[-1]
    try:
        if how is Aggregate.MAX:
            return max(values)
        mean = sum(values) / len(values)
        return round(mean, 4) if math.isfinite(mean) else values[-1]
    except (TypeError, ValueError, OverflowError, ArithmeticError):
        return values[-1]
