"""`[alarms]`: the site's time zone and daylight hours, `[alarms.<id>]` overrides of the built-in
rules and `[[alarms.rules]]` custom rules; their frozen settings and checks (docs/alarms.md).

The rule ids, fields and conditions are the alarm engine's own (maintenance.alarms), so a rule
accepted here is one the engine runs; maintenance.alarms.overrides applies them. No I/O.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from edged.config.checks import time_zone
from maintenance.alarms.engine import Condition, Severity
from maintenance.alarms.rules import BUILTIN_IDS, OVERRIDABLE, builtin

RULE_ID = re.compile(r"^[a-z0-9_]{1,64}$")
TARGET = re.compile(r"^(health\.[a-z0-9_*?\[\]-]+|[a-z0-9_*?\[\]-]+)\.[a-z0-9_]+$")
PLACEHOLDERS = ("value", "threshold", "device", "subject")


@dataclass(frozen=True, slots=True)
class AlarmRuleConfig:
    """An override of a built-in rule (`[alarms.<id>]`, None = keep the built-in value) or a
    custom rule (`[[alarms.rules]]`, where target, condition and threshold are required)."""

    id: str
    enabled: bool = True
    target: str | None = None
    condition: str | None = None
    threshold: float | str | bool | None = None
    clear: float | None = None
    delay: float | None = None
    clear_delay: float | None = None
    severity: str | None = None
    message_fr: str | None = None
    message_en: str | None = None


@dataclass(frozen=True, slots=True)
class AlarmsConfig:
    timezone: str = "UTC"
    """Local time of the site, for rules restricted to daylight hours (Mali is UTC all year)."""
    daylight_hours: tuple[int, int] = (8, 17)
    overrides: tuple[AlarmRuleConfig, ...] = ()
    rules: tuple[AlarmRuleConfig, ...] = ()


def alarms(v, raw: Mapping[str, Any]) -> AlarmsConfig:
    table = raw.get("alarms", {})
    if not isinstance(table, Mapping):
        v.add("alarms", "expected a table")
        return AlarmsConfig()
    v.unknown(table, "alarms.", ("timezone", "daylight_hours", "rules", *BUILTIN_IDS))
    zone = v.value(table, "timezone", str, "alarms", "UTC", check=time_zone)
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
