"""The SQLite store on real files: schema v2, v1 -> v2 migration, sample blocks, batch, prune."""

from __future__ import annotations

import json
import math
import sqlite3
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edged.readings import DeviceState, Liveness, Record, Sample
from telemetry import outbox, pruning, samples, schema, store
from telemetry.rows import DeviceStateRow


def names(db, kind: str) -> set[str]:
    rows = db.execute("SELECT name FROM sqlite_master WHERE type = ?", [kind])
    return {r[0] for r in rows}


def test_migrates_an_empty_file_with_the_chosen_page_size_and_wal(tmp_path):
    db = store.open_db(tmp_path / "sub" / "edged.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION == 8
    assert names(db, "table") == {
        "devices",
        "sample_blocks",
        "records",
        "outbox",
        "device_state",
        "events",
        "alarms",
        "health",
        "kv",
        "maintenance_log",
        "job_runs",
        "power_events",
        "rollups",
        "commands",
    }
    assert names(db, "view") == {"samples"}
    assert names(db, "index") == {
        "sqlite_autoindex_devices_1",
        "sqlite_autoindex_device_state_1",
        "alarms_active",
        "sqlite_autoindex_kv_1",
        "job_runs_job",
        "rollups_key",
        "sqlite_autoindex_commands_1",
    }
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


def test_a_v3_database_gains_the_maintenance_log_job_and_rollup_tables_keeping_its_rows(tmp_path):
    path = tmp_path / "edged.db"
    db = store.open_db(path)  # a v3 file is today's minus v4's to v7's tables: make one
    db.conn.executescript(
        "BEGIN; DROP TABLE maintenance_log; DROP TABLE job_runs; DROP TABLE power_events;"
        " DROP TABLE rollups; DROP TABLE commands; PRAGMA user_version = 3;"
        " INSERT INTO kv VALUES ('uplink', '{}'); COMMIT;"
    )
    db.conn.close()
    with pytest.raises(store.StoreError, match="schema v3.*start the daemon once"):
        store.open_db(path, readonly=True)
    db = store.open_db(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 8
    assert {"maintenance_log", "job_runs", "power_events", "rollups", "commands"} <= names(
        db, "table"
    )
    assert "rollups_key" in names(db, "index")
    assert db.execute("SELECT key FROM kv").fetchall() == [("uplink",)]
    columns = [r[1] for r in db.execute("PRAGMA table_info(maintenance_log)")]
    assert columns == [
        "id",
        "date",
        "item",
        "action",
        "parts_cost",
        "labour_cost",
        "currency",
        "note",
        "recorded_at",
    ]


def test_readonly_open_of_a_missing_file_fails_without_creating_it(tmp_path):
    with pytest.raises(store.StoreError, match="cannot open"):
        store.open_db(tmp_path / "absent.db", readonly=True)
    assert not (tmp_path / "absent.db").exists()


def blocks_of(items: list[Sample], first_seq: int = 1) -> list[samples.Block]:
    """One block per run of same-device samples, numbered contiguously as the Writer does."""
    out: list[samples.Block] = []
    for seq, sample in enumerate(items, first_seq):
        if not out or out[-1].device != sample.device:
            out.append(samples.Block(sample.device, seq, []))
        out[-1].samples.append(sample)
    return out


def test_samples_round_trip_exactly_block_by_block(tmp_path):
    db = store.open_db(tmp_path / "edged.db")
    items = [
        Sample("mppt", 1700000000.25, True, {"battery_voltage": 13.24, "charger_state": "bulk"}),
        Sample("mppt", 1700000001.5, False, {"battery_voltage": -0.0, "charger_error": 2}),
        Sample("bmv", 1700000000.5, True, {"battery_soc": 87.5, "load_on": 1, "battery_cycles": 0}),
        Sample("mppt", 1700000002.0, True, {"battery_voltage": 1e-7, "yield_total": 12345.67}),
    ]
    store.write(db, store.Batch(blocks=blocks_of(items)), store.Ids.load(db))
    assert store.read_samples(db) == list(enumerate(items, 1))
    assert store.read_samples(db, after_seq=1) == list(enumerate(items, 1))[1:]
    assert store.read_samples(db, device="mppt", newest_first=True, limit=2) == [
        (4, items[3]),
        (2, items[1]),
    ]
    assert store.read_samples(db, device="bmv", after_seq=3) == []
    assert db.execute("SELECT count(*), max(seq) FROM samples").fetchone() == (4, 4)
    assert db.execute("SELECT count(*) FROM sample_blocks").fetchone()[0] == 3
    ids = store.Ids.load(db)
    assert (ids.next_seq, ids.devices) == (5, {"mppt": 1, "bmv": 2})


def test_storable_keeps_milliseconds_and_refuses_what_cannot_be_stored():
    kept = samples.storable(Sample("x", 1700000000.123456, 1, {"pv_power": 5}))
    assert kept == Sample("x", 1700000000.123, True, {"pv_power": 5})
    assert samples.storable(kept) == kept  # stable: what is folded is what reads back
    for bad in ({"pv_power": object()}, {"pv_power": None}, {3: 1.0}):
        assert samples.storable(Sample("x", 1.0, True, bad)) is None
    for ts in (math.nan, math.inf, "soon"):
        assert samples.storable(Sample("x", ts, True, {"pv_power": 1})) is None


values = st.one_of(
    st.integers(-(2**63), 2**63), st.floats(allow_nan=False), st.text(max_size=12), st.booleans()
)
stored_samples = st.builds(
    Sample,
    st.just("mppt"),
    st.floats(-1e12, 1e12),
    st.booleans(),
    st.dictionaries(st.sampled_from(["battery_voltage", "pv_power", "charger_state"]), values),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(stored_samples, min_size=1, max_size=20), st.integers(1, 2**40))
def test_decode_of_encode_is_identity_on_what_storable_keeps(items, first_seq):
    kept = [samples.storable(s) for s in items]
    assert samples.decode(samples.encode(kept), "mppt", first_seq) == list(
        enumerate(kept, first_seq)
    )


def test_a_block_of_a_minute_is_small():
    minute = [
        Sample(
            "mppt",
            1700000000 + i,
            True,
            {"battery_voltage": 13 + i % 7 / 100, "pv_power": 200 + i % 13, "load_on": 1},
        )
        for i in range(60)
    ]
    data = samples.encode(minute)
    assert len(data) < 400
    assert samples.decode(data, "mppt", 7) == list(enumerate(minute, 7))


def test_a_failing_batch_writes_nothing(tmp_path):
    db = store.open_db(tmp_path / "edged.db")
    good = Sample("mppt", 1.0, True, {"pv_power": 1})
    batch = store.Batch(blocks=blocks_of([good]) + blocks_of([good]))  # first_seq 1 twice
    ids = store.Ids.load(db)
    with pytest.raises(sqlite3.IntegrityError):
        store.write(db, batch, ids)
    assert db.execute("SELECT count(*) FROM sample_blocks").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM devices").fetchone()[0] == 0
    assert ids.devices == {}  # the id cache did not learn a rolled-back row
    store.write(db, store.Batch(blocks=blocks_of([good])), ids)
    assert store.read_samples(db) == [(1, good)]


def test_batch_bound_drops_the_oldest_samples_keeping_seqs(tmp_path):
    items = [Sample("mppt", float(i), True, {"pv_power": i}) for i in range(10)]
    batch = store.Batch(blocks=blocks_of(items[:4]) + blocks_of(items[4:], first_seq=5))
    assert batch.bound(3) == 7
    assert [(b.first_seq, b.samples) for b in batch.blocks] == [(8, items[7:])]


def test_prune_keeps_open_windows_outbox_records_and_newest_record(tmp_path):
    db = store.open_db(tmp_path / "edged.db")
    old, now = 1000.0, time.time()
    items = [Sample("mppt", old + i, True, {"pv_power": i}) for i in range(10)]
    ids = store.Ids.load(db)
    # One block per commit: seqs 1-4, 5-8, 9-10. Record 1 covers 1-5 (acknowledged), 2 covers
    # 6-8 (in the outbox), 3 covers 9 (acknowledged, but the newest); 10 is in an open window.
    batch = store.Batch(
        blocks=blocks_of(items[:4]) + blocks_of(items[4:8], 5) + blocks_of(items[8:], 9)
    )
    batch.records = [
        (1, Record("mppt", old, True, 5, {}), 5),
        (2, Record("mppt", old + 60, True, 3, {}), 8),
        (3, Record("mppt", old + 120, True, 1, {}), 9),
    ]
    store.write(db, batch, ids)
    store.write(db, store.Batch(acks={1, 3}), ids)
    assert pruning.prune(db, samples_before=now, records_before=now, batch=1) == 8 + 1
    assert [seq for seq, _ in store.read_samples(db)] == [9, 10]
    assert [r.id for r in outbox.pending(db, 10)] == [2]
    assert db.execute("SELECT id FROM records").fetchall() == [(2,), (3,)]
    assert store.Ids.load(db).next_seq == 11
    assert pruning.prune(db, samples_before=now, records_before=now) == 0
    assert pruning.prune(db, samples_before=old, records_before=None) == 0  # too young


def test_status_hint_points_at_the_newest_block_or_past_the_end(tmp_path):
    db = store.open_db(tmp_path / "edged.db")
    ids = store.Ids.load(db)
    ok = DeviceState(Liveness.OK, None)
    a_state, b_state = DeviceStateRow("a", ok, 1.0), DeviceStateRow("b", ok, 1.0)
    a = [Sample("a", float(i), True, {"pv_power": i}) for i in range(3)]
    store.write(db, store.Batch(blocks=blocks_of(a), states={"a": a_state, "b": b_state}), ids)
    b = [Sample("b", 9.0, True, {"pv_power": 9})]
    store.write(db, store.Batch(blocks=blocks_of(b, 4), states={"a": a_state}), ids)
    hints = dict(db.execute("SELECT device, block FROM device_state").fetchall())
    assert hints == {"a": 1, "b": 1}  # b had nothing yet: its hint is the end at that commit
    assert samples.latest(db, "a") == (3, a[2])
    assert samples.latest(db, "b") == (4, b[0])  # found above the hint
    assert samples.latest(db, "nobody") is None


def v1_database(path) -> None:
    """A v1 file as v1's Writer left it: interleaved devices, layouts, a pruned gap, a null
    value, records (one in the outbox), device states and the records index."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA page_size = 1024")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(f"BEGIN; {schema.V1}; PRAGMA user_version = 1; COMMIT;")
    conn.executemany("INSERT INTO devices VALUES (?, ?)", [(1, "mppt"), (2, "bmv")])
    conn.executemany(
        "INSERT INTO layouts VALUES (?, ?)",
        [
            (1, '["battery_voltage","charger_state"]'),
            (2, '["battery_soc"]'),
            (3, '["pv_power"]'),
        ],
    )
    rows = []
    for seq in range(1, 1401):  # the mppt each second, the bmv every 10th; 201-300 pruned
        ts = 1_700_000_000.0 + seq + 0.0004 * (seq % 3)
        if 200 < seq <= 300:
            continue
        if seq % 10 == 0:
            rows.append((seq, 2, ts, 1, 2, json.dumps([50 + seq % 7 / 2])))
        elif seq == 777:
            rows.append((seq, 1, ts, 0, 3, "[null]"))
        else:
            rows.append((seq, 1, ts, seq % 2, 1, json.dumps([12 + seq % 50 / 100, "bulk"])))
    conn.executemany("INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?)", rows)
    conn.executemany(
        "INSERT INTO records (id, device, ts, synced, samples, last_seq, metrics)"
        " VALUES (?, ?, ?, 1, 60, ?, '{\"battery_voltage\":12.5}')",
        [(1, "mppt", 1_700_000_000.0, 1319), (2, "bmv", 1_700_000_000.0, 1310)],
    )
    conn.execute("INSERT INTO outbox VALUES (2)")
    conn.execute(
        "INSERT INTO device_state VALUES ('mppt', 'ok', 1700001400.0, '{}', '{}', 1700000000.0)"
    )
    conn.close()
    return rows


def test_v1_database_is_converted_keeping_every_sample_seq_record_and_state(tmp_path, monkeypatch):
    path = tmp_path / "edged.db"
    rows = v1_database(path)
    monkeypatch.setattr(store, "VACUUM_FREE_PAGES", 0)
    with pytest.raises(store.StoreError, match="schema v1.*start the daemon once"):
        store.open_db(path, readonly=True)
    db = store.open_db(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION
    assert "layouts" not in names(db, "table") and "records_device_ts" not in names(db, "index")
    expected = []
    for seq, device_id, ts, synced, layout, vals in rows:
        layouts = {1: ["battery_voltage", "charger_state"], 2: ["battery_soc"], 3: ["pv_power"]}
        device = {1: "mppt", 2: "bmv"}[device_id]
        pairs = zip(layouts[layout], json.loads(vals), strict=True)
        metrics = {k: v for k, v in pairs if v is not None}  # v1's null (seq 777) is dropped
        expected.append((seq, Sample(device, round(ts * 1000) / 1000, bool(synced), metrics)))
    assert store.read_samples(db) == expected
    assert store.read_samples(db, device="bmv", after_seq=1310) == [
        p for p in expected if p[0] > 1310 and p[1].device == "bmv"
    ]
    assert db.execute("SELECT count(*), max(seq) FROM samples").fetchone() == (1300, 1400)
    assert [r.id for r in outbox.pending(db, 10)] == [2]
    assert pruning.covered_seqs(db) == {"mppt": 1319, "bmv": 1310}
    assert store.Ids.load(db).next_seq == 1401
    hint = db.execute("SELECT block FROM device_state WHERE device = 'mppt'").fetchone()[0]
    assert samples.latest(db, "mppt") == expected[-2] and hint <= expected[-2][0]
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("PRAGMA freelist_count").fetchone()[0] == 0  # v1's pages given back


def test_a_record_acknowledged_before_its_commit_gets_no_outbox_row(tmp_path):
    db = store.open_db(tmp_path / "edged.db")
    db.conn.executescript(  # count the rows written into the outbox, not just those left
        "CREATE TEMP TABLE inserted (record_id); CREATE TEMP TRIGGER t AFTER INSERT ON outbox"
        " BEGIN INSERT INTO inserted VALUES (new.record_id); END;"
    )
    ids = store.Ids.load(db)
    metrics = {"battery_voltage": 13.2}
    records = [
        (ids.next_record_id + i, Record("mppt", 1700000060.0 + 60 * i, True, 60, metrics), 0)
        for i in range(3)
    ]
    acked = {records[0][0], records[2][0]}  # their PUBACK came while the window was in memory
    store.write(db, store.Batch(records=records, acks=set(acked)), ids)
    assert [r for (r,) in db.execute("SELECT record_id FROM inserted")] == [records[1][0]]
    assert db.execute("SELECT count(*) FROM records").fetchone()[0] == 3


def test_every_connection_keeps_a_small_page_cache_the_writer_spills_as_before(tmp_path):
    path = tmp_path / "edged.db"
    writer = store.open_db(path)
    reader = store.open_db(path, readonly=True)
    try:
        default = sqlite3.connect(":memory:").execute("PRAGMA cache_size").fetchone()[0]
        assert reader.execute("PRAGMA cache_size").fetchone()[0] == -store.SMALL_CACHE_KIB
        assert writer.execute("PRAGMA cache_size").fetchone()[0] == -store.SMALL_CACHE_KIB
        assert default < -store.SMALL_CACHE_KIB  # smaller than SQLite's 2 MB (negative: KiB)
        # dirty pages spill to the WAL no earlier than with the default 2 MB (1 KiB pages)
        assert writer.execute("PRAGMA cache_spill").fetchone()[0] == store.SPILL_PAGES
        assert -default * 1024 <= store.SPILL_PAGES * store.PAGE_SIZE
    finally:
        for db in (reader, writer):
            db.close()


@pytest.mark.parametrize(
    ("migrate_schema", "remedy"),
    [
        (True, "start the daemon once to upgrade it"),
        (False, "the running daemon upgrades it once its storage works"),
    ],
)
def test_an_older_schema_read_only_names_who_upgrades_it(tmp_path, migrate_schema, remedy):
    """An old schema met by a reader: no daemon ran it, or the running one could not yet."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 2")
    with pytest.raises(store.StoreError, match="has schema v2") as caught:
        store.open_db(path, readonly=True, migrate_schema=migrate_schema)
    assert remedy in str(caught.value)
