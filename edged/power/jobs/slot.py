"""One job's state in the supervisor: idle or running, its last success and its last result.

Kept apart from `edged.power.jobs.supervisor` so the bookkeeping (when did it last succeed, on which
clock; what ended it; what the live view and `P/job/{name}` show) reads apart from the decisions.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

from edged.config.jobs import JobConfig
from edged.config.settings import Config
from edged.power.jobs.lock import JobLock
from edged.power.jobs.process import JobProcess, JobResult, Outcome
from maintenance.energy.reasons import Decision, ReasonCode


def report_command(config: Config, month: str, reports_dir: Path) -> list[str]:
    """The built-in `kind = "report"` job: `edged report` in a subprocess, so it has the same
    duration limit, stop on low battery and result record as any other job."""
    return [
        sys.executable,
        "-m",
        "edged",
        "report",
        "--config",
        config.source,
        "--month",
        month,
        "--out",
        str(reports_dir),
    ]


class JobSlot:
    def __init__(self, config: JobConfig, file_lock: JobLock) -> None:
        self.config, self.file_lock, self.name = config, file_lock, config.name
        self.lock = threading.RLock()
        self.idle = threading.Event()
        self.idle.set()
        self.process: JobProcess | None = None
        self.trigger = "schedule"
        self.started_wall = self.started_mono = 0.0
        self.clock_synced = False
        self.stopping: tuple[Outcome, str, str] | None = None
        self.decision: Decision | None = None
        self.noted_code: ReasonCode | None = None
        self.success_mono: float | None = None  # a success of this boot (monotonic start)
        self.success_stored: float | None = None  # a previous boot's, wall clock, when synced
        self.last: dict[str, Any] | None = None
        self.month: str | None = None
        self.urgent_start = False  # started under the urgent floor: keep it while running
        self.failures = 0  # runs in a row that did not succeed
        self.retry_at: float | None = None  # monotonic: no scheduled start before
        self.first_seen: float | None = None  # monotonic: first decision on a synced clock
        self.published: tuple[str, int] | None = None  # (state, progress step) last on MQTT

    def last_success(self, now_wall: float, synced: bool) -> float | None:
        """When the last successful run started, on today's wall clock (see module doc)."""
        if self.success_mono is not None:
            return now_wall - (time.monotonic() - self.success_mono)
        return self.success_stored if synced else None

    def begin(self, process: JobProcess, trigger: str, synced: bool) -> None:
        self.process, self.trigger, self.clock_synced = process, trigger, synced
        self.started_wall, self.started_mono = time.time(), time.monotonic()
        self.stopping = None
        self.idle.clear()

    def stop(self, outcome: Outcome, reason_fr: str, reason_en: str) -> None:
        """Ask the watcher to end the process (the first reason given wins)."""
        if self.stopping is None:
            self.stopping = (outcome, reason_fr, reason_en)

    def suspended_s(self) -> float:
        if self.process is None:
            return 0.0
        return time.monotonic() - self.started_mono - self.process.running_s

    def end(self, code: int | None, synced: bool) -> JobResult:
        """The result of the run that just ended; the slot is idle again. Dated back from now
        by its monotonic duration: a run that began before an NTP jump still gets true times."""
        process, duration = self.process, time.monotonic() - self.started_mono
        ended = time.time()
        if self.stopping is not None:
            outcome, fr, en = self.stopping
        elif code == 0:
            outcome, fr, en = Outcome.SUCCESS, "Terminée avec succès.", "Completed successfully."
        else:
            outcome = Outcome.FAILED
            fr, en = f"Échec : code de sortie {code}.", f"Failed: exit code {code}."
        result = JobResult(
            job=self.name,
            kind=self.config.policy.kind.value,
            trigger=self.trigger,
            started=ended - duration,
            ended=ended,
            duration_s=round(duration, 3),
            outcome=outcome,
            exit_code=code,
            reason=fr,
            reason_en=en,
            output_tail=process.output_tail if process is not None else "",
            clock_synced=self.clock_synced and synced,
        )
        if outcome is Outcome.SUCCESS:
            self.success_mono = self.started_mono
        self.last, self.process, self.stopping = result.payload(), None, None
        self.file_lock.release()  # before idle: a new run must take the lock afresh
        self.idle.set()
        return result

    def view(self) -> dict[str, Any]:
        """Live view and retained `P/job/{name}`: state, progress, last decision and result."""
        p, d = self.process, self.decision
        state = "idle" if p is None else "suspended" if p.suspended else "running"
        return {
            "job": self.name,
            "kind": self.config.policy.kind.value,
            "state": state,
            "started": self.started_wall if p is not None else None,
            "running_s": round(p.running_s, 1) if p is not None else None,
            "progress": p.progress if p is not None else None,
            "last_line": p.last_line if p is not None else None,
            "max_duration": self.config.policy.max_duration_s,
            "decision": None
            if d is None
            else {
                "action": d.action.value,
                "code": d.reason_code.value,
                "urgency": d.urgency.value,
                "message": d.reason_fr,
                "message_en": d.reason_en,
                "overdue_s": d.overdue_s,
            },
            "last": self.last,
            "month": self.month,
        }
