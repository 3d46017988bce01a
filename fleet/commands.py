"""Remote commands from the centre to a site: `{prefix}/{site}/cmd/{name}`, QoS 1, not retained.

The payload is `{"id": uuid, "expires": unix time, "args": {...}}`, plus `"sig"` when the site
has a command key: the hex HMAC-SHA256, keyed with the key's UTF-8 bytes, of the canonical JSON
of the command without `sig` (`json.dumps(sort_keys=True, separators=(",", ":"))`, Python's
defaults otherwise, so non-ASCII text is `\\uXXXX`-escaped). The site answers on
`.../cmd/{name}/result` with `{"id", "ok", ...}`, which the collector stores in
`command_results`.

The publisher is one MQTT connection per web process, opened on first use and reused; a publish
returns once the broker acknowledged it (PUBACK), or raises `CommandNotSent`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

log = logging.getLogger(__name__)


ACK_TTL_S = 23 * 3600
"""An `alarm_ack`'s lifetime. A site refuses, as `too_far`, a command that expires further ahead
than its `[remote] max_ttl` (1 day by default, so that it need not remember ids for ever): 23 h
stays under it with an hour for the site's clock being behind the centre's. A site offline
longer answers `expired` when it comes back, and the console shows the acknowledgement refused
(it stays recorded at the centre)."""


class CommandNotSent(RuntimeError):
    """The broker could not be reached or did not acknowledge in time."""


def canonical(command: dict[str, Any]) -> bytes:
    body = {k: v for k, v in command.items() if k != "sig"}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def sign(command: dict[str, Any], key: str) -> str:
    return hmac.new(key.encode(), canonical(command), hashlib.sha256).hexdigest()


def build(args: dict[str, Any], key: str | None, ttl_s: float, now: float | None = None) -> dict:
    """A command ready to publish; `key` None leaves it unsigned (the site decides if it runs)."""
    command: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "expires": int((now if now is not None else time.time()) + ttl_s),
        "args": args,
    }
    if key:
        command["sig"] = sign(command, key)
    return command


def topic(prefix: str, site: str, name: str) -> str:
    return f"{prefix.rstrip('/')}/{site}/cmd/{name}"


@dataclass(frozen=True)
class BrokerSettings:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    timeout_s: float = 10.0


class CommandPublisher:
    """Publishes commands on one lazily opened connection (thread-safe)."""

    def __init__(self, settings: BrokerSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._client: mqtt.Client | None = None
        self._connected = threading.Event()

    def _connect(self) -> mqtt.Client:
        if self._client is not None and self._connected.is_set():
            return self._client
        self.close()
        s = self.settings
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"edged-fleet-web-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv5,
        )
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        client.on_connect = lambda _c, _u, _f, reason, _p: (
            self._connected.set() if not reason.is_failure else None
        )
        client.on_disconnect = lambda *_: self._connected.clear()
        try:
            client.connect(s.host, s.port, keepalive=60)
        except OSError as exc:
            raise CommandNotSent(f"broker {s.host}:{s.port}: {exc}") from None
        client.loop_start()
        self._client = client
        if not self._connected.wait(s.timeout_s):
            self.close()
            raise CommandNotSent(f"broker {s.host}:{s.port} did not accept the connection")
        return client

    def publish(self, topic_name: str, command: dict[str, Any]) -> None:
        payload = json.dumps(command, separators=(",", ":")).encode()
        with self._lock:
            client = self._connect()
            info = client.publish(topic_name, payload, qos=1)
            try:
                info.wait_for_publish(self.settings.timeout_s)
            except (RuntimeError, ValueError) as exc:
                self.close()
                raise CommandNotSent(str(exc)) from None
            if not info.is_published():
                self.close()
                raise CommandNotSent("the broker did not acknowledge the command")
        log.info("command %s published on %r", command.get("id"), topic_name)

    def close(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
        self._connected.clear()
