"""Pylontech INFO layouts (protocols.md 4.1) and the decoder from verified frames to a `Reading`.

Analog values (CID2 0x42), read in sequence, big-endian:

| field | wire | metric / extra |
|---|---|---|
| DATAFLAG, pack address | 1 + 1 byte | — |
| cell count n, n × cell volts | 1 + n × u16 mV | cell_voltage_min/max/delta, cell_count |
| temp count m, m × temps | 1 + m × u16 0.1 K | [0] BMS board → bms_temperature |
| | | [5] when m ≥ 6: MOSFET → mosfet_temperature |
| | | the others (cell groups) → battery_temperature (mean) |
| current | s16, + = charging, unit per `current_unit` | battery_current |
| pack voltage | u16 mV | battery_voltage |
| remaining capacity | u16 mAh (0xFFFF → extended) | battery_remaining_ah |
| user defined | 1 byte: 02 short, 04 extended fields follow | — |
| total capacity | u16 mAh (0xFFFF → extended) | battery_capacity |
| cycles | u16 | battery_cycles |
| [04] remaining, total | 3 + 3 bytes mAh | battery_remaining_ah, battery_capacity |
| (derived) | remaining / total | battery_soc |

Per-cell volts and all temperatures also go to `extra` (cell_voltages, temperatures).

Alarm info (CID2 0x44, layout from robske110/pylonLV-protocol [lib], no capture yet): DATAFLAG,
address, n + n cell states, m + m temperature states, charge-current / module-voltage /
discharge-current states (0 normal, 1 below limit, 2 above limit, 0xF0 other), status1 (STATUS1
protection bits), status2 (bit1 charge MOSFET, bit2 discharge MOSFET), status3, status4–5 (cell
error bits) → battery_alarms, charge_enabled, discharge_enabled.

Options (sources disagree, protocols.md 4.1 [conflict]):

| option | values | default | why |
|---|---|---|---|
| current_unit | `100mA`, `10mA` | `100mA` | most python-pylontech forks ÷10; Pace-style ÷100 |
| current_sign | `normal`, `inverted` | `normal` | + = charging as the console's Curr column |
"""

from __future__ import annotations

from drivers.battery.common import (
    alarm_text,
    cell_metrics,
    flag_names,
    join_values,
    kelvin10_to_c,
    signed_current,
)
from drivers.battery.pylontech.codec import Frame
from edged.readings import Reading

CURRENT_UNITS = {"100mA": 0.1, "10mA": 0.01}
MOSFET = 5
"""Index of the MOSFET probe in a list of six or more temperatures: BMS board, four cell
groups, then the MOSFET (field report in edged issue 13; packs that measure it show it as the
console's `MosTempr` column). Five or fewer (the captured US3000) carry no MOSFET. Folded into
the cells' mean it made a pack under load look several degrees hotter than its cells."""
NOT_AVAILABLE = 0xFFFF

STATUS1 = (
    "module_overvoltage",
    "cell_undervoltage",
    "charge_overcurrent",
    "",
    "discharge_overcurrent",
    "discharge_overtemperature",
    "charge_overtemperature",
    "module_undervoltage",
)
STATE_SUFFIX = {1: "low", 2: "high"}


class _Cursor:
    """Sequential big-endian reader that answers None past the end instead of raising."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def uint(self, size: int) -> int | None:
        if self.pos + size > len(self.data):
            self.pos = len(self.data) + 1
            return None
        value = int.from_bytes(self.data[self.pos : self.pos + size], "big")
        self.pos += size
        return value

    def many(self, size: int) -> list[int] | None:
        count = self.uint(1)
        values = [self.uint(size) for _ in range(count or 0)]
        return None if count is None or None in values else values  # type: ignore[return-value]


def decode(
    analog: Frame | None,
    alarms: Frame | None = None,
    *,
    current_unit: str = "100mA",
    current_sign: str = "normal",
) -> Reading:
    """One pack's `Reading` from its 0x42 answer and (optionally) its 0x44 answer."""
    metrics: dict = {}
    extra: dict = {}
    if analog is not None and analog.cid2 == 0:
        _analog(analog.info, metrics, extra, CURRENT_UNITS.get(current_unit, 0.1))
    if alarms is not None and alarms.cid2 == 0:
        _alarms(alarms.info, metrics)
    if "battery_current" in metrics:
        metrics["battery_current"] = signed_current(metrics["battery_current"], current_sign)
    return Reading(metrics=metrics, extra=extra)


def _analog(info: bytes, metrics: dict, extra: dict, amps_per_unit: float) -> None:
    cur = _Cursor(info)
    cur.uint(2)  # DATAFLAG, pack address
    cells = cur.many(2)
    temps = cur.many(2)
    current, volts, remaining = cur.uint(2), cur.uint(2), cur.uint(2)
    user, total, cycles = cur.uint(1), cur.uint(2), cur.uint(2)
    if cells is None or temps is None or cycles is None:
        return
    volts_list = [round(mv / 1000, 3) for mv in cells]
    metrics.update(cell_metrics(volts_list))
    extra["cell_voltages"] = join_values(volts_list)
    celsius = [kelvin10_to_c(t) for t in temps]
    if celsius:
        extra["temperatures"] = join_values(celsius)
        metrics["bms_temperature"] = celsius[0]
        groups = celsius[1:] or celsius
        if len(celsius) > MOSFET:
            metrics["mosfet_temperature"] = celsius[MOSFET]
            groups = celsius[1:MOSFET] + celsius[MOSFET + 1 :]
        metrics["battery_temperature"] = round(sum(groups) / len(groups), 2)
    current = current - 0x10000 if current >= 0x8000 else current
    metrics["battery_current"] = round(current * amps_per_unit, 6)
    metrics["battery_voltage"] = round(volts / 1000, 3)
    metrics["battery_cycles"] = cycles
    if user == 4:  # 3-byte fields follow; they replace the 16-bit ones marked 0xFFFF
        ext_remaining, ext_total = cur.uint(3), cur.uint(3)
        remaining = ext_remaining if remaining == NOT_AVAILABLE else remaining
        total = ext_total if total == NOT_AVAILABLE else total
    if remaining is not None and remaining != NOT_AVAILABLE:
        metrics["battery_remaining_ah"] = round(remaining / 1000, 3)
    if total is not None and total != NOT_AVAILABLE and total > 0:
        metrics["battery_capacity"] = round(total / 1000, 3)
        if remaining is not None and remaining != NOT_AVAILABLE:
            metrics["battery_soc"] = round(min(100.0, 100 * remaining / total), 1)


def _alarms(info: bytes, metrics: dict) -> None:
    cur = _Cursor(info)
    cur.uint(2)  # DATAFLAG, pack address
    cells, temps = cur.many(1), cur.many(1)
    charge, module, discharge = cur.uint(1), cur.uint(1), cur.uint(1)
    status = [cur.uint(1) for _ in range(5)]
    if cells is None or temps is None or None in status:
        return
    names = _state_names("cell_voltage", cells) + _state_names("temperature", temps)
    for label, state in (
        ("charge_current", charge),
        ("module_voltage", module),
        ("discharge_current", discharge),
    ):
        names += _state_names(label, [state])
    names += flag_names(status[0], STATUS1, prefix="status1_bit")
    if status[3] or status[4]:
        names.append("cell_error")
    metrics["battery_alarms"] = alarm_text(dict.fromkeys(names))
    metrics["charge_enabled"] = status[1] >> 1 & 1
    metrics["discharge_enabled"] = status[1] >> 2 & 1


def _state_names(label: str, states: list) -> list[str]:
    """`cell_voltage_high` etc. for each distinct non-normal state in a list of alarm states."""
    out = []
    for state in sorted(set(states)):
        if state:
            out.append(f"{label}_{STATE_SUFFIX.get(state, 'error')}")
    return out
