"""The Writer's start (`telemetry.replay`): open windows refolded from the stored samples, and
after a crash (SIGKILL of a real child) no window published twice with two contents."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
import zlib
from pathlib import Path

from telemetry import store, stored_metrics
from telemetry.writer import Writer
from tests.telemetry.writer_child import sample as child_sample
from tests.telemetry.writers import T0, mppt, mppt_voltage

ROOT = Path(__file__).resolve().parents[2]


def window_counts(db) -> dict[float, int]:
    counts: dict[float, int] = {}
    for _, s in store.read_samples(db):
        start = s.ts - s.ts % 60
        counts[start] = counts.get(start, 0) + 1
    return counts


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


def test_a_garbage_sample_block_is_skipped_at_replay_not_fatal(tmp_path, caplog):
    path = tmp_path / "edged.db"
    w = Writer(path, publish_interval=60.0, commit_interval=3600.0)
    for i in range(5):
        w.put(mppt_voltage(T0 + i))
    w.stop()
    conn = sqlite3.connect(path)
    for first_seq, data in (
        (6, b"not zlib"),
        (7, zlib.compress(b"[1, 2]")),
        (8, zlib.compress(b'{"v": 1, "t": [1], "s": []}')),
        (10, b"\x02" + b"not deflate"),
        (11, b"\x02" + stored_metrics.deflate(b'{"t": [1], "s": []}')),
        (12, b"\x02" + stored_metrics.deflate(b'{"t": [1], "s": [1], "m": {}}')[:-3]),
    ):
        conn.execute(
            "INSERT INTO sample_blocks VALUES (?, ?, 1, ?, ?, ?)",
            (first_seq, first_seq, T0 + 9, T0 + 9, data),
        )
    conn.commit()
    conn.close()
    w = Writer(path, publish_interval=60.0, commit_interval=3600.0)  # replays: must not raise
    w.put(mppt_voltage(T0 + 20))
    w.stop()
    db = store.open_db(path, readonly=True)
    assert [seq for seq, _ in store.read_samples(db)] == [1, 2, 3, 4, 5, 13]
    assert caplog.text.count("unreadable, skipped") >= 6
