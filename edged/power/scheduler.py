"""The daemon's calendar: APScheduler 3.x ticks that stay sane when the wall clock jumps.

Every periodic decision (each job's power check, the load-shedding level, the PV profile) is an
APScheduler job on a `JumpSafeInterval` trigger, coalesced, one instance at a time, and never
dropped for being late (`misfire_grace_time=None`: a late tick still runs, once). Deadlines are
not kept here: the job supervisor dates runs on the monotonic clock, so a jump cannot make a
job look done or overdue.

A forward jump costs at most one catch-up tick per job (the trigger re-anchors on now). A
backward jump would leave the scheduler asleep until its old next time, so the daemon calls
`clock_jumped()` when `edged.clock.ClockWatch` sees one: every job is moved to now and the
scheduler woken.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from edged.power.jump_safe_trigger import JumpSafeInterval

log = logging.getLogger(__name__)
# APScheduler logs every run at INFO: one line a minute per job in the journal (and on the SD
# card) says nothing a technician needs; its warnings and errors still come through.
for _name in ("apscheduler.scheduler", "apscheduler.executors.default"):
    logging.getLogger(_name).setLevel(logging.WARNING)


class Calendar:
    def __init__(self, workers: int = 4) -> None:
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._lock = threading.Lock()
        self.ticks: dict[str, int] = {}
        self.failures: dict[str, int] = {}

    def every(self, name: str, seconds: float, fn: Callable[[], object]) -> None:
        """Run `fn` now and then every `seconds` (first run as soon as the calendar starts)."""
        self.ticks[name] = self.failures[name] = 0
        self._scheduler.add_job(
            self._guarded, JumpSafeInterval(seconds), args=(name, fn), id=name, name=name
        )

    def _guarded(self, name: str, fn: Callable[[], object]) -> None:
        """A failing tick is counted and logged; the next one runs as usual."""
        with self._lock:
            self.ticks[name] += 1
        try:
            fn()
        except Exception:
            with self._lock:
                self.failures[name] += 1
            log.exception("scheduled task %s failed (it runs again at the next tick)", name)

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def clock_jumped(self) -> None:
        """Move every task to now and wake the scheduler (it may be asleep until a time the
        clock has jumped away from)."""
        now = datetime.now(UTC)
        for job in self._scheduler.get_jobs():
            job.modify(next_run_time=now)
        self._scheduler.wakeup()
        log.info("calendar re-anchored on the new wall clock (%d task(s))", len(self.ticks))

    def next_runs(self) -> dict[str, float]:
        """Each task's next run (unix s), for the live view."""
        return {
            job.id: job.next_run_time.timestamp()
            for job in self._scheduler.get_jobs()
            if job.next_run_time is not None
        }

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.ticks)
