"""The outbox's read side on real SQLite files: undecodable rows, a file that comes late, a
file replaced under the reader, reads that fail; the publisher dropping a bad row."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

from edged.config.site import TelemetryConfig
from edged.readings import Record
from telemetry import outbox, salvage, store
from telemetry.mqtt import Publisher
from telemetry.topics import decode_payload
from tests.peers.replay import wait_until
from tests.peers.subscriber import Subscriber
from tests.telemetry.test_mqtt_publisher import make_config

T0 = 1_699_999_980.0


def stored(path: Path, ids: range, device: str = "mppt") -> None:
    db = store.open_db(path)
    records = [(i, Record(device, T0 + i, True, 1, {"battery_voltage": 13.0}), 0) for i in ids]
    store.write(db, store.Batch(records=records), store.Ids.load(db))
    db.close()


def test_rows_that_do_not_decode_are_reported_and_the_others_returned(tmp_path, caplog):
    path = tmp_path / "edged.db"
    stored(path, range(1, 7))
    conn = sqlite3.connect(path)
    conn.execute("UPDATE records SET metrics = 'not json' WHERE id = 2")
    conn.execute("UPDATE records SET metrics = '[1, 2]' WHERE id = 3")
    conn.execute("UPDATE records SET ts = 'yesterday' WHERE id = 4")
    conn.execute("UPDATE records SET metrics = ? WHERE id = 5", ("[" * 100_000,))  # too deep
    conn.commit()
    conn.close()
    damaged: list[int] = []
    db = store.open_db(path, readonly=True)
    found = outbox.pending(db, 10, damaged=damaged)
    assert [r.id for r in found] == [1, 6] and damaged == [2, 3, 4, 5]
    why = [r.message for r in caplog.records if "unreadable" in r.message]
    assert "not JSON" in why[0] and "not an object" in why[1] and "'yesterday'" in why[2]
    assert outbox.pending(db, 10) == found  # without `damaged`: left out all the same


def test_a_database_not_there_yet_is_opened_once_it_is(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="telemetry.outbox")
    path = tmp_path / "edged.db"
    reader = outbox.Reader(path)
    assert reader.connection() is None and reader.failures == 1
    assert reader.retry_at is not None and reader.retry_at > time.monotonic()
    assert reader.connection() is None and reader.failures == 1  # backing off: not tried
    stored(path, range(1, 3))
    db = wait_until(reader.connection, 30, what="the reader open")
    assert [r.id for r in outbox.pending(db, 10)] == [1, 2]
    reader.read_ok()
    assert reader.generation == 1 and reader.retry_at is None
    assert sum("cannot open" in r.message for r in caplog.records) == 1
    assert any("readable again" in r.message for r in caplog.records)
    reader.close()


def test_the_writer_retrying_makes_the_reader_try_at_once(tmp_path):
    path = tmp_path / "edged.db"
    reader = outbox.Reader(path)
    assert reader.connection() is None
    stored(path, range(1, 2))
    reader.retry_soon()
    assert reader.connection() is not None
    reader.close()


def test_a_file_moved_aside_and_replaced_is_followed(tmp_path):
    path = tmp_path / "edged.db"
    stored(path, range(1, 4))
    reader = outbox.Reader(path)
    old = reader.connection()
    assert [r.id for r in outbox.pending(old, 10)] == [1, 2, 3] and reader.generation == 1
    salvage.move_aside(path, time.time())
    stored(path, range(10, 12))
    new = reader.connection()
    assert new is not old and reader.generation == 2
    assert [r.id for r in outbox.pending(new, 10)] == [10, 11]
    assert reader.connection() is new  # the same file: the same connection
    reader.close()


def test_a_failed_read_backs_off_doubling_up_to_the_cap(tmp_path, caplog):
    path = tmp_path / "edged.db"
    stored(path, range(1, 2))
    reader = outbox.Reader(path)
    waits = []
    for _ in range(9):
        assert reader.connection() is not None
        reader.failed(sqlite3.DatabaseError("database disk image is malformed"))
        waits.append(round(reader.retry_at - time.monotonic()))
        reader._retry_at = 0.0  # the test does not wait the backoff out
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert reader.failures == 9 and reader.generation == 9
    assert sum("cannot read" in r.message for r in caplog.records) == 1  # once an episode
    reader.read_ok()
    reader.failed(sqlite3.OperationalError("disk I/O error"))
    assert round(reader.retry_at - time.monotonic()) == 1  # a read went well: from the start
    assert sum("cannot read" in r.message for r in caplog.records) == 2
    reader.close()


def test_the_publisher_drops_undecodable_rows_and_sends_the_rest(broker, tmp_path):
    path = tmp_path / "edged.db"
    stored(path, range(1, 6))
    conn = sqlite3.connect(path)
    conn.execute("UPDATE records SET metrics = x'a5a5a5' WHERE id = 3")  # a damaged page's bytes
    conn.commit()
    conn.close()
    config, root = make_config(broker, telemetry=TelemetryConfig(history_batch=2))
    sub = Subscriber(broker.host, broker.port, f"{root}/#").start()
    acked: list[int] = []
    publisher = Publisher(config, str(path), acked.extend)
    publisher.start()
    try:
        wait_until(lambda: len(acked) == 5, 30, what="four records sent, one dropped")
        assert sorted(acked) == [1, 2, 3, 4, 5]  # the damaged one leaves the outbox too
        got = [
            s["ts"]
            for m in sub.received(lambda m: "/history/" in m.topic)
            for s in decode_payload(m.payload)["samples"]
        ]
        assert sorted(got) == [T0 + i for i in (1, 2, 4, 5)]
        assert publisher.stats["damaged_records"] == 1
        assert publisher._thread is not None and publisher._thread.is_alive()
    finally:
        publisher.stop()
        sub.stop()
