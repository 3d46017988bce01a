"""The monthly report as a frozen dataclass tree: what every renderer reads, nothing else.

A figure the data cannot support is None; the renderers then print "no data" / "pas de
données" beside it, never a zero. Field names are the JSON keys (render_json), so they are
stable: add fields, never rename them. Units are in the field names (`_kwh`, `_h`, `_pct`).
"""

from __future__ import annotations

from dataclasses import dataclass

from maintenance.report.costs import Costs


@dataclass(frozen=True, slots=True)
class Quality:
    records: int
    records_unsynced: int
    clock_jumps: int
    gaps: int
    period_h: float  # the month's hours, or those elapsed in a month not over yet
    online_h: float
    completeness_pct: float | None
    days_with_gaps: tuple[str, ...]
    days_without_data: tuple[str, ...]
    notes: tuple[str, ...]  # codes: month_in_progress, no_data, gaps, clock_jump, unsynced


@dataclass(frozen=True, slots=True)
class Availability:
    item: str
    category: str
    measured_by: str
    measured_h: float | None
    online_h: float | None
    availability_pct: float | None


@dataclass(frozen=True, slots=True)
class DayEnergy:
    date: str
    online_h: float
    pv_kwh: float | None
    load_kwh: float | None
    charge_kwh: float | None
    discharge_kwh: float | None
    soc_max: float | None


@dataclass(frozen=True, slots=True)
class Energy:
    pv_kwh: float | None
    load_kwh: float | None
    charge_kwh: float | None
    discharge_kwh: float | None
    days_not_full: int | None
    days: tuple[DayEnergy, ...]
    battery_source: str | None = None
    """The devices whose battery current gave charge/discharge, one per bank ("bank", "bmv"):
    a bank's flows counted once, from its monitor/BMS when it has one, else its controller."""


@dataclass(frozen=True, slots=True)
class Battery:
    item: str
    device: str
    equivalent_full_cycles: float | None
    efc_method: str | None
    discharged_ah: float | None
    dod_histogram: tuple[tuple[float, float, float], ...] | None  # (low %, high %, cycles)
    soc_min: float | None
    hours_below_20: float | None
    hours_below_40: float | None
    hours_above_40c: float | None
    temperature_max: float | None
    temperature_mean: float | None
    damage: float | None
    remaining_life_days: float | None
    remaining_life_throughput_days: float | None
    soc_hourly: tuple[tuple[int, float], ...]  # (hour start, mean SOC %)


@dataclass(frozen=True, slots=True)
class AlarmLine:
    alarm_id: str
    severity: str
    since: float
    cleared: float | None
    hours_in_month: float
    acked: bool
    still_open: bool
    message_fr: str
    message_en: str


@dataclass(frozen=True, slots=True)
class Alarms:
    count: int
    still_open: int
    acked: int
    critical: int
    hours: float
    lines: tuple[AlarmLine, ...]


@dataclass(frozen=True, slots=True)
class PiBox:
    rounds: int
    uptime_pct: float | None
    reboots: int | None
    openclinic_pct: float | None
    disk_first_pct: float | None
    disk_last_pct: float | None
    disk_trend_pct_day: float | None
    undervoltage_events: int | None


@dataclass(frozen=True, slots=True)
class Job:
    job: str
    runs: int
    ok: int
    failed: int
    last_ok: float | None
    deferred: int  # days with a power-policy `wait` and no successful run


@dataclass(frozen=True, slots=True)
class Glasses:
    item: str
    days_seen: int | None
    charge_sessions: float | None
    hours_of_use: float | None


@dataclass(frozen=True, slots=True)
class Uplink:
    bytes_month: int | None
    budget_bytes: int | None
    budget_used_pct: float | None


@dataclass(frozen=True, slots=True)
class Report:
    site: str
    month: str
    source: str  # "records" or "rollups"
    quality: Quality
    availability: tuple[Availability, ...]
    energy: Energy
    batteries: tuple[Battery, ...]
    alarms: Alarms
    pibox: PiBox
    jobs: tuple[Job, ...] | None  # None: no job data yet
    glasses: tuple[Glasses, ...]
    uplink: Uplink
    costs: Costs
    summary_fr: str
    summary_en: str
