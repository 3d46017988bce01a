"""What the publisher tests share: a config of its own per test, an `ack` that records, records
committed with their outbox rows as the Writer commits them."""

from __future__ import annotations

import json
import threading
import time
import uuid

from edged.config.settings import Config
from edged.config.site import MqttConfig, SiteConfig, TelemetryConfig
from edged.readings import Record
from telemetry.topics import decode_payload
from tests.peers.broker import Broker

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


def history_samples(messages) -> list[tuple[str, float]]:
    return [
        (m.topic.rsplit("/", 1)[1], s["ts"])
        for m in messages
        for s in decode_payload(m.payload)["samples"]
    ]
