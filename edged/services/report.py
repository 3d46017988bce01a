"""The month's report files and MQTT summary: one core for `edged report` and the daemon.

`generate` reads the daemon's database read-only (safe beside the running Writer), builds the
report (`maintenance.report.figures`) and writes `report-{site}-{month}.{fmt}` into `out_dir`.
Each file is written to a temporary name, fsync'd and renamed, then the directory fsync'd: a
power cut leaves either the old file, no file, or the whole new one, never a half PDF that
looks complete (a stray `*.tmp` is overwritten next time). `due_month` says which month the
daemon should report now: the last full UTC month (Mali keeps UTC), once its last records
have had time to be committed, when its files are not all there, and never on an unsynchronised
clock (a month computed from a wrong date would be the wrong month).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Sequence
from pathlib import Path

from edged.config.settings import Config
from edged.services.report_files import (
    FORMATS,
    SETTLE_S,
    SUMMARY,
    due_month,
    file_name,
    read_summary,
)
from maintenance.report import stored_month
from maintenance.report.figures import Budget, build_report
from maintenance.report.model import Report
from maintenance.report.month import bounds
from maintenance.report.mqtt_summary import summary_payload
from maintenance.report.registry import LogEntry
from maintenance.report.render_csv import render_csv
from maintenance.report.render_html import render_html
from maintenance.report.render_json import render_json
from telemetry.database import Database
from telemetry.queries import maintenance_rows
from telemetry.store import open_db

__all__ = [
    "FORMATS",
    "SETTLE_S",
    "build",
    "due_month",
    "file_name",
    "generate",
    "read_summary",
    "write_atomic",
]


def build(
    config: Config,
    month: str,
    log: Sequence[LogEntry] = (),
    health_interval: float | None = None,
    now: float | None = None,
) -> Report:
    """The report of `month` from the database at `config.storage.path` (StoreError if it
    cannot be read). `log`: visits beside the stored ones (`edged report --registry`).
    `health_interval`: None takes the health rounds' interval from the stored rows, not from
    `config.health` (the rows may predate this config, or come from another box). `now`: the
    time of the report, so that a month not over yet is judged up to now only."""
    start, end = bounds(month)
    interval = config.telemetry.publish_interval
    db = open_db(config.storage.path, readonly=True)
    try:
        data = dict(
            **stored_month.series(db, month, interval),
            alarms=stored_month.alarms(db, start, end),
            health=stored_month.health(db, start, end),
            job_runs=stored_month.job_runs(db, start, end),
            job_waits=stored_month.job_waits(db, start, end),
            log=[*log, *stored_log(db)],
        )
    finally:
        db.conn.close()
    return build_report(
        site=config.site.id,
        month=month,
        items=config.equipment,
        budget=config.budget or Budget(),
        interval_s=interval,
        health_interval_s=health_interval,
        now=now,
        banks=[(b.id, b.monitor or b.controller or b.id) for b in config.batteries],
        **data,
    )


def generate(
    config: Config,
    month: str,
    out_dir: Path,
    formats: Sequence[str] = FORMATS,
    lang: str = "fr",
    *,
    log: Sequence[LogEntry] = (),
    health_interval: float | None = None,
    now: float | None = None,
) -> tuple[list[Path], dict]:
    """Write the report files of `month`; returns them and the `P/report/{month}` payload."""
    report = build(config, month, log, health_interval, now)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        path = out_dir / file_name(config.site.id, month, fmt)
        write_atomic(path, _render(report, fmt, lang))
        written.append(path)
    summary = summary_payload(report)
    write_atomic(out_dir / file_name(config.site.id, month, SUMMARY), summary)
    return written, json.loads(summary)


def _render(report: Report, fmt: str, lang: str) -> bytes:
    if fmt == "pdf":
        # fpdf2 and Pillow cost ~20 MB of RSS: imported only when a PDF is asked for.
        from maintenance.report.render_pdf import render_pdf

        return render_pdf(report, lang)
    makers = {"json": render_json, "csv": render_csv, "html": lambda r: render_html(r, lang)}
    return makers[fmt](report).encode("utf-8")


def write_atomic(path: Path, content: bytes) -> None:
    """Write `path` whole or not at all (tmp, fsync, rename, fsync the directory)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(content)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def stored_log(db: Database) -> list[LogEntry]:
    """Every stored visit as the report's LogEntry (the cost model picks the months it needs)."""
    return [
        LogEntry(
            dt.date.fromisoformat(r["date"]),
            r["item"],
            r["action"],
            r["parts_cost"],
            r["labour_cost"],
            r["note"],
        )
        for r in maintenance_rows(db)
    ]
