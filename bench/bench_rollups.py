"""Stored rollups for the monthly report (issue 7): their cost, their size, and the raw records
they let us prune.

A simulated month (tests/peers/site_month.py: two devices, one record a minute each, October
2026 with 2 days off, a clock jump and a deep discharge) is written into a real database in a
temporary directory, then with `maintenance.report.rollup_store`:
- `roll_up(db, now, 60.0)` over the whole month at once (CPU and wall time): the first pass
  of a site upgraded with a month of records; the daemon's hourly pass is a slice of it;
- the size of the `rollups` table and its index (sum of `pgsize` of the `dbstat` virtual table
  when this SQLite has it, else the growth of `page_count` over the pass), per device-month
  and per device-year (x 365 / the month's 31 days), beside the raw `records` table's;
- `prune_records(db, end + 1 day)`: time and rows (each device's newest record stays);
- `edged.services.report.build(config, month)` from the stored rollups after the prune, beside
  the same build from the raw records before any rollup (the report's old path).

    .venv/bin/python bench/bench_rollups.py
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' peers, not installed

from edged.config.health import HealthConfig
from edged.config.settings import Config
from edged.config.site import SiteConfig, StorageConfig
from edged.services.report import build
from maintenance.report import rollup_store
from maintenance.report.month import bounds
from maintenance.report.registry import validate_equipment
from telemetry.store import open_db
from tests.peers.site_month import EQUIPMENT, HEALTH_EVERY, MONTH, write_month

T = TypeVar("T")
DAY = 86400
DEVICES = 2


def timed(fn: Callable[[], T]) -> tuple[T, float, float]:
    """(result, CPU seconds, wall seconds)."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def table_bytes(conn: sqlite3.Connection, names: tuple[str, ...]) -> int | None:
    """Bytes of these tables and indexes from `dbstat`; None when this build has no dbstat."""
    marks = ", ".join("?" * len(names))
    try:
        row = conn.execute(f"SELECT sum(pgsize) FROM dbstat WHERE name IN ({marks})", names)
    except sqlite3.OperationalError:
        return None
    return row.fetchone()[0] or 0


def used_bytes(conn: sqlite3.Connection) -> int:
    """Bytes of the database's pages in use (page_count less the free list)."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return (pages - free) * conn.execute("PRAGMA page_size").fetchone()[0]


def per_month_year(size: float) -> str:
    days = (bounds(MONTH)[1] - bounds(MONTH)[0]) / DAY
    month = size / DEVICES
    return (
        f"{month / 1e3:9.1f} kB per device-month  "
        f"{month * 365 / days / 1e6:7.2f} MB per device-year"
    )


def run(root: Path) -> None:
    path = root / "edged.db"
    site, _, write_s = timed(lambda: write_month(path))
    items, _ = validate_equipment(EQUIPMENT)
    config = Config(
        SiteConfig("kati"),
        StorageConfig(path=str(path)),
        health=HealthConfig(interval=HEALTH_EVERY),
        equipment=tuple(items),
    )
    print(
        f"{MONTH}: {site.records:,} records of {DEVICES} devices (1 a minute each), "
        f"written in {write_s:.1f} s"
    )
    raw_report, raw_cpu, raw_wall = timed(lambda: build(config, MONTH))
    db = open_db(path)
    try:
        roll_and_prune(db, bounds(MONTH)[1])
    finally:
        db.conn.close()
    report, cpu, wall = timed(lambda: build(config, MONTH))
    print(
        f"\nservices.report.build from rollups after the prune: {wall:.2f} s wall"
        f" ({cpu:.2f} s CPU), source {report.source!r}"
    )
    print(
        f"services.report.build from raw records, before roll_up: {raw_wall:.2f} s wall"
        f" ({raw_cpu:.2f} s CPU), source {raw_report.source!r}"
    )


def roll_and_prune(db, end: int) -> None:
    conn = db.conn
    records, used = table_bytes(conn, ("records",)), used_bytes(conn)
    rolled, cpu, wall = timed(lambda: rollup_store.roll_up(db, end + 3600, 60.0))
    rows = conn.execute("SELECT period_s, count(*) FROM rollups GROUP BY 1 ORDER BY 1").fetchall()
    stored = table_bytes(conn, ("rollups", "rollups_key"))
    how = "dbstat pgsize of rollups + rollups_key"
    if stored is None:
        stored, how = used_bytes(conn) - used, "page_count growth over roll_up (no dbstat)"
    print(
        f"\nroll_up(db, end + 1 h, 60.0): {rolled:,} records in {cpu:.2f} s CPU,"
        f" {wall:.2f} s wall ({cpu / rolled * 1e6:.0f} µs CPU per record)"
    )
    print("  rows: " + ", ".join(f"{n} x {'hourly' if p == 3600 else 'daily'}" for p, n in rows))

    before = used_bytes(conn)
    pruned, cpu, wall = timed(lambda: rollup_store.prune_records(db, end + DAY))
    left = conn.execute("SELECT count(*) FROM records").fetchone()[0]
    how_records = "dbstat pgsize of records"
    if records is None:
        records, how_records = before - used_bytes(conn), "pages freed by the prune (no dbstat)"
    print(
        f"prune_records(db, end + 1 d): {pruned:,} records in {cpu:.2f} s CPU, {wall:.2f} s"
        f" wall ({left} left: each device's newest)"
    )

    print(f"\nsize ({how}; records: {how_records})")
    print(f"  rollups  {stored / 1e3:9.1f} kB  {per_month_year(stored)}")
    print(
        f"  records  {records / 1e3:9.1f} kB  {per_month_year(records)}  (ratio "
        f"{records / stored:.0f}x)"
    )


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(Path(tmp))


if __name__ == "__main__":
    main()
