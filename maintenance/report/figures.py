"""The month's report from stored data: rollups (or records, rolled up here), alarms, health
rows, job runs, the maintenance log and the equipment registry.

Every figure comes from hourly rollups of the month (`rollups.py`), so a report computed after
raw records were pruned is the same as one computed from them. Bad input never raises here: a
month without data gives None figures and a "no_data" note, gaps and clock jumps are counted
and named in `quality.notes`, and the summary says so in words. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence

from edged.config.power import Budget
from edged.readings import Record
from maintenance.energy.battery_health import FULL_SOC
from maintenance.report import health_figures as hf
from maintenance.report.battery_figures import battery
from maintenance.report.costs import costs
from maintenance.report.model import Availability, DayEnergy, Energy, Quality, Report
from maintenance.report.month import bounds, day_of, days
from maintenance.report.registry import Category, Item, LogEntry
from maintenance.report.rollups import DAY, HOUR, Rollup, merge, rollup
from maintenance.report.summary import summaries

NO_BUDGET = Budget()
"""The default `[budget]`: nothing budgeted, no fees recorded."""
GAP_DAY_PCT = 99.0  # a day with less data than this share of its hours is "a day with gaps"


def _online_by_hour(rollups: Sequence[Rollup]) -> dict[int, float]:
    """Seconds the site was recording, per hour: the best-covered device of that hour (at most
    the hour: after a clock jump back, two stretches of time share the same stamps)."""
    online: dict[int, float] = {}
    for r in rollups:
        online[r.start] = max(online.get(r.start, 0.0), _measured(r))
    return online


def _measured(r: Rollup) -> float:
    return min(float(r.period_s), r.covered_s)


def _quality(rollups: Sequence[Rollup], month: str, start: int, end: int, until: float) -> Quality:
    """Data quality over [start, until): `until` < `end` in a month not over yet, whose days
    still to come (and today, not over either) are neither gaps nor days without data."""
    online = _online_by_hour(rollups)
    per_day: dict[str, float] = {}
    for hour, seconds in online.items():
        key = day_of(hour).isoformat()
        per_day[key] = per_day.get(key, 0.0) + seconds
    all_days = [d.isoformat() for i, d in enumerate(days(month)) if start + (i + 1) * DAY <= until]
    gaps = tuple(d for d in all_days if 0 < per_day.get(d, 0.0) < DAY * GAP_DAY_PCT / 100.0)
    empty = tuple(d for d in all_days if per_day.get(d, 0.0) == 0.0)
    total = sum(online.values())
    q = dict(
        records=sum(r.records for r in rollups),
        records_unsynced=sum(r.unsynced for r in rollups),
        clock_jumps=sum(r.clock_jumps for r in rollups),
        gaps=sum(r.gaps for r in rollups),
    )
    notes = [
        code
        for code, hit in (
            ("month_in_progress", until < end),
            ("no_data", not q["records"]),
            ("gaps", bool(gaps or empty) and q["records"] > 0),
            ("clock_jump", q["clock_jumps"] > 0),
            ("unsynced", q["records_unsynced"] > 0),
        )
        if hit
    ]
    return Quality(
        **q,
        period_h=(until - start) / 3600.0,
        online_h=round(total / 3600.0, 4),
        completeness_pct=round(min(100.0, 100.0 * total / (until - start)), 2)
        if q["records"]
        else None,
        days_with_gaps=gaps,
        days_without_data=empty if q["records"] else tuple(all_days),
        notes=tuple(notes),
    )


def _availability(
    items: Sequence[Item],
    rollups: Sequence[Rollup],
    health: Sequence[dict],
    start: int,
    end: int,
    health_interval_s: float | None,
) -> tuple[Availability, ...]:
    """Devices: time measured / time the site was recording. Health components: time ok /
    time observed."""
    online = sum(_online_by_hour(rollups).values())
    out = []
    for item in items:
        src = item.measured_by
        mine = [r for r in rollups if r.device == src]
        if mine:
            measured = sum(_measured(r) for r in mine)
            pct = round(100.0 * measured / online, 2) if online else None
            out.append(
                Availability(
                    item.item,
                    item.category,
                    src,
                    round(measured / 3600, 4),
                    round(online / 3600, 4),
                    pct,
                )
            )
            continue
        rows = hf.rows_of(health, src, start, end) if src else []
        seen = hf.covered(rows, health_interval_s)
        ok = hf.covered(rows, health_interval_s, lambda r: r.get("ok", True) is not False)
        out.append(
            Availability(
                item.item,
                item.category,
                src,
                round(ok / 3600, 4) if seen else None,
                round(seen / 3600, 4) if seen else None,
                round(100.0 * ok / seen, 2) if seen else None,
            )
        )
    return tuple(out)


def _kwh(rollups: Sequence[Rollup], key: str, metric: str) -> float | None:
    if not any(metric in r.stats for r in rollups):
        return None
    return round(sum(r.sums[key] for r in rollups), 4)


def _flow_devices(
    items: Sequence[Item], hourly: Sequence[Rollup], banks: Sequence[tuple[str, str]]
) -> tuple[str, ...]:
    """The devices whose battery current is each bank's flows, one per bank.

    An MPPT and a shunt on one bank both report the bank's current: summing every device counted
    the charge twice. `banks` (the config's `[[batteries]]`: bank id, its monitor or controller):
    the bank's own records (which carry its monitor's current, or its controller's), else its
    source device. Without banks: the registry's battery banks, else the devices that report an
    SOC with their current (monitors, BMS), else the controllers.
    """
    has = {r.device for r in hourly if "battery_current" in r.stats}
    if banks:
        picked = (bank if bank in has else source for bank, source in banks)
        return tuple(dict.fromkeys(d for d in picked if d in has))
    registered = [
        i.measured_by for i in items if i.category is Category.BATTERY_BANK and i.measured_by in has
    ]
    if registered:
        return tuple(dict.fromkeys(registered))
    monitors = {r.device for r in hourly if r.device in has and "battery_soc" in r.stats}
    return tuple(sorted(monitors or has))


def _energy(hourly: Sequence[Rollup], flows: tuple[str, ...]) -> Energy:
    """PV and load from every device; battery charge and discharge from `flows` only."""
    daily = merge(hourly, DAY)
    out = []
    for day in sorted({r.start for r in daily}):
        rs = [r for r in daily if r.start == day]
        socs = [r.stats["battery_soc"][1] for r in rs if "battery_soc" in r.stats]
        bank = [r for r in rs if r.device in flows]
        out.append(
            DayEnergy(
                day_of(day).isoformat(),
                round(max(r.covered_s for r in rs) / 3600, 4),
                _kwh(rs, "pv_kwh", "pv_power"),
                _kwh(rs, "load_kwh", "load_power"),
                _kwh(bank, "charge_kwh", "battery_current"),
                _kwh(bank, "discharge_kwh", "battery_current"),
                max(socs) if socs else None,
            )
        )
    known = [d.soc_max for d in out if d.soc_max is not None]
    bank = [r for r in hourly if r.device in flows]
    return Energy(
        pv_kwh=_kwh(hourly, "pv_kwh", "pv_power"),
        load_kwh=_kwh(hourly, "load_kwh", "load_power"),
        charge_kwh=_kwh(bank, "charge_kwh", "battery_current"),
        discharge_kwh=_kwh(bank, "discharge_kwh", "battery_current"),
        days_not_full=sum(s < FULL_SOC for s in known) if known else None,
        days=tuple(out),
        battery_source=", ".join(flows) or None,
    )


def _battery_devices(
    items: Sequence[Item], rollups: Sequence[Rollup]
) -> list[tuple[Item | None, str]]:
    banks = [
        (i, i.measured_by) for i in items if i.category is Category.BATTERY_BANK and i.measured_by
    ]
    if banks:
        return banks
    devices = sorted({r.device for r in rollups if "battery_soc" in r.stats})
    return [(None, d) for d in devices]


def build_report(
    *,
    site: str,
    month: str,
    rollups: Sequence[Rollup] | None = None,
    records: Sequence[Record] | None = None,
    items: Sequence[Item] = (),
    log: Sequence[LogEntry] = (),
    alarms: Sequence[dict] = (),
    health: Sequence[dict] = (),
    job_runs: Sequence[dict] | None = None,
    job_waits: Sequence[dict] = (),
    budget: Budget = NO_BUDGET,
    interval_s: float = 60.0,
    health_interval_s: float | None = None,
    now: float | None = None,
    banks: Sequence[tuple[str, str]] = (),
) -> Report:
    """The report of `month` ("YYYY-MM"). Give hourly `rollups`, or `records` in stored order
    (include the last one before the month, so the first interval is counted as rollups do).
    `health_interval_s`: None (the default) takes each component's interval from its stored
    rounds (`health_figures.round_interval`); a number overrides it. `now`: when it falls
    inside the month, the month is not over and data quality is judged up to `now` only.
    `banks`: (bank id, its monitor or controller) of each configured `[[batteries]]` bank."""
    start, end = bounds(month)
    until = now if now is not None and start < now < end else end
    source = "rollups" if records is None else "records"
    if records is not None:
        rollups = rollup(records, interval_s=interval_s, period_s=HOUR)[0]
    hourly = [r for r in rollups or () if start <= r.start < end and r.period_s == HOUR]
    batteries = tuple(battery(i, d, hourly) for i, d in _battery_devices(items, hourly))
    efc = {b.item: b.equivalent_full_cycles for b in batteries}
    glasses = tuple(
        hf.glasses(health, i.measured_by or i.item, i.item, start, end)
        for i in items
        if i.category is Category.SMART_GLASSES
    )
    body = dict(
        quality=_quality(hourly, month, start, end, until),
        availability=_availability(items, hourly, health, start, end, health_interval_s),
        energy=_energy(hourly, _flow_devices(items, hourly, banks)),
        batteries=batteries,
        alarms=hf.alarms(alarms, start, end),
        pibox=hf.pibox(health, start, end, health_interval_s),
        jobs=hf.jobs(job_runs, start, end, job_waits),
        glasses=glasses,
        uplink=hf.uplink(health, start, end, budget.uplink_bytes),
        costs=costs(items, log, month, battery_efc=efc, fees_collected=budget.fees_collected),
    )
    fr, en = summaries(site, month, **body)
    return Report(site=site, month=month, source=source, **body, summary_fr=fr, summary_en=en)
