"""The power-aware side of the daemon in one place: energy view, jobs, load shedding, calendar.

`edged.daemon` feeds `observe` with every sample, calls `poll` from its main loop every second
(`edged backup --now` requests are taken there) and `clock_jumped` when `edged.clock.ClockWatch`
sees the wall clock jump (the calendar is re-anchored). Everything periodic runs on the
calendar (`edged.power.scheduler`): each job's decision, the shedding level, the hourly refresh of
the PV profile from stored records.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from edged import memory
from edged.clock import ClockWatch
from edged.config.jobs import JobConfig
from edged.config.settings import Config
from edged.power.energy_view import EnergyView
from edged.power.jobs import requests as job_requests
from edged.power.jobs.process import KILL_WAIT_S, Outcome
from edged.power.jobs.supervisor import JobSupervisor
from edged.power.scheduler import Calendar
from edged.power.shedding import SheddingService
from edged.readings import Sample
from edged.services.alarms import AlarmService
from edged.services.report_files import read_summary
from maintenance.energy.policy import JobKind, JobSpec
from maintenance.energy.pv_profile import HourlyProfile
from telemetry import pv_hours, topics
from telemetry.mqtt import Publisher
from telemetry.store import open_db
from telemetry.writer import Writer

log = logging.getLogger(__name__)

PROFILE_EVERY = 3600.0
DEFAULT_REPORT = JobConfig(
    JobSpec(
        "monthly-report",
        JobKind.REPORT,
        max_duration_s=900.0,
        power_w=6.0,
        deadline_s=3 * 86400.0,
        windows=(("10:00", "16:00"),),
    )
)
"""The report job every site gets unless it configures its own (`[power] auto_report`)."""


def site_jobs(config: Config) -> tuple[JobConfig, ...]:
    """The configured jobs, plus the built-in monthly report where none is configured."""
    if not config.power.auto_report or any(j.policy.kind is JobKind.REPORT for j in config.jobs):
        return config.jobs
    return (*config.jobs, DEFAULT_REPORT)


class PowerService:
    def __init__(
        self,
        config: Config,
        writer: Writer,
        publisher: Publisher | None,
        alarms: AlarmService,
        clock: ClockWatch,
        live_path: Path,
    ) -> None:
        self._config, self._writer, self._clock = config, writer, clock
        self._publisher = publisher
        self.energy = EnergyView(config)
        self.requests = job_requests.requests_dir(live_path)
        self.jobs = JobSupervisor(
            config,
            site_jobs(config),
            writer,
            publisher,
            self.energy,
            clock.synced,
            live_path.parent / "locks",
            Path(config.storage.reports_dir),
        )
        self.jobs.on_report = self._report_written
        self.jobs.on_health = alarms.observe_health
        self.shedding: SheddingService | None = None
        if config.shedding.enabled and config.shedding.policy is not None:
            self.shedding = SheddingService(
                config, writer, publisher, self.energy, alarms, self.jobs, clock.synced
            )
        self.calendar = Calendar()
        self.profile_skipped = 0
        """Records the PV profile left out since start (`telemetry.pv_hours`)."""

    @property
    def active(self) -> bool:
        return bool(self.jobs.slots) or self.shedding is not None

    def observe(self, sample: Sample) -> None:
        self.energy.observe(sample)

    def start(self) -> None:
        """Restore saved state (the Writer runs) and start the calendar."""
        if not self.active:
            return
        self.jobs.restore()
        tick = self._config.power.tick
        if self.jobs.slots:
            self.calendar.every("pv-profile", PROFILE_EVERY, self._refresh_profile)
        for name in self.jobs.slots:
            self.calendar.every(f"job:{name}", tick, lambda n=name: self.jobs.tick(n))
        if self.shedding is not None:
            self.shedding.restore()
            self.calendar.every("shedding", tick, self.shedding.tick)
        self.calendar.start()

    def clock_jumped(self) -> None:
        """The daemon saw the wall clock jump: re-anchor the calendar."""
        if self.active:
            self.calendar.clock_jumped()

    def poll(self) -> None:
        """From the daemon's main loop: `edged backup --now` requests."""
        if not self.active:
            return
        for request in job_requests.take(self.requests):
            threading.Thread(target=self._manual, args=(request,), daemon=True).start()

    def _manual(self, request: dict[str, Any]) -> None:
        name = request["job"]
        if name not in self.jobs.slots:
            known = ", ".join(self.jobs.slots) or "none"
            job_requests.answer(
                self.requests,
                name,
                {
                    "started": False,
                    "message_en": f"no job named {name!r} (configured: {known})",
                    "message": f"aucune tâche {name!r} (configurées : {known})",
                },
            )
            return
        slot = self.jobs.slots[name]
        with slot.lock:  # the same lock as `tick`: what ran before and after, seen at once
            already = slot.process is not None
            decision = self.jobs.tick(name, manual=True, force=request["force"])
            running = slot.process is not None
            body = {"started": running, "message": None, "message_en": None}
            if running:  # the CLI follows this run, whoever started it (its result row)
                body.update(started_at=slot.started_wall, already_running=already)
        if decision is not None:
            body.update(message=decision.reason_fr, message_en=decision.reason_en)
        if self.jobs.blocked and not running:
            body.update(
                message=f"le délestage bloque les tâches : {self.jobs.blocked}",
                message_en=f"load shedding holds: {self.jobs.blocked}",
            )
        job_requests.answer(self.requests, name, body)

    def _report_written(self, month: str, reports_dir: Path) -> None:
        """A report job succeeded: publish its summary, retained, on `P/report/{month}`."""
        summary = read_summary(reports_dir, self._config.site.id, month)
        if summary is None:
            log.error("report of %s written but its summary is missing in %s", month, reports_dir)
        elif self._publisher is not None:
            topic = topics.report_topic(self._config.topic_root, month)
            self._publisher.publish_retained(topic, summary)

    @property
    def busy(self) -> bool:
        """Whether a job runs (the live view is then written every second, for its progress)."""
        return any(slot.process is not None for slot in self.jobs.slots.values())

    def _refresh_profile(self) -> None:
        """The sunniest hours of the last days, aggregated by SQLite from the stored records
        (`telemetry.pv_hours`): memory does not grow with the history. On a read-only
        connection of its own: a scan of a long backlog takes seconds, which the Writer's
        commits do not wait for (WAL readers never block the writer)."""
        power, now = self._config.power, time.time()
        offset = datetime.now(ZoneInfo(power.timezone)).utcoffset()
        seconds = offset.total_seconds() if offset else 0.0
        db = open_db(self._config.storage.path, readonly=True)
        try:
            found = pv_hours.hourly_means(db, now, power.history_days, seconds)
        finally:
            db.conn.close()
            memory.trim()  # the scan's page cache and rows are freed: give them back
        if found.skipped:
            self.profile_skipped += found.skipped
            log.warning("PV profile: %d record(s) unreadable by SQLite left out", found.skipped)
        self.jobs.refresh_profile(HourlyProfile(found.means))

    def stop(self) -> None:
        """Stop the calendar, then the running jobs (they are recorded as stopped)."""
        if not self.active:
            return
        self.calendar.stop()
        grace = max((j.stop_grace for j in self._config.jobs), default=0.0)
        self.jobs.stop_all(
            Outcome.STOPPED_SHUTDOWN,
            "Arrêt d'edged.",
            "edged is stopping.",
            wait=grace + KILL_WAIT_S + 2.0,
        )  # recorded before the last commit

    def view(self) -> dict[str, Any] | None:
        if not self.active:
            return None
        state = self.energy.state(time.time(), self._clock.synced())
        return {
            "energy": self.energy.describe(state),
            "shedding": self.shedding.view() if self.shedding is not None else None,
            "jobs": self.jobs.view(),
            "next_runs": self.calendar.next_runs(),
            "ticks": self.calendar.counts(),
            "pv_profile": {"means": self.jobs.profile.means, "skipped": self.profile_skipped},
        }
