"""The power-aware job policy and load shedding, over simulated days of sun, cloud and rain.

The site (tests/peers/solar_site.py) is a lead-acid bank and controller with a clinic's loads;
its runner asks `decide` and `shedding_decision` every minute as the real runner will, so these
tests check what the box would have done each minute, not just single calls.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edged.readings import Record
from maintenance.energy.policy import (
    Action,
    HourlyProfile,
    JobKind,
    JobSpec,
    ReasonCode,
    Urgency,
    decide,
)
from maintenance.energy.shedding import (
    EnergyState,
    Level,
    ShedCode,
    SheddingThresholds,
    Threshold,
    lead_acid_volts,
    measure,
    nominal_voltage,
    shedding_decision,
    volts_for,
)
from tests.peers.solar_site import DAY, Job, Result, Weather, clinic_jobs, day_table, run

SUNNY, CLOUDY = ("sunny",) * 7, ("cloudy",) * 7
RAIN = ("sunny",) + ("rainy",) * 7 + ("sunny",) * 2
# the simulated controller's load disconnect (1.93 V/cell under load), as an installer sets it
SITE_SHEDDING = SheddingThresholds(
    shutdown=Threshold(18.0, 25.0, lead_acid_volts(18.0), {12: 12.4, 24: 24.8}),
    protection_voltage={24: 23.16},
    protection_margin_v={24: 0.3},
)


def _run(days: tuple[str, ...], **kw: object) -> tuple[Weather, Result, list[Job]]:
    weather, jobs = Weather(days), clinic_jobs()
    return weather, run(weather, jobs, 0.6, **kw), jobs  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def sims() -> dict[str, tuple[Weather, Result, list[Job]]]:
    return {
        "sunny": _run(SUNNY),
        "cloudy": _run(CLOUDY),
        "rain": _run(RAIN),
        "rain_shutdown": _run(RAIN, shedding=SITE_SHEDDING),
        "cloudy_voltage_only": _run(CLOUDY, report_soc=False),
    }


def _starts(res: Result):
    for m in res.minutes:
        for name, d in m.decisions.items():
            if d.action is Action.START:
                yield m, name, d


def _in_window(job: JobSpec, local: time) -> bool:
    t = local.hour * 60 + local.minute
    for a, b in job.windows:
        start, end = (int(x[:2]) * 60 + int(x[3:]) for x in (a, b))
        if (start <= t < end) if start < end else (t >= start or t < end):
            return True
    return False


@pytest.mark.parametrize("name", ["sunny", "cloudy", "cloudy_voltage_only"])
def test_every_deadline_met_when_energy_allows(sims, name):
    weather, res, jobs = sims[name]
    end = len(weather.days) * DAY
    for job in jobs:
        runs = [-12 * 3600.0, *res.successes[job.spec.name]]
        gaps = [b - a for a, b in zip(runs, runs[1:], strict=False)] + [end - runs[-1]]
        assert len(runs) >= 7 * DAY / job.spec.deadline_s
        assert max(gaps) <= job.spec.deadline_s, (job.spec.name, [g / 3600 for g in gaps])


def test_jobs_wait_for_the_sunniest_hour_of_the_site(sims):
    """PV history peaks at 12:00-13:00 (sun 06:30-18:30): every run on clear days starts then."""
    _, res, _ = sims["sunny"]
    hours = {(name, m.local.hour) for m, name, _ in _starts(res)}
    assert hours == {("backup", 12), ("sync", 12), ("report", 12)}
    waited = [d for m in res.minutes for d in m.decisions.values()]
    assert any(d.reason_code is ReasonCode.WAIT_SUNNIER for d in waited)


@pytest.mark.parametrize(
    "name", ["sunny", "cloudy", "rain", "rain_shutdown", "cloudy_voltage_only"]
)
def test_no_start_outside_windows_or_below_the_floor(sims, name):
    _, res, jobs = sims[name]
    specs = {j.spec.name: j.spec for j in jobs}
    starts = list(_starts(res))
    assert starts
    for m, job_name, d in starts:
        spec = specs[job_name]
        assert _in_window(spec, m.local), (job_name, m.local)
        metric, value = measure(m.state)
        assert d.floor_used is not None and d.floor_used.metric == metric
        assert value > d.floor_used.value
        urgent = spec.urgent_min_soc if metric == "soc" else spec.urgent_min_voltage[24]
        assert value > urgent
        assert d.floor_used.urgent == (d.reason_code is ReasonCode.START_URGENT)
        assert d.floor_used.urgent == (d.urgency in (Urgency.NEAR, Urgency.OVERDUE))


@pytest.mark.parametrize("name", ["sunny", "rain", "cloudy_voltage_only"])
def test_every_decision_is_explained(sims, name):
    _, res, _ = sims[name]
    seen = set()
    for m in res.minutes:
        for d in m.decisions.values():
            assert d.reason_code in set(ReasonCode)
            assert d.reason_fr and d.reason_en and d.reason_fr != d.reason_en
            assert "{" not in d.reason_fr + d.reason_en
            assert d.floor_used is not None  # every state here has a battery reading
            seen.add(d.reason_code)
    assert {ReasonCode.START, ReasonCode.WAIT_WINDOW, ReasonCode.WAIT_DONE} <= seen


def test_rain_week_misses_are_reported_with_a_reason(sims):
    _, res, jobs = sims["rain"]
    for job in jobs:
        runs = [-12 * 3600.0, *res.successes[job.spec.name]]
        late = [(a, b) for a, b in zip(runs, runs[1:], strict=False) if b - a > job.spec.deadline_s]
        assert late, f"{job.spec.name}: the rain should have made it miss its deadline"
        for a, b in late:
            due = a + job.spec.deadline_s
            overdue = [m for m in res.minutes if due < m.state.ts < b]
            assert overdue
            for m in overdue:
                d = m.decisions[job.spec.name]
                assert d.urgency is Urgency.OVERDUE and d.action is Action.WAIT
                assert d.overdue_s == pytest.approx(m.state.ts - due)
                assert "Deadline missed" in d.reason_en and "Échéance dépassée" in d.reason_fr
            blocked = {m.decisions[job.spec.name].reason_code for m in overdue}
            assert ReasonCode.WAIT_FLOOR in blocked  # the battery, not a silent skip


def test_a_running_job_is_stopped_when_the_battery_reaches_its_floor():
    """A 3 h upload at 60 W started on a rainy afternoon while a bright spell charged the bank:
    the rain comes back, the evening loads follow, and the bank reaches the normal floor."""
    upload = JobSpec(
        "upload",
        JobKind.SYNC,
        3 * 3600.0,
        power_w=60.0,
        windows=(("14:00", "18:00"),),
        urgent_before_s=3600.0,
    )
    res = run(Weather(("rainy",)), [Job(upload, 3 * 3600.0, -6 * 3600.0)], 0.85)
    decided = [(m, m.decisions["upload"]) for m in res.minutes]
    starts = [m for m, d in decided if d.action is Action.START]
    stops = [(m, d) for m, d in decided if d.action is Action.STOP]
    assert stops and starts[0].state.ts < stops[0][0].state.ts
    m, d = stops[0]
    assert d.reason_code is ReasonCode.STOP_FLOOR and d.floor_used is not None
    assert m.state.soc <= d.floor_used.value == upload.min_soc
    i = res.minutes.index(m)
    assert res.minutes[i - 1].state.soc > d.floor_used.value  # stopped the first minute at it
    assert starts[0].state.ts not in res.successes["upload"]  # a stopped run is no success
    for m, d in decided:
        if "upload" in m.running and m.state.soc <= d.floor_used.value:
            assert d.action is Action.STOP


def test_shedding_falls_in_order_and_shuts_down_before_the_battery_cuts(sims):
    _, res, _ = sims["rain_shutdown"]
    assert res.shutdowns, "a week of rain must reach the shutdown level"
    assert not res.power_cuts, "the controller cut the box's power while it was up"
    _, unprotected, _ = sims["rain"]
    assert unprotected.power_cuts  # without shutdown the controller does cut it
    levels = [m.level for m in res.minutes]
    first_down = next(i for i, m in enumerate(res.minutes) if m.state.ts > res.shutdowns[0]) - 1
    path = [lv for i, lv in enumerate(levels[: first_down + 1]) if i == 0 or lv != levels[i - 1]]
    assert path == [Level.NORMAL, Level.WARN, Level.STOP_SERVICES]


def test_shedding_recovers_only_above_the_recovery_thresholds(sims):
    _, res, _ = sims["rain"]
    changes = [
        (a, b) for a, b in zip(res.minutes, res.minutes[1:], strict=False) if a.level != b.level
    ]
    assert changes
    config = SheddingThresholds()
    for a, b in changes:
        if b.level is Level.NORMAL and a.level is Level.WARN:
            assert b.state.soc >= config.warn.recover_soc
        if b.level is Level.WARN and a.level is Level.STOP_SERVICES:
            assert b.state.soc >= config.stop_services.recover_soc
    # no flapping: the level changes a handful of times a day, not every few minutes
    assert len(changes) <= 4 * len(RAIN)


def _state(soc: float | None = 70.0, v: float = 25.0, **kw: object) -> EnergyState:
    base = EnergyState(0.0, soc, v, 300.0, 2.0, "bulk", True)
    return replace(base, **kw)


def test_shedding_hysteresis_on_a_noisy_soc():
    """SOC falling then rising with ±2 % noise: each level entered once, left once."""
    config = SheddingThresholds(shutdown=Threshold(10.0, 15.0, {12: 11.5}, {12: 12.2}))
    down = [60 - i * 0.05 + 2 * math.sin(i) for i in range(1000)]
    level, path = Level.NORMAL, [Level.NORMAL]
    for soc in down:
        level, reason = shedding_decision(_state(soc, v=25.0), config, level)
        assert reason.code in set(ShedCode) and reason.fr and reason.en
        if level != path[-1]:
            path.append(level)
    assert path == [Level.NORMAL, Level.WARN, Level.STOP_SERVICES, Level.SHUTDOWN]
    level, path = Level.STOP_SERVICES, [Level.STOP_SERVICES]
    for soc in reversed(down[:900]):  # recharging: the charger holds the bank at 25.4 V
        level, _ = shedding_decision(_state(soc, v=25.4), config, level)
        if level != path[-1]:
            path.append(level)
            assert soc >= {Level.WARN: 30.0, Level.NORMAL: 40.0}[level]
    assert path == [Level.STOP_SERVICES, Level.WARN, Level.NORMAL]


def test_shedding_trusts_the_voltage_near_the_cut_off():
    """An SOC estimate saying 55 % does not keep the box up at the controller's cut-off."""
    low = _state(55.0, v=22.6)
    level, reason = shedding_decision(low, SheddingThresholds(), Level.NORMAL)
    assert (level, reason.code) == (Level.STOP_SERVICES, ShedCode.PROTECTION)
    assert (
        shedding_decision(low, SheddingThresholds(), level)[0] is Level.STOP_SERVICES
    )  # no shutdown
    config = replace(SheddingThresholds(), shutdown=Threshold(10.0, 15.0, {12: 11.5}, {12: 12.2}))
    level, _ = shedding_decision(low, config, Level.NORMAL)
    assert level is Level.STOP_SERVICES  # services first...
    assert shedding_decision(low, config, level)[0] is Level.SHUTDOWN  # ...then shutdown
    assert shedding_decision(_state(None, v=None), config, Level.WARN)[0] is Level.WARN


def test_shedding_config_rejects_a_shutdown_below_the_cut_off():
    with pytest.raises(ValueError, match="above the cut-off"):
        SheddingThresholds(shutdown=Threshold(10.0, 15.0, {12: 11.0}, {12: 12.2}))
    with pytest.raises(ValueError, match="recover_soc"):
        SheddingThresholds(warn=Threshold(30.0, 30.0, {12: 11.8}, {12: 12.6}))


BACKUP = JobSpec("backup", JobKind.BACKUP, 1800.0, power_w=40.0)
NOON_PEAK = HourlyProfile(tuple(max(0.0, 600.0 - 80.0 * abs(h - 12)) for h in range(24)))


def _decide(job=BACKUP, state=None, last=-43200.0, at=time(12, 0), running=False, **kw):
    state = state or _state(70.0, ts=0.0, **kw)
    return decide(job, state, last, at, NOON_PEAK, running, 4800.0)


def test_waits_for_the_sunniest_hour_unless_the_deadline_would_pass():
    assert _decide(at=time(10, 30), last=-60000.0).reason_code is ReasonCode.WAIT_SUNNIER
    # due in 20 min: 11:00 and 12:00 would be too late, start now on the urgent floor
    d = _decide(at=time(10, 30), last=-DAY + 1200.0)
    assert (d.action, d.reason_code, d.urgency) == (
        Action.START,
        ReasonCode.START_URGENT,
        Urgency.NEAR,
    )
    never = _decide(at=time(10, 30), last=None)
    assert never.action is Action.START and never.urgency is Urgency.OVERDUE
    assert "not done yet since install" in never.reason_en
    # a job never run has missed nothing: staff must not read "overdue" / "en retard"
    waiting = _decide(at=time(20, 0), last=None)
    assert waiting.urgency is Urgency.OVERDUE and waiting.overdue_s is None
    for text in (never.reason_fr, never.reason_en, waiting.reason_fr, waiting.reason_en):
        assert not any(w in text for w in ("retard", "dépassée", "late", "missed")), text


def test_done_recently_windows_and_data():
    assert _decide(last=-3600.0).reason_code is ReasonCode.WAIT_DONE
    assert _decide(at=time(20, 0)).reason_code is ReasonCode.WAIT_WINDOW
    night = replace(BACKUP, windows=(("22:00", "02:00"),))
    assert _decide(night, at=time(1, 0)).action is Action.START
    assert _decide(night, at=time(3, 0)).reason_code is ReasonCode.WAIT_WINDOW
    blind = _state(None, v=None, ts=0.0)
    assert _decide(state=blind).reason_code is ReasonCode.WAIT_NO_DATA
    assert _decide(state=blind, running=True).reason_code is ReasonCode.STOP_NO_DATA


def test_projection_counts_the_job_and_the_deficit():
    heavy = replace(BACKUP, power_w=None, energy_wh=600.0)  # 12.5 % of a 4.8 kWh bank
    d = _decide(heavy, battery_current_a=-4.0)  # and 100 W drawn by the clinic
    assert d.reason_code is ReasonCode.WAIT_PROJECTION and "expected after" in d.reason_en
    assert _decide(heavy, state=_state(80.0, ts=0.0)).action is Action.START


def test_voltage_floors_when_the_bank_reports_no_soc():
    d = _decide(state=_state(None, v=24.1, ts=0.0, battery_current_a=0.0))
    assert d.reason_code is ReasonCode.WAIT_FLOOR and d.floor_used.metric == "voltage"
    assert d.floor_used.value == lead_acid_volts(60.0)[24] and "24,10 V" in d.reason_fr
    assert _decide(state=_state(None, v=12.5, ts=0.0, battery_current_a=0.0)).action is Action.START


def test_unsynchronised_clock_goes_by_the_sun():
    dark = _state(70.0, ts=0.0, clock_synced=False, pv_power_w=50.0)
    assert _decide(state=dark).reason_code is ReasonCode.WAIT_CLOCK
    sun = _state(70.0, ts=0.0, clock_synced=False, pv_power_w=450.0)
    d = _decide(state=sun, at=time(3, 0))  # the wrong clock's hour does not matter
    assert (d.reason_code, d.urgency) == (ReasonCode.START_SUN, Urgency.UNKNOWN)


def test_job_spec_rejects_nonsense():
    with pytest.raises(ValueError, match="exactly one of power_w and energy_wh"):
        JobSpec("x", JobKind.REPORT, 60.0)
    with pytest.raises(ValueError, match="window"):
        JobSpec("x", JobKind.REPORT, 60.0, power_w=5.0, windows=(("10:00", "25:00"),))
    with pytest.raises(ValueError, match="urgent_min_soc"):
        JobSpec("x", JobKind.REPORT, 60.0, power_w=5.0, urgent_min_soc=70.0)


def test_profile_from_records_sums_devices_and_drops_unsynced_clocks():
    noon, eight = 12 * 3600.0, 8 * 3600.0
    records = [
        Record("mppt1", noon, True, 60, {"pv_power": 400.0}),
        Record("mppt2", noon, True, 60, {"pv_power": 200.0}),
        Record("mppt1", eight, True, 60, {"pv_power": 100.0}),
        Record("mppt1", eight + 60, False, 60, {"pv_power": 9000.0}),  # clock not synced
        Record("mppt1", eight + 120, True, 60, {"battery_voltage": 25.0}),
    ]
    p = HourlyProfile.from_records(records, now_ts=DAY)
    assert (p.mean(12), p.mean(8), p.mean(3)) == (600.0, 100.0, None)
    assert p.best_hours(("07:30", "13:00")) == [12, 8, 7, 9, 10, 11]


@settings(max_examples=200, deadline=None)
@given(
    soc=st.one_of(st.none(), st.floats(0, 100)),
    v=st.one_of(st.none(), st.floats(10, 60)),
    amps=st.one_of(st.none(), st.floats(-50, 50)),
    minute=st.integers(0, 1439),
    last=st.one_of(st.none(), st.floats(-4 * DAY, 0)),
    synced=st.booleans(),
    running=st.booleans(),
)
def test_decide_never_starts_below_the_urgent_floor(soc, v, amps, minute, last, synced, running):
    state = EnergyState(0.0, soc, v, 500.0, amps, "bulk", synced)
    at = time(minute // 60, minute % 60)
    d = decide(BACKUP, state, last, at, NOON_PEAK, running, 4800.0)
    assert d.reason_code in set(ReasonCode) and d.reason_fr and d.reason_en
    assert d.action in ((Action.STOP, Action.CONTINUE) if running else (Action.START, Action.WAIT))
    m = measure(state)
    if d.action in (Action.START, Action.CONTINUE):
        assert m is not None and d.floor_used is not None and m[1] > d.floor_used.value
        if m[0] == "soc":
            assert d.floor_used.value >= BACKUP.urgent_min_soc
        else:
            table = BACKUP.urgent_min_voltage
            assert d.floor_used.value >= volts_for(table, nominal_voltage(state))


def test_cloudy_week_table_for_the_docs(sims):
    """The worked example of docs/power-policy.md, printed by bench/cloudy_week.py."""
    weather, res, jobs = sims["cloudy"]
    lines = day_table(weather, res, jobs)
    assert len(lines) == 2 + len(CLOUDY)
    assert all("missed" not in line and "12:00 start" in line for line in lines[2:])


def test_shedding_reason_names_the_threshold_crossed():
    state = EnergyState(0.0, 18.0, 13.0, None, None, None, True)
    level, reason = shedding_decision(state, SheddingThresholds(), Level.NORMAL)
    assert level is Level.STOP_SERVICES
    assert "at or below 20 %" in reason.en and "seuil de 20 %" in reason.fr


def test_shedding_does_not_restart_services_on_a_drifting_soc_and_a_sagging_voltage():
    """An estimated SOC of 60 % at night while heavy load pulls a 12 V bank to the cut-off:
    the services stop, the voltage springs back without them, and they stay stopped until the
    voltage says the bank is really charged (no stop/start loop)."""
    config, level, path = SheddingThresholds(), Level.NORMAL, []
    for v in [12.2, 11.35, 12.1, 11.9, 12.1, 12.2, 12.3, 12.55, 12.65]:
        level, _ = shedding_decision(_state(60.0, v=v, nominal_voltage=12), config, level)
        path.append(level)
    stop, warn, normal = Level.STOP_SERVICES, Level.WARN, Level.NORMAL
    assert path == [normal, stop, stop, stop, stop, stop, stop, warn, normal]
