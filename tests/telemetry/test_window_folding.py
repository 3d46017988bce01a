"""Samples folded into the batch and their windows every second (`telemetry.window_folding`):
one block per device per commit, a silent device's window closed by time."""

from __future__ import annotations

import time

import pytest

from edged.readings import Sample
from telemetry import store
from tests.telemetry.writers import T0, mppt, poll, running_writers


@pytest.fixture
def started(tmp_path):
    with running_writers(tmp_path) as make:
        yield make


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
