"""The Writer's deletion of acknowledged outbox rows during a drain: bounded per transaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from edged.readings import Record, Sample
from telemetry import outbox, store
from telemetry.ack_deletion import ACK_CHUNK
from telemetry.writer import Writer
from tests.peers.replay import wait_until
from tests.telemetry import writers
from tests.telemetry.writers import running_writers

T0 = 1_699_999_980.0


def backlog(path: Path, n: int) -> None:
    """`n` stored records of one device, all in the outbox (a backlog from an earlier run)."""
    db = store.open_db(path)
    batch = store.Batch(
        records=[
            (i, Record("mppt", T0 + i, True, 1, {"battery_voltage": 13.0}), 0)
            for i in range(1, n + 1)
        ]
    )
    store.write(db, batch, store.Ids.load(db))
    db.close()


def traced(w: Writer) -> list[str]:
    statements: list[str] = []
    w.call(lambda db: db.conn.set_trace_callback(statements.append))
    return statements


def deletes_per_transaction(statements: list[str]) -> list[int]:
    counts: list[int] = []
    for sql in statements:
        if sql.startswith("BEGIN"):
            counts.append(0)
        elif sql.startswith("DELETE FROM outbox"):
            counts[-1] += 1
    return [c for c in counts if c]


def test_a_drains_acks_are_deleted_in_chunks_without_waiting_for_the_commit(tmp_path):
    n = 3 * ACK_CHUNK + 500
    backlog(tmp_path / "edged.db", n)
    w = Writer(tmp_path / "edged.db", publish_interval=60.0, commit_interval=3600.0)
    w.start()
    try:
        statements = traced(w)
        for start in range(1, n + 1, 100):  # the publisher acks a history batch at a time
            w.ack(list(range(start, min(start + 100, n + 1))))
        wait_until(lambda: w.call(outbox.count) < ACK_CHUNK, 60, what="acks deleted early")
        assert w.stats["commits"] == 0  # no commit came: the 3600-s cadence was not waited for
        assert max(deletes_per_transaction(statements)) <= ACK_CHUNK
        assert w.flush()
        assert w.call(outbox.count) == 0 and w.stats["acked"] == n
    finally:
        w.stop()


def test_a_commit_holding_many_acks_deletes_them_a_chunk_per_transaction(tmp_path):
    n = 2 * ACK_CHUNK + 10
    backlog(tmp_path / "edged.db", n)
    w = Writer(tmp_path / "edged.db", publish_interval=60.0, commit_interval=3600.0)
    # not started: the acks pile up as they would during one long cadence, then one commit
    w._acks.put_back(range(1, n + 1))
    w.put(Sample("mppt", T0 + n + 100, True, {"battery_voltage": 13.0}))
    statements: list[str] = []
    db = w._database.db
    db.conn.set_trace_callback(statements.append)
    assert w._commit(force=True)
    assert deletes_per_transaction(statements) == [ACK_CHUNK, ACK_CHUNK, 10]
    assert outbox.count(db) == 0 and w.stats["acked"] == n
    w.stop()


def test_acks_of_records_not_committed_yet_wait_for_their_commit(tmp_path):
    backlog(tmp_path / "edged.db", ACK_CHUNK)
    got: list[Record] = []
    w = Writer(
        tmp_path / "edged.db", publish_interval=1.0, commit_interval=3600.0, on_closed=got.extend
    )
    w.start()
    try:
        for i in range(3):
            w.put(Sample("mppt", T0 + 10_000 + i, True, {"battery_voltage": 13.0}))
        wait_until(lambda: len(got) >= 2, 60, what="windows closed, not committed")
        w.ack([r.id for r in got] + list(range(1, ACK_CHUNK + 1)))
        wait_until(lambda: w.call(outbox.count) == 0, 60, what="the backlog's acks deleted")
        assert w.flush()
        rows = w.call(lambda db: db.execute("SELECT record_id FROM outbox").fetchall())
        assert [r.id for r in got] and all((r.id,) not in rows for r in got)
    finally:
        w.stop()


@pytest.fixture
def started(tmp_path):
    with running_writers(tmp_path) as make:
        yield make


def test_ack_deletes_only_the_acked_ids(started, tmp_path):
    got = []
    w = started(on_records=got.extend)
    for i in range(0, 300, 30):
        w.put(writers.mppt(writers.T0 + i))
    w.flush()
    assert len(got) == 4
    w.ack([got[0].id, got[2].id, 999])
    assert w.flush() and w.stats["acked"] == 2
    db = store.open_db(tmp_path / "edged.db", readonly=True)
    assert [r.id for r in outbox.pending(db, 10)] == [got[1].id, got[3].id]
    assert db.execute("SELECT count(*) FROM records").fetchone()[0] == 4
