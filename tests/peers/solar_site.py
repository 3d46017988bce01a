"""A simulated off-grid clinic over days, with a minimal job runner asking the power policy.

The sun follows the hour (sin², 06:30-18:30, Mali is on UTC) scaled by each day's weather, with
clouds that come and go; the clinic draws a vaccine fridge, consultation-hours equipment, night
lights, a delivery every third night and the PiBox itself. The bank and its controller are
`tests.peers.battery_model`'s (true capacity and charge efficiency, bulk/absorption/float that
clips PV when the bank is full, a load output cut at low voltage and reconnected higher): the
PiBox and its jobs hang on that load output, so a low-voltage cut is a power cut of the box.

`run` plays the days minute by minute: each minute it asks `shedding_decision` for the box's
level, then `decide` for every job, starts and stops jobs as told (stop_services and shutdown
stop them all), adds their power to the load, and records what happened. A box that boots after
a power cut starts at stop_services and recovers through the thresholds; a box shut down stays
off until the controller cuts and restores its power. The PV history given to the policy is
rebuilt at each midnight from the previous days' PV, as a runner would. Deterministic.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import time

from maintenance.energy.policy import Action, Decision, HourlyProfile, JobKind, JobSpec, decide
from maintenance.energy.shedding import EnergyState, Level, SheddingThresholds, shedding_decision
from tests.peers.battery_model import LEAD_ACID, Bank, BankSpec, Controller

WEATHER = {"sunny": 1.0, "cloudy": 0.5, "rainy": 0.15}
"""Mean share of a clear sky's PV power that reaches the panels."""
DAY = 86400.0


@dataclass
class Weather:
    """PV power by time: `days` from t = 0, `history` the days before it (most recent last)."""

    days: tuple[str, ...]
    history: tuple[str, ...] = ("sunny", "cloudy") * 4
    array_w: float = 1200.0
    seed: int = 3

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def name(self, day: int) -> str:
        return self.days[day] if day >= 0 else self.history[day]

    def pv_w(self, t: float) -> float:
        hour = (t % DAY) / 3600.0
        if not 6.5 <= hour <= 18.5:
            return 0.0
        sky = WEATHER[self.name(math.floor(t / DAY))]
        if sky < 1.0:  # clouds come and go
            sky *= 0.4 + 1.2 * self._rng.random()
        return self.array_w * min(1.0, sky) * math.sin(math.pi * (hour - 6.5) / 12.0) ** 2


def clinic_w(t: float) -> float:
    """The clinic's own loads and the idle PiBox, in watts."""
    day, minute = int(t // DAY), int(t % DAY) // 60
    hour = minute / 60.0
    fridge = 110.0 if minute % 50 < 20 else 0.0  # compressor: 20 min on in 50
    lights = 60.0 if hour >= 18.5 or hour < 6.5 else 0.0
    consult = 120.0 if 8.0 <= hour < 16.0 else 0.0
    delivery = 150.0 if day % 3 == 1 and 1.0 <= hour < 2.5 else 0.0
    return fridge + lights + consult + delivery + 8.0


@dataclass
class Job:
    spec: JobSpec
    run_s: float  # how long it really takes (within spec.max_duration_s)
    last_success: float | None
    started: float | None = None
    successes: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Minute:
    """One minute as the runner saw it: the energy state, the level and each job's decision."""

    state: EnergyState
    true_soc: float
    local: time
    level: Level
    decisions: dict[str, Decision]
    running: frozenset[str]  # jobs running when the decision was asked


@dataclass
class Result:
    minutes: list[Minute] = field(default_factory=list)
    successes: dict[str, list[float]] = field(default_factory=dict)
    power_cuts: list[float] = field(default_factory=list)  # load output cut while the box was up
    shutdowns: list[float] = field(default_factory=list)
    pv_wh: list[float] = field(default_factory=list)  # harvested each day, box up or not


def profile_at(weather: Weather, now: float, days: int = 7) -> HourlyProfile:
    """The PV history a runner would have at `now`: 5-minute points of the previous days."""
    points = ((t, weather.pv_w(t)) for t in range(int(now - days * DAY), int(now), 300))
    return HourlyProfile.from_points(points, now, days)


def run(
    weather: Weather,
    jobs: list[Job],
    soc0: float,
    report_soc: bool = True,
    shedding: SheddingThresholds | None = None,
    spec: BankSpec = LEAD_ACID,
    capacity_wh: float = 200.0 * 24.0,
) -> Result:
    """Play `weather.days` minute by minute from midnight with the bank at `soc0` (fraction)."""
    bank, ctl, res = Bank(spec, soc0), Controller(spec), Result()
    shedding = shedding or SheddingThresholds()
    level, box, v, dt = Level.NORMAL, "up", 24.0, 60.0
    pv_history = profile_at(weather, 0.0)
    for i in range(len(weather.days) * 1440):
        t = i * dt
        if i % 1440 == 0:
            ctl.new_day()
            res.pv_wh.append(0.0)
            pv_history = profile_at(weather, t) if i else pv_history
        load_w = clinic_w(t) + sum(j.spec.power_w or 0.0 for j in jobs if j.started is not None)
        out, load, v = ctl.step(bank, dt, weather.pv_w(t) / v, load_w / v)
        bank.step(dt, out - load)
        res.pv_wh[-1] += out * v * dt / 3600.0
        if not ctl.load_on:
            if box == "up":
                res.power_cuts.append(t)
            box = "off"  # no power: the box is off, its jobs die
            for job in jobs:
                job.started = None
            continue
        if box == "halted":
            continue  # shut down: stays off until the controller cycles its load output
        if box == "off":
            box, level = "up", Level.STOP_SERVICES  # boots; recovers through the thresholds
        state = EnergyState(
            ts=t + dt,
            soc=100.0 * bank.soc if report_soc else None,
            battery_voltage=v,
            pv_power_w=out * v,
            battery_current_a=out - load,
            charger_state=ctl.state,
            clock_synced=True,
        )
        level, _ = shedding_decision(state, shedding, level)
        if level is Level.SHUTDOWN:
            res.shutdowns.append(t)
            box = "halted"
            for job in jobs:
                job.started = None
            continue
        res.minutes.append(_minute(state, 100.0 * bank.soc, level, jobs, pv_history, capacity_wh))
    res.successes = {j.spec.name: j.successes for j in jobs}
    return res


def _minute(
    state: EnergyState,
    true_soc: float,
    level: Level,
    jobs: list[Job],
    pv_history: HourlyProfile,
    capacity_wh: float,
) -> Minute:
    """Ask the policy about every job, then act on the answers as a runner would."""
    t = state.ts
    local = time(int(t % DAY // 3600), int(t % 3600 // 60))
    decisions, running = {}, set()
    for job in jobs:
        if job.started is not None and t - job.started >= job.run_s:
            job.last_success = job.started  # a run's age counts from its start (snapshot)
            job.successes.append(job.started)
            job.started = None
        is_running = job.started is not None
        if is_running:
            running.add(job.spec.name)
        d = decide(job.spec, state, job.last_success, local, pv_history, is_running, capacity_wh)
        decisions[job.spec.name] = d
        if level is not Level.NORMAL and level is not Level.WARN:
            job.started = None  # services stopped: no job runs whatever the policy says
        elif d.action is Action.START:
            job.started = t
        elif d.action is Action.STOP:
            job.started = None
    return Minute(state, true_soc, local, level, decisions, frozenset(running))


def clinic_jobs() -> list[Job]:
    """The jobs of the tests and of docs/power-policy.md, each last done at noon the day before.

    backup: mysqldump of OpenClinic + files to the USB disk, 30 min at 40 W, every 24 h.
    sync: the uplink's bulk upload, 75 min at 25 W, every 30 h (the uplink can wait a little).
    report: the equipment-health report, 10 min at 10 W, every 48 h, on lower floors.
    """
    return [
        Job(JobSpec("backup", JobKind.BACKUP, 2400.0, power_w=40.0), 1800.0, -12 * 3600.0),
        Job(
            JobSpec(
                "sync",
                JobKind.SYNC,
                5400.0,
                power_w=25.0,
                deadline_s=30 * 3600.0,
                windows=(("09:00", "17:00"),),
            ),
            4500.0,
            -12 * 3600.0,
        ),
        Job(
            JobSpec(
                "report",
                JobKind.REPORT,
                900.0,
                power_w=10.0,
                deadline_s=2 * DAY,
                windows=(("08:00", "18:00"),),
                min_soc=50.0,
                urgent_min_soc=35.0,
            ),
            600.0,
            -12 * 3600.0,
        ),
    ]


def day_table(weather: Weather, res: Result, jobs: list[Job]) -> list[str]:
    """A Markdown table of what each job did each day, and why when it did not run."""
    names = [j.spec.name for j in jobs]
    lines = [
        "| day | weather | PV kWh | SOC 06:00 / min / max | " + " | ".join(names) + " |",
        "|---" * (4 + len(names)) + "|",
    ]
    for day, sky in enumerate(weather.days):
        ms = [m for m in res.minutes if day * DAY < m.state.ts <= (day + 1) * DAY]
        pv_kwh = res.pv_wh[day] / 1000.0
        socs = [m.true_soc for m in ms]
        at6 = next((m.true_soc for m in ms if m.local >= time(6)), float("nan"))
        soc = f"{at6:.0f} / {min(socs, default=0):.0f} / {max(socs, default=0):.0f} %"
        cells = [_day_cell(ms, name) for name in names]
        lines.append(f"| {day + 1} | {sky} | {pv_kwh:.1f} | {soc} | " + " | ".join(cells) + " |")
    return lines


def _day_cell(ms: list[Minute], name: str) -> str:
    """`12:00 start_urgent (62.3 %, floor 40 %)`, or the reason that kept it waiting."""
    parts = []
    for m in ms:
        d = m.decisions[name]
        if d.action in (Action.START, Action.STOP) and d.floor_used:
            what = "stopped" if d.action is Action.STOP else d.reason_code.value
            unit = "%" if d.floor_used.metric == "soc" else "V"
            value = m.state.soc if d.floor_used.metric == "soc" else m.state.battery_voltage
            floor = f"floor {d.floor_used.value:.1f} {unit}"
            parts.append(f"{m.local:%H:%M} {what} ({value:.1f} {unit}, {floor})")
    if parts:
        return "; ".join(parts)
    if not ms:
        return "box off"
    quiet = ("wait_window", "wait_done")
    waits = [m.decisions[name] for m in ms if m.decisions[name].reason_code.value not in quiet]
    if not waits:
        return "not due"
    last = waits[-1]
    missed = "missed, " if last.urgency.value == "overdue" else ""
    return f"{missed}{last.reason_code.value}: {last.reason_en}"
