"""Commits that fail (a database that may not grow: a full disk): the batch kept and written
once there is room, windows still live meanwhile, the tries backed off
(`telemetry.commit_retry`)."""

from __future__ import annotations

import random
import time

import pytest

from telemetry import store
from telemetry.writer import Writer
from tests.peers.replay import wait_until
from tests.telemetry.writers import T0, mppt, mppt_voltage, running_writers


@pytest.fixture
def started(tmp_path):
    with running_writers(tmp_path) as make:
        yield make


def test_disk_full_keeps_the_batch_and_writes_it_once_there_is_room(started, tmp_path, caplog):
    got = []
    w = started(on_records=got.extend)
    w.put(mppt(T0))
    assert w.flush()
    pages = w.call(lambda db: db.execute("PRAGMA page_count").fetchone()[0])
    w.call(lambda db: db.execute(f"PRAGMA max_page_count = {pages}").fetchone())
    for i in range(1, 400):  # values that do not compress away: the block needs new pages
        w.put(mppt(T0 + i, v=12 + i * 7919 % 1000 / 1000, pv_power=i * 104729 % 9973))
    assert w.flush() is False
    assert w.flush() is False
    assert w.stats["commit_failures"] == 2 and got == []
    assert any("database or disk is full" in r.getMessage() for r in caplog.records)
    db = store.open_db(tmp_path / "edged.db", readonly=True)
    assert db.execute("SELECT count(*) FROM samples").fetchone()[0] == 1
    assert w.stats["samples_written"] == 1

    w.call(lambda db: db.execute("PRAGMA max_page_count = 1073741823").fetchone())
    assert w.flush() is True
    stored = store.read_samples(db)
    assert [s.ts for _, s in stored] == [T0 + i for i in range(400)]
    assert [seq for seq, _ in stored] == sorted({seq for seq, _ in stored})  # none reused
    assert [r.samples for r in got] == [50, 60, 60, 60, 60, 60]
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert w.stats["dropped"] == 0


def test_windows_closing_while_commits_fail_go_live_and_retries_back_off(tmp_path):
    live, committed = [], []
    w = Writer(
        tmp_path / "edged.db",
        publish_interval=60.0,
        commit_interval=0.05,
        on_closed=live.extend,
        on_records=committed.extend,
    )
    w.start()
    try:
        w.put(mppt_voltage(T0))
        assert w.flush()
        pages = w.call(lambda db: db.execute("PRAGMA page_count").fetchone()[0])
        w.call(lambda db: db.execute(f"PRAGMA max_page_count = {pages}").fetchone())
        noise = random.Random(1)  # values that do not compress away: the block needs new pages
        for i in range(1, 400):
            w.put(mppt_voltage(T0 + i, v=12 + noise.random()))
        wait_until(lambda: w.stats["commit_failures"], 10, what="a failing commit")
        assert w.storage_health()["failing"] is True
        # every window that closed is live although none is committed
        wait_until(lambda: len(live) == 6, 10, what="six windows live")
        assert [r.samples for r in live] == [50, 60, 60, 60, 60, 60] and committed == []
        before = w.stats["commit_failures"]
        time.sleep(1.5)  # at a 0.05 s cadence 30 tries; the backoff doubles from 0.1 s
        assert w.stats["commit_failures"] - before <= 6
        w.call(lambda db: db.execute("PRAGMA max_page_count = 1073741823").fetchone())
        assert w.flush() is True
        assert [r.id for r in committed] == [r.id for r in live]
        assert w.storage_health()["failing"] is False and w.stats["dropped"] == 0
    finally:
        w.stop()
