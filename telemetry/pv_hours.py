"""The PV profile's hourly means (`maintenance.energy.pv_profile.HourlyProfile` takes them)
computed inside SQLite from `records`.

The daemon refreshes the profile hourly from the last `[power] history_days` of records: at one
record a minute that is ~10,000 records per device, and a backlog of 1-s windows is 86,400 a
day. Decoding them into Python objects made the daemon's memory grow with its history, so the
aggregation runs in SQLite and Python receives at most 24 rows: the working set is SQLite's own
(page cache and a sorter that spills to a temporary file), whatever the history holds.

It follows `HourlyProfile.from_records` exactly: `pv_power` summed over devices per window
(records with one `ts`), records stamped before the clock was synchronised left out, non-numeric
values (booleans, text) ignored, a window whose total is not finite left out, then the mean of
the window totals per local hour. One difference, counted: a record whose metrics SQLite cannot
read as JSON (a `NaN` or `Infinity` literal, which Python's json writes and SQLite 3.40 rejects,
or a damaged row) is left out whole rather than failing the query; `skipped` says how many.
The stored metrics are read as JSON through `metrics_json` (`telemetry.stored_metrics`): NULL
for a value that does not decode, counted in `skipped` too. SQLite inlines the `decoded` CTE, so
the three JSON calls on a row each call it (it keeps its last answer: one inflate a row); a
materialised CTE would write every decoded row to a temporary file, on the card.
"""

from __future__ import annotations

from dataclasses import dataclass

from telemetry.database import Database

_IN_WINDOW = "ts >= :start AND ts < :now AND synced = 1"
_DECODED = f"SELECT ts, metrics_json(metrics) AS m FROM records WHERE {_IN_WINDOW}"
# CASE: json_type must never see a row json_valid rejected (it would fail the whole query).
_PV_NUMBER = "(CASE WHEN json_valid(m) THEN json_type(m, '$.pv_power') END) IN ('integer', 'real')"
PROFILE_SQL = f"""
    WITH decoded (ts, m) AS ({_DECODED}),
    windows (ts, total) AS (
        SELECT ts, total(json_extract(m, '$.pv_power')) FROM decoded
        WHERE {_PV_NUMBER} GROUP BY ts)
    SELECT CAST((ts + :offset) / 3600 AS INTEGER) % 24, total(total), count(*) FROM windows
    WHERE total BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308
    GROUP BY 1
"""
"""Per local hour: (hour, sum of window totals, windows). BETWEEN the largest doubles drops
infinite totals (and NULL, which SQLite makes of NaN), as `math.isfinite` does in Python."""

SKIPPED_SQL = f"SELECT count(*) FROM ({_DECODED}) WHERE coalesce(json_valid(m), 0) = 0"


@dataclass(frozen=True, slots=True)
class StoredHours:
    means: tuple[float | None, ...]
    """Mean PV power (W) per local hour 0-23 over the period; None for an hour with no window."""
    skipped: int
    """Records of the period whose metrics SQLite could not read as JSON (left out)."""


def hourly_means(
    db: Database, now_ts: float, days: float = 7.0, utc_offset_s: float = 0.0
) -> StoredHours:
    """The hourly means of the `days` before `now_ts` from the `records` table of `db`."""
    params = {"start": now_ts - days * 86400.0, "now": now_ts, "offset": utc_offset_s}
    sums, counts = [0.0] * 24, [0] * 24
    for hour, total, windows in db.execute(PROFILE_SQL, params):
        # CAST truncates toward zero where Python floors: they differ only for a local time
        # before 1970, which no synchronised clock stamps; `% 24` keeps even that in range.
        sums[hour % 24] += total
        counts[hour % 24] += windows
    means = tuple(s / c if c else None for s, c in zip(sums, counts, strict=True))
    skipped = db.execute(SKIPPED_SQL, params).fetchone()[0]
    return StoredHours(means, skipped)
