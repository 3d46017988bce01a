"""What one run of a job leaves behind: a `job_runs` row, a `P/job/{job}` and `P/event/job` body.

Kept apart from `edged.power.jobs.process` (how a process is run) so the report, the CLI and the
supervisor share one record of a run without the process machinery.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any


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

    def row(self) -> tuple:
        """The parameters of `telemetry.store.ROW_SQL["job_run"]`, in its column order."""
        return (
            self.job,
            self.kind,
            self.trigger,
            self.started,
            self.ended,
            self.duration_s,
            self.outcome.value,
            self.exit_code,
            self.reason,
            self.reason_en,
            self.output_tail,
            int(self.clock_synced),
        )

    def payload(self) -> dict[str, Any]:
        """Every field, JSON-able (the outcome as its string), for MQTT and the live view."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        return out | {"outcome": self.outcome.value}
