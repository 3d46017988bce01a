"""Battery figures of the month from hourly rollups, by `maintenance.energy.battery_health`'s rules.

The same definitions as `battery_health` (cycles by current, else by SOC drop; rainflow on the
SOC turning points of each segment; Miner's rule on the chemistry's cycle-life curve; remaining
life at the observed rate), computed from what rollups keep, so the report does not need raw
records. tests/maintenance/report/test_figures.py checks the two agree on the same month. Pure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from maintenance.energy.battery_health import (
    dod_histogram_bins,
    rainflow,
    remaining_days,
    reversals,
)
from maintenance.energy.chemistry import ChemistryProfile, cycle_life, profile
from maintenance.report.model import Battery
from maintenance.report.registry import Item
from maintenance.report.rollups import Rollup


def _segments(rollups: Sequence[Rollup]) -> list[list[float]]:
    """SOC turning points per segment, pieces joined across buckets in time order."""
    segs: dict[float, list[float]] = {}
    for r in rollups:
        for seg, points in r.soc_pieces:
            segs.setdefault(seg, []).extend(points)
    return list(segs.values())


def _total(rollups: Sequence[Rollup], key: str) -> float:
    return sum(r.sums[key] for r in rollups)


def _stat(rollups: Sequence[Rollup], name: str, index: int, fold) -> float | None:
    values = [r.stats[name][index] for r in rollups if name in r.stats]
    return fold(values) if values else None


def _hours(rollups: Sequence[Rollup], key: str, seen: str) -> float | None:
    return _total(rollups, key) / 3600.0 if _total(rollups, seen) else None


def _cycles(rollups: Sequence[Rollup], capacity_ah: float | None):
    """(EFC, method, discharged Ah) as battery_health._efc defines them."""
    by_current, by_soc = _total(rollups, "current_pairs"), _total(rollups, "soc_pairs")
    if not by_current and not by_soc:
        return None, None, None
    method = "mixed" if by_current and by_soc else ("current" if by_current else "soc")
    ah = _total(rollups, "discharge_ah")
    if by_current and not capacity_ah:
        return None, method, ah
    efc = (ah / capacity_ah if by_current else 0.0) + _total(rollups, "soc_drop_pct") / 100.0
    return efc, method, (ah if by_current else None)


def battery(item: Item | None, device: str, rollups: Sequence[Rollup]) -> Battery:
    """Figures of one battery device's hourly rollups (this month's only)."""
    mine = [r for r in rollups if r.device == device]
    capacity = item.capacity_ah if item else None
    efc, method, discharged = _cycles(mine, capacity)
    segs = _segments(mine)
    cycles = None
    if _total(mine, "soc_seen_pairs") or any(len(s) >= 2 for s in segs):
        cycles = [c for s in segs for c in rainflow(reversals(s)) if c[0] > 0]
    chem = profile(item.chemistry) if item and item.chemistry else None
    damage = None
    if cycles is not None and chem is not None:
        damage = sum(n / cycle_life(chem, d / 100.0) for d, n in cycles)
    observed_h = sum(r.covered_s for r in mine) / 3600.0
    lifetime = (item.expected_cycles if item and item.expected_cycles else None) or (
        chem.lifetime_throughput_efc if chem else None
    )
    calendar = _calendar_days(item, chem, mine, observed_h)
    soc = tuple((r.start, round(m, 2)) for r in mine if (m := r.mean("battery_soc")) is not None)
    return Battery(
        item=item.item if item else device,
        device=device,
        equivalent_full_cycles=efc,
        efc_method=method,
        discharged_ah=discharged,
        dod_histogram=None
        if cycles is None
        else tuple((b.low_pct, b.high_pct, b.cycles) for b in dod_histogram_bins(cycles)),
        soc_min=_stat(mine, "battery_soc", 0, min),
        hours_below_20=_hours(mine, "below20_s", "soc_seen_pairs"),
        hours_below_40=_hours(mine, "below40_s", "soc_seen_pairs"),
        hours_above_40c=_hours(mine, "above40c_s", "temp_seen_pairs"),
        temperature_max=_stat(mine, "battery_temperature", 1, max),
        temperature_mean=_mean(mine, "battery_temperature"),
        damage=damage,
        remaining_life_days=remaining_days(1.0, damage, observed_h, calendar),
        remaining_life_throughput_days=None
        if lifetime is None
        else remaining_days(lifetime, efc, observed_h, calendar),
        soc_hourly=soc,
    )


def _mean(rollups: Sequence[Rollup], name: str) -> float | None:
    total = sum(r.stats[name][2] for r in rollups if name in r.stats)
    n = sum(r.stats[name][3] for r in rollups if name in r.stats)
    return total / n if n else None


def _calendar_days(
    item: Item | None, chem: ChemistryProfile | None, mine: Sequence[Rollup], observed_h: float
) -> float | None:
    """Calendar life left at the end of the data: the registry's install date and expected life
    when given, else the chemistry's calendar life less the time observed (the battery is taken
    as new when its history starts, as the cycling figures take it)."""
    years = (item.expected_life_years if item else None) or (
        chem.calendar_life_years if chem else None
    )
    if years is None:
        return None
    if item is not None and item.install_date is not None and mine:
        end = max(r.start + r.period_s for r in mine)
        installed = dt.datetime.combine(item.install_date, dt.time(), dt.UTC).timestamp()
        return max(0.0, years * 365.25 - (end - installed) / 86400.0)
    return max(0.0, years * 365.25 - observed_h / 24.0)
