"""The Writer on real SQLite files: batches, outbox, acks, SIGKILL replay, disk full, readers."""

from __future__ import annotations

import logging
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edged.readings import DeviceState, Sample
from telemetry import outbox, status_view, store
from telemetry.rows import AlarmRaised
from telemetry.writer import Writer
from tests.telemetry.writer_child import sample as child_sample

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_699_999_990.0  # 10 s into a 60 s window


def mppt(ts: float, v: float = 13.0, **extra) -> Sample:
    return Sample("mppt", ts, True, {"battery_voltage": v, "charger_state": "bulk", **extra})


@pytest.fixture
def started(tmp_path):
    writers: list[Writer] = []

    def make(**kw) -> Writer:
        kw = {"publish_interval": 60.0, "commit_interval": 3600.0, **kw}
        w = Writer(tmp_path / "edged.db", **kw)
        w.start()
        writers.append(w)
        return w

    yield make
    for w in writers:
        w.stop()


def poll(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, "condition not met before the deadline"
        time.sleep(0.005)
    return result


def window_counts(db) -> dict[float, int]:
    counts: dict[float, int] = {}
    for _, s in store.read_samples(db):
        start = s.ts - s.ts % 60
        counts[start] = counts.get(start, 0) + 1
    return counts


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


def test_ack_deletes_only_the_acked_ids(started, tmp_path):
    got = []
    w = started(on_records=got.extend)
    for i in range(0, 300, 30):
        w.put(mppt(T0 + i))
    w.flush()
    assert len(got) == 4
    w.ack([got[0].id, got[2].id, 999])
    assert w.flush() and w.stats["acked"] == 2
    db = store.open_db(tmp_path / "edged.db", readonly=True)
    assert [r.id for r in outbox.pending(db, 10)] == [got[1].id, got[3].id]
    assert db.execute("SELECT count(*) FROM records").fetchone()[0] == 4


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


def test_a_commit_writes_one_block_per_device_across_the_folds_before_it(started, tmp_path):
    """Samples are folded into windows about every second, but the card pays per block: the
    folds between two commits all fill the same block per device (one per fold cost ~2.5x)."""
    w = started()
    for fold in range(3):
        for i in range(5):
            w.put(mppt(T0 + fold * 5 + i))
            w.put(Sample("bmv", T0 + fold * 5 + i, True, {"battery_soc": 50.0 + i}))
        poll(lambda: w._intake.queued == 0)  # taken by a fold (every second), not by a commit
        time.sleep(0.01)
    assert w.flush()
    db = store.open_db(tmp_path / "edged.db", readonly=True)
    rows = db.execute(
        "SELECT d.name, last_seq - first_seq + 1 FROM sample_blocks JOIN devices AS d"
        " ON d.id = device_id ORDER BY d.name"
    ).fetchall()
    assert rows == [("bmv", 15), ("mppt", 15)]
    stored = store.read_samples(db, device="mppt")
    assert [s.ts for _, s in stored] == [T0 + i for i in range(15)]
    w.put(mppt(T0 + 15))  # the next commit: a new block, past the range the last one set aside
    assert w.flush()
    assert db.execute("SELECT count(*) FROM sample_blocks").fetchone()[0] == 3
    seqs = [seq for seq, _ in store.read_samples(db)]
    assert len(seqs) == 31 and seqs == sorted(set(seqs))


def test_silent_device_window_is_closed_by_idle_time(started):
    got = []
    w = started(on_records=got.extend, publish_interval=0.2, commit_interval=0.01, grace=0.0)
    w.put(Sample("bmv", 100.0, True, {"battery_soc": 50.0}))
    w.put(Sample("bmv", 100.1, True, {"battery_soc": 51.0}))
    poll(lambda: got)
    assert [(r.device, r.samples, r.metrics) for r in got] == [("bmv", 2, {"battery_soc": 51.0})]


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


def _kill_child_mid_run(path, t0: float) -> list:
    """Run tests/writer_child.py until windows t0+0 and t0+60 closed, then SIGKILL it."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.telemetry.writer_child", str(path), str(t0)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        reported = 0
        while reported < 150:  # windows ...000 and ...060 closed, ...120 open, child still busy
            reported = int(child.stdout.readline().split()[1])
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    db = store.open_db(path, readonly=True)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = store.read_samples(db)
    assert len(stored) >= reported
    assert [s for _, s in stored] == [child_sample(t0, i) for i in range(len(stored))]
    seqs = [seq for seq, _ in stored]
    assert seqs == sorted(set(seqs))  # increasing; a commit's block is a range set aside
    return stored


def crash_marker_gone(path) -> None:
    """What the next start finds after a crash: no clean-stop marker."""
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM kv WHERE key = 'writer.clean_stop'")


def test_a_crash_within_a_window_resumes_it(tmp_path):
    """The window open at the crash has not ended by the wall clock: it never went out, so
    its stored samples are replayed and the window goes on (hour windows: it cannot end)."""
    path = tmp_path / "edged.db"
    now = time.time()
    start = now // 3600 * 3600
    stamps = [start + (now - start) * k / 10 for k in range(10)]
    w = Writer(path, 3600.0, 3600.0)
    for ts in stamps[:6]:
        w.put(mppt(ts, v=13.0))
    w.stop()
    crash_marker_gone(path)
    got = []
    w = Writer(path, 3600.0, 3600.0, on_records=got.extend)
    assert w.stats["replay_withheld"] == 0
    for ts in stamps[6:]:
        w.put(mppt(ts, v=14.0))
    w.put(mppt(start + 3600.5))  # the next window closes it
    w.stop()
    assert [(r.ts, r.samples, r.metrics["battery_voltage"]) for r in got] == [(start, 10, 13.4)]


def test_sigkill_after_the_window_ended_withholds_it_instead_of_a_second_content(tmp_path, caplog):
    """The window open at the kill has ended: it may have gone out live whole, so its stored
    part is not re-aggregated into a different record with the same (device, ts)."""
    path = tmp_path / "edged.db"
    stored = _kill_child_mid_run(path, T0)
    db = store.open_db(path, readonly=True)
    open_start = max(window_counts(db))
    records_before = db.execute("SELECT ts, samples FROM records").fetchall()
    withheld = []
    for restart in range(2):  # the second start must not replay it again
        caplog.clear()
        w = Writer(path, 60.0, 3600.0)
        assert w.stats["replay_withheld"] == 1
        withheld += [r.args[0] for r in caplog.records if "may have gone out" in r.message]
        w.put(child_sample(T0, len(stored) + 200 + 60 * restart))  # a later window, left open
        w.stop()
        crash_marker_gone(path)  # as if this run had crashed too
    later = child_sample(T0, len(stored) + 200).ts // 60 * 60
    assert withheld == [open_start, later]
    db = store.open_db(path, readonly=True)
    records = db.execute("SELECT ts FROM records ORDER BY id").fetchall()
    assert (open_start,) not in records
    assert len(db.execute("SELECT * FROM records").fetchall()) >= len(records_before)
    assert len(store.read_samples(db)) >= len(stored)  # the withheld samples are kept


def test_clean_stop_resumes_an_ended_window(tmp_path):
    path = tmp_path / "edged.db"
    w = Writer(path, 60.0, 3600.0)
    for i in range(5):
        w.put(mppt(T0 + 20 + i))  # window T0 - 10: ended long ago
    w.stop()
    got = []
    w = Writer(path, 60.0, 3600.0, on_records=got.extend)
    w.put(mppt(T0 + 200))
    w.stop()
    assert [(r.ts, r.samples) for r in got] == [(T0 - 10, 5)]
    assert w.stats["replay_withheld"] == 0


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


def test_a_crash_with_the_clock_stepped_back_skips_every_window_that_may_have_gone_out(tmp_path):
    """Stored samples ahead of the wall clock: the clock stepped back, so which windows went
    live before the crash cannot be told. None is re-aggregated, and new windows start after
    those the crashed run could have closed within one commit interval, for good."""
    path = tmp_path / "edged.db"
    ahead = time.time() // 60 * 60 + 600
    w = Writer(path, 60.0, 60.0)
    for k in range(5):
        w.put(mppt(ahead + k))
    w.stop()
    frontiers = []
    for run in range(2):
        crash_marker_gone(path)
        got = []
        w = Writer(path, 60.0, 60.0, on_records=got.extend)
        assert w.stats["replay_withheld"] == 1  # what the last run left open, ahead of now
        w.put(mppt(time.time()))
        w.put(mppt(time.time() + 3600 * (2 + run)))  # closes the one the first sample opened
        w.stop()
        frontiers.append(got[0].ts)
        assert got[0].clock_synced is False  # its ts is not its samples' time
    assert frontiers[0] >= ahead + 2 * 60 + 60  # one commit interval of windows skipped
    assert frontiers[1] > frontiers[0]
    db = store.open_db(path, readonly=True)
    stamps = [ts for (ts,) in db.execute("SELECT ts FROM records")]
    assert len(stamps) == len(set(stamps))


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
