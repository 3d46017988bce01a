"""Kill the daemon at random points, with the broker up and down, and check nothing stored is lost.

Runs the real daemon (`python -m edged.cli run`) on an emulated VE.Direct MPPT (a pseudo-
terminal that lives for the whole test) with publish_interval 1 s and commit_interval 2 s, and a
real mosquitto on a free loopback port (persistence on, so a restart keeps the subscriber's
session). Each round starts the daemon, waits a random 0.2-6 s and SIGKILLs it; the broker is
stopped during a random third of the rounds. A final clean run (broker up) reads the device
for 15 s, then stops the emulator (no new window opens) and lasts until the outbox is empty,
then SIGTERM.

A subscriber runs throughout (persistent session, clean_session False, QoS 1) on the site's
`telemetry/+` and `history/+` topics. At the end every record in the database must have arrived
at least once, keyed by (device, ts); also counted: duplicates (a record that arrived more than
once: allowed, QoS 1 is at-least-once), (device, ts) that arrived with two different contents
(metrics or clock), received copies that differ from the stored record, and (device, ts) stored
twice. Exits 1 on a lost record, or if nothing was stored (and with --strict on two contents),
after printing a summary.

    .venv/bin/python bench/crash_test.py --rounds 50 --seed 1
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from peers import Broker, start_daemon

from drivers.victron.vedirect.emulator import PtyEmulator
from telemetry import exclusive, stored_metrics

SITE, PREFIX = "crash", "edged"
ROOT = f"{PREFIX}/{SITE}"


def _clean(value):
    """As the publisher writes values (`telemetry.topics`): whole floats as ints, NaN as null."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def content(metrics: dict, clock: str) -> str:
    return json.dumps([_clean(metrics), clock], sort_keys=True, separators=(",", ":"))


def key(device: str, ts: float) -> tuple[str, float]:
    return device, round(float(ts), 3)


class Checker:
    """The subscriber that runs throughout: every copy of every record it receives."""

    def __init__(self, broker: Broker) -> None:
        self.copies: dict[tuple[str, float], list[str]] = defaultdict(list)
        self.bad_payloads = 0
        self._lock = threading.Lock()
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id="crash-test-checker",
            clean_session=False,
        )
        self._client.reconnect_delay_set(0.2, 1.0)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._subscribed = threading.Event()
        self._client.on_subscribe = lambda *args: self._subscribed.set()
        self._broker = broker

    def start(self) -> None:
        self._client.connect(self._broker.host, self._broker.port, keepalive=10)
        self._client.loop_start()
        if not self._subscribed.wait(20):
            raise SystemExit("the checking subscriber could not subscribe")

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if not reason_code.is_failure:
            client.subscribe([(f"{ROOT}/telemetry/+", 1), (f"{ROOT}/history/+", 1)])

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        kind, device = msg.topic.split("/")[-2:]
        try:
            body = json.loads(msg.payload)
            items = [body] if kind == "telemetry" else body["samples"]
            parsed = [(key(device, i["ts"]), content(i["metrics"], i["clock"])) for i in items]
        except (ValueError, KeyError, TypeError):
            with self._lock:
                self.bad_payloads += 1
            return
        with self._lock:
            for k, c in parsed:
                self.copies[k].append(c)

    def snapshot(self) -> dict[tuple[str, float], list[str]]:
        with self._lock:
            return {k: list(v) for k, v in self.copies.items()}


def write_config(workdir: Path, tty: str, broker: Broker) -> Path:
    path = workdir / "edged.toml"
    path.write_text(
        f'[site]\nid = "{SITE}"\n[storage]\npath = "{workdir / "edged.db"}"\n'
        f'commit_interval = 2\nlive_path = "{workdir / "live.json"}"\n'
        f'reports_dir = "{workdir / "reports"}"\n'
        f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\ntopic_prefix = "{PREFIX}"\n'
        "reconnect_min = 0.2\nreconnect_max = 1.0\n"
        "[telemetry]\npublish_interval = 1\n"
        f'[[devices]]\nid = "mppt"\ndriver = "vedirect"\nport = "{tty}"\n'
    )
    return path


def db_rows(db: Path, sql: str) -> list[tuple]:
    if not db.exists():
        return []
    conn = exclusive.connect(db, readonly=True)  # through the running daemon's door
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        conn.close()


def final_run(
    config: Path, log: Path, db: Path, emulator: PtyEmulator, timeout: float
) -> tuple[bool, int]:
    """Run 15 s with the device, then without it until the outbox is empty (and stays so for
    5 s, no new window opening); (emptied, daemon exit code)."""
    daemon = start_daemon(config, log)
    try:
        time.sleep(15.0)
        emulator.stop()
        deadline, empty_since = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            time.sleep(1.0)
            rows = db_rows(db, "SELECT count(*) FROM outbox")
            if not rows or rows[0][0]:
                empty_since = None
            elif empty_since is None:
                empty_since = time.monotonic()
            elif time.monotonic() - empty_since >= 5.0:
                break
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(60)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    return empty_since is not None, code


WITHHELD = re.compile(r"window ([0-9.]+) of '([^']+)' ended before the restart")


def withheld(log: Path) -> set[tuple[str, float]]:
    """Windows a restart withheld (the daemon's log says which): they may have gone out live
    before the crash, or never (the broker was down): then they are missing, counted apart."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return {key(device, float(ts)) for ts, device in WITHHELD.findall(text)}


def check(db: Path, copies: dict[tuple[str, float], list[str]], log: Path) -> dict:
    stored: dict[tuple[str, float], list[str]] = defaultdict(list)
    rows = db_rows(db, "SELECT id, device, ts, synced, metrics FROM records ORDER BY id")
    waiting = {i for (i,) in db_rows(db, "SELECT record_id FROM outbox")}
    lost = []
    for rid, device, ts, synced, metrics in rows:
        k = key(device, ts)
        stored[k].append(
            content(stored_metrics.metrics_of(metrics), "synced" if synced else "unsynced")
        )
        if k not in copies and rid not in waiting:
            lost.append(k)
    return {
        "records stored": len(rows),
        "records still in the outbox": len(waiting),
        "lost (stored, acknowledged, never received)": len(lost),
        "(device, ts) received": len(copies),
        "duplicate copies received": sum(len(c) - 1 for c in copies.values()),
        "(device, ts) received with two contents": sum(len(set(c)) > 1 for c in copies.values()),
        "(device, ts) received unlike the stored record": sum(
            any(c not in stored[k] for c in cs) for k, cs in copies.items() if k in stored
        ),
        "(device, ts) stored twice": sum(len(s) > 1 for s in stored.values()),
        "(device, ts) received but not stored": sum(k not in stored for k in copies),
        "windows withheld after a crash": len(withheld(log)),
        "  of which never received (stored raw only)": len(withheld(log) - set(copies)),
        "first lost": [list(k) for k in lost[:5]],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--seed", type=int, default=None, help="default: random (printed)")
    parser.add_argument("--strict", action="store_true", help="fail on two contents too")
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it (default: a temp dir)")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="edged-crash-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db, log = workdir / "edged.db", workdir / "daemon.log"
    down = set(rng.sample(range(args.rounds), args.rounds // 3))
    print(f"seed {seed}, {args.rounds} rounds, broker down in {len(down)}, in {workdir}")

    broker = Broker(workdir, persistence=True)
    broker.start()
    checker = Checker(broker)
    checker.start()
    emulator = PtyEmulator("mppt", link=str(workdir / "tty-mppt"), interval=1.0, seed=seed)
    emulator.start()
    config = write_config(workdir, emulator.path, broker)
    started = time.monotonic()
    try:
        for n in range(args.rounds):
            if n in down and broker.running:
                broker.stop()
            elif n not in down and not broker.running:
                broker.start()
            daemon = start_daemon(config, log)
            time.sleep(rng.uniform(0.2, 6.0))
            daemon.send_signal(signal.SIGKILL)
            daemon.wait(30)
            if (n + 1) % 10 == 0:
                print(f"round {n + 1}: {time.monotonic() - started:.0f} s", flush=True)
        rounds_s = time.monotonic() - started
        if not broker.running:
            broker.start()
        emptied, code = final_run(config, log, db, emulator, timeout=600.0)
        deadline = time.monotonic() + 60  # the last copies on their way to the subscriber
        result = check(db, checker.snapshot(), log)
        while result["lost (stored, acknowledged, never received)"] and time.monotonic() < deadline:
            time.sleep(2.0)
            result = check(db, checker.snapshot(), log)
    finally:
        emulator.stop()
        checker.stop()
        broker.stop()
    print(
        f"{args.rounds} rounds in {rounds_s:.0f} s ({rounds_s / max(1, args.rounds):.2f} s a round)"
    )
    print(f"final run: outbox emptied {emptied}, daemon exit code {code}")
    print(f"payloads the checker could not read: {checker.bad_payloads}")
    for name, value in result.items():
        print(f"  {name}: {value}")
    failed = result["lost (stored, acknowledged, never received)"] > 0
    if not result["records stored"]:
        print("nothing was stored: this run proves nothing")
        failed = True
    if args.strict:
        failed = failed or result["(device, ts) received with two contents"] > 0
    if args.keep is None and not failed:
        shutil.rmtree(workdir, ignore_errors=True)
    print("FAIL" if failed else "OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
