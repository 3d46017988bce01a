"""Rollups stored in SQLite (schema v6) on real files: `roll_up` gives the rows of one call over
every record however it is cut up (hour by hour, late records), a re-run changes nothing, and
after `prune_records` the report (`edged report --format json`) is byte for byte the same."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from maintenance.report import rollup_store as rs
from maintenance.report import stored_month
from maintenance.report.figures import build_report
from maintenance.report.month import bounds
from maintenance.report.render_json import render_json
from maintenance.report.rollups import DAY, HOUR, merge, rollup, to_rows
from telemetry.store import open_db
from telemetry.stored_metrics import record_from_row
from tests.peers.site_month import JUMP_DAY, MONTH, write_month

START, END = bounds(MONTH)
ROOT = Path(__file__).resolve().parents[3]
COLUMNS = "SELECT id, device, ts, synced, samples, metrics FROM records"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("month") / "edged.db"
    write_month(path)
    return path


@pytest.fixture
def db_path(template, tmp_path) -> Path:
    return Path(shutil.copy(template, tmp_path / "edged.db"))


def all_rows(db) -> list[dict]:
    return to_rows(rs.stored(db, 0, 2**40, HOUR)) + to_rows(rs.stored(db, 0, 2**40, DAY))


def one_call(db) -> list[dict]:
    """What the store must hold: `rollup` over every record at once, and its daily merge."""
    hourly = rollup([record_from_row(r) for r in db.execute(f"{COLUMNS} ORDER BY id")])[0]
    return to_rows(hourly) + to_rows(merge(hourly, DAY))


def test_hour_by_hour_equals_one_go_and_a_rerun_changes_nothing(db_path, tmp_path):
    db = open_db(db_path)
    # Day by day, then hour by hour across the clock jump (a second stretch of the same hours)
    # and the days around it, then day by day again.
    jump = START + (JUMP_DAY - 1) * DAY
    nows = [*range(START, jump - DAY, DAY), *range(jump - DAY, jump + 2 * DAY, HOUR)]
    nows += [*range(jump + 2 * DAY, END + DAY, DAY)]
    counts = [rs.roll_up(db, now + 1.0, 60.0) for now in nows]
    assert sum(counts) == db.execute("SELECT count(*) FROM records").fetchone()[0]
    expected = one_call(db)
    assert all_rows(db) == expected
    assert rs.roll_up(db, END + DAY, 60.0) == 0 and all_rows(db) == expected
    other = open_db(shutil.copy(db_path, tmp_path / "again.db"))
    other.execute("DELETE FROM rollups")
    other.execute("DELETE FROM kv")
    assert rs.roll_up(other, END + DAY, 60.0) == sum(counts)
    assert all_rows(other) == expected
    hours = db.execute("SELECT count(*) FROM rollups WHERE period_s = 3600").fetchone()[0]
    assert hours == len({(r["device"], r["start"]) for r in expected if r["period_s"] == HOUR})


def test_records_committed_after_their_hour_was_rolled_up_continue_it(db_path, tmp_path):
    source = open_db(db_path)
    first, last = START + 19 * DAY, START + 22 * DAY  # the clock jump's days
    rows = source.execute(f"{COLUMNS} WHERE ts >= ? AND ts < ? ORDER BY id", (first, last))
    rows = rows.fetchall()
    db = open_db(tmp_path / "late.db")
    insert = "INSERT INTO records (id, device, ts, synced, samples, last_seq, metrics)"
    insert += " VALUES (?, ?, ?, ?, ?, 0, ?)"
    # Cut mid-hour (and mid-way between the two devices of a minute), rolled up as if the hour
    # were over; the rest arrives after, as a late commit would.
    cut = len(rows) // 2 + 15
    hour = rows[cut][2] // HOUR * HOUR
    db.conn.executemany(insert, rows[:cut])
    assert rs.roll_up(db, hour + HOUR, 60.0) == cut
    partial = rs.stored(db, hour, hour + 1)
    db.conn.executemany(insert, rows[cut:])
    assert rs.roll_up(db, last + HOUR, 60.0) == len(rows) - cut
    assert all_rows(db) == one_call(db)
    assert [r.records for r in rs.stored(db, hour, hour + 1)] > [r.records for r in partial]


def json_report(db_path: Path, out: Path) -> bytes:
    cmd = [
        sys.executable,
        "-m",
        "edged.cli.report",
        "--month",
        MONTH,
        "--db",
        str(db_path),
        "--site",
        "kati",
        "--format",
        "json",
        "--out",
        str(out),
    ]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return (out / f"report-kati-{MONTH}.json").read_bytes()


def test_pruned_month_gives_the_same_report_and_keeps_outbox_and_newest(db_path, tmp_path):
    db = open_db(db_path)
    assert rs.prune_records(db, END + DAY) == 0  # nothing rolled up: nothing may go
    raw = json_report(db_path, tmp_path / "raw")
    outbox = START + 15 * DAY
    db.execute(
        "INSERT INTO outbox SELECT id FROM records WHERE ts >= ? AND ts < ?",
        (outbox, outbox + HOUR),
    )
    in_outbox = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
    total = db.execute("SELECT count(*) FROM records").fetchone()[0]
    rs.roll_up(db, END + HOUR, 60.0)
    before = json_report(db_path, tmp_path / "before")
    assert rs.prune_records(db, END + DAY) == total - in_outbox - 2  # newest of 2 devices kept
    assert (
        db.execute("SELECT count(*) FROM outbox JOIN records ON id = record_id").fetchone()[0]
        == in_outbox
    )
    after = json_report(db_path, tmp_path / "after")
    assert after == before
    assert json.loads(before)["source"] == "rollups" and json.loads(raw)["source"] == "records"
    assert json.loads(before) | {"source": "records"} == json.loads(raw)
    assert json.loads(after)["energy"]["pv_kwh"] > 0


def test_records_not_rolled_up_are_kept_and_reported_from_raw(db_path, template):
    db = open_db(db_path)
    middle = START + 15 * DAY + 7 * HOUR
    rs.roll_up(db, middle + 1800, 60.0)  # the hour in progress waits
    newer = db.execute("SELECT count(*) FROM records WHERE ts >= ?", (middle,)).fetchone()[0]
    assert rs.prune_records(db, END + DAY) > 0
    left = db.execute("SELECT min(ts), count(*) FROM records").fetchone()
    assert left == (middle, newer)  # every record rolled up went, none of the others
    stored = stored_month.series(db, MONTH, 60.0)  # stored rows, continued with the newer records
    raw = stored_month.series(open_db(template, readonly=True), MONTH, 60.0)
    assert list(stored) == ["rollups"] and list(raw) == ["records"]
    mixed, whole = (build_report(site="kati", month=MONTH, **x) for x in (stored, raw))
    assert json.loads(render_json(mixed)) | {"source": "records"} == json.loads(render_json(whole))


def test_a_device_year_of_hourly_and_daily_rollups_is_small(db_path, capsys):
    db = open_db(db_path)
    rs.roll_up(db, END + HOUR, 60.0)
    used = db.execute(
        "SELECT sum(pgsize) FROM dbstat WHERE name IN ('rollups', 'rollups_key')"
    ).fetchone()[0]
    per_device_year = used / 2 * 365 * DAY / (END - START)
    records = db.execute("SELECT sum(pgsize) FROM dbstat WHERE name = 'records'").fetchone()[0]
    with capsys.disabled():
        print(
            f"\nrollups: {per_device_year / 1e6:.2f} MB per device-year"
            f" (records: {records / 2 * 365 * DAY / (END - START) / 1e6:.0f} MB)"
        )
    assert per_device_year < 2.0e6
