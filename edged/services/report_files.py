"""The monthly report's files by name, and which month is due: what the daemon checks every
minute, kept apart from the report code (`edged.services.report`) so the daemon only loads that
(its renderers and figures, a few MB of RAM) when a report is really written, in a subprocess.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from maintenance.report.month import day_of, month_of, previous_month

FORMATS = ("pdf", "html", "csv", "json")
SUMMARY = "summary.json"
"""Written beside the files: the daemon publishes it after a report job (a subprocess) ends."""
SETTLE_S = 900.0
"""A month is due this long after it ends: its last records reach the database up to a commit
interval (180 s) plus a publish window later."""


def file_name(site: str, month: str, fmt: str) -> str:
    return f"report-{site}-{month}.{fmt}"


def read_summary(out_dir: Path, site: str, month: str) -> dict | None:
    """The `P/report/{month}` payload `generate` left beside the files (None if absent)."""
    try:
        return json.loads((Path(out_dir) / file_name(site, month, SUMMARY)).read_bytes())
    except (OSError, ValueError):
        return None


def due_month(
    now_ts: float, clock_synced: bool, out_dir: Path, site: str, formats: Sequence[str] = FORMATS
) -> str | None:
    """The month to report now ("YYYY-MM"), or None: clock not synchronised, or its files are
    all in `out_dir` already."""
    if not clock_synced:
        return None
    month = previous_month(month_of(day_of(now_ts - SETTLE_S)))
    if all((Path(out_dir) / file_name(site, month, fmt)).is_file() for fmt in formats):
        return None
    return month
