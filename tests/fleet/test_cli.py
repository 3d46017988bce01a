"""`edged-fleet migrate`: versioned, idempotent, and clear when the database cannot be reached."""

from __future__ import annotations

import subprocess
import sys

EXPECTED_TABLES = {
    "sites",
    "devices",
    "records",
    "site_latest",
    "alarms",
    "alarm_history",
    "health",
    "jobs",
    "job_results",
    "shedding",
    "events",
    "reports",
    "rejects",
    "collector_counters",
    "schema_migrations",
}


def fleet(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fleet.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_migrate_applies_once_then_nothing(fleet_dsn, db):
    first = fleet("migrate", "--dsn", fleet_dsn)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "schema version 2 (applied now: [1, 2])"
    again = fleet("migrate", "--dsn", fleet_dsn)
    assert again.stdout.strip() == "schema version 2 (applied now: none)"
    tables = {name for (name,) in db("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
    assert tables >= EXPECTED_TABLES
    (kind,) = db("SELECT relkind FROM pg_class WHERE relname = 'records'")
    assert kind == ("p",), "records is partitioned"


def test_migrate_without_a_database_says_so(postgres):
    out = fleet("migrate", "--dsn", postgres.dsn("no_such_database"))
    assert out.returncode == 1
    assert "no_such_database" in out.stderr and "Traceback" not in out.stderr
    out = fleet("migrate", env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 2 and "EDGED_FLEET_DSN" in out.stderr
