"""Month figures from plain data the alarm engine, the health round and job runners store.

Input shapes (dicts, as `maintenance.report.stored_month` reads them from SQLite):
- alarm: a row of the `alarms` table: {alarm_id, severity, since, cleared, acked_at,
  message, message_en} (cleared/acked_at None while open / not acknowledged);
- health row: {component, ts, values, ok?} as the health round stores it (`values` a dict);
- job run: a row of `job_runs` {job, started, ended, outcome, ...}: `outcome` "success" or
  a failure (failed, timeout, stopped_low_battery, stopped_shutdown, error);
- job wait: a `power_events` row of kind "job", action "wait", as {ts, job}.
Health rows are a time series like records: one row holds until the next, unless the next is
more than GAP_FACTOR health intervals later. The interval is the rounds' own (the median step
between a component's stored rows), not the configuration's: the rows may come from another
config, an older daemon or another machine, and a wrong interval turns every step into a gap
(an uptime of 0 % from thousands of rounds). Pure.
"""

from __future__ import annotations

from collections.abc import Sequence

from maintenance.energy.battery_health import GAP_FACTOR
from maintenance.report.model import AlarmLine, Alarms, Glasses, Job, PiBox, Uplink
from maintenance.report.month import day_of


def rows_of(health: Sequence[dict], component: str, start: float, end: float) -> list[dict]:
    rows = [h for h in health if h.get("component") == component and start <= h["ts"] < end]
    return sorted(rows, key=lambda h: h["ts"])


def round_interval(rows: list[dict]) -> float | None:
    """The rounds' own interval: the median positive step between consecutive rows (sorted by
    time). A median, so that outages (few long steps) and late rounds do not move it. None with
    fewer than two distinct stamps: one row says the component was seen, not for how long."""
    steps = sorted(b["ts"] - a["ts"] for a, b in zip(rows, rows[1:], strict=False))
    steps = [s for s in steps if s > 0]
    return steps[len(steps) // 2] if steps else None


def covered(rows: list[dict], interval_s: float | None = None, test=lambda row: True) -> float:
    """Seconds covered by consecutive rows (no gap) where `test(row)` held at the first.
    `interval_s` None: the rows' own (`round_interval`)."""
    if interval_s is None:
        interval_s = round_interval(rows)
    if interval_s is None:
        return 0.0
    return sum(
        b["ts"] - a["ts"]
        for a, b in zip(rows, rows[1:], strict=False)
        if 0 < b["ts"] - a["ts"] <= GAP_FACTOR * interval_s and test(a)
    )


def alarms(rows: Sequence[dict], start: float, end: float) -> Alarms:
    """Alarms active at some time in [start, end), with the hours each was active within it."""
    lines = []
    for a in sorted(rows, key=lambda a: (a["since"], a["alarm_id"])):
        cleared = a.get("cleared")
        if a["since"] >= end or (cleared is not None and cleared < start):
            continue
        stop = end if cleared is None else min(cleared, end)
        lines.append(
            AlarmLine(
                str(a["alarm_id"]),
                str(a.get("severity", "warning")),
                a["since"],
                cleared,
                round(max(0.0, stop - max(start, a["since"])) / 3600.0, 3),
                a.get("acked_at") is not None,
                cleared is None or cleared >= end,
                str(a.get("message", "")),
                str(a.get("message_en", a.get("message", ""))),
            )
        )
    return Alarms(
        count=len(lines),
        still_open=sum(x.still_open for x in lines),
        acked=sum(x.acked for x in lines),
        critical=sum(x.severity == "critical" for x in lines),
        hours=round(sum(x.hours_in_month for x in lines), 3),
        lines=tuple(lines),
    )


def _slope_per_day(points: list[tuple[float, float]]) -> float | None:
    if len(points) < 2 or points[-1][0] == points[0][0]:
        return None
    n = len(points)
    mx, my = sum(p[0] for p in points) / n, sum(p[1] for p in points) / n
    den = sum((x - mx) ** 2 for x, _ in points)
    return 86400.0 * sum((x - mx) * (y - my) for x, y in points) / den


def _rising(rows: list[dict], test) -> int:
    count, before = 0, False
    for row in rows:
        now = bool(test(row["values"]))
        count += now and not before
        before = now
    return count


def pibox(
    health: Sequence[dict],
    start: float,
    end: float,
    interval_s: float | None = None,
    openclinic: str = "openclinic",
) -> PiBox:
    """Uptime = time covered by PiBox health rounds / the period; OpenClinic = share of ok time.
    `interval_s` None: each component's own round interval. Uptime is None (no data) unless two
    rounds close enough to measure time exist: a lone round does not show a 0 % uptime."""
    rows = rows_of(health, "pibox", start, end)
    uptimes = [r["values"].get("uptime_s") for r in rows]
    known = [u for u in uptimes if isinstance(u, int | float)]
    disk = [
        (r["ts"], v)
        for r in rows
        if isinstance(v := r["values"].get("disk_used_percent"), int | float)
    ]
    up = covered(rows, interval_s)
    oc = rows_of(health, openclinic, start, end)
    oc_time = covered(oc, interval_s)
    oc_ok = covered(
        oc, interval_s, lambda r: r["values"].get("status", "ok" if r.get("ok") else "") == "ok"
    )
    return PiBox(
        rounds=len(rows),
        uptime_pct=round(100.0 * up / (end - start), 2) if up else None,
        reboots=sum(b < a for a, b in zip(known, known[1:], strict=False)) if known else None,
        openclinic_pct=round(100.0 * oc_ok / oc_time, 2) if oc_time else None,
        disk_first_pct=disk[0][1] if disk else None,
        disk_last_pct=disk[-1][1] if disk else None,
        disk_trend_pct_day=None if (s := _slope_per_day(disk)) is None else round(s, 4),
        undervoltage_events=_rising(
            rows, lambda v: v.get("under_voltage_now") or v.get("under_voltage_alarm")
        )
        if rows
        else None,
    )


ENERGY_WAITS = ("wait_floor", "wait_projection")
"""Power-policy codes that mean "deferred for lack of energy" (not: done recently, outside its
hours, waiting for a sunnier hour of the same day)."""


def jobs(
    runs: Sequence[dict] | None, start: float, end: float, waits: Sequence[dict] = ()
) -> tuple[Job, ...] | None:
    """Per job: runs started in the month, succeeded and not, the last success, and the days
    deferred (a `wait` for lack of energy that day and no successful run started that day).
    None: no data."""
    if runs is None:
        return None
    out: dict[str, list[dict]] = {}
    for run in sorted(runs, key=lambda r: r["started"]):
        if start <= run["started"] < end:
            out.setdefault(str(run["job"]), []).append(run)
    waited: dict[str, set] = {}
    for w in waits:
        if start <= w["ts"] < end and w.get("code") in ENERGY_WAITS:
            waited.setdefault(str(w["job"]), set()).add(day_of(w["ts"]))
    return tuple(
        Job(
            name,
            len(rs := out.get(name, [])),
            len(done := [r for r in rs if r["outcome"] == "success"]),
            len(rs) - len(done),
            max((r.get("ended") or r["started"] for r in done), default=None),
            len(waited.get(name, set()) - {day_of(r["started"]) for r in done}),
        )
        for name in sorted(out.keys() | waited.keys())
    )


def _increments(rows: list[dict], key: str) -> float | None:
    """Growth of a cumulative counter, a drop (reset) restarting the count from the new value."""
    values = [v for r in rows if isinstance(v := r["values"].get(key), int | float)]
    if not values:
        return None
    return round(sum(b - a if b >= a else b for a, b in zip(values, values[1:], strict=False)), 4)


def glasses(health: Sequence[dict], component: str, item: str, start: float, end: float) -> Glasses:
    rows = rows_of(health, component, start, end)
    if not rows:
        return Glasses(item, None, None, None)
    days = {day_of(r["ts"]) for r in rows if r["values"].get("seen")}
    return Glasses(
        item, len(days), _increments(rows, "charge_sessions"), _increments(rows, "hours_of_use")
    )


def uplink(health: Sequence[dict], start: float, end: float, budget_bytes: int | None) -> Uplink:
    """Bytes this billing month: the last `bytes_month` the uplink collector saw in the month."""
    rows = rows_of(health, "uplink", start, end)
    spent = [v for r in rows if isinstance(v := r["values"].get("bytes_month"), int)]
    budgets = [v for r in rows if isinstance(v := r["values"].get("budget_bytes"), int)]
    budget = budget_bytes if budget_bytes is not None else (budgets[-1] if budgets else None)
    used = spent[-1] if spent else None
    pct = round(100.0 * used / budget, 2) if used is not None and budget else None
    return Uplink(used, budget, pct)
