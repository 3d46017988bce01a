"""When this site's sun is best: mean PV power per local hour, from its own recent records.

Pure. Used by `maintenance.energy.policy` to prefer the sunniest hour of a job's window; also the
time-window arithmetic (`"HH:MM"` strings, windows that cross midnight) both need.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from edged.readings import Record

Window = tuple[str, str]


def minutes(hhmm: str) -> int | None:
    try:
        h, m = (int(part) for part in hhmm.split(":"))
    except (ValueError, AttributeError):
        return None
    ok = (0 <= h <= 23 and 0 <= m <= 59) or (h, m) == (24, 0)
    return h * 60 + m if ok else None


def minutes_left(window: Window, now_min: float) -> float:
    """Minutes from `now_min` to the window's end if now is inside it, else 0."""
    start, end = minutes(window[0]) or 0, minutes(window[1]) or 0
    if not (start <= now_min < end if start < end else now_min >= start or now_min < end):
        return 0.0
    return (end - now_min) % 1440 or 1440.0


@dataclass(frozen=True, slots=True)
class HourlyProfile:
    """Mean PV power per local hour over recent days: when this site's sun is best."""

    means: tuple[float | None, ...]  # 24 entries in W; None where no data

    @classmethod
    def from_points(
        cls,
        points: Iterable[tuple[float, float]],
        now_ts: float,
        days: float = 7.0,
        utc_offset_s: float = 0.0,
    ) -> HourlyProfile:
        """From (unix ts, PV W) points of the `days` before `now_ts`."""
        sums, counts = [0.0] * 24, [0] * 24
        for ts, pv_w in points:
            if now_ts - days * 86400.0 <= ts < now_ts and math.isfinite(pv_w):
                hour = int((ts + utc_offset_s) % 86400.0 // 3600.0)
                sums[hour] += pv_w
                counts[hour] += 1
        return cls(tuple(s / c if c else None for s, c in zip(sums, counts, strict=True)))

    @classmethod
    def from_records(
        cls, records: Iterable[Record], now_ts: float, days: float = 7.0, utc_offset_s: float = 0.0
    ) -> HourlyProfile:
        """From stored records: `pv_power` summed over devices per window. Records stamped
        before the clock was synchronised are left out: their hour would be wrong."""
        totals: dict[float, float] = {}
        for r in records:
            pv = r.metrics.get("pv_power")
            if r.clock_synced and isinstance(pv, int | float) and not isinstance(pv, bool):
                totals[r.ts] = totals.get(r.ts, 0.0) + float(pv)
        return cls.from_points(totals.items(), now_ts, days, utc_offset_s)

    def mean(self, hour: int) -> float | None:
        return self.means[hour % 24]

    def peak(self) -> float | None:
        known = [m for m in self.means if m is not None]
        return max(known) if known else None

    def best_hours(self, window: Window) -> list[int]:
        """Hours touching `window`, sunniest first; ties and unknown hours in window order."""
        start = minutes(window[0]) or 0
        length = ((minutes(window[1]) or 0) - start) % 1440 or 1440
        hours = [h % 24 for h in range(start // 60, (start + length - 1) // 60 + 1)]
        return sorted(dict.fromkeys(hours), key=lambda h: -(self.mean(h) or 0.0))
