"""The alarm engine: threshold rules with delay and hysteresis over metrics and health values.

Pure: no clock, no I/O, no logging, no threads. The caller passes every observation with its
time (`observe(source, name, value, now)`) and receives the alarms raised or cleared by it; the
daemon stores and publishes them (edged/services/alarms.py). The built-in rules are a data table in
`maintenance.alarms.rules`; docs/alarms.md explains them to technicians.

A rule's `target` names what it watches:
- `device.metric`: a metric of a device sample (`mppt.battery_soc`; `*.battery_soc` for every
  device) or a device's liveness (`*.state`, fed from the runners' state callbacks);
- `health.component.value`: a value of a `P/health/{component}` reading (`health.pibox.
  disk_used_percent`, `health.openclinic*.status`, `health.*.days_unseen`).
Device and component parts are shell patterns (fnmatch); the alarm's subject is the device or
component that matched, and its id `{rule}.{subject}` (one MQTT topic level: `P/alarm/{id}`).

Raising: the condition must hold continuously for `delay` seconds. Clearing: the value must be
back past `clear` (hysteresis; the threshold itself when no `clear` is set) continuously for
`clear_delay` seconds. So a value oscillating around the threshold raises at most one alarm, and
it stays raised until the value really recovers. A value of None ("not measurable") or of the
wrong type is no evidence either way: it neither starts nor resets a delay.

Absence rules are ordinary rules over what the collectors already compute: a device offline is
`*.state equals "offline"`; equipment unseen is `health.*.days_unseen above N`; no PV in daylight
is `*.pv_power below N` restricted to local `hours` and to devices whose state is ok.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any
from zoneinfo import ZoneInfo

HEALTH = "health."
Value = float | int | str | bool | None


class Condition(StrEnum):
    ABOVE = "above"
    BELOW = "below"
    EQUALS = "equals"
    NOT_EQUALS = "not_equals"


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Rule:
    """One alarm rule; see the module docstring for `target` and the timing rules."""

    id: str
    target: str
    condition: Condition
    threshold: float | str | bool
    severity: Severity = Severity.WARNING
    clear: float | None = None
    delay: float = 0.0
    clear_delay: float = 0.0
    message_fr: str = ""
    message_en: str = ""
    hours: tuple[int, int] | None = None
    """Local hours [start, end) when the rule is evaluated (daylight); outside, it waits."""
    requires_ok: bool = False
    """Evaluated only while the device's last reported state is `ok`."""

    @property
    def health(self) -> bool:
        return self.target.startswith(HEALTH)

    @property
    def name(self) -> str:
        """The metric or health value this rule reads."""
        return self.target.rpartition(".")[2]

    @property
    def pattern(self) -> str:
        """The device (or `health.component`) pattern."""
        return self.target.rpartition(".")[0]

    def matches(self, source: str, name: str) -> bool:
        return (
            name == self.name
            and source.startswith(HEALTH) == self.health
            and fnmatchcase(source, self.pattern)
        )

    def breached(self, value: Value) -> bool | None:
        """Whether `value` meets the raise condition; None when it says nothing."""
        return _compare(self.condition, value, self.threshold)

    def recovered(self, value: Value) -> bool | None:
        """Whether `value` is back past the clear threshold; None when it says nothing."""
        if self.clear is None or self.condition not in (Condition.ABOVE, Condition.BELOW):
            breached = self.breached(value)
            return None if breached is None else not breached
        back = Condition.BELOW if self.condition is Condition.ABOVE else Condition.ABOVE
        return _compare(back, value, self.clear)


def _number(value: Value) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _compare(condition: Condition, value: Value, threshold: Any) -> bool | None:
    if value is None:
        return None
    if condition in (Condition.EQUALS, Condition.NOT_EQUALS):
        if isinstance(threshold, str) != isinstance(value, str):
            return None
        equal = value == threshold
        return equal if condition is Condition.EQUALS else not equal
    number, limit = _number(value), _number(threshold)
    if number is None or limit is None:
        return None
    return number > limit if condition is Condition.ABOVE else number < limit


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """An alarm raised or cleared; `since` is when it was raised."""

    kind: str  # "raised" | "cleared"
    alarm_id: str
    rule: str
    subject: str
    severity: Severity
    ts: float
    since: float
    value: Value
    message_fr: str
    message_en: str

    @property
    def active(self) -> bool:
        return self.kind == "raised"

    def message(self, lang: str = "fr") -> str:
        return self.message_fr if lang == "fr" else self.message_en

    def payload(self) -> dict[str, Any]:
        """`P/alarm/{alarm_id}` (retained): the contract's keys, plus English and the value."""
        body: dict[str, Any] = {
            "active": self.active,
            "severity": self.severity.value,
            "since": self.since,
            "message": self.message_fr,
            "message_en": self.message_en,
            "rule": self.rule,
            "subject": self.subject,
            "value": self.value,
        }
        if not self.active:
            body["cleared"] = self.ts
        return body


@dataclass(slots=True)
class _Track:
    """What the engine remembers of one (rule, subject)."""

    active: bool = False
    since: float = 0.0
    pending: float | None = None  # condition holding since
    clearing: float | None = None  # recovery holding since
    raised_with: tuple[Value, str, str] = (None, "", "")  # value, message_fr, message_en


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(template: str, **values: Any) -> str:
    """`template` with {value}, {threshold}, {device}, {subject}; unknown names left as they are."""
    shown = {k: _shown(v) for k, v in values.items()}
    try:
        return template.format_map(_Blank(shown))
    except (ValueError, IndexError, AttributeError):  # a stray brace in a custom message
        return template


def _shown(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return value


@dataclass(slots=True)
class AlarmEngine:
    """All rules, and the state of every (rule, subject) seen. Not thread-safe: one caller."""

    rules: Iterable[Rule]
    timezone: str = "UTC"
    _by_name: dict[str, list[Rule]] = field(default_factory=dict, init=False)
    _tracks: dict[str, _Track] = field(default_factory=dict, init=False)
    _device_state: dict[str, str] = field(default_factory=dict, init=False)
    _zone: ZoneInfo = field(init=False)

    def __post_init__(self) -> None:
        self.rules = tuple(self.rules)
        for rule in self.rules:
            self._by_name.setdefault(rule.name, []).append(rule)
        self._zone = ZoneInfo(self.timezone)

    def restore(
        self, rule_id: str, subject: str, since: float, message_fr: str = "", message_en: str = ""
    ) -> None:
        """Mark an alarm active that was stored before a restart, so it is not raised twice."""
        track = _Track(active=True, since=since, raised_with=(None, message_fr, message_en))
        self._tracks[f"{rule_id}.{subject}"] = track

    def active(self) -> list[str]:
        return sorted(key for key, track in self._tracks.items() if track.active)

    def clock_jumped(self, delta: float) -> None:
        """The wall clock moved by `delta` s (NTP): move the pending delays with it, so a
        delay neither elapses at once (a jump forward) nor lasts a day longer (a jump back).
        `since` stays as it was stored."""
        for track in self._tracks.values():
            if track.pending is not None:
                track.pending += delta
            if track.clearing is not None:
                track.clearing += delta

    def observe(self, source: str, name: str, value: Value, now: float) -> list[AlarmEvent]:
        """One observation: `source` is a device id or `health.{component}`."""
        if name == "state" and not source.startswith(HEALTH) and isinstance(value, str):
            self._device_state[source] = value
        events = []
        for rule in self._by_name.get(name, ()):
            if rule.matches(source, name):
                event = self._step(rule, source.removeprefix(HEALTH), value, now)
                if event is not None:
                    events.append(event)
        return events

    def observe_many(self, source: str, values: dict[str, Value], now: float) -> list[AlarmEvent]:
        events: list[AlarmEvent] = []
        for name, value in values.items():
            if name in self._by_name:
                events.extend(self.observe(source, name, value, now))
        return events

    def _applies(self, rule: Rule, subject: str, now: float) -> bool:
        if rule.requires_ok and self._device_state.get(subject) != "ok":
            return False
        if rule.hours is not None:
            hour = dt.datetime.fromtimestamp(now, self._zone).hour
            start, end = rule.hours
            return start <= hour < end if start <= end else hour >= start or hour < end
        return True

    def _step(self, rule: Rule, subject: str, value: Value, now: float) -> AlarmEvent | None:
        alarm_id = f"{rule.id}.{subject}"
        track = self._tracks.setdefault(alarm_id, _Track())
        if not self._applies(rule, subject, now):
            track.pending = None  # a delay counts only time the rule applies, without a gap
            return None
        if not track.active:
            breached = rule.breached(value)
            if breached is None:
                return None
            if not breached:
                track.pending = None
                return None
            track.pending = now if track.pending is None else track.pending
            if now - track.pending < rule.delay:
                return None
            track.active, track.since, track.pending, track.clearing = True, now, None, None
            values = {"value": value, "threshold": rule.threshold, "device": subject}
            fr, en = render(rule.message_fr, **values), render(rule.message_en, **values)
            track.raised_with = (value, fr, en)
            return AlarmEvent(
                "raised", alarm_id, rule.id, subject, rule.severity, now, now, value, fr, en
            )
        recovered = rule.recovered(value)
        if recovered is None:
            return None
        if not recovered:
            track.clearing = None
            return None
        track.clearing = now if track.clearing is None else track.clearing
        if now - track.clearing < rule.clear_delay:
            return None
        track.active, track.clearing = False, None
        _, fr, en = track.raised_with
        return AlarmEvent(
            "cleared", alarm_id, rule.id, subject, rule.severity, now, track.since, value, fr, en
        )
