"""Records' metrics as stored (schema v8): round trip, hostile values, the v7 -> v8 conversion."""

from __future__ import annotations

import json
import sqlite3
import zlib

import pytest

from edged.readings import Record, Sample
from telemetry import metrics_migration, outbox, pv_hours, queries, samples, status_view, store
from telemetry import stored_metrics as sm

METRICS = {
    "battery_voltage": 12.531234567,
    "pv_power": 118,
    "charger_state": "bulk",
    "load_on": True,
    "not_in_the_table": 3.5,
    "l": "a name that looks like a code",
    "~odd": 1,
}


def test_metrics_read_back_exactly_and_smaller_than_json():
    blob = sm.encode(METRICS)
    assert sm.metrics_of(blob) == METRICS
    typical = {name: 12.531234567 for name in ("battery_voltage", "battery_current", "pv_power")}
    assert len(sm.encode(typical)) < len(json.dumps(typical)) / 2
    assert json.loads(sm.metrics_json(blob)) == METRICS
    assert sm.metrics_of(json.dumps(METRICS)) == METRICS  # a row from before v8


HOSTILE = {
    "truncated": sm.encode(METRICS)[:-4],
    "not deflate": sm.FORMAT + b"\xff\xfe garbage",
    "deflate of garbage": sm.FORMAT + zlib.compress(b"\x00\x01garbage")[2:-4],
    "zlib, not raw": sm.FORMAT + zlib.compress(b'{"0":1}'),
    "another format": b"\x02" + sm.encode(METRICS)[1:],
    "empty": b"",
    "a list": sm.FORMAT + zlib.compress(b"[1,2]")[2:-4],
    "trailing bytes": sm.encode(METRICS) + b"xx",
}


@pytest.mark.parametrize("name", HOSTILE)
def test_a_damaged_value_raises_only_its_own_error_and_is_null_in_sql(name):
    with pytest.raises(sm.DamagedMetrics):
        sm.metrics_of(HOSTILE[name])
    before = sm.damaged
    assert sm.metrics_json(HOSTILE[name]) is None
    assert sm.damaged == before + 1


def test_a_bomb_is_refused_without_inflating_it_all():
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, sm.ZDICT)
    bomb = sm.FORMAT + deflate.compress(b" " * (sm.MAX_JSON * 4)) + deflate.flush()
    with pytest.raises(sm.DamagedMetrics, match="too long"):
        sm.metrics_of(bomb)


def _store(path, n: int) -> None:
    db = store.open_db(path)
    batch = store.Batch()
    for i in range(1, n + 1):
        metrics = {"pv_power": 100.0 + i, "battery_voltage": 12.5}
        batch.records.append((i, Record("mppt", 1_780_000_000.0 + 60 * i, True, 60, metrics), 0))
    store.write(db, batch, store.Ids({}, 1, 1))
    db.close()


def test_every_reader_leaves_a_damaged_record_out_and_counts_it(tmp_path):
    path = tmp_path / "edged.db"
    _store(path, 4)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE records SET metrics = ? WHERE id = 2", (HOSTILE["truncated"],))
    conn.execute("UPDATE records SET metrics = ? WHERE id = 3", (HOSTILE["not deflate"],))
    conn.commit()
    conn.close()
    db = store.open_db(path, readonly=True)
    before = sm.damaged
    assert [r.id for r in queries.records_in(db, 0, 2e9)] == [1, 4]
    assert [r.id for r in status_view.last_records(db, "mppt", 10)] == [4, 1]
    damaged: list[int] = []
    assert [r.id for r in outbox.pending(db, 10, damaged=damaged)] == [1, 4]
    assert damaged == [2, 3] and sm.damaged == before + 4
    hours = pv_hours.hourly_means(db, 1_780_000_000.0 + 3600, days=1)
    assert hours.skipped == 2
    assert sum(m is not None for m in hours.means) == 1


def _as_v7(path, n: int) -> None:
    """A v7 database: records whose metrics are JSON text keyed by name."""
    _store(path, n)
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT id, metrics FROM records").fetchall()
    conn.executemany(
        "UPDATE records SET metrics = ? WHERE id = ?",
        [(json.dumps(sm.metrics_of(m)), i) for i, m in rows],
    )
    conn.execute("PRAGMA user_version = 7")
    conn.commit()
    conn.close()


def _forms(path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT typeof(metrics), count(*) FROM records GROUP BY 1"))
    finally:
        conn.close()


def test_v7_records_are_converted_and_read_the_same(tmp_path):
    path = tmp_path / "edged.db"
    _as_v7(path, 1200)
    assert _forms(path) == {"text": 1200}
    with pytest.raises(store.StoreError, match="v7"):
        store.open_db(path, readonly=True)
    db = store.open_db(path)
    assert _forms(path) == {"blob": 1200}
    assert db.execute("PRAGMA user_version").fetchone()[0] == 8
    assert not metrics_migration.converting(db.conn)
    records = queries.records_in(db, 0, 2e9)
    assert [r.metrics["pv_power"] for r in records] == [100.0 + i for i in range(1, 1201)]


def test_a_conversion_cut_short_leaves_a_database_that_reads_whole_and_finishes(
    tmp_path, monkeypatch
):
    path = tmp_path / "edged.db"
    _as_v7(path, 1200)
    calls = 0
    encode = sm.encode

    def dies_in_the_second_batch(metrics):
        nonlocal calls
        calls += 1
        if calls == 700:
            raise KeyboardInterrupt  # a kill: the batch's transaction never commits
        return encode(metrics)

    monkeypatch.setattr(sm, "encode", dies_in_the_second_batch)
    with pytest.raises(KeyboardInterrupt):
        store.open_db(path)
    assert _forms(path) == {"blob": 500, "text": 700}  # the first batch committed, no more
    readonly = store.open_db(path, readonly=True)  # v8 already: opens and reads both forms
    assert len(queries.records_in(readonly, 0, 2e9)) == 1200
    assert pv_hours.hourly_means(readonly, 1_780_000_000.0 + 86400, days=2).skipped == 0
    readonly.close()
    monkeypatch.setattr(sm, "encode", encode)
    db = store.open_db(path)
    assert _forms(path) == {"blob": 1200}
    assert not metrics_migration.converting(db.conn)
    assert len(queries.records_in(db, 0, 2e9)) == 1200


def test_a_v7_row_that_does_not_decode_is_left_as_it_was(tmp_path):
    path = tmp_path / "edged.db"
    _as_v7(path, 3)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE records SET metrics = 'not json' WHERE id = 2")
    conn.commit()
    conn.close()
    db = store.open_db(path)
    assert _forms(path) == {"blob": 2, "text": 1}
    assert [r.id for r in queries.records_in(db, 0, 2e9)] == [1, 3]


def test_sample_blocks_of_format_1_still_read_and_format_2_is_smaller():
    rows = [Sample("mppt", 1_780_000_000.0 + i, True, {"pv_power": 100 + i}) for i in range(60)]
    one = zlib.compress(
        json.dumps(
            {
                "v": 1,
                "t": [1_780_000_000_000] + [1000] * 59,
                "s": [1] * 60,
                "m": {"pv_power": [100 + i for i in range(60)]},
            }
        ).encode()
    )
    two = samples.encode(rows)
    assert two[:1] == b"\x02" and len(two) < len(one)
    assert [s for _, s in samples.decode(one, "mppt", 1)] == rows
    assert [s for _, s in samples.decode(two, "mppt", 1)] == rows
