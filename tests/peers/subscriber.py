"""A real MQTT subscriber (paho) that records everything it receives, for tests to assert on.

`start()` returns only once the subscription is acknowledged, so nothing published afterwards
can be missed. With `clean_session=False` and a fixed `client_id` the broker keeps the session
(and queues QoS 1 messages) while this subscriber is away or the broker restarts with
persistence, which lets tests cover a broker restart without racing the publisher's reconnect.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class Message(NamedTuple):
    topic: str
    payload: bytes
    retain: bool


class Subscriber:
    def __init__(
        self,
        host: str,
        port: int,
        topic: str = "#",
        *,
        username: str | None = None,
        password: str | None = None,
        client_id: str | None = None,
        clean_session: bool = True,
        ca_file: str | None = None,
    ) -> None:
        self.host, self.port, self.topic = host, port, topic
        self.messages: list[Message] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id or f"test-sub-{uuid.uuid4().hex[:12]}",
            clean_session=clean_session,
        )
        if username is not None:
            self._client.username_pw_set(username, password)
        if ca_file is not None:  # TLS, the broker's certificate checked against this CA
            self._client.tls_set(ca_certs=ca_file)
        self._client.reconnect_delay_set(0.05, 0.2)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *args: self._subscribed.set()
        self._client.on_message = self._on_message

    def start(self, timeout: float = 5.0) -> Subscriber:
        self._client.connect(self.host, self.port, keepalive=30)
        self._client.loop_start()
        if not self._subscribed.wait(timeout):
            self.stop()
            raise AssertionError(f"subscriber could not subscribe to {self.topic!r}")
        return self

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if not reason_code.is_failure:
            client.subscribe(self.topic, qos=1)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(Message(msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._cond.notify_all()

    def received(self, predicate: Callable[[Message], bool] = lambda m: True) -> list[Message]:
        """A snapshot of what arrived so far (matching `predicate`)."""
        with self._cond:
            return [m for m in self.messages if predicate(m)]

    def wait_for(
        self, predicate: Callable[[Message], bool], timeout: float = 5.0, count: int = 1
    ) -> list[Message]:
        """The received messages matching `predicate`, once there are at least `count` of them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                matching = [m for m in self.messages if predicate(m)]
                remaining = deadline - time.monotonic()
                if len(matching) >= count or remaining <= 0:
                    break
                self._cond.wait(remaining)
        if len(matching) < count:
            seen = "\n  ".join(
                f"{m.topic} retain={m.retain} {m.payload[:80]!r}" for m in self.messages
            )
            raise AssertionError(
                f"expected {count} matching message(s) within {timeout}s, got {len(matching)}; "
                f"seen {len(self.messages)}:\n  {seen}"
            )
        return matching
