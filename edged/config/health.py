"""Validation of the `[health]` and `[alarms]` sections (docs/configuration.md, docs/alarms.md).

Every problem with its key path, unknown keys are errors, no I/O: no check is probed, no port
bound; defaults from edged.config.settings.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from edged.config.settings import (
    AlarmRuleConfig,
    AlarmsConfig,
    CheckConfig,
    EquipmentConfig,
    HealthConfig,
    ReportEndpointConfig,
    UplinkConfig,
)
from maintenance.alarms.engine import Condition, Severity
from maintenance.alarms.rules import BUILTIN_IDS, OVERRIDABLE, builtin

COMPONENT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
RULE_ID = re.compile(r"^[a-z0-9_]{1,64}$")
TARGET = re.compile(r"^(health\.[a-z0-9_*?\[\]-]+|[a-z0-9_*?\[\]-]+)\.[a-z0-9_]+$")
KIND_NEEDS = {
    "http": ("url",),
    "tcp": ("host", "port"),
    "host": ("host", "port"),
    "systemd": ("unit",),
}
RESERVED_COMPONENTS = ("pibox", "uplink")
PLACEHOLDERS = ("value", "threshold", "device", "subject")
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def health(v, raw: Mapping[str, Any]) -> HealthConfig:
    nested = ("checks", "equipment", "report", "uplink")
    base = v.section(raw, "health", HealthConfig, {"interval": _positive}, nested=nested)
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


def _positive(val: Any) -> str | None:
    return None if val > 0 else "expected a positive number"


def _port(val: Any) -> str | None:
    return None if 0 < val < 65536 else "expected a TCP port 1-65535"


_CHECK_CHECKS = {"name": _name_check, "timeout": _positive, "port": _port}


def _equipment(v, item: Mapping[str, Any], path: str, built: EquipmentConfig | None) -> dict:
    ids = item.get("usb_ids", []) if isinstance(item, Mapping) else []
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        v.add(f"{path}.usb_ids", 'expected an array of "vvvv:pppp" strings')
        return {}
    from maintenance.health.glasses import UsbId  # only a config with glasses needs it

    for i, text in enumerate(ids):
        try:
            UsbId.parse(text)
        except ValueError as exc:
            v.add(f"{path}.usb_ids[{i}]", str(exc))
    return {"usb_ids": tuple(ids)}


_ITEM_CHECKS = {
    "item": _name_check,
    "report_ttl": _positive,
    "max_gap": _positive,
    "lan_timeout": _positive,
}


def _zone(val: Any) -> str | None:
    try:
        ZoneInfo(val)
    except (ZoneInfoNotFoundError, ValueError):
        return "expected an IANA time zone such as Africa/Bamako"
    return None


_UPLINK_CHECKS = {
    "cycle_day": lambda x: None if 1 <= x <= 28 else "expected a day 1-28",
    "monthly_budget_mb": _positive,
    "window_h": _positive,
    "timezone": _zone,
}


def alarms(v, raw: Mapping[str, Any]) -> AlarmsConfig:
    table = raw.get("alarms", {})
    if not isinstance(table, Mapping):
        v.add("alarms", "expected a table")
        return AlarmsConfig()
    v.unknown(table, "alarms.", ("timezone", "daylight_hours", "rules", *BUILTIN_IDS))
    zone = v.value(table, "timezone", str, "alarms", "UTC", check=_zone)
    hours = _hours(v, table.get("daylight_hours", [8, 17]))
    overrides = []
    for rule_id in BUILTIN_IDS:
        if rule_id in table:
            overrides.append(_rule(v, table[rule_id], f"alarms.{rule_id}", rule_id))
    customs = []
    rules = v.array(table.get("rules", []), "alarms.rules")
    for i, item in enumerate(rules):
        rule = _rule(v, item, f"alarms.rules[{i}]", None)
        if rule is not None and rule.id in BUILTIN_IDS + tuple(c.id for c in customs if c):
            v.add(f"alarms.rules[{i}].id", f"expected a new rule id, {rule.id!r} exists")
        customs.append(rule)
    return AlarmsConfig(zone, hours, tuple(filter(None, overrides)), tuple(filter(None, customs)))


def _hours(v, val: Any) -> tuple[int, int]:
    if (
        isinstance(val, list)
        and len(val) == 2
        and all(isinstance(h, int) and not isinstance(h, bool) and 0 <= h <= 24 for h in val)
        and val[0] != val[1]
    ):
        return (val[0], val[1])
    v.add("alarms.daylight_hours", f"expected [start, end] hours 0-24, got {val!r}")
    return (8, 17)


def _rule(v, item: Any, path: str, builtin_id: str | None) -> AlarmRuleConfig | None:
    """One `[alarms.<id>]` override (builtin_id set) or one `[[alarms.rules]]` custom rule."""
    if not isinstance(item, Mapping):
        v.add(path, "expected a table")
        return None
    start = len(v.problems)
    custom = builtin_id is None
    allowed = ("id", "target", "condition", *OVERRIDABLE) if custom else OVERRIDABLE
    v.unknown(item, path + ".", allowed)
    values: dict[str, Any] = {}
    if custom:
        values["id"] = v.value(
            item,
            "id",
            str,
            path,
            required=True,
            check=lambda x: None if RULE_ID.match(x) else "expected only [a-z0-9_] characters",
        )
        values["target"] = v.value(item, "target", str, path, required=True, check=_target)
        values["condition"] = v.value(
            item, "condition", str, path, required=True, check=_one_of(Condition)
        )
    condition = values.get("condition") or (builtin(builtin_id).condition if builtin_id else None)
    numeric = condition in (Condition.ABOVE, Condition.BELOW, "above", "below")
    types = (float,) if numeric else (float, str, bool)
    if builtin_id and not numeric:
        types = (type(builtin(builtin_id).threshold),)
    values["threshold"] = v.value(item, "threshold", types, path, required=custom)
    values["enabled"] = v.value(item, "enabled", bool, path, True)
    for key in ("clear", "delay", "clear_delay"):
        values[key] = v.value(
            item, key, float, path, check=None if key == "clear" else _not_negative
        )
    if "clear" in item and not numeric and condition is not None:
        v.add(f"{path}.clear", "expected only with condition above or below")
    values["severity"] = v.value(item, "severity", str, path, check=_one_of(Severity))
    for key in ("message_fr", "message_en"):
        values[key] = v.value(item, key, str, path, check=_template)
    if len(v.problems) > start:
        return None
    return AlarmRuleConfig(id=builtin_id or values.pop("id"), **values)


def _target(val: str) -> str | None:
    if TARGET.match(val):
        return None
    return "expected device.metric or health.component.value (patterns allowed: *)"


def _one_of(enum) -> Any:
    names = [m.value for m in enum]
    return lambda val: None if val in names else f"expected one of {', '.join(names)}"


def _not_negative(val: Any) -> str | None:
    return None if val >= 0 else "expected a number of seconds >= 0"


def _template(val: str) -> str | None:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(val) if name is not None}
    except ValueError:
        return "expected a message with balanced braces"
    unknown = names - set(PLACEHOLDERS)
    if unknown:
        return f"expected placeholders among {{{'}, {'.join(PLACEHOLDERS)}}}"
    return None


assert {f.name for f in fields(AlarmRuleConfig)} >= set(OVERRIDABLE)
