"""What one run of a job leaves behind: a `job_runs` row, a `P/job/{job}` and `P/event/job` body.

Kept apart from `edged.power.jobs.process` (how a process is run) so the report, the CLI and the
supervisor share one record of a run without the process machinery.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from telemetry.rows import JobRunRow


class Outcome(StrEnum):
    """How a run ended; stored as text in `job_runs.outcome` and published as is."""

    SUCCESS = "success"
    FAILED = "failed"
    TIMEOUT = "timeout"
    STOPPED_LOW_BATTERY = "stopped_low_battery"
    STOPPED_SHUTDOWN = "stopped_shutdown"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class JobResult:
    """One finished run. `started`/`ended` are wall clock (trusted only when `clock_synced`),
    `duration_s` monotonic. `reason` is French (the technicians' language), `reason_en`."""

    job: str
    kind: str
    trigger: str  # "schedule" | "manual"
    started: float
    ended: float
    duration_s: float
    outcome: Outcome
    exit_code: int | None
    reason: str
    reason_en: str
    output_tail: str
    clock_synced: bool

    def row(self) -> JobRunRow:
        """Its `job_runs` row."""
        return JobRunRow(
            job=self.job,
            kind=self.kind,
            trigger=self.trigger,
            started=self.started,
            ended=self.ended,
            duration_s=self.duration_s,
            outcome=self.outcome.value,
            exit_code=self.exit_code,
            reason=self.reason,
            reason_en=self.reason_en,
            output_tail=self.output_tail,
            clock_synced=self.clock_synced,
        )

    def payload(self) -> dict[str, Any]:
        """Every field, JSON-able (the outcome as its string), for MQTT and the live view."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        return out | {"outcome": self.outcome.value}
