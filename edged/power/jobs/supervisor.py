"""Runs the `[[jobs]]` when the power policy says so, and stops them when the battery says so.

Each job has a slot: idle, running or suspended. `tick(name)` (the calendar calls it about once
a minute per job) asks `maintenance.energy.policy.decide` and acts: start, wait (the reason is
stored when it changes, not every minute: the SD card pays per write), stop or suspend at the
floor, resume when the energy is back. A watcher thread per running job ends it at its
duration limit and records the result the moment the process exits: one row in `job_runs`
(committed at once: a result is worth a commit), a retained `P/job/{name}` and a
`P/event/job` message.

Time: a success of this boot is dated from the monotonic clock (`now_wall - age`), so a
wall-clock jump cannot make a job look done or overdue; a success stored by a previous boot
counts only once the clock is synchronised. A `JobLock` per job keeps `edged backup --now`
(run by the CLI when the daemon is down) and the daemon from running the same job twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from edged.config.jobs import JobConfig
from edged.config.settings import Config
from edged.power.energy_view import EnergyView
from edged.power.jobs import decisions as jd
from edged.power.jobs.lock import JobLock
from edged.power.jobs.process import JobProcess, JobResult, JobStartError, Outcome
from edged.power.jobs.slot import JobSlot, report_command
from edged.services.report_files import due_month
from maintenance.energy.policy import JobKind
from maintenance.energy.pv_profile import HourlyProfile
from maintenance.energy.reasons import Action, Decision, ReasonCode, Urgency, held
from maintenance.health.reading import HealthReading
from maintenance.report.month import day_of, month_of, previous_month
from telemetry import queries, topics
from telemetry.mqtt import Publisher
from telemetry.rows import PowerEvent
from telemetry.writer import Writer

log = logging.getLogger(__name__)

WATCH_EVERY = 1.0
PROGRESS_STEP = 10.0


class JobSupervisor:
    def __init__(
        self,
        config: Config,
        jobs: tuple[JobConfig, ...],
        writer: Writer,
        publisher: Publisher | None,
        energy: EnergyView,
        clock_synced: Callable[[], bool],
        lock_dir: Path,
        reports_dir: Path,
    ) -> None:
        self._config, self._writer, self._publisher = config, writer, publisher
        self._energy, self._synced = energy, clock_synced
        self._tz = ZoneInfo(config.power.timezone)
        self.reports_dir = reports_dir
        self.slots = {j.name: JobSlot(j, JobLock(lock_dir, j.name)) for j in jobs}
        self.profile = jd.NO_PROFILE
        self.blocked: str | None = None  # set by load shedding: no job starts while it holds
        self.on_report: Callable[[str, Path], None] | None = None
        self.on_health: Callable[[HealthReading, float], None] | None = None

    # -- decisions --------------------------------------------------------------------------

    def tick(self, name: str, manual: bool = False, force: bool = False) -> Decision | None:
        """Decide for one job now; returns the decision (None when nothing is to decide).
        `manual`: a technician asked (`edged backup --now`); `force` also skips the battery
        rules, never load shedding."""
        slot = self.slots[name]
        with slot.lock:
            now, synced = time.time(), self._synced()
            state = self._energy.state(now, synced)
            if synced and slot.first_seen is None:
                slot.first_seen = time.monotonic()  # "never done" is late from a deadline on
            if slot.process is not None:
                return self._check_running(slot, state)
            if slot.config.policy.kind is JobKind.REPORT:
                slot.month = self._due_report(now, synced)
                if slot.month is None and not manual:
                    self._overdue(slot, None, now)
                    return None
                if slot.month is None:  # asked for by hand: the month just ended, again
                    slot.month = previous_month(month_of(day_of(now)))
            capacity = self._energy.capacity_wh or 1.0
            if manual and self.blocked:
                decision = held(ReasonCode.WAIT_SHEDDING, Urgency.UNKNOWN)
            elif manual:
                decision = jd.on_demand(slot, state, capacity)
            else:
                local = datetime.fromtimestamp(now, self._tz).time()
                decision = jd.scheduled(
                    slot, state, local, self.profile, capacity, self.blocked is not None
                )
            startable = decision.action is Action.START or (
                manual and force and decision.reason_code is not ReasonCode.WAIT_SHEDDING
            )
            self._note(slot, decision, now, manual)
            self._overdue(slot, decision, now)
            if startable:
                urgent = manual or (decision.floor_used is not None and decision.floor_used.urgent)
                self._start(slot, decision, "manual" if manual else "schedule", urgent)
            return decision

    def _check_running(self, slot: JobSlot, state) -> Decision | None:
        if slot.stopping is not None:
            return None  # being stopped: let it clean up (no SIGSTOP in its grace period)
        capacity = self._energy.capacity_wh or 1.0
        process = slot.process
        if process.suspended:
            decision = jd.resume(slot, state, capacity)
            if decision.action is Action.START:
                process.resume()
                log.info("job %s resumed: %s", slot.name, decision.reason_en)
                self._note(slot, decision, state.ts, False, force=True)
        else:
            decision = jd.running(slot, state, capacity)
            if decision.action is Action.STOP:
                self._note(slot, decision, state.ts, False, force=True)
                if slot.config.on_low_battery == "suspend":
                    process.suspend()
                    log.warning("job %s suspended: %s", slot.name, decision.reason_en)
                else:
                    slot.stop(Outcome.STOPPED_LOW_BATTERY, decision.reason_fr, decision.reason_en)
        self._publish_slot(slot, only_if_moved=True)
        return decision

    def _due_report(self, now: float, synced: bool) -> str | None:
        return due_month(now, synced, self.reports_dir, self._config.site.id)

    def _note(self, slot: JobSlot, d: Decision, now: float, manual: bool, force=False) -> None:
        """Store and publish a decision when its reason changed (or always, with `force`)."""
        slot.decision = d
        if not force and not manual and d.reason_code == slot.noted_code:
            return
        slot.noted_code = d.reason_code
        log.info("job %s: %s", slot.name, d.reason_en)
        self._writer.put_row(
            PowerEvent(
                now, "job", slot.name, d.action.value, d.reason_code.value, d.reason_fr, d.reason_en
            )
        )
        self._event(
            "job",
            {
                "job": slot.name,
                "ts": now,
                "action": d.action.value,
                "code": d.reason_code.value,
                "message": d.reason_fr,
                "message_en": d.reason_en,
                "urgency": d.urgency.value,
            },
        )

    def _overdue(self, slot: JobSlot, d: Decision | None, now: float) -> None:
        """Hours past the deadline, for the alarm engine (built-in rule `job_overdue`). A job
        never done is late once it has been tried for longer than its deadline."""
        if self.on_health is None:
            return
        late = 0.0
        if d is not None and d.urgency is Urgency.OVERDUE:
            if d.overdue_s is not None:
                late = d.overdue_s
            elif slot.first_seen is not None:
                late = time.monotonic() - slot.first_seen - slot.config.policy.deadline_s
        late_h = round(max(late, 0.0) / 3600.0, 1)
        self.on_health(HealthReading(f"job-{slot.name}", {"overdue_h": late_h}, late_h == 0), now)

    # -- running ----------------------------------------------------------------------------

    def _start(self, slot: JobSlot, decision: Decision, trigger: str, urgent: bool) -> None:
        if not slot.file_lock.acquire():
            holder = slot.file_lock.holder_pid()
            log.warning("job %s not started: already running (pid %s)", slot.name, holder)
            return
        job = slot.config
        argv = job.command or report_command(self._config, slot.month or "", self.reports_dir)
        process = JobProcess(slot.name, argv, cwd=job.workdir, env=job.env)
        slot.begin(process, trigger, self._synced())
        slot.urgent_start = urgent
        try:
            process.start()
        except JobStartError as exc:
            slot.stop(
                Outcome.ERROR,
                f"Impossible de lancer la tâche : {exc}",
                f"Cannot start the job: {exc}",
            )
            self._finish(slot, None)
            return
        log.info("job %s started (%s): %s", slot.name, trigger, decision.reason_en)
        self._publish_slot(slot)
        threading.Thread(
            target=self._watch, args=(slot,), name=f"job-{slot.name}", daemon=True
        ).start()

    def _watch(self, slot: JobSlot) -> None:
        """Wait for the process; end it at its duration limit or when asked to stop."""
        process, limit = slot.process, slot.config.policy.max_duration_s
        assert process is not None
        code = None
        while code is None:
            code = process.wait(WATCH_EVERY)
            if code is not None:
                break
            if process.running_s > limit or slot.suspended_s() > limit:
                slot.stop(
                    Outcome.TIMEOUT,
                    f"Durée limite de {limit:.0f} s dépassée.",
                    f"Duration limit of {limit:.0f} s exceeded.",
                )
            if slot.stopping is not None:
                code = process.terminate(slot.config.stop_grace)
                break  # None: stuck in I/O (a USB disk pulled out): recorded without a code
        self._finish(slot, code)

    def _finish(self, slot: JobSlot, code: int | None) -> None:
        with slot.lock:
            # The month this run reported, read before the slot goes idle: the next tick then
            # finds its files and sets `slot.month` to None (nothing due).
            month = slot.month
            result = slot.end(code, self._synced())  # releases the lock, then idle
            slot.failures = 0 if result.outcome is Outcome.SUCCESS else slot.failures + 1
            retry = result.outcome not in (Outcome.SUCCESS, Outcome.STOPPED_SHUTDOWN)
            slot.retry_at = time.monotonic() + jd.retry_delay(slot.failures) if retry else None
        try:
            self._record(result)
        finally:
            report = slot.config.policy.kind is JobKind.REPORT
            if result.outcome is Outcome.SUCCESS and report and self.on_report and month:
                self.on_report(month, self.reports_dir)

    def _record(self, result: JobResult) -> None:
        level = logging.INFO if result.outcome is Outcome.SUCCESS else logging.WARNING
        log.log(level, "job %s ended: %s (%s)", result.job, result.outcome.value, result.reason_en)
        self._writer.put_row(result.row())
        try:
            self._writer.flush(timeout=10.0)  # a result is worth a commit of its own
        except (RuntimeError, TimeoutError) as exc:  # stopping, or a slow card: next commit
            log.warning("job %s: result queued for the next commit (%s)", result.job, exc)
        self._event(
            "job", {"job": result.job, "ts": result.ended, "action": "end", **result.payload()}
        )
        self._publish_slot(self.slots[result.job])

    def stop_all(self, outcome: Outcome, reason_fr: str, reason_en: str, wait: float = 0) -> None:
        """Stop every running job (load shedding, daemon stop); wait up to `wait` s for them."""
        for slot in self.slots.values():
            with slot.lock:
                if slot.process is not None:
                    slot.stop(outcome, reason_fr, reason_en)
        deadline = time.monotonic() + wait
        for slot in self.slots.values():
            while slot.process is not None and time.monotonic() < deadline:
                slot.idle.wait(0.2)

    def restore(self) -> None:
        """Each job's last success and last result from the database (the Writer runs)."""
        rows = self._writer.call(queries.last_synced_successes)
        for job, started in rows:
            if job in self.slots:
                self.slots[job].success_stored = started

    # -- views ------------------------------------------------------------------------------

    def refresh_profile(self, profile: HourlyProfile) -> None:
        self.profile = profile

    def _event(self, kind: str, payload: dict[str, Any]) -> None:
        if self._publisher is not None:
            self._publisher.publish_event(
                topics.event_topic(self._config.topic_root, kind), payload
            )

    def _publish_slot(self, slot: JobSlot, only_if_moved: bool = False) -> None:
        """Retained `P/job/{name}`. While a job runs, only when its state changed or its
        progress moved by PROGRESS_STEP points: a minute-by-minute copy of an hour-long backup
        would cost the metered uplink for nothing (the live view has every second)."""
        if self._publisher is None:
            return
        view = slot.view()
        mark = (view["state"], int((view["progress"] or 0) // PROGRESS_STEP))
        if only_if_moved and mark == slot.published:
            return
        slot.published = mark
        self._publisher.publish_retained(topics.job_topic(self._config.topic_root, slot.name), view)

    def view(self) -> list[dict[str, Any]]:
        return [slot.view() for slot in self.slots.values()]
