"""Battery health figures from the stored records of one battery device.

Equivalent full cycles, a depth-of-discharge histogram (rainflow counting on SOC), time at low
SOC and high temperature, the cell-imbalance trend, capacity measured between a full charge and a
deep discharge, and a remaining life by Miner's rule on the chemistry's cycle-life curve. A figure
the data cannot support is None, never a guess. Pure: records in, a frozen result out; the
formulas, in plain words, are in docs/battery.md ("Health figures").

Time: each record's values (window means) are taken to hold until the next record. Two records
further apart than 3 publish intervals are a gap; a record not later than the one before is a
clock jump. Nothing is integrated or cycle-counted across either: the history is cut into
segments there, and both are counted. Records with clock_synced False are used, and counted.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import ClassVar

from edged.readings import Record
from maintenance.energy.chemistry import Chemistry, ChemistryProfile, Table, cycle_life, profile

GAP_FACTOR = 3.0
SWING_MIN_PCT = 1.0  # SOC moves smaller than this are noise, not cycles
FULL_SOC = 99.5  # at or above: a full charge, the start of a capacity measurement
CAPACITY_MIN_DEPTH = 40.0  # % SOC a discharge must span to measure capacity from it
RECHARGE_PCT = 5.0  # a rise this big after the lowest point ends a discharge


@dataclass(frozen=True, slots=True)
class DodBin:
    """Cycles whose depth of discharge is in (low_pct, high_pct]."""

    low_pct: float
    high_pct: float
    cycles: float


@dataclass(frozen=True, slots=True)
class BatteryHealth:
    records: int
    records_unsynced: int
    gaps: int
    clock_jumps: int
    observed_h: float
    equivalent_full_cycles: float | None
    efc_method: str | None  # "current", "soc" or "mixed" (per interval, current when known)
    discharged_ah: float | None
    dod_histogram: tuple[DodBin, ...] | None
    hours_below_20: float | None
    hours_below_40: float | None
    hours_above_40c: float | None
    imbalance_daily_v: tuple[tuple[int, float], ...] | None  # (UTC day number, worst delta)
    imbalance_slope_mv_day: float | None
    capacity_ah: float | None
    capacity_fade_pct: float | None
    damage: float | None
    remaining_life_days: float | None
    remaining_life_throughput_days: float | None

    UNITS: ClassVar[dict[str, str]] = {
        "records": "count",
        "records_unsynced": "count",
        "gaps": "count",
        "clock_jumps": "count",
        "observed_h": "h",
        "equivalent_full_cycles": "cycles",
        "efc_method": "text",
        "discharged_ah": "Ah",
        "dod_histogram": "cycles per DoD bin (%)",
        "hours_below_20": "h",
        "hours_below_40": "h",
        "hours_above_40c": "h",
        "imbalance_daily_v": "V",
        "imbalance_slope_mv_day": "mV/day",
        "capacity_ah": "Ah",
        "capacity_fade_pct": "%",
        "damage": "fraction of life",
        "remaining_life_days": "days",
        "remaining_life_throughput_days": "days",
    }

    def figures(self) -> dict[str, tuple[object, str]]:
        """Every figure with its unit, for a report."""
        return {f.name: (getattr(self, f.name), self.UNITS[f.name]) for f in fields(self)}


def segments(records: Sequence[Record], interval_s: float) -> tuple[list[list[Record]], int, int]:
    """Split at gaps and clock jumps: (segments, gaps, clock jumps)."""
    segs: list[list[Record]] = []
    gaps = jumps = 0
    for rec in records:
        if segs:
            dt = rec.ts - segs[-1][-1].ts
            if dt <= 0 or dt > GAP_FACTOR * interval_s:
                jumps, gaps = jumps + (dt <= 0), gaps + (dt > 0)
                segs.append([rec])
                continue
            segs[-1].append(rec)
        else:
            segs.append([rec])
    return segs, gaps, jumps


def _pairs(segs: list[list[Record]]):
    for seg in segs:
        yield from zip(seg, seg[1:], strict=False)


def _hours_where(segs: list[list[Record]], metric: str, test) -> float | None:
    """Hours during which `test(value)` held; None if the metric never appears."""
    seen, hours = False, 0.0
    for a, b in _pairs(segs):
        value = a.metrics.get(metric)
        if isinstance(value, int | float):
            seen = True
            hours += (b.ts - a.ts) / 3600.0 if test(value) else 0.0
    return hours if seen else None


def _efc(segs, capacity_ah: float) -> tuple[float | None, str | None, float | None]:
    """(equivalent full cycles, method, discharged Ah by current)."""
    ah = drop = 0.0
    by_current = by_soc = 0
    for a, b in _pairs(segs):
        current = a.metrics.get("battery_current")
        soc_a, soc_b = a.metrics.get("battery_soc"), b.metrics.get("battery_soc")
        if isinstance(current, int | float):
            ah += max(0.0, -current) * (b.ts - a.ts) / 3600.0
            by_current += 1
        elif isinstance(soc_a, int | float) and isinstance(soc_b, int | float):
            drop += max(0.0, soc_a - soc_b)
            by_soc += 1
    if not by_current and not by_soc:
        return None, None, None
    method = "mixed" if by_current and by_soc else ("current" if by_current else "soc")
    return ah / capacity_ah + drop / 100.0, method, (ah if by_current else None)


def reversals(values: Sequence[float], swing: float = SWING_MIN_PCT) -> list[float]:
    """Turning points of `values`, ignoring moves smaller than `swing` (hysteresis)."""
    if not values:
        return []
    points, ext, direction = [values[0]], values[0], 0
    for v in values[1:]:
        if direction == 0:
            if abs(v - ext) >= swing:
                direction, ext = (1 if v > ext else -1), v
        elif (v - ext) * direction > 0:
            ext = v
        elif abs(v - ext) >= swing:
            points.append(ext)
            direction, ext = -direction, v
    if direction:
        points.append(ext)
    return points


def rainflow(points: Sequence[float]) -> list[tuple[float, float]]:
    """(range, count) by the ASTM E1049 rainflow method; the residue counts as half cycles."""
    stack: list[float] = []
    cycles: list[tuple[float, float]] = []
    for p in points:
        stack.append(p)
        while len(stack) >= 3:
            x, y = abs(stack[-1] - stack[-2]), abs(stack[-2] - stack[-3])
            if x < y:
                break
            if len(stack) == 3:
                cycles.append((y, 0.5))
                stack.pop(0)
            else:
                cycles.append((y, 1.0))
                del stack[-3:-1]
    cycles.extend((abs(b - a), 0.5) for a, b in zip(stack, stack[1:], strict=False))
    return cycles


def _soc_cycles(segs: list[list[Record]]) -> list[tuple[float, float]] | None:
    cycles, seen = [], False
    for seg in segs:
        socs = [r.metrics["battery_soc"] for r in seg if "battery_soc" in r.metrics]
        seen = seen or len(socs) >= 2
        cycles.extend(c for c in rainflow(reversals(socs)) if c[0] > 0)
    return cycles if seen else None


def dod_histogram_bins(
    cycles: list[tuple[float, float]], width: float = 10.0
) -> tuple[DodBin, ...]:
    counts = [0.0] * int(100 / width)
    for depth, n in cycles:
        index = min(len(counts) - 1, max(0, -int(-depth // width) - 1))  # (low, high] bins
        counts[index] += n
    return tuple(DodBin(i * width, (i + 1) * width, c) for i, c in enumerate(counts))


Daily = tuple[tuple[int, float], ...]


def _imbalance(records: Sequence[Record]) -> tuple[Daily | None, float | None]:
    """Worst cell delta per UTC day (Mali keeps UTC), and its least-squares slope in mV/day."""
    daily: dict[int, float] = {}
    for r in records:
        hi, lo = r.metrics.get("cell_voltage_max"), r.metrics.get("cell_voltage_min")
        if isinstance(hi, int | float) and isinstance(lo, int | float):
            day = int(r.ts // 86400)
            daily[day] = max(daily.get(day, hi - lo), hi - lo)
    if not daily:
        return None, None
    days = tuple(sorted(daily.items()))
    if len(days) < 2:
        return days, None
    xs, ys = [d for d, _ in days], [v for _, v in days]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mx) * (y - my) for x, y in days) / sum((x - mx) ** 2 for x in xs)
    return days, 1000.0 * slope


def _capacity(segs: list[list[Record]]) -> float | None:
    """Median of Ah counted from a full charge down to a deep, known SOC, scaled to 100 %."""
    found: list[float] = []
    for seg in segs:
        start = None  # (start SOC, Ah so far, lowest SOC, Ah at the lowest)
        for a, b in zip(seg, seg[1:], strict=False):
            soc_a, current = a.metrics.get("battery_soc"), a.metrics.get("battery_current")
            if isinstance(soc_a, int | float) and soc_a >= FULL_SOC:
                start = (soc_a, 0.0, soc_a, 0.0)
            soc_b = b.metrics.get("battery_soc")
            if start is None or not isinstance(current, int | float) or soc_b is None:
                start = None
                continue
            full, ah, low, ah_low = start
            ah -= current * (b.ts - a.ts) / 3600.0
            if soc_b < low:
                low, ah_low = soc_b, ah
            start = (full, ah, low, ah_low)
            if soc_b >= low + RECHARGE_PCT or b is seg[-1]:
                if full - low >= CAPACITY_MIN_DEPTH:
                    found.append(ah_low * 100.0 / (full - low))
                start = None
    return statistics.median(found) if found else None


def battery_health(
    records: Sequence[Record],
    capacity_ah: float,
    chemistry: Chemistry | str | ChemistryProfile,
    *,
    interval_s: float = 60.0,
    cycle_life_curve: Table | None = None,
) -> BatteryHealth:
    """Every health figure of one battery device's time-ordered records.

    `capacity_ah` is the rated capacity; `cycle_life_curve` ((DoD fraction, cycles), ...)
    replaces the chemistry default, e.g. from the installed battery's datasheet.
    """
    p = chemistry if isinstance(chemistry, ChemistryProfile) else profile(chemistry)
    if cycle_life_curve is not None:
        p = replace(p, cycle_life=tuple(cycle_life_curve))
    segs, gaps, jumps = segments(records, interval_s)
    observed_h = sum((b.ts - a.ts) for a, b in _pairs(segs)) / 3600.0
    efc, method, discharged = _efc(segs, capacity_ah)
    cycles = _soc_cycles(segs)
    damage = None if cycles is None else sum(n / cycle_life(p, d / 100.0) for d, n in cycles)
    daily, slope = _imbalance(records)
    measured = _capacity(segs)
    calendar = calendar_days_left(p, observed_h / 24.0)  # the history starts with the battery
    return BatteryHealth(
        records=len(records),
        records_unsynced=sum(not r.clock_synced for r in records),
        gaps=gaps,
        clock_jumps=jumps,
        observed_h=observed_h,
        equivalent_full_cycles=efc,
        efc_method=method,
        discharged_ah=discharged,
        dod_histogram=dod_histogram_bins(cycles) if cycles is not None else None,
        hours_below_20=_hours_where(segs, "battery_soc", lambda v: v < 20.0),
        hours_below_40=_hours_where(segs, "battery_soc", lambda v: v < 40.0),
        hours_above_40c=_hours_where(segs, "battery_temperature", lambda v: v > 40.0),
        imbalance_daily_v=daily,
        imbalance_slope_mv_day=slope,
        capacity_ah=measured,
        capacity_fade_pct=None if measured is None else 100.0 * (1.0 - measured / capacity_ah),
        damage=damage,
        remaining_life_days=remaining_days(1.0, damage, observed_h, calendar),
        remaining_life_throughput_days=remaining_days(
            p.lifetime_throughput_efc, efc, observed_h, calendar
        ),
    )


def remaining_days(
    budget: float, used: float | None, observed_h: float, calendar_days: float | None = None
) -> float | None:
    """Days left if use goes on at the observed rate: (budget − used) / (used per day), and no
    more than `calendar_days` (what calendar ageing leaves: a lightly cycled battery still dies
    of age; uncapped, a month of light use read as 48 years). None when nothing was observed."""
    if used is None or observed_h <= 0:
        return None
    if not used:
        return calendar_days
    cycling = (budget - used) / (used / (observed_h / 24.0))
    return cycling if calendar_days is None else min(cycling, calendar_days)


def calendar_days_left(p: ChemistryProfile, age_days: float) -> float:
    """Days of the chemistry's calendar life left at `age_days` (never below 0)."""
    return max(0.0, p.calendar_life_years * 365.25 - age_days)
