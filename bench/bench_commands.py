"""The uplink bytes of the remote command path: what `[remote]` adds to a site's traffic.

Runs a real mosquitto and `edged run` (no device, health off: nothing else on the wire but
the status) with a byte-counting TCP relay between them, so every byte the site's MQTT
connection sends and receives is counted. Measures: one connection with `[remote]` off and on
(the difference is the SUBSCRIBE/SUBACK of `P/cmd/+` at every connect), then signed commands
(`ping`, `alarm_ack` of an unknown alarm, `status`, and a refused one), each received and
answered, bytes in and out per command. Then a month from stated assumptions.

MQTT bytes (fixed headers, topics, payloads, PUBACKs); not TCP/IP (~40-52 B a segment) nor TLS
(~29 B a record with AES-GCM) framing, which the 3G link also carries.

    .venv/bin/python bench/bench_commands.py [--commands 20] [--reconnects-per-day 24]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import socket
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import Broker, free_port, start_daemon  # noqa: E402

KEY = "bench-site-key-0123456789abcdef"
ROOT = "edged/bench-site"


class Relay:
    """Loopback TCP relay to the broker counting bytes each way (site -> broker = up)."""

    def __init__(self, target: int) -> None:
        self.target, self.port = target, free_port()
        self.up = self.down = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self._server.accept()
            broker = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pipe, args=(client, broker, "up"), daemon=True).start()
            threading.Thread(target=self._pipe, args=(broker, client, "down"), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, way: str) -> None:
        while data := _recv(src):
            with self._lock:
                setattr(self, way, getattr(self, way) + len(data))
            dst.sendall(data)
        dst.close()

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return self.up, self.down


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def config(folder: Path, port: int, remote: bool) -> Path:
    path = folder / "edged.toml"
    allow = '["ping", "status", "alarm_ack"]'
    (folder / "synced").touch()  # a synchronised clock: else alarm_ack is refused, not run
    path.write_text(
        f'[site]\nid = "bench-site"\n\n[storage]\npath = "{folder / "edged.db"}"\n'
        f'live_path = "{folder / "live.json"}"\n\n[mqtt]\nhost = "127.0.0.1"\nport = {port}\n'
        f"keepalive = 3600\n\n[health]\nenabled = false\n\n[power]\nauto_report = false\n"
        f'timesync_flag = "{folder / "synced"}"\n\n'
        + (f'[remote]\nenabled = true\nkey = "{KEY}"\nallow = {allow}\n' if remote else "")
    )
    return path


def connection_bytes(folder: Path, broker_port: int, remote: bool) -> tuple[int, int]:
    """Bytes of one connection (CONNECT, status, subscription) up to the daemon's stop."""
    relay = Relay(broker_port)
    proc = start_daemon(config(folder, relay.port, remote), folder / f"log-{remote}")
    wait(lambda: "MQTT connected" in (folder / f"log-{remote}").read_text(), 30)
    time.sleep(2)
    proc.terminate()
    proc.wait(30)
    time.sleep(0.5)
    return relay.counts()


def wait(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.05)


def signed(args: dict, sign: bool = True) -> bytes:
    body = {"id": uuid.uuid4().hex, "expires": int(time.time()) + 600, "args": args}
    if sign:
        text = json.dumps(body, sort_keys=True, separators=(",", ":"))
        body["sig"] = hmac.new(KEY.encode(), text.encode(), hashlib.sha256).hexdigest()
    return json.dumps(body, separators=(",", ":")).encode()


def command_bytes(folder: Path, broker_port: int, count: int) -> dict[str, tuple[float, float]]:
    relay = Relay(broker_port)
    log = folder / "log-commands"
    proc = start_daemon(config(folder, relay.port, True), log)
    wait(lambda: "MQTT connected" in log.read_text(), 30)
    results: list[bytes] = []
    tech = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    tech.on_message = lambda c, u, m: results.append(m.payload)
    tech.connect("127.0.0.1", broker_port)
    tech.subscribe(f"{ROOT}/cmd/+/result", qos=1)
    tech.loop_start()
    time.sleep(1)
    cases = {
        "ping": ("ping", {}, True),
        "alarm_ack (not found)": ("alarm_ack", {"id": "battery_soc_low.mppt", "by": "Awa"}, True),
        "status": ("status", {}, True),
        "refused (unsigned)": ("ping", {}, False),
    }
    out = {}
    try:
        for label, (name, args, sign) in cases.items():
            up0, down0 = relay.counts()
            for _ in range(count):
                before = len(results)
                tech.publish(f"{ROOT}/cmd/{name}", signed(args, sign), qos=1).wait_for_publish()
                wait(lambda b=before: len(results) > b, 30)
            time.sleep(0.5)  # the last PUBACK
            up, down = relay.counts()
            out[label] = ((up - up0) / count, (down - down0) / count)
    finally:
        tech.loop_stop()
        proc.terminate()
        proc.wait(30)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=20, help="of each kind")
    parser.add_argument("--reconnects-per-day", type=float, default=24.0)
    parser.add_argument("--per-month", type=int, default=300, help="commands a month (assumed)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-commands-") as tmp:
        folder = Path(tmp)
        broker = Broker(folder)
        broker.start()
        try:
            off = connection_bytes(mk(folder / "off"), broker.port, False)
            on = connection_bytes(mk(folder / "on"), broker.port, True)
            per = command_bytes(mk(folder / "cmd"), broker.port, args.commands)
        finally:
            broker.stop()
    sub = (on[0] - off[0], on[1] - off[1])
    print(f"one connection, [remote] off: {off[0]} B up, {off[1]} B down")
    print(f"one connection, [remote] on:  {on[0]} B up, {on[1]} B down")
    print(f"  the subscription per connect: {sub[0]} B up, {sub[1]} B down")
    for label, (up, down) in per.items():
        print(f"{label:24s}: {up:7.1f} B up, {down:7.1f} B down per command")
    typical = sum(u + d for k, (u, d) in per.items() if k != "status") / (len(per) - 1)
    month = 30 * args.reconnects_per_day * sum(sub) + args.per_month * typical
    print(
        f"month: {args.reconnects_per_day:g} reconnects a day x {sum(sub)} B"
        f" + {args.per_month} small commands x {typical:.0f} B = {month / 1024:.1f} KiB"
        f" (a status command: {sum(per['status']):.0f} B each)"
    )


def mk(path: Path) -> Path:
    path.mkdir()
    return path


if __name__ == "__main__":
    main()
