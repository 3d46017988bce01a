"""The small rows other parts hand the Writer (`Writer.put_row`), one type per table change.

Each row names its statement in `telemetry.store.ROW_SQL` (`KIND`) and gives its parameters in
that statement's column order (`params`): the order lives here, beside the SQL's, and nowhere
in the services that fill the fields by name.
"""

from __future__ import annotations

import json
from dataclasses import astuple, dataclass
from typing import ClassVar

from edged.readings import DeviceState


@dataclass(frozen=True, slots=True)
class _Row:
    KIND: ClassVar[str]

    def params(self) -> tuple:
        return astuple(self)


@dataclass(frozen=True, slots=True)
class HealthRow(_Row):
    """One component's health reading (`values` as JSON text)."""

    KIND: ClassVar[str] = "health"
    component: str
    ts: float
    ok: bool
    values: str

    def params(self) -> tuple:
        return (self.component, self.ts, int(self.ok), self.values)


@dataclass(frozen=True, slots=True)
class AlarmRaised(_Row):
    KIND: ClassVar[str] = "alarm_raised"
    alarm_id: str
    rule: str
    subject: str
    severity: str
    since: float
    message: str
    message_en: str
    value: str
    """The value that raised it, as JSON text."""


@dataclass(frozen=True, slots=True)
class AlarmCleared(_Row):
    KIND: ClassVar[str] = "alarm_cleared"
    ts: float
    alarm_id: str


@dataclass(frozen=True, slots=True)
class AlarmsAcked(_Row):
    """Every active alarm not yet acknowledged, acknowledged (the push button)."""

    KIND: ClassVar[str] = "alarms_acked"
    ts: float
    by: str


@dataclass(frozen=True, slots=True)
class JobRunRow(_Row):
    KIND: ClassVar[str] = "job_run"
    job: str
    kind: str
    trigger: str
    started: float
    ended: float
    duration_s: float
    outcome: str
    exit_code: int | None
    reason: str
    reason_en: str
    output_tail: str
    clock_synced: bool

    def params(self) -> tuple:
        return (*astuple(self)[:-1], int(self.clock_synced))


@dataclass(frozen=True, slots=True)
class PowerEvent(_Row):
    """A power-policy decision or action: a job's wait, a shedding level, a service command."""

    KIND: ClassVar[str] = "power_event"
    ts: float
    kind: str
    subject: str
    action: str
    code: str
    message: str
    message_en: str


@dataclass(frozen=True, slots=True)
class KvRow(_Row):
    """A value a service saves across restarts (counters, estimates, the shedding level)."""

    KIND: ClassVar[str] = "kv"
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class DeviceStateRow:
    """A device's state as the `device_state` upsert takes it (`Writer.put_state`), with the
    wall-clock time it was handed in: `changed` is kept only when the state value changed."""

    KIND: ClassVar[str] = "device_state"
    device: str
    state: DeviceState
    changed: float

    def params(self) -> tuple:
        return (
            self.device,
            self.state.liveness.value,
            self.state.last_seen,
            _json(self.state.info),
            _json(self.state.counters),
            self.changed,
        )

    def key(self) -> tuple:
        """What makes it worth writing at once: its value and the device's identity."""
        return self.state.liveness, dict(self.state.info)


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


Row = HealthRow | AlarmRaised | AlarmCleared | AlarmsAcked | JobRunRow | PowerEvent | KvRow
