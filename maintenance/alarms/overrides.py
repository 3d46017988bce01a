"""The site's alarm rules: the built-in table (maintenance.alarms.rules) with the config's
`[alarms.<id>]` overrides applied, then its `[[alarms.rules]]` custom rules.

Apart from the table because the config's checks (edged.config.alarms) read the table, and this
reads the config: one module doing both would be an import cycle.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from edged.config.alarms import AlarmRuleConfig, AlarmsConfig
from maintenance.alarms.engine import Condition, Rule, Severity
from maintenance.alarms.rules import (
    BUILTIN,
    DAYLIGHT_RULES,
    DEFAULT_MESSAGE_EN,
    DEFAULT_MESSAGE_FR,
    OVERRIDABLE,
)


def build(config: AlarmsConfig) -> list[Rule]:
    """The built-in rules with the site's overrides applied, then its custom rules."""
    overrides = {o.id: o for o in config.overrides}
    rules = []
    for rule in BUILTIN:
        override = overrides.get(rule.id)
        if override is not None and not override.enabled:
            continue
        if rule.id in DAYLIGHT_RULES:
            rule = dataclasses.replace(rule, hours=config.daylight_hours)
        rules.append(_apply(rule, override) if override is not None else rule)
    rules.extend(_custom(c) for c in config.rules if c.enabled)
    return rules


def _changes(override: AlarmRuleConfig, names: Iterable[str]) -> dict[str, object]:
    changes: dict[str, object] = {}
    for name in names:
        value = getattr(override, name)
        if value is not None:
            changes[name] = Severity(value) if name == "severity" else value
    return changes


def _apply(rule: Rule, override: AlarmRuleConfig) -> Rule:
    changes = _changes(override, OVERRIDABLE[1:])
    if isinstance(rule.threshold, float) and "threshold" in changes:
        changes["threshold"] = float(changes["threshold"])
    return dataclasses.replace(rule, **changes)


def _custom(config: AlarmRuleConfig) -> Rule:
    assert config.target and config.condition and config.threshold is not None  # validated
    condition = Condition(config.condition)
    fill = {"target": config.target, "condition": condition.value}
    rule = Rule(
        config.id,
        config.target,
        condition,
        config.threshold,
        message_fr=DEFAULT_MESSAGE_FR.replace("{target}", fill["target"]).replace(
            "{condition}", fill["condition"]
        ),
        message_en=DEFAULT_MESSAGE_EN.replace("{target}", fill["target"]).replace(
            "{condition}", fill["condition"]
        ),
    )
    return _apply(rule, config)
