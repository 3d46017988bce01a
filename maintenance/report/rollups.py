"""Hourly and daily rollups of one site's records: what the monthly report needs, kept small.

A rollup holds, per device and per UTC hour (or day), min/max/sum/count of each metric of
`STATS`, energy integrals, seconds in each charger state, and the battery SOC's turning points. The
monthly report is computed from rollups only (`maintenance.report.figures`), so raw records can
be pruned once their hours are rolled up, and the report stays the same.

Time follows `maintenance.energy.battery_health`: a record's values hold until the next record; two
records more than GAP_FACTOR publish intervals apart are a gap, a record not later than the one
before is a clock jump, and nothing is integrated across either. The interval between two
records belongs to the bucket of the record that closes it, so rolling up chunk by chunk (giving
each call the `RollupState` the previous one returned) gives the same rows as one call over
everything. SOC turning points keep only local extrema (and the ends of each piece): hysteresis
reversal and rainflow counting give the same cycles on them as on the full series. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from edged.readings import Record
from maintenance.energy.battery_health import GAP_FACTOR

HOUR, DAY = 3600, 86400

INTEGRALS = (
    "pv_kwh",
    "load_kwh",
    "charge_kwh",
    "discharge_kwh",
    "discharge_ah",
    "soc_drop_pct",
    "below20_s",
    "below40_s",
    "above40c_s",
    "current_pairs",
    "soc_pairs",
    "soc_seen_pairs",
    "temp_seen_pairs",
)
"""Sums kept per bucket (seconds, kWh, Ah, SOC points, counts of intervals)."""

STATS = frozenset(
    {
        "battery_voltage",
        "battery_current",
        "battery_power",
        "battery_soc",
        "battery_temperature",
        "pv_voltage",
        "pv_power",
        "load_power",
        "load_current",
        "system_power",
        "cell_voltage_min",
        "cell_voltage_max",
        "bms_temperature",
        "charger_temperature",
    }
)
"""Metrics whose min/max/sum/count a bucket keeps: the physical quantities worth a trend over
years. Counters and settings (yield_total, battery_cycles, history fields...) would double a
stored hour (rollup_store measures it) for figures no report reads."""


@dataclass(slots=True)
class Rollup:
    """One device over one bucket [start, start + period_s). Built in place, then left alone."""

    device: str
    start: int
    period_s: int
    records: int = 0
    unsynced: int = 0
    samples: int = 0
    gaps: int = 0
    clock_jumps: int = 0
    covered_s: float = 0.0
    stats: dict[str, list[float]] = field(default_factory=dict)  # name: [min, max, sum, n]
    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(INTEGRALS, 0.0))
    states: dict[str, float] = field(default_factory=dict)  # charger_state: seconds
    soc_pieces: list[list] = field(default_factory=list)  # [segment start ts, [SOC points]]

    def mean(self, name: str) -> float | None:
        s = self.stats.get(name)
        return s[2] / s[3] if s and s[3] else None


@dataclass(frozen=True, slots=True)
class RollupState:
    """What the next chunk needs from the last one: its newest record and its segment start."""

    last: Record
    segment_start: float


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _add_stats(bucket: Rollup, metrics: dict) -> None:
    for name, value in metrics.items():
        v = _num(value) if name in STATS else None
        if v is None:
            continue
        s = bucket.stats.get(name)
        if s is None:
            bucket.stats[name] = [v, v, v, 1]
        else:
            s[0], s[1], s[2], s[3] = min(s[0], v), max(s[1], v), s[2] + v, s[3] + 1


def _integrate(bucket: Rollup, a: dict, b: dict, dt: float) -> None:
    """Add the interval a -> b (a's values held for dt seconds) to the bucket's sums."""
    sums, kwh = bucket.sums, dt / 3.6e6
    bucket.covered_s += dt
    for metric, key in (("pv_power", "pv_kwh"), ("load_power", "load_kwh")):
        if (p := _num(a.get(metric))) is not None:
            sums[key] += p * kwh
    current, volts = _num(a.get("battery_current")), _num(a.get("battery_voltage"))
    soc_a, soc_b = _num(a.get("battery_soc")), _num(b.get("battery_soc"))
    if current is not None:
        sums["current_pairs"] += 1
        sums["discharge_ah"] += max(0.0, -current) * dt / 3600.0
        if volts is not None:
            sums["charge_kwh"] += max(0.0, current * volts) * kwh
            sums["discharge_kwh"] += max(0.0, -current * volts) * kwh
    elif soc_a is not None and soc_b is not None:
        sums["soc_pairs"] += 1
        sums["soc_drop_pct"] += max(0.0, soc_a - soc_b)
    if soc_a is not None:
        sums["soc_seen_pairs"] += 1
        sums["below20_s"] += dt if soc_a < 20.0 else 0.0
        sums["below40_s"] += dt if soc_a < 40.0 else 0.0
    if (temp := _num(a.get("battery_temperature"))) is not None:
        sums["temp_seen_pairs"] += 1
        sums["above40c_s"] += dt if temp > 40.0 else 0.0
    if isinstance(state := a.get("charger_state"), str):
        bucket.states[state] = bucket.states.get(state, 0.0) + dt


def _add_soc(bucket: Rollup, segment_start: float, soc: float) -> None:
    """Append to the bucket's piece of this segment, dropping points inside a monotone run."""
    if not bucket.soc_pieces or bucket.soc_pieces[-1][0] != segment_start:
        bucket.soc_pieces.append([segment_start, [soc]])
        return
    points = bucket.soc_pieces[-1][1]
    if soc == points[-1]:
        return
    if len(points) >= 2 and (points[-1] - points[-2]) * (soc - points[-1]) > 0:
        points[-1] = soc  # same direction: the previous point was not a turning point
    else:
        points.append(soc)


def rollup(
    records: Iterable[Record],
    *,
    interval_s: float = 60.0,
    period_s: int = HOUR,
    state: dict[str, RollupState] | None = None,
    into: Iterable[Rollup] = (),
) -> tuple[list[Rollup], dict[str, RollupState]]:
    """Roll up records (each device's in stored order) into buckets of `period_s` seconds.

    `state` is what a previous call returned (per device); the result is sorted by (device,
    start) and the new state is returned beside it. `into`: buckets a previous call returned,
    continued in place when records of their hour come late (stored after that call), so the
    rows are exactly those of one call over everything.
    """
    state = dict(state or {})
    buckets: dict[tuple[str, int], Rollup] = {(r.device, r.start): r for r in into}
    for rec in records:
        start = int(rec.ts // period_s) * period_s
        bucket = buckets.get((rec.device, start))
        if bucket is None:
            bucket = buckets[(rec.device, start)] = Rollup(rec.device, start, period_s)
        bucket.records += 1
        bucket.unsynced += not rec.clock_synced
        bucket.samples += rec.samples
        _add_stats(bucket, rec.metrics)
        prev = state.get(rec.device)
        segment_start = rec.ts
        if prev is not None:
            dt = rec.ts - prev.last.ts
            if 0 < dt <= GAP_FACTOR * interval_s:
                segment_start = prev.segment_start
                _integrate(bucket, prev.last.metrics, rec.metrics, dt)
            elif dt <= 0:
                bucket.clock_jumps += 1
            else:
                bucket.gaps += 1
        if (soc := _num(rec.metrics.get("battery_soc"))) is not None:
            _add_soc(bucket, segment_start, soc)
        state[rec.device] = RollupState(rec, segment_start)
    return sorted(buckets.values(), key=lambda r: (r.device, r.start)), state


def merge(rollups: Sequence[Rollup], period_s: int = DAY) -> list[Rollup]:
    """Coarser buckets (hourly -> daily) from finer ones, in their order within each device."""
    out: dict[tuple[str, int], Rollup] = {}
    for r in sorted(rollups, key=lambda r: (r.device, r.start)):
        start = r.start // period_s * period_s
        m = out.get((r.device, start))
        if m is None:
            m = out[(r.device, start)] = Rollup(r.device, start, period_s)
        m.records, m.unsynced, m.samples = (
            m.records + r.records,
            m.unsynced + r.unsynced,
            m.samples + r.samples,
        )
        m.gaps, m.clock_jumps, m.covered_s = (
            m.gaps + r.gaps,
            m.clock_jumps + r.clock_jumps,
            m.covered_s + r.covered_s,
        )
        for name, (lo, hi, total, n) in r.stats.items():
            s = m.stats.setdefault(name, [lo, hi, 0.0, 0])
            s[0], s[1], s[2], s[3] = min(s[0], lo), max(s[1], hi), s[2] + total, s[3] + n
        for key, value in r.sums.items():
            m.sums[key] += value
        for key, value in r.states.items():
            m.states[key] = m.states.get(key, 0.0) + value
        for seg, points in r.soc_pieces:
            for p in points:
                _add_soc(m, seg, p)
    return sorted(out.values(), key=lambda r: (r.device, r.start))


def to_rows(rollups: Iterable[Rollup]) -> list[dict]:
    """Plain, JSON-able dicts (one per rollup), stored by `rollup_store` (table `rollups`)."""
    return [
        {
            "device": r.device,
            "start": r.start,
            "period_s": r.period_s,
            "records": r.records,
            "unsynced": r.unsynced,
            "samples": r.samples,
            "gaps": r.gaps,
            "clock_jumps": r.clock_jumps,
            "covered_s": r.covered_s,
            "stats": {k: list(v) for k, v in sorted(r.stats.items())},
            "sums": dict(sorted(r.sums.items())),
            "states": dict(sorted(r.states.items())),
            "soc_pieces": [[seg, list(points)] for seg, points in r.soc_pieces],
        }
        for r in rollups
    ]


def from_rows(rows: Iterable[dict]) -> list[Rollup]:
    """Inverse of `to_rows` (missing sums default to zero, so rows from older code still load)."""
    out = []
    for row in rows:
        sums = dict.fromkeys(INTEGRALS, 0.0) | {k: float(v) for k, v in row["sums"].items()}
        out.append(
            Rollup(
                row["device"],
                int(row["start"]),
                int(row["period_s"]),
                int(row["records"]),
                int(row["unsynced"]),
                int(row["samples"]),
                int(row["gaps"]),
                int(row["clock_jumps"]),
                float(row["covered_s"]),
                {k: list(v) for k, v in row["stats"].items()},
                sums,
                dict(row["states"]),
                [[seg, list(points)] for seg, points in row["soc_pieces"]],
            )
        )
    return out
