"""The Writer on real SQLite files: one batch per commit, records and outbox rows, readers,
pruning, the SD card's pages per commit."""

from __future__ import annotations

import logging
import random
import sqlite3

import pytest

from edged.readings import DeviceState, Sample
from telemetry import outbox, status_view, store
from tests.telemetry.writers import T0, mppt, poll, running_writers


@pytest.fixture
def started(tmp_path):
    with running_writers(tmp_path) as make:
        yield make


def test_one_record_and_outbox_row_per_closed_window(started, tmp_path):
    got = []
    w = started(on_records=got.extend)
    for i in range(130):  # windows ...000, ...060 (both closed), ...120 (open)
        w.put(mppt(T0 + i, v=12 + i % 2))
    assert w.flush() is True
    db = store.open_db(tmp_path / "edged.db", readonly=True)
    assert [(r.ts, r.samples) for r in got] == [(T0 - 10, 50), (T0 + 50, 60)]
    assert got[1].metrics == {"battery_voltage": 12.5, "charger_state": "bulk"}
    assert outbox.pending(db, 10) == got
    assert [r[0] for r in db.execute("SELECT last_seq FROM records ORDER BY id")] == [50, 110]
    assert w.stats["samples_written"] == 130 and w.stats["records_created"] == 2


def test_without_raw_samples_a_commit_stores_the_open_window_and_a_restart_rebuilds_it(
    started, tmp_path
):
    """`keep_raw_samples = false` (the daemon's default): the closed windows are stored as
    records only; the open window's samples are stored, so the next start rebuilds it whole."""
    got = []
    w = started(on_records=got.extend, keep_raw_samples=False)
    for i in range(130):  # windows ...000, ...060 (both closed), ...120 (open: 20 samples)
        w.put(mppt(T0 + i, v=12 + i % 2))
    assert w.flush() is True
    assert [(r.ts, r.samples) for r in got] == [(T0 - 10, 50), (T0 + 50, 60)]
    db = store.open_db(tmp_path / "edged.db", readonly=True)
    assert [s.ts for _, s in store.read_samples(db)] == [T0 + i for i in range(110, 130)]
    assert w.stats["samples_covered"] == 110 and w.stats["samples_written"] == 20
    w.put(mppt(T0 + 130, v=12))  # no window closes: every sample of this commit is kept
    assert w.flush()
    assert len(store.read_samples(db)) == 21
    w.stop()

    again = started(on_records=got.extend, keep_raw_samples=False)
    for i in range(131, 175):  # the replayed window goes on and closes with all 60 samples
        again.put(mppt(T0 + i, v=12 + i % 2))
    assert again.flush()
    assert [(r.ts, r.samples) for r in got[2:]] == [(T0 + 110, 60)]
    assert got[2].metrics == {"battery_voltage": 12.5, "charger_state": "bulk"}
    # the newest sample is kept even when a record covers it: `edged status` when stopped
    again.put(mppt(T0 + 240))  # closes window ...180 (its only sample: T0 + 170 .. 174)
    assert again.flush()
    assert store.read_samples(db, newest_first=True, limit=1)[0][1].ts == T0 + 240


def test_status_view_reads_a_readonly_connection_while_the_writer_commits(started, tmp_path):
    w = started(commit_interval=0.005)
    w.put_state(
        "mppt",
        DeviceState.from_dict(
            {
                "state": "ok",
                "last_seen": T0,
                "info": {"product": "MPPT 75/15"},
                "counters": {"accepted": 1},
            }
        ),
    )
    ro = store.open_db(tmp_path / "edged.db", readonly=True)

    def latest_ts() -> float | None:
        overview = status_view.device_overview(ro)
        return overview[0]["latest"]["ts"] if overview and overview[0]["latest"] else None

    for first in range(0, 201, 10):  # each batch is seen by the reader while the writer goes on
        for i in range(first, min(first + 10, 201)):
            w.put(mppt(T0 + i, pv_power=i))
        poll(lambda i=i: latest_ts() == T0 + i)
    [dev] = status_view.device_overview(ro)
    assert dev["device"] == "mppt" and dev["state"] == "ok"
    assert dev["last_seen"] == T0 + 200  # the newest sample is a later sighting than the state
    assert dev["info"] == {"product": "MPPT 75/15"} and dev["counters"] == {"accepted": 1}
    assert dev["latest"]["metrics"] == {
        "battery_voltage": 13.0,
        "charger_state": "bulk",
        "pv_power": 200,
    }
    assert status_view.outbox_size(ro) == 3
    assert [r.ts for r in status_view.last_records(ro, "mppt", 2)] == [T0 + 110, T0 + 50]
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        ro.execute("DELETE FROM outbox")


def test_prune_runs_on_the_writer_thread_and_keeps_the_open_window(started, tmp_path):
    w = started()
    for i in range(0, 200, 10):
        w.put(mppt(T0 + i))
        if i % 30 == 20:  # a commit every 30 s: blocks of 3 samples
            w.flush()
    w.flush()
    # Windows 1-3 are closed (samples 0-170 s); the block of 150-170 s holds the open window's
    # first sample, so it stays with the open window's block (180-190 s).
    assert w.prune(max_age=0.0) == 15
    db = store.open_db(tmp_path / "edged.db", readonly=True)
    kept = [s.ts - T0 for _, s in store.read_samples(db)]
    assert kept == [150, 160, 170, 180, 190]
    assert w.stats["pruned"] == 15


def test_a_failing_on_records_callback_does_not_stop_storage(started, caplog):
    def boom(records):
        raise RuntimeError("publisher bug")

    w = started(on_records=boom)
    caplog.set_level(logging.ERROR)
    w.put(mppt(T0))
    w.put(mppt(T0 + 60))
    assert w.flush() and w.is_alive()
    w.put(mppt(T0 + 120))
    assert w.flush() and w.stats["records_created"] == 2
    assert "on_records callback failed" in caplog.text


def vedirect_like(ts: float, rng: random.Random) -> Sample:
    """Fifteen metrics at VE.Direct resolution with sensor noise (what the SD card will see)."""
    noisy = {
        "battery_voltage": round(13.2 + rng.uniform(-0.02, 0.02), 2),
        "battery_current": round(4.1 + rng.uniform(-0.1, 0.1), 1),
        "battery_power": round(54 + rng.uniform(-2, 2)),
        "pv_voltage": round(19.5 + rng.uniform(-0.05, 0.05), 2),
        "pv_current": round(3.0 + rng.uniform(0, 0.05), 2),
        "pv_power": round(58 + rng.uniform(-1, 1)),
        "load_current": round(1.2 + rng.uniform(-0.1, 0.1), 1),
        "load_power": round(15 + rng.uniform(-1, 1)),
        "battery_temperature": round(31 + rng.uniform(-0.2, 0.2), 1),
    }
    fixed = {
        "battery_soc": 81.5,
        "load_on": 1,
        "yield_today": 0.42,
        "yield_total": 1234.56,
        "charger_state": "bulk",
        "charger_error": 0,
    }
    return Sample("mppt", ts, True, {**noisy, **fixed})


@pytest.mark.parametrize("per_commit", [30, 60, 120])
def test_a_commit_appends_a_few_wal_frames_whatever_it_holds(started, tmp_path, per_commit):
    """The SD card's wear is pages per commit: bounded, and not growing with samples per commit.

    Counts the WAL frames (page_size + 24 bytes each) each commit appends, with checkpoints off.
    """
    acked: list[int] = []
    w = started(on_records=lambda records: acked.extend(r.id for r in records))
    w.call(lambda db: db.execute("PRAGMA wal_autocheckpoint = 0").fetchone())
    wal = tmp_path / "edged.db-wal"
    frame = store.PAGE_SIZE + 24
    rng, frames, before = random.Random(7), [], wal.stat().st_size
    for first in range(0, 40 * 60, per_commit):  # 40 simulated minutes
        for s in range(first, first + per_commit):
            w.put(vedirect_like(T0 + s, rng))
        w.put_state(
            "mppt",
            DeviceState.from_dict(
                {"state": "ok", "last_seen": T0 + s, "info": {}, "counters": {"accepted": s}}
            ),
        )
        w.ack(acked)
        acked.clear()
        assert w.flush()
        size = wal.stat().st_size
        frames.append((size - before) // frame)
        before = size
    steady = frames[1:]  # the first commit creates the device row and the first pages
    assert max(steady) <= 9, frames
    assert sum(steady) / len(steady) <= 7, frames
    assert w.stats["samples_written"] == 40 * 60
