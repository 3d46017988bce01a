"""The shared report core (`edged.services.report`) on a real database: files written whole, the
MQTT summary equal to the JSON's figures, job runs and deferrals from `job_runs` and
`power_events`, and which month is due when."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from edged.config.health import HealthConfig
from edged.config.settings import Config
from edged.config.site import SiteConfig, StorageConfig
from edged.services.report import FORMATS, SETTLE_S, due_month, file_name, generate, write_atomic
from maintenance.report.figures import Budget
from maintenance.report.month import bounds
from maintenance.report.registry import validate_equipment
from telemetry.store import ROW_SQL, open_db
from tests.peers.site_month import EQUIPMENT, MONTH, write_month

START, END = bounds(MONTH)
DAY = 86400


def run(job: str, day: int, outcome: str, hour: float = 14.0) -> tuple:
    started = START + (day - 1) * DAY + hour * 3600
    return (
        job,
        "backup",
        "schedule",
        started,
        started + 600,
        600.0,
        outcome,
        0 if outcome == "success" else 1,
        "",
        "",
        "",
        1,
    )


def wait(job: str, day: int, hour: float = 8.0, code: str = "wait_floor") -> tuple:
    ts = START + (day - 1) * DAY + hour * 3600
    return (ts, "job", job, "wait", code, "batterie faible", "battery low")


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Config:
    path = tmp_path_factory.mktemp("site") / "edged.db"
    write_month(path)
    db = open_db(path)
    runs = [
        run("backup", 3, "success"),
        run("backup", 5, "timeout"),
        run("backup", 8, "success"),
        run("backup", 12, "stopped_low_battery"),
        run("backup", 1, "success", hour=-2.0),
    ]  # the last: September, not counted
    waits = [
        wait("backup", 7),
        wait("backup", 8),
        wait("backup", 9),
        wait("backup", 9, 11.0),
        wait("sync", 12),
        wait("sync", 40),
        wait("backup", 14, code="wait_done"),
        wait("backup", 15, code="wait_window"),
    ]
    # the last two: waiting for no lack of energy (done recently, outside its hours): not deferred
    with db.conn:
        db.conn.execute("BEGIN")
        db.conn.executemany(ROW_SQL["job_run"], runs)
        db.conn.executemany(ROW_SQL["power_event"], waits)
        db.conn.execute(
            ROW_SQL["power_event"], (START + DAY, "shedding", "pibox", "stop", "critical", "", "")
        )
        db.conn.execute("COMMIT")
    db.conn.close()
    items, _ = validate_equipment(EQUIPMENT)
    return Config(
        SiteConfig("kati"),
        StorageConfig(path=str(path)),
        health=HealthConfig(interval=300.0),
        equipment=tuple(items),
        budget=Budget(fees_collected=40000),
    )


def test_generate_writes_every_format_and_the_summary_matches_the_json(config, tmp_path):
    written, summary = generate(config, MONTH, tmp_path / "out")
    assert written == [tmp_path / "out" / f"report-kati-{MONTH}.{f}" for f in FORMATS]
    summary_file = tmp_path / "out" / f"report-kati-{MONTH}.summary.json"
    assert sorted((tmp_path / "out").iterdir()) == sorted([*written, summary_file])
    assert json.loads(summary_file.read_bytes()) == summary  # what the daemon publishes
    assert written[0].read_bytes().startswith(b"%PDF") and b"%%EOF" in written[0].read_bytes()
    data = json.loads(written[3].read_text(encoding="utf-8"))
    battery = data["batteries"][0]
    assert summary == {
        "site": "kati",
        "month": MONTH,
        "completeness_pct": data["quality"]["completeness_pct"],
        "notes": data["quality"]["notes"],
        "pv_kwh": round(data["energy"]["pv_kwh"], 2),
        "load_kwh": round(data["energy"]["load_kwh"], 2),
        "days_not_full": data["energy"]["days_not_full"],
        "efc": round(battery["equivalent_full_cycles"], 2),
        "soc_min": battery["soc_min"],
        "alarms": data["alarms"]["count"],
        "alarms_open": data["alarms"]["still_open"],
        "contribution": data["costs"]["contribution"],
        "currency": data["costs"]["currency"],
        "cost_recovery_pct": data["costs"]["cost_recovery_pct"],
    }
    assert summary["pv_kwh"] > 0 and data["costs"]["fees_collected"] == 40000
    assert summary["cost_recovery_pct"] is not None and "gaps" in summary["notes"]


def test_job_runs_and_deferred_days_come_from_the_database(config, tmp_path):
    written, _ = generate(config, MONTH, tmp_path, formats=("json", "csv", "html"))
    jobs = {j["job"]: j for j in json.loads(written[0].read_text(encoding="utf-8"))["jobs"]}
    last_ok = START + 7 * DAY + 14 * 3600 + 600
    # backup: 4 runs in the month, 2 succeeded; waits on 7, 8 (a success that day), 9 (twice)
    assert jobs["backup"] == {
        "job": "backup",
        "runs": 4,
        "ok": 2,
        "failed": 2,
        "last_ok": last_ok,
        "deferred": 2,
    }
    assert jobs["sync"] == {
        "job": "sync",
        "runs": 0,
        "ok": 0,
        "failed": 0,
        "last_ok": None,
        "deferred": 1,
    }  # day 40 is November
    assert "jobs,backup,deferred,2,days" in written[1].read_text(encoding="utf-8")
    assert "jours reportés" in written[2].read_text(encoding="utf-8")
    data = json.loads(written[0].read_text(encoding="utf-8"))
    assert "« backup » : 2 réussie(s), 2 en échec, reportée 2 jour(s)" in data["summary_fr"]
    assert "'sync': 0 succeeded, 0 failed, deferred on 1 day(s)" in data["summary_en"]


def test_a_failed_render_leaves_the_previous_file_and_a_stray_tmp_is_replaced(tmp_path):
    path = tmp_path / "report-kati-2026-10.pdf"
    path.write_bytes(b"old, complete")
    (tmp_path / (path.name + ".tmp")).write_bytes(b"half a PDF from a power cut")
    write_atomic(path, b"new")
    assert path.read_bytes() == b"new" and not (tmp_path / (path.name + ".tmp")).exists()
    with pytest.raises(TypeError):
        write_atomic(path, None)  # the content could not be made: nothing is renamed
    assert path.read_bytes() == b"new"


def ts(*args) -> float:
    return dt.datetime(*args, tzinfo=dt.UTC).timestamp()


def test_due_month_is_the_last_full_month_once_settled_and_not_yet_written(tmp_path):
    nov_1 = ts(2026, 11, 1)
    assert due_month(nov_1 + SETTLE_S, True, tmp_path, "kati") == "2026-10"
    assert due_month(nov_1 + SETTLE_S - 1, True, tmp_path, "kati") == "2026-09"  # settling
    assert due_month(nov_1 + SETTLE_S, False, tmp_path, "kati") is None  # clock not synced
    assert due_month(ts(2027, 1, 3, 12), True, tmp_path, "kati") == "2026-12"
    for fmt in FORMATS[:-1]:
        (tmp_path / file_name("kati", "2026-10", fmt)).write_bytes(b"x")
    assert due_month(ts(2026, 11, 20), True, tmp_path, "kati") == "2026-10"  # json missing
    (tmp_path / file_name("kati", "2026-10", "json")).write_bytes(b"x")
    assert due_month(ts(2026, 11, 20), True, tmp_path, "kati") is None
    assert due_month(ts(2026, 11, 20), True, tmp_path, "mopti") == "2026-10"  # another site
