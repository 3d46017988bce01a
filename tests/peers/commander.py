"""A technician's side of the remote commands: publishes `P/cmd/{name}` and reads the results.

Signs the way the dashboard does (HMAC-SHA256 over the canonical JSON, docs/mqtt.md), but with
its own few lines rather than `telemetry.commands.sign`, so a test proves the two agree instead
of a function agreeing with itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.peers.subscriber import Subscriber


def signed(body: dict[str, Any], key: str) -> dict[str, Any]:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return {**body, "sig": hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()}


def command(args: dict[str, Any] | None = None, ttl: float = 300, **extra: Any) -> dict[str, Any]:
    body = {"id": uuid.uuid4().hex, "expires": int(time.time() + ttl), "args": args or {}}
    return {**body, **extra}


class Commander:
    def __init__(
        self,
        host: str,
        port: int,
        root: str,
        key: str | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
    ) -> None:
        self.root, self.key = root, key
        self.results = Subscriber(
            host,
            port,
            f"{root}/cmd/+/result",
            username=username,
            password=password,
            ca_file=ca_file,
        )
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"test-cmd-{uuid.uuid4().hex[:12]}",
        )
        if username is not None:
            self._client.username_pw_set(username, password)
        if ca_file is not None:
            self._client.tls_set(ca_certs=ca_file)
        self._client.connect(host, port, keepalive=30)
        self._client.loop_start()

    def start(self) -> Commander:
        self.results.start()
        return self

    def stop(self) -> None:
        self.results.stop()
        self._client.disconnect()
        self._client.loop_stop()

    def publish(self, name: str, payload: bytes | dict[str, Any], sign: bool = True) -> None:
        if isinstance(payload, dict):
            body = signed(payload, self.key) if sign and self.key else payload
            payload = json.dumps(body).encode()
        self._client.publish(f"{self.root}/cmd/{name}", payload, qos=1).wait_for_publish(10)

    def result(self, name: str, cmd_id: str | None, timeout: float = 30.0) -> dict[str, Any]:
        """The (first) result on `P/cmd/{name}/result` carrying `cmd_id`."""
        topic = f"{self.root}/cmd/{name}/result"
        found = self.results.wait_for(
            lambda m: m.topic == topic and json.loads(m.payload).get("id") == cmd_id, timeout
        )
        return json.loads(found[0].payload)

    def run(
        self, name: str, args: dict[str, Any] | None = None, timeout: float = 30.0, **extra: Any
    ) -> dict[str, Any]:
        """Send one fresh command and wait for its result."""
        body = command(args, **extra)
        self.publish(name, body)
        return self.result(name, body["id"], timeout)
