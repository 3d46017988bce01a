"""The daemon's side of the alarm engine: feeds it, stores and publishes what it decides.

`maintenance.alarms.AlarmEngine` is pure and single-threaded; runners (samples, states) and the
health round call in from their own threads, so one lock guards it. Each event becomes a row
change committed within a second (`alarm_raised` / `alarm_cleared`, `Writer.put_row(soon=True)`:
the number `edged status` shows is then one `edged alarms ack` accepts) and a
retained `P/alarm/{alarm_id}` message. At start the alarms stored as active are restored into
the engine (not raised twice, still clearable) and republished; an active alarm whose rule is no
longer configured is cleared.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from edged.config.settings import Config
from edged.readings import DeviceState, Sample
from maintenance.alarms import overrides as alarm_rules
from maintenance.alarms.engine import AlarmEngine, AlarmEvent
from maintenance.health.reading import HealthReading
from telemetry import queries
from telemetry.database import DatabaseError
from telemetry.mqtt import Publisher
from telemetry.rows import AlarmCleared, AlarmRaised
from telemetry.writer import Writer

log = logging.getLogger(__name__)

STORAGE_SOURCE = "health.store"


class AlarmService:
    def __init__(self, config: Config, writer: Writer, publisher: Publisher | None) -> None:
        self.rules = alarm_rules.build(config.alarms)
        self.engine = AlarmEngine(self.rules, config.alarms.timezone)
        self._writer, self._publisher = writer, publisher
        self._lock = threading.Lock()
        self._active: dict[str, dict[str, Any]] = {}

    def restore(self) -> None:
        """Load the stored active alarms (the Writer must be running)."""
        try:
            rows = self._writer.call(queries.active_alarm_rows)
        except (DatabaseError, RuntimeError, TimeoutError) as exc:  # disk full at start
            log.error("cannot restore the stored alarms (they are raised afresh): %s", exc)
            rows = []
        known = {rule.id for rule in self.rules}
        now = time.time()
        with self._lock:
            for alarm_id, rule, subject, severity, since, fr, en, value in rows:
                payload = {
                    "active": True,
                    "severity": severity,
                    "since": since,
                    "message": fr,
                    "message_en": en,
                    "rule": rule,
                    "subject": subject,
                    "value": _stored_value(alarm_id, value),
                }
                if rule in known:
                    self.engine.restore(rule, subject, since, fr, en)
                    self._active[alarm_id] = payload
                else:  # its rule was disabled or removed from the config
                    log.info("alarm %s cleared: its rule is no longer configured", alarm_id)
                    self._writer.put_row(AlarmCleared(now, alarm_id))
                    payload.update(active=False, cleared=now)
                if self._publisher is not None:
                    self._publisher.publish_alarm(alarm_id, payload)

    def observe_sample(self, sample: Sample) -> None:
        with self._lock:
            self._emit(self.engine.observe_many(sample.device, sample.metrics, sample.ts))

    def observe_state(self, device: str, state: DeviceState) -> None:
        value = state.liveness.value
        with self._lock:
            self._emit(self.engine.observe(device, "state", value, time.time()))

    def observe_health(self, reading: HealthReading, now: float) -> None:
        source = f"health.{reading.component}"
        with self._lock:
            self._emit(self.engine.observe_many(source, reading.values, now))

    def observe_storage(self, facts: dict[str, Any], now: float) -> None:
        """The Writer's `storage_health()`: rules `storage_failed`, `database_recovered`."""
        with self._lock:
            self._emit(self.engine.observe_many(STORAGE_SOURCE, facts, now))

    def clock_jumped(self, delta: float) -> None:
        with self._lock:
            self.engine.clock_jumped(delta)

    def active(self) -> list[dict[str, Any]]:
        """The active alarms (for the live view), critical first, then oldest first."""
        with self._lock:
            alarms = [{"alarm_id": k, **v} for k, v in self._active.items()]
        return sorted(alarms, key=lambda a: (a["severity"] != "critical", a["since"]))

    def _emit(self, events: list[AlarmEvent]) -> None:
        for event in events:
            payload = event.payload()
            if event.active:
                log.warning(
                    "alarm %s raised (%s): %s",
                    event.alarm_id,
                    event.severity.value,
                    event.message_en,
                )
                value = json.dumps(event.value, default=str)
                raised = AlarmRaised(
                    alarm_id=event.alarm_id,
                    rule=event.rule,
                    subject=event.subject,
                    severity=event.severity.value,
                    since=event.since,
                    message=event.message_fr,
                    message_en=event.message_en,
                    value=value,
                )
                self._writer.put_row(raised, soon=True)
                self._active[event.alarm_id] = payload
            else:
                log.info("alarm %s cleared: value %r", event.alarm_id, event.value)
                self._writer.put_row(AlarmCleared(event.ts, event.alarm_id), soon=True)
                self._active.pop(event.alarm_id, None)
            if self._publisher is not None:
                self._publisher.publish_alarm(event.alarm_id, payload)


def _stored_value(alarm_id: str, value: str | None) -> object:
    """The alarm's stored value; a damaged one (a flipped byte on the SD card) is logged and
    restored as None: the alarm itself still holds, and the next evaluation sets a value."""
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        log.warning("alarm %s: stored value %r unreadable, restored without it", alarm_id, value)
        return None
