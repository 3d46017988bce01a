"""The MQTT publisher against a real mosquitto: live, history, acks after PUBACK, status, state."""

from __future__ import annotations

import dataclasses
import json
import logging
import signal
import subprocess
import sys
import threading
import time
import uuid

from edged.config.site import TelemetryConfig
from edged.readings import DeviceState, Liveness
from telemetry.mqtt import Publisher
from telemetry.store import open_db
from telemetry.topics import GZIP_MAGIC, decode_payload
from tests.peers.subscriber import Subscriber
from tests.telemetry.publisher_peers import (
    SITE,
    Acks,
    add_records,
    fresh_ts,
    history_samples,
    make_config,
    wait_until,
)


def test_live_records_carry_the_contract_payload_and_backlog_goes_to_history(
    broker, db, db_path, publishers
):
    config, root = make_config(broker)
    backlog = add_records(db, [("mppt", 60.0), ("bms", 60.0)])
    sub = Subscriber(broker.host, broker.port, f"{root}/#").start()
    acks = Acks()
    publisher = publishers(config, db_path, acks)
    sub.wait_for(lambda m: m.topic == f"{root}/status" and m.payload == b"online")
    history = sub.wait_for(lambda m: "/history/" in m.topic, count=2)
    assert sorted(history_samples(history)) == [("bms", 60), ("mppt", 60)]

    now = fresh_ts()
    live = add_records(db, [("mppt", now)])
    publisher.publish_records(live)
    (message,) = sub.wait_for(lambda m: m.topic == f"{root}/telemetry/mppt")
    assert json.loads(message.payload) == {
        "ts": int(now),
        "metrics": {"battery_voltage": 13.25, "charger_state": "bulk"},
        "clock": "synced",
        "sample_count": 60,
    }
    assert not message.retain
    wait_until(lambda: len(acks.ids) == 3, what="three acks")
    assert sorted(acks.ids) == sorted(r.id for r in backlog + live)
    # Each record went out once: the live one is not swept again as history.
    assert len([m for m in sub.messages if "/history/" in m.topic]) == 2
    assert publisher.stats["sent_live"] == 1 and publisher.stats["sent_history"] == 2
    sub.stop()


def test_records_stored_while_broker_down_are_sent_as_history_after_restart(
    persistent_broker, db, db_path, publishers, caplog
):
    broker = persistent_broker
    config, root = make_config(broker, telemetry=TelemetryConfig(history_batch=3))
    sub_id = f"test-sub-{uuid.uuid4().hex[:8]}"
    sub = Subscriber(
        broker.host, broker.port, f"{root}/#", client_id=sub_id, clean_session=False
    ).start()
    broker.stop()
    acks = Acks()
    caplog.set_level(logging.INFO, logger="telemetry.mqtt")
    publisher = publishers(config, db_path, acks)
    specs = [("mppt" if i % 3 else "bms", 60.0 * i) for i in range(1, 9)]
    stored = add_records(db, specs)
    publisher.publish_records(stored)  # the Writer hands them over; nobody is there to take them
    wait_until(lambda: publisher.stats["connect_failures"] >= 3, what="retries")
    assert acks.ids == [] and not publisher.connected

    broker.start()
    expected = sorted(specs)
    history = sub.wait_for(lambda m: "/history/" in m.topic, count=3, timeout=10)
    wait_until(
        lambda: sorted(history_samples(sub.received(lambda m: "/history/" in m.topic))) == expected
    )
    for device in ("mppt", "bms"):
        sent = [
            ts
            for d, ts in history_samples(sub.received(lambda m: "/history/" in m.topic))
            if d == device
        ]
        assert sent == sorted(sent), "history must be oldest first"
    assert all(len(decode_payload(m.payload)["samples"]) <= 3 for m in history)
    assert not any("/telemetry/" in m.topic for m in sub.messages)
    wait_until(lambda: len(acks.ids) == len(stored), what="acks")
    assert sorted(acks.ids) == sorted(r.id for r in stored)
    unreachable = [r for r in caplog.records if "cannot connect" in r.getMessage()]
    assert len(unreachable) == 1, "an unreachable broker is logged once, then counted"
    sub.stop()


def test_history_is_gzip_compressed_when_configured(broker, db, db_path, publishers):
    telemetry = TelemetryConfig(compress_history=True, history_batch=2)
    config, root = make_config(broker, telemetry=telemetry)
    stored = add_records(db, [("mppt", 60.0 * i) for i in range(1, 6)])
    sub = Subscriber(broker.host, broker.port, f"{root}/history/#").start()
    acks = Acks()
    publishers(config, db_path, acks)
    messages = sub.wait_for(lambda m: True, count=3)
    assert all(m.payload[:2] == GZIP_MAGIC for m in messages)
    assert [len(decode_payload(m.payload)["samples"]) for m in messages] == [2, 2, 1]
    first = decode_payload(messages[0].payload)["samples"][0]
    assert first == {
        "ts": 60,
        "metrics": {"battery_voltage": 13.25, "charger_state": "bulk"},
        "clock": "synced",
    }
    assert history_samples(messages) == [("mppt", 60.0 * i) for i in range(1, 6)]
    wait_until(lambda: sorted(acks.ids) == [r.id for r in stored], what="acks")
    sub.stop()


def test_device_state_is_retained_and_republished_after_a_broker_restart(
    broker, db_path, publishers
):
    config, root = make_config(broker)
    watcher = Subscriber(broker.host, broker.port, f"{root}/#").start()
    publisher = publishers(config, db_path, Acks())
    state = DeviceState(Liveness.OK, 1700000000.5, {"product": "SmartSolar"})
    publisher.publish_device_state("mppt", state)
    publisher.publish_device_state("mppt", dataclasses.replace(state, liveness=Liveness.STALE))
    expected = {
        "state": "stale",
        "last_seen": 1700000000.5,
        "counters": {},
        "product": "SmartSolar",
    }

    def is_state(m) -> bool:
        return m.topic == f"{root}/device/mppt" and json.loads(m.payload) == expected

    def assert_retained_for_a_newcomer() -> None:
        watcher.wait_for(is_state)  # published: from now on only the retained copy can reach
        newcomer = Subscriber(broker.host, broker.port, f"{root}/#").start()
        newcomer.wait_for(lambda m: is_state(m) and m.retain)
        newcomer.stop()

    assert_retained_for_a_newcomer()
    watcher.stop()
    broker.stop()  # no persistence: the broker forgets every retained message
    wait_until(lambda: not publisher.connected, what="disconnect")
    broker.start()
    watcher = Subscriber(broker.host, broker.port, f"{root}/#").start()
    assert_retained_for_a_newcomer()
    watcher.wait_for(lambda m: m.topic == f"{root}/status" and m.payload == b"online")
    assert publisher.stats["reconnects"] == 1
    watcher.stop()


def test_stop_leaves_a_retained_offline_status(broker, db_path):
    config, root = make_config(broker)
    publisher = Publisher(config, db_path, Acks())
    publisher.start()
    wait_until(lambda: publisher.connected, what="connect")
    publisher.stop()
    sub = Subscriber(broker.host, broker.port, f"{root}/status").start()
    (message,) = sub.wait_for(lambda m: m.retain)
    assert message.payload == b"offline"
    sub.stop()


KILLED_PUBLISHER = """
import sys, time
from edged.config.settings import Config
from edged.config.site import MqttConfig, SiteConfig
from telemetry.mqtt import Publisher
mqtt = MqttConfig(host=sys.argv[1], port=int(sys.argv[2]), topic_prefix=sys.argv[3])
Publisher(Config(site=SiteConfig(id=sys.argv[4]), mqtt=mqtt), sys.argv[5], print).start()
time.sleep(60)
"""


def test_last_will_marks_a_killed_daemon_offline(broker, db_path):
    """A power cut or SIGKILL: no clean disconnect, the broker publishes the retained will."""
    config, root = make_config(broker)
    sub = Subscriber(broker.host, broker.port, f"{root}/status").start()
    argv = [broker.host, str(broker.port), config.mqtt.topic_prefix, SITE, db_path]
    proc = subprocess.Popen([sys.executable, "-c", KILLED_PUBLISHER, *argv])
    try:
        sub.wait_for(lambda m: m.payload == b"online", timeout=10)
    finally:
        proc.kill()
        proc.wait()
    sub.wait_for(lambda m: m.payload == b"offline")
    sub.stop()
    late = Subscriber(broker.host, broker.port, f"{root}/status").start()
    (message,) = late.wait_for(lambda m: m.retain)
    assert message.payload == b"offline"
    late.stop()


def test_outbox_rows_are_acked_only_after_the_puback(broker, db, db_path, publishers):
    config, root = make_config(broker)
    acks = Acks()
    publisher = publishers(config, db_path, acks)
    wait_until(lambda: publisher.connected, what="connect")
    sub = Subscriber(broker.host, broker.port, f"{root}/#").start()
    broker.proc.send_signal(signal.SIGSTOP)  # the broker takes the bytes but answers nothing
    try:
        record = add_records(db, [("mppt", fresh_ts())])
        publisher.publish_records(record)
        wait_until(lambda: publisher.stats["sent_live"] == 1, what="handed to paho")
        time.sleep(0.2)  # an observation window: nothing may acknowledge meanwhile
        assert acks.ids == []
    finally:
        broker.proc.send_signal(signal.SIGCONT)
    sub.wait_for(lambda m: m.topic == f"{root}/telemetry/mppt")
    wait_until(lambda: acks.ids == [record[0].id], what="ack after PUBACK")
    sub.stop()


def test_never_more_than_max_inflight_messages_outstanding(broker, db, db_path):
    telemetry = TelemetryConfig(history_batch=1)
    config, root = make_config(broker, max_inflight=3, telemetry=telemetry)
    stored = add_records(db, [("mppt", float(i)) for i in range(300)])
    sub = Subscriber(broker.host, broker.port, f"{root}/#").start()
    acks = Acks()
    publisher = Publisher(config, db_path, acks)
    outstanding = [0]
    peak = [0]
    lock = threading.Lock()  # never held while paho runs: paho calls on_publish under its own
    client = publisher._client  # a spy on the real client: count what is handed over and acked
    real_publish, real_on_publish = client.publish, client.on_publish

    def publish(topic, payload, qos, retain):
        with lock:  # counted before the hand-over, so an early PUBACK cannot hide it
            outstanding[0] += 1
            peak[0] = max(peak[0], outstanding[0])
        return real_publish(topic, payload, qos=qos, retain=retain)

    def on_publish(c, userdata, mid, reason_code, properties):
        with lock:
            outstanding[0] -= 1
        real_on_publish(c, userdata, mid, reason_code, properties)

    client.publish, client.on_publish = publish, on_publish
    publisher.start()
    try:
        wait_until(lambda: publisher.connected, what="connect")
        now = fresh_ts()
        live = add_records(db, [("bms", now + i) for i in range(20)])  # while the backlog drains
        publisher.publish_records(live)
        sub.wait_for(lambda m: "/history/" in m.topic, count=300, timeout=20)
        wait_until(lambda: len(acks.ids) == 320, timeout=10, what="all acks")
    finally:
        publisher.stop()
    assert peak[0] == 3
    assert sorted(acks.ids) == [r.id for r in stored + live]
    history = sub.received(lambda m: "/history/" in m.topic)
    assert history_samples(history) == [("mppt", float(i)) for i in range(300)]
    telemetry = sub.received(lambda m: "/telemetry/" in m.topic)
    sent = [json.loads(m.payload)["ts"] for m in telemetry]
    assert sent == [int(now) + i for i in range(20)], "once each"
    sub.stop()


def test_a_message_in_flight_when_the_link_dies_is_sent_again(broker, db, db_path, publishers):
    config, _ = make_config(broker)
    acks = Acks()
    publisher = publishers(config, db_path, acks)
    wait_until(lambda: publisher.connected, what="connect")
    broker.proc.send_signal(signal.SIGSTOP)  # the PUBACK will never come from this broker
    record = add_records(db, [("mppt", fresh_ts())])
    publisher.publish_records(record)
    wait_until(lambda: publisher.stats["sent_live"] == 1, what="handed to paho")
    broker.proc.kill()  # dies with the message unacknowledged
    broker.proc.wait()
    broker.proc = None
    wait_until(lambda: not publisher.connected, what="disconnect")
    assert acks.ids == []
    broker.start()
    wait_until(lambda: acks.ids == [record[0].id], what="ack of the resent record")
    assert publisher.stats["sent_history"] == 1


def test_a_record_goes_live_when_its_window_closes_and_needs_no_outbox_row(broker, db_path):
    """Commit every 60 s, windows of 1 s: records reach the broker about a second after their
    window, long before the commit; acknowledged by then, they get no outbox row at all."""
    from edged.readings import Sample
    from telemetry.writer import Writer

    config, root = make_config(broker)
    sub = Subscriber(broker.host, broker.port, f"{root}/telemetry/#").start()
    pub: list[Publisher] = []  # the Writer's callbacks reach the publisher made after it
    writer = Writer(
        db_path,
        publish_interval=1.0,
        commit_interval=60.0,
        on_records=lambda r: pub[0].publish_records(r),
        on_closed=lambda r: pub[0].publish_closed(r),
    )
    publisher = Publisher(config, db_path, ack=writer.ack)
    pub.append(publisher)
    writer.start()
    publisher.start()
    try:
        start = time.time()
        for i in range(30):  # 3 s of samples at 10 Hz: windows close while the next fill
            writer.put(Sample("mppt", start + i / 10, True, {"battery_voltage": 13.0 + i / 100}))
            time.sleep(0.1)
        live = sub.wait_for(lambda m: True, timeout=5.0, count=2)
        assert time.time() - start < 10.0  # well before the 60 s commit
        assert writer.stats["commits"] == 0
        # A window may still close after these two: wait for the PUBACK of each one received.
        wait_until(
            lambda: publisher.stats["acked"] >= len(sub.received()) >= 2,
            what="PUBACKs",
        )
        acked = publisher.stats["acked"]  # handed to the Writer before it counted them
        assert writer.flush()
        db = open_db(db_path, readonly=True)
        stored = db.execute("SELECT count(*) FROM records").fetchone()[0]
        outbox = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        db.conn.close()
        assert stored >= len(live) and outbox <= stored - acked  # the acked ones: no row
    finally:
        publisher.stop()
        writer.stop()
        sub.stop()
