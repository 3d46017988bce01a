"""Rows SQLite rejected: kept once their commit succeeds, forgotten when it fails."""

from __future__ import annotations

import json
import logging
import sqlite3

from edged.readings import DeviceState, Liveness
from telemetry.quarantine import Quarantine
from telemetry.rows import AlarmCleared, HealthRow, KvRow
from telemetry.writer import Writer
from tests.telemetry.writers import T0, mppt_voltage


def test_rows_are_kept_only_after_their_commit_and_a_failed_commit_forgets_them(tmp_path):
    quarantine = Quarantine(tmp_path / "edged.db")
    quarantine("kv", ("big", 2**70), OverflowError("Python int too large"))
    quarantine.forget()  # the commit failed: its retry meets the row again
    assert quarantine.keep() == 0 and not quarantine.path.exists()
    quarantine("health", ("pibox", 1.0, 1, None), sqlite3.IntegrityError("NOT NULL"))
    assert quarantine.keep() == 1
    [kept] = [json.loads(line) for line in quarantine.path.read_text().splitlines()]
    assert kept["kind"] == "health" and "NOT NULL" in kept["reason"]
    assert kept["params"] == repr(("pibox", 1.0, 1, None))


def test_an_unwritable_quarantine_file_is_logged_and_still_counted(tmp_path, caplog):
    quarantine = Quarantine(tmp_path / "gone" / "edged.db")  # its folder does not exist
    quarantine("kv", ("k",), sqlite3.ProgrammingError("wrong arity"))
    assert quarantine.keep() == 1
    assert any("cannot keep the rejected rows" in r.getMessage() for r in caplog.records)
    assert caplog.records[-1].levelno == logging.ERROR


class _WrongArity:
    KIND = "kv"

    def params(self) -> tuple:
        return ("only-one-parameter",)


def test_rejected_rows_are_quarantined_and_never_block_the_batch(tmp_path):
    w = Writer(tmp_path / "edged.db", publish_interval=60.0, commit_interval=3600.0)
    w.start()
    try:
        w.put_row(_WrongArity())  # a row type whose params do not match its statement
        w.put_row(KvRow("big", 2**70))  # an int SQLite cannot bind
        w.put_row(AlarmCleared(T0, None))  # binds, updates nothing: fine
        w.put_row(HealthRow("pibox", T0, True, None))  # NOT NULL violated
        w.put_state("mppt", DeviceState(Liveness.OK, object()))  # type: ignore[arg-type]
        w.put_row(KvRow("good", "1"))
        w.put(mppt_voltage(T0))
        assert w.flush() is True
        assert w.flush() is True  # nothing left that fails
        kept = (tmp_path / "edged.db.quarantine").read_text().splitlines()
        assert [json.loads(k)["kind"] for k in kept] == ["device_state", "kv", "kv", "health"]
        assert all(json.loads(k)["reason"] for k in kept)
        assert w.stats["quarantined"] == 4 and w.stats["commit_failures"] == 0
        assert w.call(lambda db: db.execute("SELECT value FROM kv").fetchall()) == [("1",)]
    finally:
        w.stop()
