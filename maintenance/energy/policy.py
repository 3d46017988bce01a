"""Power-aware job policy: may an energy-hungry job (backup, sync, report) start now, and must a
running one stop?

A backup started at dusk on a half-empty battery can bring the PiBox down mid-write; a backup
that never runs is no better. `decide` weighs both: a job starts only inside one of its windows,
above its battery floor (SOC, or voltage when the bank reports no SOC), when the battery would
still be above that floor after the job, and preferably in the hour the site's own PV history
shows to be sunniest. When its deadline nears it may use a lower but still safe floor; it never
starts below that one. Every decision carries a code from `ReasonCode` with French and English
text, so a technician can read why a backup did (not) run.

Pure: no clock, no I/O, no threads, no logging; time is passed in. A runner calls `decide` about
once a minute per job; `maintenance.energy.shedding` decides the whole box's load-shedding level.
Rules, codes and defaults: docs/power-policy.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from enum import StrEnum

from maintenance.energy.problems import Inconsistent
from maintenance.energy.pv_profile import HourlyProfile, Window, minutes, minutes_left
from maintenance.energy.reasons import Action, Decision, Floor, ReasonCode, Say, Urgency
from maintenance.energy.shedding import (
    EnergyState,
    VoltsByNominal,
    lead_acid_volts,
    measure,
    nominal_voltage,
    soc_change_in_volts,
    volts_for,
)

PV_TRUST = 0.5
"""Share of today's measured charging surplus counted on for the rest of a job (clouds come)."""


class JobKind(StrEnum):
    BACKUP = "backup"
    SYNC = "sync"
    REPORT = "report"


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One energy-hungry job and the energy rules it runs under.

    Give `power_w` (energy = power x max duration) or `energy_wh`. `deadline_s`: a successful
    run must start at most this long after the previous successful one started (a backup's
    age is counted from its snapshot, taken at the start). `min_interval_s` (default: half the
    deadline): no new run sooner after a success, so the next one waits for its best hour.
    `windows`: local "HH:MM" start/end pairs in which the job may start ("24:00" allowed; a
    window may cross midnight). Voltage floors are used only for banks that report no SOC,
    looked up by the bank's nominal voltage.
    """

    name: str
    kind: JobKind
    max_duration_s: float
    power_w: float | None = None
    energy_wh: float | None = None
    deadline_s: float = 86400.0
    windows: tuple[Window, ...] = (("10:00", "16:00"),)
    min_soc: float = 60.0
    urgent_min_soc: float = 40.0
    min_voltage: VoltsByNominal = field(default_factory=lambda: lead_acid_volts(60.0))
    urgent_min_voltage: VoltsByNominal = field(default_factory=lambda: lead_acid_volts(40.0))
    urgent_before_s: float = 4 * 3600.0
    min_interval_s: float | None = None

    def __post_init__(self) -> None:
        problems = []
        if (self.power_w is None) == (self.energy_wh is None):
            problems.append("give exactly one of power_w and energy_wh")
        if self.urgent_min_soc > self.min_soc:
            problems.append("urgent_min_soc must not be above min_soc")
        if any(volts_for(self.urgent_min_voltage, n) > v for n, v in self.min_voltage.items()):
            problems.append("urgent_min_voltage must not be above min_voltage")
        if not self.windows:
            problems.append("at least one window is needed")
        for w in self.windows:
            start, end = minutes(w[0]), minutes(w[1])
            if start is None or end is None or start == end:
                problems.append(f"window {w!r}: expected two different 'HH:MM' times")
        if problems:
            raise Inconsistent(f"job {self.name!r}", problems)

    @property
    def interval_s(self) -> float:
        return self.deadline_s / 2.0 if self.min_interval_s is None else self.min_interval_s

    @property
    def job_energy_wh(self) -> float:
        if self.energy_wh is not None:
            return self.energy_wh
        return (self.power_w or 0.0) * self.max_duration_s / 3600.0


def decide(
    job: JobSpec,
    state: EnergyState,
    last_success_ts: float | None,
    now_local_time: time,
    pv_history: HourlyProfile,
    running: bool,
    capacity_wh: float,
) -> Decision:
    """What to do with `job` now. Call about once a minute; `running` says whether it runs;
    `last_success_ts` is when the last successful run started (None: never), on the same clock
    as `state.ts`: a run of this boot is dated from the monotonic clock, so it stays right across
    a wall-clock jump (`edged.power.jobs.supervisor`); a stored one is passed only on a synced
    clock.

    Order of the checks (the first that fails gives the reason): window, battery reading, floor,
    sunnier hour still ahead (and early enough for the deadline), battery after the job.
    """
    urgency, overdue_s, due_at = _deadline(job, state, last_success_ts)
    m = measure(state)
    urgent = urgency in (Urgency.NEAR, Urgency.OVERDUE)
    floor = None if m is None else _floor(job, state, m[0], urgent)
    say = Say(urgency, overdue_s, due_at, state, floor)
    if running:
        if m is None or floor is None:
            return say(Action.STOP, ReasonCode.STOP_NO_DATA)
        if m[1] <= floor.value:
            return say(Action.STOP, ReasonCode.STOP_FLOOR, value=m)
        return say(Action.CONTINUE, ReasonCode.CONTINUE, value=m)
    since = None if last_success_ts is None else state.ts - last_success_ts
    if since is not None and 0 <= since < job.interval_s:  # the caller keeps ts on this clock
        return say(Action.WAIT, ReasonCode.WAIT_DONE, ago=since, wait=job.interval_s - since)
    if not state.clock_synced:
        return _decide_unsynced(job, state, pv_history, capacity_wh, say)
    now_min = now_local_time.hour * 60 + now_local_time.minute + now_local_time.second / 60.0
    left, window = max((minutes_left(w, now_min), w) for w in job.windows)
    if left <= 0:
        windows = ", ".join(f"{a}-{b}" for a, b in job.windows)
        return say(Action.WAIT, ReasonCode.WAIT_WINDOW, windows=windows)
    if m is None or floor is None:
        return say(Action.WAIT, ReasonCode.WAIT_NO_DATA)
    if m[1] <= floor.value:
        return say(Action.WAIT, ReasonCode.WAIT_FLOOR, value=m)
    hour = _sunnier_hour(job, pv_history, window, now_min, left, state.ts, due_at)
    if hour is not None:
        return say(Action.WAIT, ReasonCode.WAIT_SUNNIER, hour=hour)
    after = _projected(job, state, m, capacity_wh)
    if after <= floor.value:
        return say(Action.WAIT, ReasonCode.WAIT_PROJECTION, value=m, after=after)
    code = ReasonCode.START_URGENT if floor.urgent else ReasonCode.START
    return say(Action.START, code, value=m, after=after)


def _decide_unsynced(
    job: JobSpec, state: EnergyState, profile_: HourlyProfile, capacity_wh: float, say: Say
) -> Decision:
    """Without a trusted clock, windows and deadlines mean nothing: go by the sun instead.

    A Pi without RTC and without network may stay unsynchronised for days; its backups should
    still run, but only in strong sun (at least half the best hour of the PV history, or the
    charger charging when there is no history) and on the normal floor.
    """
    m = measure(state)
    if m is None or say.floor is None:
        return say(Action.WAIT, ReasonCode.WAIT_NO_DATA)
    peak, pv = profile_.peak(), state.pv_power_w or 0.0
    sunny = pv >= 0.5 * peak if peak else state.charger_state in ("bulk", "absorption", "float")
    if not sunny or pv <= 0.0:
        return say(Action.WAIT, ReasonCode.WAIT_CLOCK)
    if m[1] <= say.floor.value:
        return say(Action.WAIT, ReasonCode.WAIT_FLOOR, value=m)
    after = _projected(job, state, m, capacity_wh)
    if after <= say.floor.value:
        return say(Action.WAIT, ReasonCode.WAIT_PROJECTION, value=m, after=after)
    return say(Action.START, ReasonCode.START_SUN, value=m, pv=pv)


def _deadline(
    job: JobSpec, state: EnergyState, last_success_ts: float | None
) -> tuple[Urgency, float | None, float | None]:
    """(urgency, seconds overdue, due time). A job never done is overdue now (None seconds)."""
    if not state.clock_synced:
        return Urgency.UNKNOWN, None, None
    if last_success_ts is None:
        return Urgency.OVERDUE, None, state.ts
    due_at = last_success_ts + job.deadline_s
    left = due_at - state.ts
    if left < 0:
        return Urgency.OVERDUE, -left, due_at
    return (Urgency.NEAR if left <= job.urgent_before_s else Urgency.NORMAL), None, due_at


def _floor(job: JobSpec, state: EnergyState, metric: str, urgent: bool) -> Floor:
    if metric == "soc":
        return Floor("soc", job.urgent_min_soc if urgent else job.min_soc, urgent)
    table = job.urgent_min_voltage if urgent else job.min_voltage
    return Floor("voltage", volts_for(table, nominal_voltage(state)), urgent)


def _sunnier_hour(
    job: JobSpec,
    pv_history: HourlyProfile,
    window: Window,
    now_min: float,
    left: float,
    now_ts: float,
    due_at: float | None,
) -> int | None:
    """The sunniest hour still ahead in this window that starts before the job's deadline,
    if it is not the current hour; None means: now is the best time."""
    current = int(now_min // 60)
    for hour in pv_history.best_hours(window):
        ahead = 0.0 if hour == current else (hour * 60 - now_min) % 1440
        if ahead >= left:
            continue  # already past in this window
        if ahead and due_at is not None and now_ts + ahead * 60 > due_at:
            continue  # waiting for it would miss the deadline
        return None if hour == current else hour
    return None


def _projected(job: JobSpec, state: EnergyState, m: tuple[str, float], capacity_wh: float) -> float:
    """The floor metric expected at the job's end: its energy out, what PV is likely to add in.

    The battery's power now (current x voltage) already nets PV against the clinic's loads: a
    surplus is counted at PV_TRUST (clouds come), a deficit in full. Without a current reading
    only the job's energy is counted. Voltage-only banks: the SOC change is turned into volts.
    """
    if capacity_wh <= 0:
        raise ValueError(f"capacity_wh must be positive, got {capacity_wh!r}")
    gain_wh = 0.0
    if state.battery_current_a is not None and state.battery_voltage is not None:
        net_w = state.battery_current_a * state.battery_voltage
        gain_wh = (net_w * PV_TRUST if net_w > 0 else net_w) * job.max_duration_s / 3600.0
    delta_pct = (gain_wh - job.job_energy_wh) / capacity_wh * 100.0
    if m[0] == "soc":
        return m[1] + delta_pct
    return m[1] + soc_change_in_volts(delta_pct, nominal_voltage(state))
