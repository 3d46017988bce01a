"""`[[batteries]]`: each bank's frozen settings and their checks (docs/battery.md, "Configuring
a bank").

Every problem with its key path, unknown keys are errors, no I/O. A bank names the devices it is
built from; those are checked against the `[[devices]]` ids as written (a device with its own
problems still counts as named, so one mistake is not reported twice).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from maintenance.energy.chemistry import Chemistry

BANK_ID = re.compile(r"^[a-z0-9_-]{1,64}$")
NOMINAL_VOLTAGES = (12, 24, 48)
SOURCES = ("monitor", "controller")
NET_OF_LOAD = frozenset({"vedirect", "epever"})
"""Drivers whose `battery_current` is already net of the controller's own load output (VE.Direct
MPPT `I`, EPEver 0x331B): naming such a controller as its own `load` would subtract it twice.
A Modbus device with its own register map (`map = ...`) may be a controller whose current is its
charger output only, so it may still name itself."""


@dataclass(frozen=True, slots=True)
class BatteryConfig:
    """One `[[batteries]]` bank (docs/battery.md): its SOC is measured by `monitor` (a battery
    monitor or BMS device reporting battery_soc) or estimated from `controller`'s readings, less
    `load`'s load_current. Exactly one of monitor and controller is set."""

    id: str
    chemistry: str
    nominal_voltage: int
    capacity_ah: float
    monitor: str | None = None
    controller: str | None = None
    load: str | None = None
    charge_efficiency: float | None = None
    peukert: float | None = None
    initial_soc: float | None = None
    """None: unknown (50 ± 50 %) until the first full charge or a saved estimate."""


def batteries(v, raw: Mapping[str, Any]) -> tuple[BatteryConfig, ...]:
    """Every `[[batteries]]` table as a BatteryConfig; problems go to `v` with their key paths."""
    items = v.array(raw.get("batteries", []), "batteries")
    devices = _device_tables(raw.get("devices", []))
    out: list[BatteryConfig] = []
    ids: set[str] = set()
    used: dict[str, str] = {}  # source device -> the bank using it
    for i, item in enumerate(items):
        name = f"batteries[{i}]"
        start = len(v.problems)
        bank = v.section({name: item}, name, BatteryConfig, _CHECKS)
        if not isinstance(item, Mapping):
            continue
        _sources(v, item, name, devices)
        bank_id = _text(item, "id")
        if bank_id in devices:
            v.add(f"{name}.id", f"expected an id no device has, {bank_id!r} is a device")
        elif bank_id in ids:
            v.add(f"{name}.id", f"expected a unique bank id, {bank_id!r} is used twice")
        ids.add(bank_id or "")
        for key in SOURCES:
            device = _text(item, key)
            if device in used:
                v.add(
                    f"{name}.{key}",
                    f"expected a device no other bank uses, {used[device]!r} uses {device!r}",
                )
            elif device is not None:
                used[device] = bank_id or name
        if bank is not None and len(v.problems) == start:
            out.append(bank)
    return tuple(out)


def _sources(v, item: Mapping[str, Any], path: str, devices: Mapping[str, Any]) -> None:
    """Exactly one of monitor/controller; load only beside a controller; all known devices."""
    monitor, controller = _text(item, "monitor"), _text(item, "controller")
    if monitor is not None and controller is not None:
        v.add(f"{path}.controller", "expected either monitor or controller, not both")
    elif monitor is None and controller is None and not ({"monitor", "controller"} & set(item)):
        v.add(
            path,
            'expected monitor = "<device id>" (measured SOC) or controller = '
            '"<device id>" (estimated SOC)',
        )
    if "load" in item and controller is None:
        v.add(f"{path}.load", "expected only with controller")
    for key in ("monitor", "controller", "load"):
        device = _text(item, key)
        if device is not None and device not in devices:
            v.add(f"{path}.{key}", f"expected the id of a [[devices]] entry, got {device!r}")
    device = devices.get(controller) if controller is not None else None
    driver = device.get("driver") if isinstance(device, Mapping) else None
    own_map = isinstance(device, Mapping) and "map" in device
    if _text(item, "load") == controller and driver in NET_OF_LOAD and not own_map:
        v.add(
            f"{path}.load",
            f"expected no load: {controller!r} ({driver}) reports its battery current net of "
            "its load output already",
        )
    if monitor is not None:
        for key in ("charge_efficiency", "peukert", "initial_soc"):
            if key in item:
                v.add(f"{path}.{key}", "expected only with controller (an estimated bank)")


def _text(item: Mapping[str, Any], key: str) -> str | None:
    val = item.get(key)
    return val if isinstance(val, str) else None


def _device_tables(raw: Any) -> dict[str, Mapping[str, Any]]:
    """{device id: its table as written} of the `[[devices]]` entries that have an id."""
    if not isinstance(raw, list):
        return {}
    return {d["id"]: d for d in raw if isinstance(d, Mapping) and isinstance(d.get("id"), str)}


def _between(low: float, high: float, what: str):
    return lambda val: None if low <= val <= high else f"expected {what}"


_CHECKS = {
    "id": lambda val: None if BANK_ID.match(val) else "expected only [a-z0-9_-] characters",
    "chemistry": lambda val: (
        None if val in tuple(Chemistry) else (f"expected one of {', '.join(Chemistry)}")
    ),
    "nominal_voltage": lambda val: None if val in NOMINAL_VOLTAGES else "expected 12, 24 or 48",
    "capacity_ah": lambda val: None if val > 0 else "expected a positive number",
    "charge_efficiency": lambda val: None if 0 < val <= 1 else "expected a fraction in (0, 1]",
    "peukert": _between(1.0, 1.6, "a Peukert exponent 1.0-1.6"),
    "initial_soc": _between(0.0, 100.0, "a state of charge 0-100 (%)"),
}


def device_ids(raw: Any) -> set[str]:
    """The `[[devices]]` ids as written (edged.config.power checks names against them too)."""
    return set(_device_tables(raw))
