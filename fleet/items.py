"""The typed items a site's MQTT message carries once read (fleet/payloads.py), as the collector
stores them (fleet/store.py): values and the whole payload, no behaviour.

Times are unix seconds as the site sent them; `payload` fields keep every key, known or not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Record:
    site: str
    device: str
    ts: float
    metrics: dict[str, Any]
    synced: bool
    samples: int | None
    live: bool


@dataclass(frozen=True)
class Status:
    site: str
    online: bool


@dataclass(frozen=True)
class DeviceState:
    site: str
    device: str
    state: str | None
    last_seen: float | None
    product: str | None
    serial: str | None
    firmware: str | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class Alarm:
    site: str
    alarm_id: str
    active: bool
    at: float  # since (raised) or cleared (cleared): orders two states of one alarm
    since: float | None
    cleared: float | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class Health:
    site: str
    component: str
    ts: float
    ok: bool | None
    detail: str | None
    values: dict[str, Any] | None


@dataclass(frozen=True)
class Job:
    site: str
    job: str
    kind: str | None
    state: str | None
    progress: float | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class JobResult:
    site: str
    job: str
    started: float
    ended: float | None
    outcome: str | None
    exit_code: int | None
    duration_s: float | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class Shedding:
    site: str
    level: str | None
    since: float | None
    code: str | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class Event:
    site: str
    kind: str
    digest: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Report:
    site: str
    month: str
    summary: dict[str, Any]


@dataclass(frozen=True)
class CommandResult:
    """A site's answer to a command (`P/cmd/{name}/result`)."""

    site: str
    name: str
    id: str
    ok: bool | None
    payload: dict[str, Any]


Item = (
    Record
    | Status
    | DeviceState
    | Alarm
    | Health
    | Job
    | JobResult
    | Shedding
    | Event
    | Report
    | CommandResult
)


@dataclass(frozen=True)
class Rejected:
    reason: str


@dataclass(frozen=True)
class Ignored:
    """Read and deliberately not stored: an empty retained message (a retained topic cleared)."""

    reason: str
