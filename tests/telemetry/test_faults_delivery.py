"""Delivery under attack (issue 11, items 5-7), the publisher against real peers (mosquitto, a
TCP peer that never sends PUBACK): live means live, and a broker that never acknowledges.
"""

from __future__ import annotations

import json
import logging
import signal
import time
import uuid

import pytest

from edged.config.settings import Config
from edged.config.site import MqttConfig, SiteConfig, TelemetryConfig
from edged.readings import Record
from telemetry.live_queue import is_live
from telemetry.mqtt import Publisher
from telemetry.store import open_db
from tests.peers.broker import Broker
from tests.peers.silent_broker import SilentBroker
from tests.peers.subscriber import Subscriber
from tests.telemetry import publisher_peers
from tests.telemetry.publisher_peers import Acks

SITE = "site-t"


def wait_until(condition, timeout: float = 20.0, what: str = "condition") -> None:
    """The peers' wait, with the longer default these broker faults need."""
    publisher_peers.wait_until(condition, timeout, what)


# --- the live rule, without a broker -------------------------------------------------------------


def test_live_only_while_the_window_ended_less_than_one_interval_ago_on_both_clocks():
    wall, mono = 1_764_000_000.0, 5000.0
    ts = wall - 60 - 30  # window [ts, ts + 60) ended 30 s ago
    assert is_live(ts, 60, mono - 30, wall, mono)
    assert not is_live(ts - 31, 60, mono - 30, wall, mono)  # ended 61 s ago: history
    # closed 61 s ago by the monotonic clock, but the wall clock stepped back: history
    assert not is_live(ts, 60, mono - 61, wall, mono)
    # closed 5 s ago, but the wall clock jumped forward an hour since: its ts reads an hour
    # old, and a dashboard would show it as now: history (stale data never looks live)
    assert not is_live(ts, 60, mono - 5, wall + 3600, mono)
    # the wall clock stepped back after it closed: ts is ahead of now, its data is fresh
    assert is_live(ts, 60, mono - 5, wall - 75, mono)


# --- the publisher against real peers ------------------------------------------------------------


def make_config(host: str, port: int, interval: float = 60.0, **mqtt) -> Config:
    options = {"reconnect_min": 0.05, "reconnect_max": 0.2, **mqtt}
    prefix = f"t{uuid.uuid4().hex[:10]}"
    return Config(
        site=SiteConfig(id=SITE),
        mqtt=MqttConfig(host=host, port=port, topic_prefix=prefix, **options),
        telemetry=TelemetryConfig(publish_interval=interval),
    )


def add_records(db, device: str, stamps: list[float]) -> list[Record]:
    records = []
    for ts in stamps:
        metrics = {"battery_voltage": 13.25}
        rid = db.execute(
            "INSERT INTO records (device, ts, synced, samples, last_seq, metrics) "
            "VALUES (?, ?, 1, 60, 0, ?)",
            [device, ts, json.dumps(metrics)],
        ).lastrowid
        db.execute("INSERT INTO outbox (record_id) VALUES (?)", [rid])
        records.append(Record(device, ts, True, 60, metrics, id=rid))
    return records


@pytest.fixture
def db_path(tmp_path) -> str:
    db = open_db(tmp_path / "edged.db")
    db.conn.close()
    return str(tmp_path / "edged.db")


def test_a_record_that_waited_behind_a_slow_broker_goes_to_history(broker, db_path):
    interval = 5.0  # the first record is handed over well within its few seconds of life
    config = make_config(broker.host, broker.port, interval, max_inflight=1)
    root = config.topic_root
    sub = Subscriber(broker.host, broker.port, f"{root}/#").start()
    publisher = Publisher(config, db_path, Acks())
    publisher.start()
    try:
        wait_until(lambda: publisher.connected, what="connect")
        wait_until(lambda: sub.received(lambda m: m.topic.endswith("/status")), what="online")
        db = open_db(db_path)
        now = float(int(time.time() - interval))  # windows ending about now
        first, second = add_records(db, "mppt", [now, now + 0.5])
        broker.proc.send_signal(signal.SIGSTOP)  # one message in flight, the other waits
        try:
            publisher.publish_closed([first, second])
            wait_until(lambda: publisher.stats["sent_live"] == 1, what="first handed to paho")
            time.sleep(2 * interval)  # the second outlives its window in the live queue
        finally:
            broker.proc.send_signal(signal.SIGCONT)
        sub.wait_for(lambda m: "/history/mppt" in m.topic, timeout=20)
    finally:
        publisher.stop()
    live = sub.received(lambda m: "/telemetry/" in m.topic)
    assert [json.loads(m.payload)["ts"] for m in live] == [first.ts]
    history = sub.received(lambda m: "/history/" in m.topic)
    assert [s["ts"] for s in json.loads(history[0].payload)["samples"]] == [second.ts]
    assert publisher.stats["late_to_history"] == 1
    sub.stop()


def test_a_record_closed_long_ago_never_goes_live(broker, db_path):
    config = make_config(broker.host, broker.port)
    root = config.topic_root
    sub = Subscriber(broker.host, broker.port, f"{root}/#").start()
    acks = Acks()
    publisher = Publisher(config, db_path, acks)
    publisher.start()
    try:
        wait_until(lambda: publisher.connected, what="connect")
        db = open_db(db_path)
        (old,) = add_records(db, "mppt", [time.time() - 3 * 60])  # a replayed window
        publisher.publish_closed([old])
        publisher.publish_records([old])
        wait_until(lambda: acks.ids == [old.id], what="its ack")
        # the broker acknowledges before it forwards: wait for the subscriber's copy
        wait_until(lambda: sub.received(lambda m: "/history/mppt" in m.topic), what="history")
    finally:
        publisher.stop()
    assert sub.received(lambda m: "/telemetry/" in m.topic) == []
    assert len(sub.received(lambda m: "/history/mppt" in m.topic)) == 1
    sub.stop()


def test_a_broker_that_never_acks_is_left_and_everything_arrives_once_one_does(
    tmp_path, db_path, caplog
):
    caplog.set_level(logging.INFO, logger="telemetry.mqtt")
    caplog.set_level(logging.INFO, logger="telemetry.delivery")  # "acknowledges again"
    silent = SilentBroker().start()
    config = make_config(silent.host, silent.port, ack_timeout=1.0, keepalive=30)
    links: list[bool] = []
    waits: list[float] = []
    acks = Acks()
    publisher = Publisher(
        config, db_path, acks, on_link=lambda up, _ts: links.append(up), on_rtt=waits.append
    )
    db = open_db(db_path)
    records = add_records(db, "mppt", [time.time() - 60 + i for i in range(5)])
    publisher.start()
    try:
        publisher.publish_records(records)
        wait_until(lambda: silent.connections >= 3, what="reconnects after ack timeouts")
        assert silent.publishes >= 2
        assert acks.ids == []
        assert publisher.stats["ack_timeouts"] >= 2
        assert caplog.text.count("sent no PUBACK") == 1  # once per episode
        assert False in links and max(waits) >= 1.0  # the uplink's health sees it
        silent.stop()
        broker = Broker(tmp_path, port=silent.port)  # the same address now behaves
        broker.start()
        try:
            sub = Subscriber(broker.host, broker.port, f"{config.topic_root}/#").start()
            wait_until(lambda: sorted(acks.ids) == [r.id for r in records], what="all acked")
            sub.stop()
        finally:
            publisher.stop()
            broker.stop()
    finally:
        publisher.stop()
    assert "acknowledges again" in caplog.text


# --- the daemon end to end -----------------------------------------------------------------------
