"""`[health]` (with `[[health.checks]]`, `[[health.equipment]]`, `[health.report]`,
`[health.uplink]`): the frozen settings, their defaults and their checks (docs/configuration.md,
docs/health.md).

Every problem with its key path, unknown keys are errors, no I/O: no check is probed, no port
bound.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from edged.config.checks import port, positive, time_zone
from maintenance.health.usb_id import UsbId

COMPONENT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
KIND_NEEDS = {
    "http": ("url",),
    "tcp": ("host", "port"),
    "host": ("host", "port"),
    "systemd": ("unit",),
}
RESERVED_COMPONENTS = ("pibox", "uplink")
LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True, slots=True)
class CheckConfig:
    """One `[[health.checks]]` entry (docs/health.md); only the fields of its kind are used."""

    name: str
    kind: str
    url: str = ""
    expect_status: int = 200
    expect_text: str | None = None
    host: str = ""
    port: int = 0
    unit: str = ""
    timeout: float = 5.0


@dataclass(frozen=True, slots=True)
class EquipmentConfig:
    """One `[[health.equipment]]` item (smart glasses): how it can be seen."""

    item: str
    usb_ids: tuple[str, ...] = ()
    usb_charging: bool = True
    lan_host: str | None = None
    lan_port: int | None = None
    lan_timeout: float = 2.0
    report_ttl: float = 900.0
    max_gap: float = 900.0


@dataclass(frozen=True, slots=True)
class ReportEndpointConfig:
    bind: str = "127.0.0.1"
    port: int = 8765
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class UplinkConfig:
    interface: str = "ppp0"
    monthly_budget_mb: float | None = None
    cycle_day: int = 1
    timezone: str = "UTC"
    window_h: float = 24.0
    broker_check: bool = True


@dataclass(frozen=True, slots=True)
class HealthConfig:
    enabled: bool = True
    interval: float = 60.0
    """Seconds between health rounds: one P/health message and one stored row per component."""
    data_path: str = "/var/lib/edged"
    sysfs_root: str = "/"
    """Where /sys and /proc are read from (a fake tree in tests; "/" on a real box)."""
    checks: tuple[CheckConfig, ...] = ()
    equipment: tuple[EquipmentConfig, ...] = ()
    report: ReportEndpointConfig | None = None
    uplink: UplinkConfig | None = None


def health(v, raw: Mapping[str, Any]) -> HealthConfig:
    nested = ("checks", "equipment", "report", "uplink")
    base = v.section(raw, "health", HealthConfig, {"interval": positive}, nested=nested)
    table = raw.get("health")
    if base is None or not isinstance(table, Mapping):
        return base or HealthConfig()
    checks = tuple(_items(v, table, "checks", CheckConfig, _CHECK_CHECKS, _check))
    equipment = tuple(_items(v, table, "equipment", EquipmentConfig, _ITEM_CHECKS, _equipment))
    names = [c.name for c in checks] + [e.item for e in equipment]
    for i, name in enumerate(names):
        if name in RESERVED_COMPONENTS or name in names[:i]:
            where = (
                f"health.checks[{i}].name"
                if i < len(checks)
                else (f"health.equipment[{i - len(checks)}].item")
            )
            v.add(where, f"expected a unique component name (not pibox or uplink), got {name!r}")
    report = uplink = None
    if "report" in table:
        report = v.section(table, "report", ReportEndpointConfig, {}, prefix="health.")
        if report is not None and report.bind not in LOOPBACK and not report.token:
            v.add("health.report.token", "required when bind is not a loopback address")
    if "uplink" in table:
        uplink = v.section(table, "uplink", UplinkConfig, _UPLINK_CHECKS, prefix="health.")
    return replace(base, checks=checks, equipment=equipment, report=report, uplink=uplink)


def _items(v, table: Mapping[str, Any], key: str, cls, checks: dict, extra) -> list:
    """Each `[[health.<key>]]` table as `cls`; `extra` validates what `section` cannot."""
    raw = v.array(table.get(key, []), f"health.{key}")
    out = []
    for i, item in enumerate(raw):
        name = f"{key}[{i}]"
        start = len(v.problems)
        if isinstance(item, Mapping) and "usb_ids" in item:
            item = {k: val for k, val in item.items() if k != "usb_ids"}
        built = v.section({name: item}, name, cls, checks, prefix="health.")
        extra_value = extra(v, raw[i], f"health.{name}", built)
        if built is not None and len(v.problems) == start:
            out.append(replace(built, **extra_value))
    return out


def _name_check(val: Any) -> str | None:
    return None if COMPONENT.match(val) else "expected only [a-z0-9_-] characters"


def _check(v, item: Mapping[str, Any], path: str, built: CheckConfig | None) -> dict:
    if built is None:
        return {}
    if built.kind not in KIND_NEEDS:
        v.add(f"{path}.kind", f"expected one of {', '.join(KIND_NEEDS)}, got {built.kind!r}")
        return {}
    for key in KIND_NEEDS[built.kind]:
        if key not in item:
            v.add(f"{path}.{key}", f"required for kind {built.kind!r}")
    return {}


_CHECK_CHECKS = {"name": _name_check, "timeout": positive, "port": port}


def _equipment(v, item: Mapping[str, Any], path: str, built: EquipmentConfig | None) -> dict:
    ids = item.get("usb_ids", []) if isinstance(item, Mapping) else []
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        v.add(f"{path}.usb_ids", 'expected an array of "vvvv:pppp" strings')
        return {}
    for i, text in enumerate(ids):
        try:
            UsbId.parse(text)
        except ValueError as exc:
            v.add(f"{path}.usb_ids[{i}]", str(exc))
    return {"usb_ids": tuple(ids)}


_ITEM_CHECKS = {
    "item": _name_check,
    "report_ttl": positive,
    "max_gap": positive,
    "lan_timeout": positive,
}


_UPLINK_CHECKS = {
    "cycle_day": lambda x: None if 1 <= x <= 28 else "expected a day 1-28",
    "monthly_budget_mb": positive,
    "window_h": positive,
    "timezone": time_zone,
}
