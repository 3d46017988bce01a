"""Rows SQLite rejected: kept once their commit succeeds, forgotten when it fails."""

from __future__ import annotations

import json
import logging
import sqlite3

from telemetry.quarantine import Quarantine


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
