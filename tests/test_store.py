"""The SQLite store on real files: migrations, version guard, sample round-trip, batch, prune."""

from __future__ import annotations

import sqlite3
import time

import pytest

from edged.readings import Record, Sample
from telemetry import outbox, store


def tables(db) -> set[str]:
    return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_migrates_an_empty_file_with_the_chosen_page_size_and_wal(tmp_path):
    db = store.open_db(tmp_path / "sub" / "edged.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION
    assert {"devices", "layouts", "samples", "records", "outbox", "device_state"} <= tables(db)
    assert db.execute("PRAGMA page_size").fetchone()[0] == store.PAGE_SIZE
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reopening_is_idempotent_and_keeps_data(tmp_path):
    path = tmp_path / "edged.db"
    db = store.open_db(path)
    db.execute("INSERT INTO devices (name) VALUES ('mppt')")
    db.conn.close()
    again = store.open_db(path)
    assert again.execute("SELECT name FROM devices").fetchall() == [("mppt",)]
    assert again.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION


@pytest.mark.parametrize("readonly", [False, True])
def test_a_newer_schema_is_refused_with_a_clear_error(tmp_path, readonly):
    path = tmp_path / "edged.db"
    store.open_db(path).execute(f"PRAGMA user_version = {store.SCHEMA_VERSION + 1}")
    with pytest.raises(store.StoreError, match=r"newer than this edged.*upgrade edged"):
        store.open_db(path, readonly=readonly)


def test_readonly_open_of_a_missing_file_fails_without_creating_it(tmp_path):
    with pytest.raises(store.StoreError, match="cannot open"):
        store.open_db(tmp_path / "absent.db", readonly=True)
    assert not (tmp_path / "absent.db").exists()


def _batch(samples: list[Sample], first_seq: int = 1) -> store.Batch:
    return store.Batch(
        samples=[store.encode_sample(s, i) for i, s in enumerate(samples, first_seq)]
    )


def test_samples_round_trip_exactly(tmp_path):
    db = store.open_db(tmp_path / "edged.db")
    samples = [
        Sample("mppt", 1700000000.25, True, {"battery_voltage": 13.24, "charger_state": "bulk"}),
        Sample(
            "bmv", 1700000000.5, False, {"battery_soc": 87.5, "load_on": 1, "battery_cycles": 0}
        ),
        Sample("mppt", 1700000001.0, True, {"battery_voltage": -0.0, "charger_error": 2}),
    ]
    store.write(db, _batch(samples), store.Ids.load(db))
    assert store.read_samples(db) == list(enumerate(samples, 1))
    assert store.read_samples(db, device="mppt", newest_first=True, limit=1) == [(3, samples[2])]
    assert db.execute("SELECT count(*) FROM layouts").fetchone()[0] == 3
    ids = store.Ids.load(db)
    assert (ids.next_seq, ids.devices) == (4, {"mppt": 1, "bmv": 2})


def test_unstorable_sample_is_refused_not_raised():
    assert store.encode_sample(Sample("x", 1.0, True, {"pv_power": object()}), 1) is None


def test_a_failing_batch_writes_nothing(tmp_path):
    db = store.open_db(tmp_path / "edged.db")
    good = Sample("mppt", 1.0, True, {"pv_power": 1})
    batch = _batch([good, good])
    batch.samples[1] = batch.samples[0]  # duplicate seq: the second INSERT fails
    ids = store.Ids.load(db)
    with pytest.raises(sqlite3.IntegrityError):
        store.write(db, batch, ids)
    assert db.execute("SELECT count(*) FROM samples").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM devices").fetchone()[0] == 0
    assert ids.devices == {}  # the id cache did not learn a rolled-back row
    store.write(db, _batch([good]), ids)
    assert store.read_samples(db) == [(1, good)]


def test_prune_keeps_open_windows_outbox_records_and_newest_record(tmp_path):
    db = store.open_db(tmp_path / "edged.db")
    old, now = 1000.0, time.time()
    samples = [Sample("mppt", old + i, True, {"pv_power": i}) for i in range(10)]
    batch = _batch(samples)
    # record 1 covers seqs 1-5 (acknowledged), 2 covers 6-8 (still in the outbox), 3 covers 9
    # (acknowledged, but the newest); seq 10 is in an open window.
    batch.records = [
        (1, Record("mppt", old, True, 5, {}), 5),
        (2, Record("mppt", old + 60, True, 3, {}), 8),
        (3, Record("mppt", old + 120, True, 1, {}), 9),
    ]
    ids = store.Ids.load(db)
    store.write(db, batch, ids)
    store.write(db, store.Batch(acks={1, 3}), ids)
    assert store.prune(db, samples_before=now, records_before=now, batch=2) == 9 + 1
    assert [seq for seq, _ in store.read_samples(db)] == [10]
    assert [r.id for r in outbox.pending(db, 10)] == [2]
    assert db.execute("SELECT id FROM records").fetchall() == [(2,), (3,)]
    assert store.Ids.load(db).next_seq == 11
    assert store.prune(db, samples_before=now, records_before=now) == 0
