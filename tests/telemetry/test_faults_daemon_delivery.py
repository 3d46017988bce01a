"""Delivery under attack, the daemon end to end: `edged run` as a subprocess, a VE.Direct
controller on a pty, mosquitto, libfaketime for clock jumps, and a checker subscribed to
`P/telemetry/#` and `P/history/#`: restarts and SIGKILLs keep one (device, ts) one content and
live live, windows closed during an outage come out as history in order.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.peers import faketime
from tests.peers.broker import Broker
from tests.peers.daemon import DaemonProcess, db_rows, write_config
from tests.peers.energy_pty import EnergyPty
from tests.peers.replay import wait_until
from tests.peers.subscriber import Subscriber

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
