"""Read one month of a site's stored data for the report, from the daemon's database.

Read side only: the database is opened read-only by the caller (`telemetry.store.open_db(path,
readonly=True)`), beside a running daemon. `series` gives the month's hourly rollups: the
stored rows (`rollup_store`) for what `roll_up` has done, continued in memory with the records
stored since, exactly as the next `roll_up` would, so the report is the same before and after
old records are pruned. A database `roll_up` has not reached the month yet gives its records
instead (in stored order, from a little before the month so its first interval is counted,
see `rollups`). Tables another part of edged may not have yet read as empty, never as an error.
"""

from __future__ import annotations

from edged.readings import Record
from maintenance.energy.battery_health import GAP_FACTOR
from maintenance.report import rollup_store
from maintenance.report.month import bounds
from maintenance.report.rollups import DAY
from telemetry import queries
from telemetry.database import Database


def records(db: Database, start: float, end: float, interval_s: float) -> list[Record]:
    """Records with start − GAP_FACTOR·interval ≤ ts < end, in stored order (the one before the
    month counts the month's first interval)."""
    return queries.records_in(db, start - GAP_FACTOR * interval_s, end)


def series(db: Database, month: str, interval_s: float) -> dict[str, list]:
    """`{"rollups": hourly rows}` or `{"records": records}` of `month`, for `build_report`."""
    start, end = bounds(month)
    last_id, cutoff, state = rollup_store.load_state(db)
    if cutoff is None or cutoff < start - DAY:  # roll_up has not reached the month yet
        return {"records": records(db, start, end, interval_s)}
    hourly = {(r.device, r.start): r for r in rollup_store.stored(db, start, end)}
    newer = rollup_store.pending(db, last_id)
    continued, _ = rollup_store.continue_rollup(db, newer, state, interval_s)
    hourly.update({(r.device, r.start): r for r in continued if start <= r.start < end})
    return {"rollups": sorted(hourly.values(), key=lambda r: (r.device, r.start))}


alarms = queries.alarms_in
health = queries.health_in
job_runs = queries.job_runs_in
job_waits = queries.job_waits_in
JOB_RUN_COLUMNS = queries.PERIOD_JOB_RUN_COLUMNS
