"""Delivery under attack (issue 11, items 5-7): live means live, one (device, ts) one content,
and a broker that never acknowledges.

The publisher is tested against real peers (mosquitto, a TCP peer that never sends PUBACK);
the daemon end to end: `edged run` as a subprocess, a VE.Direct controller on a pty, mosquitto,
libfaketime for clock jumps, and a checker subscribed to `P/telemetry/#` and `P/history/#`.
"""

from __future__ import annotations

import json
import logging
import random
import signal
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edged.config.settings import Config
from edged.config.site import MqttConfig, SiteConfig, TelemetryConfig
from edged.readings import Record
from telemetry.live_queue import is_live
from telemetry.mqtt import Publisher
from telemetry.store import open_db
from tests.peers import faketime
from tests.peers.broker import Broker
from tests.peers.daemon import DaemonProcess, db_rows, write_config
from tests.peers.energy_pty import EnergyPty
from tests.peers.silent_broker import SilentBroker
from tests.peers.subscriber import Subscriber

SITE = "site-t"


def wait_until(condition, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


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


class Acks:
    def __init__(self) -> None:
        self.ids: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, ids: list[int]) -> None:
        with self._lock:
            self.ids.extend(ids)


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

PREFIX = "faults"
INTERVAL = 2.0
"""Publish windows of 2 s, commits every 5 s: a window goes live before its commit, as on a
site (60 s windows, 180 s commits), so a kill can catch a record sent but not stored."""
COMMIT = 5.0
HOP = 3.0
"""Tolerance for the broker hop (daemon -> mosquitto -> checker) on a busy test machine."""


class VaryingPty(EnergyPty):
    """A controller whose battery current changes with every block, so a window's mean says
    which of its samples it holds: a partial re-aggregation cannot pass for the whole one."""

    def __init__(self) -> None:
        super().__init__(every=0.2)
        self._n = 0

    def block(self) -> bytes:
        self._n += 1
        self.values["amps"] = 1.0 + (self._n * 37 % 101) / 10
        return super().block()


class Checker(Subscriber):
    """Subscribed to `P/telemetry/#` and `P/history/#` of the daemon; notes each arrival on
    the daemon's wall clock (`clock`, which libfaketime may move)."""

    def __init__(self, broker: Broker, clock=time.time) -> None:
        super().__init__(
            broker.host,
            broker.port,
            f"{PREFIX}/test-site/+/mppt",
            client_id=f"checker-{uuid.uuid4().hex[:8]}",
            clean_session=False,  # a persistent broker keeps what comes while it reconnects
        )
        self.clock = clock
        self.arrivals: list[tuple[str, float, dict, float]] = []  # kind, ts, content, arrival

    def _on_message(self, client, userdata, msg) -> None:
        now = self.clock()
        kind = msg.topic.split("/")[-2]
        if kind == "telemetry":
            payload = json.loads(msg.payload)
            entries = [payload]
        elif kind == "history":
            entries = json.loads(msg.payload)["samples"]
        else:
            return
        with self._cond:
            for entry in entries:
                content = {"metrics": entry["metrics"], "clock": entry["clock"]}
                self.arrivals.append((kind, entry["ts"], content, now))
            self._cond.notify_all()

    def seen(self) -> set[float]:
        with self._cond:
            return {ts for _, ts, _, _ in self.arrivals}

    def live(self) -> list[tuple[float, float]]:
        with self._cond:
            return [(ts, at) for kind, ts, _, at in self.arrivals if kind == "telemetry"]

    def check(self) -> None:
        """(a) no live record arrives later than its window end + one interval + the hop;
        (b) no (device, ts) arrives with two different contents."""
        with self._cond:
            arrivals = list(self.arrivals)
        late = [
            (ts, round(at - ts - INTERVAL, 2))
            for kind, ts, _, at in arrivals
            if kind == "telemetry" and at - (ts + INTERVAL) > INTERVAL + HOP
        ]
        assert not late, f"stale records on the live topic (ts, age after its end): {late}"
        contents: dict[float, dict] = {}
        for _, ts, content, _ in arrivals:
            first = contents.setdefault(ts, content)
            assert first == content, f"ts {ts} arrived with two contents: {first} != {content}"


@pytest.fixture
def persistent_broker(tmp_path):
    b = Broker(tmp_path, extra_conf=f"persistence true\npersistence_location {tmp_path}/\n")
    b.start()
    yield b
    b.stop()


def daemon_config(tmp_path, broker: Broker, pty: EnergyPty) -> Path:
    devices = f'[[devices]]\nid = "mppt"\ndriver = "vedirect"\nport = "{pty.path}"\n'
    return write_config(
        tmp_path,
        devices=devices,
        broker_port=broker.port,
        prefix=PREFIX,
        publish_interval=INTERVAL,
        commit_interval=COMMIT,
        extra="\n[health]\nenabled = false\n",
    )


def stored_records(tmp_path) -> set[float]:
    return {ts for (ts,) in db_rows(tmp_path / "edged.db", "SELECT ts FROM records")}


def connected_starts(daemon: DaemonProcess) -> int:
    return daemon.logs().count("MQTT connected to")


def run_until_delivered(daemon: DaemonProcess, checker: Checker, tmp_path, live: int) -> None:
    """Let the daemon run until `live` more records went live and everything it stored arrived."""
    before = len(checker.live())
    wait_until(lambda: len(checker.live()) >= before + live, 60, what=f"{live} live records")
    wait_until(lambda: stored_records(tmp_path) <= checker.seen(), 60, what="stored arrived")


def test_restarts_within_and_after_a_window_keep_one_content_and_live_live(
    tmp_path, persistent_broker
):
    with VaryingPty() as pty:
        checker = Checker(persistent_broker).start()
        daemon = DaemonProcess(daemon_config(tmp_path, persistent_broker, pty), tmp_path / "d.log")
        daemon.start()
        try:
            run_until_delivered(daemon, checker, tmp_path, live=3)
            assert daemon.terminate() == 0  # a clean stop: its open window is resumed
            daemon.start()
            run_until_delivered(daemon, checker, tmp_path, live=3)
            daemon.kill()  # within a window: restarted at once, before it ends
            daemon.start()
            run_until_delivered(daemon, checker, tmp_path, live=3)
            daemon.kill()  # and after the window ended
            time.sleep(3 * INTERVAL)
            daemon.start()
            run_until_delivered(daemon, checker, tmp_path, live=3)
            assert daemon.terminate() == 0
        finally:
            daemon.stop()
            checker.stop()
    checker.check()


def test_eight_rapid_sigkills_never_publish_two_contents_or_stale_live(tmp_path, persistent_broker):
    rng = random.Random(11)
    with VaryingPty() as pty:
        checker = Checker(persistent_broker).start()
        daemon = DaemonProcess(daemon_config(tmp_path, persistent_broker, pty), tmp_path / "d.log")
        try:
            for kill in range(8):
                daemon.start()
                wait_until(lambda n=kill: connected_starts(daemon) > n, 60, what="connected")
                time.sleep(rng.uniform(0.0, 2 * COMMIT))  # a random point: where it dies
                daemon.kill()
            daemon.start()
            run_until_delivered(daemon, checker, tmp_path, live=3)
        finally:
            daemon.stop()
            checker.stop()
    checker.check()
    assert "may have gone out live" in daemon.logs()  # the crash path was exercised


def test_windows_closed_during_a_broker_outage_come_out_as_history_in_order(
    tmp_path, persistent_broker
):
    with VaryingPty() as pty:
        checker = Checker(persistent_broker).start()
        daemon = DaemonProcess(daemon_config(tmp_path, persistent_broker, pty), tmp_path / "d.log")
        daemon.start()
        try:
            run_until_delivered(daemon, checker, tmp_path, live=2)
            persistent_broker.stop()
            down = time.time()
            time.sleep(4 * INTERVAL)  # several windows close while the broker is away
            up = time.time()
            persistent_broker.start()
            run_until_delivered(daemon, checker, tmp_path, live=2)
        finally:
            daemon.stop()
            checker.stop()
    checker.check()
    during = [(kind, ts) for kind, ts, _, _ in checker.arrivals if down <= ts + INTERVAL <= up]
    assert len(during) >= 3
    assert {kind for kind, _ in during} == {"history"}
    stamps = [ts for _, ts in during]
    assert stamps == sorted(stamps)


class FakeClock:
    """The daemon's wall clock under libfaketime, as the test can tell it."""

    def __init__(self, control: Path, start: str) -> None:
        self.control = control
        self.env = faketime.environment(control, start)
        self._set(start)

    def _set(self, when: str) -> None:
        self._base = datetime.strptime(when, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
        self._mono = time.monotonic()

    def jump(self, seconds: float) -> None:
        when = datetime.fromtimestamp(self() + seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")
        faketime.set_time(self.control, when)
        self._set(when)

    def __call__(self) -> float:
        return self._base + time.monotonic() - self._mono


@pytest.mark.skipif(faketime.library() is None, reason="libfaketime is not installed")
def test_backward_and_forward_clock_jumps_keep_one_content_and_live_live(
    tmp_path, persistent_broker
):
    clock = FakeClock(tmp_path / "faketime.rc", "2026-11-23 10:00:00")
    with VaryingPty() as pty:
        checker = Checker(persistent_broker, clock=clock).start()
        config = daemon_config(tmp_path, persistent_broker, pty)
        daemon = DaemonProcess(config, tmp_path / "d.log", env=clock.env)
        daemon.start()
        try:
            run_until_delivered(daemon, checker, tmp_path, live=3)
            clock.jump(-75)  # NTP steps the clock back: past windows must not reopen
            run_until_delivered(daemon, checker, tmp_path, live=3)
            clock.jump(-75)  # and again, this time with a restart behind the jump
            daemon.kill()
            daemon.start()
            run_until_delivered(daemon, checker, tmp_path, live=3)
            clock.jump(3600)  # forward: what closed before reads an hour old
            run_until_delivered(daemon, checker, tmp_path, live=3)
        finally:
            daemon.stop()
            checker.stop()
    checker.check()
    stored = db_rows(tmp_path / "edged.db", "SELECT ts FROM records")
    assert len(stored) == len(set(stored))
