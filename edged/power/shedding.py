"""Load shedding in the daemon: acts on the level `maintenance.energy.shedding` decides.

About once a minute the level is decided from the live battery reading. On a change: a warning
in the log, a `power_events` row, the retained `P/power/shedding` and a `P/event/shedding`
message, and the alarm engine sees `health.power.shedding_level` (built-in rules
`power_saving` and `power_services_stopped`). The retained state is also published at the first
decision after a start (and when the first reading replaces "no data"), change or not, so a
dashboard subscribing later has it. Entering `stop_services` stops the running jobs
and then the configured PiBox services, in order, each command with a timeout; leaving it starts
them again in reverse order. `shutdown` (only when `[shedding] shutdown_soc` is set) commits the
database first, then runs the shutdown command: the box goes down cleanly before the battery
protection cuts it mid-write. The level is kept in `kv`, so a restart knows services were
stopped by edged and brings them back on recovery.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from typing import Any

from edged.config.settings import Config
from edged.power.energy_view import EnergyView
from edged.power.jobs.process import Outcome
from edged.power.jobs.supervisor import JobSupervisor
from edged.services.alarms import AlarmService
from maintenance.energy.shedding import Level, Reason, ShedCode, shedding_decision
from maintenance.health.reading import HealthReading
from telemetry import queries, topics
from telemetry.mqtt import Publisher
from telemetry.rows import KvRow, PowerEvent
from telemetry.writer import Writer

log = logging.getLogger(__name__)

KV_KEY = "shedding"
RETRY_S = 600.0
"""A failed service start, or a shutdown that did not happen (or a boot at the shutdown level
on a battery still that low), is tried again after this long."""
_RANK = {level: i for i, level in enumerate(Level)}


class SheddingService:
    def __init__(
        self,
        config: Config,
        writer: Writer,
        publisher: Publisher | None,
        energy: EnergyView,
        alarms: AlarmService,
        jobs: JobSupervisor,
        clock_synced: Any,
    ) -> None:
        self._config, self._shed = config, config.shedding
        self._writer, self._publisher, self._energy = writer, publisher, energy
        self._alarms, self._jobs, self._synced = alarms, jobs, clock_synced
        self.level, self.since = Level.NORMAL, time.time()
        self.reason: Reason | None = None
        self.commands: list[dict[str, Any]] = []  # the last actions, for the live view
        self._reapply = False
        self._failed_starts: dict[str, float] = {}  # service -> monotonic time of the failure
        self._shutdown_at: float | None = None  # monotonic: last shutdown attempt this boot
        self._announced: ShedCode | None = None  # the code last published since this start

    def restore(self) -> None:
        value = self._writer.call(lambda db: queries.saved_value(db, KV_KEY))
        if value is not None:
            try:
                saved = json.loads(value)
                self.level, self.since = Level(saved["level"]), float(saved["since"])
            except (ValueError, TypeError, KeyError) as exc:  # a damaged kv row: start afresh
                log.warning(
                    "stored load-shedding level %r unreadable (%s): starting at normal",
                    value,
                    exc,
                )
                return
            log.info("load shedding restored at level %s", self.level.value)
            # the boot started the services again: stop them again if the battery is still low
            self._reapply = _RANK[self.level] >= _RANK[Level.STOP_SERVICES]
            if self.level is Level.SHUTDOWN:  # booted on a low battery: give it RETRY_S first
                self._shutdown_at = time.monotonic()

    def tick(self) -> None:
        now = time.time()
        state = self._energy.state(now, self._synced())
        level, reason = shedding_decision(state, self._shed.policy, self.level)
        self.reason = reason
        if self._reapply and _RANK[level] >= _RANK[Level.STOP_SERVICES]:
            self._stop_services(reason)
        self._reapply = False
        if level is not self.level:
            self._change(level, reason, now)
        else:
            self._retry(state, reason)
            if self._announce(reason):  # a dashboard subscribing later gets the state at once
                self._publish(now, reason, step=False)
        self._alarms.observe_health(
            HealthReading("power", {"shedding_level": _RANK[level]}, level is Level.NORMAL), now
        )

    def _announce(self, reason: Reason) -> bool:
        """Publish the unchanged state? Once at the first decision after a start, and once
        more when the first battery reading replaces "no data" (at most two messages a start:
        the uplink is metered, and hold/low codes may alternate every tick near a threshold)."""
        return self._announced is None or (
            self._announced is ShedCode.NO_DATA and reason.code is not ShedCode.NO_DATA
        )

    def _change(self, level: Level, reason: Reason, now: float) -> None:
        old, self.level, self.since = self.level, level, now
        log.warning("load shedding %s -> %s: %s", old.value, level.value, reason.en)
        self._writer.put_row(
            PowerEvent(
                now, "shedding", level.value, level.value, reason.code.value, reason.fr, reason.en
            )
        )
        self._writer.put_row(KvRow(KV_KEY, json.dumps({"level": level.value, "since": now})))
        stop = _RANK[Level.STOP_SERVICES]
        if _RANK[level] >= stop > _RANK[old]:
            self._stop_services(reason)
        elif _RANK[level] < stop <= _RANK[old]:
            for service in reversed(self._shed.services):
                self._run("start", self._shed.start_command, service)
            self._jobs.blocked = None
        self._publish(now, reason)
        if level is Level.SHUTDOWN:
            self._shutdown(reason)

    def _retry(self, state, reason: Reason) -> None:
        """Commands that did not work the first time: starts on recovery, and the shutdown
        while the battery stays at its shutdown threshold (else the protection cuts it)."""
        mono = time.monotonic()
        if _RANK[self.level] < _RANK[Level.STOP_SERVICES]:
            for service, failed in list(self._failed_starts.items()):
                if mono - failed >= RETRY_S:
                    self._run("start", self._shed.start_command, service)
        if self.level is not Level.SHUTDOWN:
            return
        still_low = shedding_decision(state, self._shed.policy, Level.STOP_SERVICES)[0]
        due = self._shutdown_at is None or mono - self._shutdown_at >= RETRY_S
        if still_low is Level.SHUTDOWN and due:
            self._shutdown(reason)

    def _stop_services(self, reason: Reason) -> None:
        """Running jobs first (a backup of a database about to stop), then the services."""
        self._jobs.blocked = reason.en
        self._jobs.stop_all(Outcome.STOPPED_LOW_BATTERY, reason.fr, reason.en, wait=60.0)
        for service in self._shed.services:
            self._run("stop", self._shed.stop_command, service)

    def _run(self, action: str, template: tuple[str, ...], service: str) -> bool:
        argv = [part.replace("{service}", service) for part in template]
        now = time.time()
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=self._shed.command_timeout,
                check=False,
            )
            ok, detail = done.returncode == 0, (done.stderr or done.stdout).strip()[-200:]
        except (OSError, subprocess.TimeoutExpired) as exc:
            ok, detail = False, str(exc)
        verb_fr = {"stop": "arrêt", "start": "démarrage", "shutdown": "arrêt du PiBox"}[action]
        fr = f"Service {service} : {verb_fr} {'fait' if ok else f'en échec ({detail})'}."
        en = f"Service {service}: {action} {'ok' if ok else f'failed ({detail})'}."
        if action == "start":
            if ok:
                self._failed_starts.pop(service, None)
            else:
                self._failed_starts[service] = time.monotonic()
        (log.info if ok else log.error)("%s", en)
        outcome = "ok" if ok else "failed"
        self._writer.put_row(PowerEvent(now, "service", service, action, outcome, fr, en))
        self.commands = [
            *self.commands[-9:],
            {"ts": now, "service": service, "action": action, "ok": ok, "detail": detail},
        ]
        return ok

    def _shutdown(self, reason: Reason) -> None:
        log.warning("shutting the host down before the battery protection does: %s", reason.en)
        self._shutdown_at = time.monotonic()
        try:
            self._writer.flush(timeout=30.0)  # everything read so far is on disk first
        except (RuntimeError, TimeoutError) as exc:
            log.error("shutting down without the last commit: %s", exc)
        self._run("shutdown", self._shed.shutdown_command, "host")

    def _publish(self, now: float, reason: Reason, step: bool = True) -> None:
        """The retained `P/power/shedding` (on every change, and once at the first decision
        after a start, so it is there for a dashboard that subscribes later, and replaces the
        state of a previous run); `P/event/shedding` only for a `step` (a level change)."""
        self._announced = reason.code
        if self._publisher is None:
            return
        root = self._config.topic_root
        body = self.view()
        self._publisher.publish_retained(topics.shedding_topic(root), body)
        if step:
            self._publisher.publish_event(topics.event_topic(root, "shedding"), {"ts": now, **body})

    def view(self) -> dict[str, Any]:
        r = self.reason
        return {
            "level": self.level.value,
            "since": self.since,
            "code": r.code.value if r else None,
            "message": r.fr if r else None,
            "message_en": r.en if r else None,
            "services": list(self._shed.services),
            "commands": self.commands,
        }
