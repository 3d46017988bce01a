"""The MQTT publisher against a real mosquitto: live, history, acks after PUBACK, status, state."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from edged.config.settings import Config
from edged.config.site import MqttConfig, SiteConfig, TelemetryConfig, TlsConfig
from edged.readings import DeviceState, Liveness, Record
from telemetry.mqtt import Publisher
from telemetry.store import open_db
from telemetry.topics import GZIP_MAGIC, decode_payload
from tests.peers.broker import Broker, free_port
from tests.peers.subscriber import Subscriber

SITE = "site-t"


def wait_until(condition, timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def make_config(broker: Broker, **mqtt_options) -> tuple[Config, str]:
    """A config with a topic prefix of its own, so tests never see each other's messages."""
    telemetry = mqtt_options.pop("telemetry", TelemetryConfig())
    options = {"port": broker.port, "reconnect_min": 0.05, "reconnect_max": 0.2, **mqtt_options}
    prefix = f"t{uuid.uuid4().hex[:10]}"
    mqtt = MqttConfig(host=broker.host, topic_prefix=prefix, **options)
    config = Config(site=SiteConfig(id=SITE), mqtt=mqtt, telemetry=telemetry)
    return config, config.topic_root


class Acks:
    """The `ack` callback: the Writer would delete these outbox rows."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, ids: list[int]) -> None:
        with self._lock:
            self.ids.extend(ids)


def fresh_ts(interval: float = 60.0) -> float:
    """The start of a window that ends now: live for one more interval (`is_live`)."""
    return float(int(time.time() - interval))


def add_records(db, specs: list[tuple[str, float]]) -> list[Record]:
    """Commit records with their outbox rows, as the Writer does; returns them with their ids."""
    records = []
    for device, ts in specs:
        metrics = {"battery_voltage": 13.25, "charger_state": "bulk"}
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
    return str(tmp_path / "edged.db")


@pytest.fixture
def db(db_path):
    database = open_db(db_path)
    yield database
    database.close()


@pytest.fixture
def publishers():
    started: list[Publisher] = []

    def make(config: Config, db_path: str, ack) -> Publisher:
        publisher = Publisher(config, db_path, ack)
        started.append(publisher)
        publisher.start()
        return publisher

    yield make
    for publisher in started:
        publisher.stop()


def history_samples(messages) -> list[tuple[str, float]]:
    return [
        (m.topic.rsplit("/", 1)[1], s["ts"])
        for m in messages
        for s in decode_payload(m.payload)["samples"]
    ]


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


@pytest.fixture
def persistent_broker(tmp_path):
    """A broker that keeps sessions across restarts, so a subscriber misses nothing meanwhile."""
    b = Broker(tmp_path, extra_conf=f"persistence true\npersistence_location {tmp_path}/\n")
    b.start()
    yield b
    b.stop()


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


MOSQUITTO_PASSWD = Path("/usr/bin/mosquitto_passwd")
KEEP_USER = "user root\n"
"""Started as root, mosquitto drops to user `mosquitto`, which cannot read pytest's private
tmp_path; this keeps it as the user that started it (ignored when not started as root)."""


@pytest.mark.skipif(not MOSQUITTO_PASSWD.exists(), reason="mosquitto_passwd not installed")
def test_username_and_password(tmp_path, db_path, publishers, caplog):
    passwords = tmp_path / "passwords"
    subprocess.run(
        [str(MOSQUITTO_PASSWD), "-b", "-c", str(passwords), "edged", "s3cret-pw"], check=True
    )
    broker = Broker(tmp_path)
    broker.conf.write_text(
        f"listener {broker.port} 127.0.0.1\nallow_anonymous false\n"
        f"password_file {passwords}\npersistence false\n{KEEP_USER}"
    )
    broker.start()
    try:
        caplog.set_level(logging.DEBUG)
        config, root = make_config(broker, username="edged", password="s3cret-pw")
        sub = Subscriber(
            broker.host, broker.port, f"{root}/#", username="edged", password="s3cret-pw"
        )
        sub.start()
        good = publishers(config, db_path, Acks())
        sub.wait_for(lambda m: m.topic == f"{root}/status" and m.payload == b"online")
        assert good.connected

        bad_config, _ = make_config(broker, username="edged", password="wrong-pw")
        bad = publishers(bad_config, db_path, Acks())
        wait_until(lambda: bad.stats["connect_failures"] >= 2, what="refusals")
        assert not bad.connected
        assert "s3cret-pw" not in caplog.text and "wrong-pw" not in caplog.text
        sub.stop()
    finally:
        broker.stop()


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(directory: Path) -> None:
    """A throw-away CA and a server certificate for 127.0.0.1 signed by it."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=edged test CA",
        cwd=directory,
    )
    openssl(
        "req",
        *ec,
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
        cwd=directory,
    )
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        cwd=directory,
    )


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_tls_connects_with_the_ca_and_fails_without_it(tmp_path, db_path, publishers):
    make_certificates(tmp_path)
    tls_port = free_port()
    broker = Broker(
        tmp_path,
        extra_conf=f"listener {tls_port} 127.0.0.1\ncafile {tmp_path}/ca.crt\n"
        f"certfile {tmp_path}/server.crt\nkeyfile {tmp_path}/server.key\n{KEEP_USER}",
    )
    broker.start()
    try:
        wait_until(lambda: port_open(broker.host, tls_port), what="TLS listener")
        sub = Subscriber(broker.host, broker.port, "#").start()  # the plain listener
        trusted = TlsConfig(ca_file=str(tmp_path / "ca.crt"))
        config, root = make_config(broker, port=tls_port, tls=trusted)
        publisher = publishers(config, db_path, Acks())
        sub.wait_for(lambda m: m.topic == f"{root}/status" and m.payload == b"online")
        assert publisher.connected

        untrusted_config, _ = make_config(broker, port=tls_port, tls=TlsConfig())
        untrusted = publishers(untrusted_config, db_path, Acks())
        wait_until(lambda: untrusted.stats["connect_failures"] >= 2, what="TLS failures")
        assert not untrusted.connected
        sub.stop()
    finally:
        broker.stop()


def port_open(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.2).close()
        return True
    except OSError:
        return False


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


def test_a_missing_ca_file_is_logged_not_raised(tmp_path, broker, db, db_path, caplog):
    missing = TlsConfig(ca_file=str(tmp_path / "no-such-ca.crt"))
    config, _ = make_config(broker, tls=missing)
    publisher = Publisher(config, db_path, Acks())
    publisher.start()
    publisher.publish_records(add_records(db, [("mppt", 60.0)]))
    publisher.stop()
    assert not publisher.connected
    assert "cannot be set up" in caplog.text


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
        wait_until(lambda: publisher.stats["acked"] >= 2, what="PUBACKs")
        assert writer.flush()
        db = open_db(db_path, readonly=True)
        stored = db.execute("SELECT count(*) FROM records").fetchone()[0]
        outbox = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        db.conn.close()
        assert stored >= len(live) and outbox <= stored - len(live)  # the acked ones: no row
    finally:
        publisher.stop()
        writer.stop()
        sub.stop()
