"""The small retained summary of a month's report, published on `P/report/{YYYY-MM}`.

A dashboard shows the month's headline without fetching the files: a few figures, compact JSON
(well under 1 KiB so it costs the metered uplink next to nothing). Publishing it is the
publisher's job; this only builds topic and payload. Pure.
"""

from __future__ import annotations

import json

from maintenance.report.model import Report


def report_topic(prefix: str, month: str) -> str:
    return f"{prefix}/report/{month}"


def summary_payload(report: Report) -> bytes:
    """Compact JSON: completeness, energy, battery wear, alarms, contribution (None = null)."""
    battery = report.batteries[0] if report.batteries else None
    body = {
        "site": report.site,
        "month": report.month,
        "completeness_pct": report.quality.completeness_pct,
        "notes": list(report.quality.notes),
        "pv_kwh": _round(report.energy.pv_kwh),
        "load_kwh": _round(report.energy.load_kwh),
        "days_not_full": report.energy.days_not_full,
        "efc": _round(battery.equivalent_full_cycles if battery else None),
        "soc_min": battery.soc_min if battery else None,
        "alarms": report.alarms.count,
        "alarms_open": report.alarms.still_open,
        "contribution": report.costs.contribution,
        "currency": report.costs.currency,
        "cost_recovery_pct": report.costs.cost_recovery_pct,
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
