"""What other threads hand the Writer (`telemetry.intake`): a queue that never blocks, device
states written when they matter, rows in order and, for an alarm, soon."""

from __future__ import annotations

import sqlite3
import time

import pytest

from edged.readings import DeviceState
from telemetry import store
from telemetry.rows import AlarmRaised
from telemetry.writer import Writer
from tests.telemetry.writers import T0, mppt, poll, running_writers


@pytest.fixture
def started(tmp_path):
    with running_writers(tmp_path) as make:
        yield make


def test_full_queue_drops_counts_and_logs_once(tmp_path, caplog):
    w = Writer(tmp_path / "edged.db", 60.0, 3600.0, max_queue=5)  # not started: nothing drains
    t = time.monotonic()
    for i in range(8):
        w.put(mppt(T0 + i))
    assert time.monotonic() - t < 5.0  # never waits for room (a loaded machine may stall a bit)
    assert w.stats["dropped"] == 3
    assert sum("queue full" in r.message for r in caplog.records) == 1
    w.start()
    w.flush()
    w.stop()
    assert w.stats["samples_written"] == 5


def test_state_upsert_keeps_changed_while_the_state_holds(started, tmp_path):
    w = started()
    w.put_state(
        "mppt",
        DeviceState.from_dict(
            {"state": "ok", "last_seen": 1.0, "info": {"serial": "HQ1"}, "counters": {}}
        ),
    )
    w.flush()
    w.put_state(
        "mppt",
        DeviceState.from_dict(
            {"state": "ok", "last_seen": 2.0, "info": {}, "counters": {"accepted": 9}}
        ),
    )
    w.flush()
    db = store.open_db(tmp_path / "edged.db", readonly=True)
    first_changed = db.execute("SELECT changed FROM device_state").fetchone()[0]
    w.put_state(
        "mppt",
        DeviceState.from_dict({"state": "stale", "last_seen": 2.0, "info": {}, "counters": {}}),
    )
    w.flush()
    [row] = db.execute("SELECT state, last_seen, counters, changed FROM device_state").fetchall()
    assert row[:2] == ("stale", 2.0) and row[3] > first_changed


def test_unchanged_state_is_held_back_changed_state_is_written_the_newest_at_stop(
    started, tmp_path
):
    w = started(state_refresh=3600.0)
    db = store.open_db(tmp_path / "edged.db", readonly=True)

    def put_and_flush(state: str, n: int, info: dict | None = None) -> tuple:
        w.put_state(
            "mppt",
            DeviceState.from_dict(
                {
                    "state": state,
                    "last_seen": float(n),
                    "info": info or {},
                    "counters": {"accepted": n},
                }
            ),
        )
        assert w.flush()
        return db.execute("SELECT state, last_seen, info FROM device_state").fetchone()

    assert put_and_flush("ok", 1) == ("ok", 1.0, "{}")
    assert put_and_flush("ok", 2) == ("ok", 1.0, "{}")  # only counters moved: held back
    assert put_and_flush("ok", 3, {"serial": "HQ1"}) == ("ok", 3.0, '{"serial":"HQ1"}')
    assert put_and_flush("ok", 4, {"serial": "HQ1"}) == ("ok", 3.0, '{"serial":"HQ1"}')
    assert put_and_flush("stale", 5, {"serial": "HQ1"}) == ("stale", 5.0, '{"serial":"HQ1"}')
    w.put_state(
        "mppt",
        DeviceState.from_dict(
            {
                "state": "stale",
                "last_seen": 6.0,
                "info": {"serial": "HQ1"},
                "counters": {"accepted": 6},
            }
        ),
    )
    w.stop()
    assert db.execute("SELECT last_seen, counters FROM device_state").fetchone() == (
        6.0,
        '{"accepted":6}',
    )


def test_unchanged_state_is_written_again_after_state_refresh(started, tmp_path):
    w = started(state_refresh=0.0)
    for n in (1, 2):
        w.put_state(
            "mppt",
            DeviceState.from_dict(
                {"state": "ok", "last_seen": float(n), "info": {}, "counters": {}}
            ),
        )
        assert w.flush()
    db = store.open_db(tmp_path / "edged.db", readonly=True)
    assert db.execute("SELECT last_seen FROM device_state").fetchone() == (2.0,)


def test_a_row_put_soon_is_committed_without_waiting_for_the_interval(started, tmp_path):
    """An alarm's row is readable by `edged alarms ack` at once, not a commit interval later."""
    w = started(commit_interval=3600.0)
    w.put_row(AlarmRaised("rule:dev", "rule", "dev", "warning", 1.0, "fr", "en", "1"))
    w.put_row(AlarmRaised("soon:dev", "soon", "dev", "warning", 2.0, "fr", "en", "1"), soon=True)
    db = sqlite3.connect(tmp_path / "edged.db")
    try:
        rows = poll(lambda: db.execute("SELECT alarm_id FROM alarms ORDER BY id").fetchall())
    finally:
        db.close()
    assert rows == [("rule:dev",), ("soon:dev",)]  # the earlier row rides along, in order
