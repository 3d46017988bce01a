"""A site as the central broker sees it: publishes QoS 1 messages and waits for every PUBACK."""

from __future__ import annotations

import threading
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class Publisher:
    def __init__(self, host: str, port: int) -> None:
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"test-pub-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv311,
        )
        self._client.max_inflight_messages_set(100)
        self._client.max_queued_messages_set(0)
        self._connected = threading.Event()
        self._client.on_connect = lambda *a: self._connected.set()
        self._client.connect(host, port, keepalive=30)
        self._client.loop_start()
        if not self._connected.wait(10):
            raise AssertionError("publisher could not connect")

    def publish(
        self, messages: list[tuple[str, bytes]], retain: bool = False, timeout: float = 60
    ) -> None:
        """Publish every message (QoS 1) and return once the broker acknowledged them all."""
        infos = [self._client.publish(t, p, qos=1, retain=retain) for t, p in messages]
        for info in infos:
            info.wait_for_publish(timeout)
            assert info.is_published(), "broker did not acknowledge a message"

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
