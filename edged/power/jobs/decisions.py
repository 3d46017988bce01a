"""The job supervisor's three questions to the power policy, with the rules it adds on top.

- `scheduled`: may the job start now on its own? Load shedding holds every job; a run that did
  not succeed is retried after a backoff (5 min, doubling up to 2 h) instead of every tick, so a
  backup failing at once (USB disk unplugged) does not write a result and an event a minute;
  then `maintenance.energy.policy.decide` answers.
- `on_demand`: may it start now because a technician asked (`edged backup --now`)? The time
  rules give way (any hour, done recently or not, clock synchronised or not); the energy rules
  hold (no reading, the urgent floor, the projection), unless forced.
- `resume`: may a suspended job go on? Energy rules only (its window may have closed since),
  at the normal floor: suspended at the floor, it is not resumed one tenth of a percent above.
A report job's deadline counts from the end of the month it reports.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime
from datetime import time as clock_time

from edged.power.jobs.slot import JobSlot
from maintenance.energy.policy import JobKind, JobSpec, decide
from maintenance.energy.pv_profile import HourlyProfile
from maintenance.energy.reasons import Decision, ReasonCode, Urgency, held
from maintenance.energy.shedding import EnergyState
from maintenance.report.month import bounds

RETRY_MIN, RETRY_MAX = 300.0, 7200.0
ANY_TIME = (("00:00", "24:00"),)
NO_PROFILE = HourlyProfile((None,) * 24)


def retry_delay(failures: int) -> float:
    """Seconds to wait after `failures` runs in a row that did not succeed."""
    return min(RETRY_MIN * 2 ** max(failures - 1, 0), RETRY_MAX)


def _spec(slot: JobSlot) -> JobSpec:
    spec = slot.config.policy
    if spec.kind is JobKind.REPORT:  # due once per month, from the month's end
        return dataclasses.replace(spec, min_interval_s=0.0)
    return spec


def last_success(slot: JobSlot, now: float, synced: bool) -> float | None:
    if slot.config.policy.kind is JobKind.REPORT:
        return float(bounds(slot.month)[1]) if slot.month else None
    return slot.last_success(now, synced)


def scheduled(
    slot: JobSlot,
    state: EnergyState,
    local: clock_time,
    profile: HourlyProfile,
    capacity_wh: float,
    blocked: bool,
) -> Decision:
    if blocked:
        return held(ReasonCode.WAIT_SHEDDING, Urgency.UNKNOWN)
    left = slot.retry_at - time.monotonic() if slot.retry_at is not None else 0.0
    if left > 0:
        return held(ReasonCode.WAIT_RETRY, Urgency.UNKNOWN, left)
    last = last_success(slot, state.ts, state.clock_synced)
    return decide(_spec(slot), state, last, local, profile, False, capacity_wh)


def on_demand(slot: JobSlot, state: EnergyState, capacity_wh: float) -> Decision:
    """A technician's start: at the urgent floor (the job counts as overdue)."""
    return _energy_only(slot, state, capacity_wh, last=None)


def resume(slot: JobSlot, state: EnergyState, capacity_wh: float) -> Decision:
    """A suspended job: at the normal floor (as if just done: not overdue)."""
    return _energy_only(slot, state, capacity_wh, last=state.ts)


def _energy_only(
    slot: JobSlot, state: EnergyState, capacity_wh: float, last: float | None
) -> Decision:
    spec = dataclasses.replace(slot.config.policy, windows=ANY_TIME, min_interval_s=0.0)
    synced = dataclasses.replace(state, clock_synced=True)
    local = datetime.fromtimestamp(state.ts).time()
    return decide(spec, synced, last, local, NO_PROFILE, False, capacity_wh)


def running(slot: JobSlot, state: EnergyState, capacity_wh: float) -> Decision:
    """A running job: go on, or stop/suspend at the floor it was started under (a technician's
    or an urgent start keeps the urgent floor)."""
    last = None if slot.urgent_start else last_success(slot, state.ts, state.clock_synced)
    spec = dataclasses.replace(_spec(slot), windows=ANY_TIME)
    local = datetime.fromtimestamp(state.ts).time()
    return decide(spec, state, last, local, NO_PROFILE, True, capacity_wh)
