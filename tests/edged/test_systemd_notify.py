"""sd_notify: the datagrams a real `edged run` sends to the socket systemd would listen on; the
watchdog still fed while the store fails (another program holds the database's write lock) and
withheld while the Writer's thread is stopped (ptrace), as a hung writer would be."""

from __future__ import annotations

import ctypes
import logging
import os
import socket
import threading
import time
import uuid

import pytest

from drivers.victron.vedirect.emulator import PtyEmulator
from edged.systemd_notify import Notifier, Vitals, Watchdog, verdict, watchdog_interval
from telemetry import exclusive
from telemetry.door_client import DoorConnection
from tests.peers.daemon import db_rows, write_config
from tests.peers.replay import wait_until


class NotifyListener:
    """A datagram socket standing in for systemd's; keeps (monotonic time, line) pairs."""

    def __init__(self, name: str) -> None:
        self.name = name  # "@..." (abstract) or a path, as $NOTIFY_SOCKET spells it
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + name[1:] if name.startswith("@") else name)
        self.sock.settimeout(0.2)
        self.lines: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            now = time.monotonic()
            self.lines.extend((now, line) for line in data.decode().splitlines())

    def times(self, line: str) -> list[float]:
        return [t for t, got in list(self.lines) if got == line]

    def statuses(self) -> list[str]:
        return [got[7:] for _, got in list(self.lines) if got.startswith("STATUS=")]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def listener():
    lst = NotifyListener(f"@edged-test-{uuid.uuid4().hex}")
    yield lst
    lst.close()


def test_notifier_reaches_an_abstract_socket(listener):
    notifier = Notifier({"NOTIFY_SOCKET": listener.name})
    assert notifier.send("READY=1", "STATUS=hello")
    wait_until(lambda: len(listener.lines) == 2, 10, what="the datagram")
    assert [line for _, line in listener.lines] == ["READY=1", "STATUS=hello"]


def test_notifier_reaches_a_path_socket(tmp_path):
    path = tmp_path / "n"
    lst = NotifyListener(str(path))
    try:
        assert Notifier({"NOTIFY_SOCKET": str(path)}).send("WATCHDOG=1")
        wait_until(lambda: lst.times("WATCHDOG=1"), 10, what="the datagram")
    finally:
        lst.close()


def test_no_notify_socket_sends_nothing():
    notifier = Notifier({"WATCHDOG_USEC": "1000000"})
    assert not notifier.enabled and notifier.watchdog_s is None
    assert not notifier.send("READY=1")


def test_a_dead_socket_is_counted_and_logged_once(tmp_path, caplog):
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})
    with caplog.at_level(logging.WARNING, logger="edged.systemd_notify"):
        for _ in range(5):
            assert not notifier.send("WATCHDOG=1")
    assert notifier.failures == 5
    warnings = [r for r in caplog.records if "cannot notify systemd" in r.getMessage()]
    assert len(warnings) == 1


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "2500000", "WATCHDOG_PID": str(os.getpid())}, 2.5),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # another process's
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "ten"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_from_the_environment(env, expected):
    assert watchdog_interval(env) == expected


def test_a_hostile_watchdog_value_is_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="edged.systemd_notify"):
        assert watchdog_interval({"WATCHDOG_USEC": "1e9\n"}) is None
    assert "ignoring WATCHDOG_USEC='1e9\\n'" in caplog.text


HEALTHY = Vitals(2, 2, True, 10.0, 60.0, True, True)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"devices_running": 1}, "1 device runner(s) dead"),
        ({"writer_running": False}, "writer thread dead"),
        ({"writer_idle_s": 61.0}, "writer stuck for 61 s"),
        ({"sender_running": False}, "MQTT sender thread dead"),
    ],
)
def test_verdict_names_what_stops_the_watchdog(changes, words):
    assert verdict(HEALTHY) == (
        True,
        "running: 2 device runner(s), writer running, MQTT connected",
    )
    healthy, status = verdict(Vitals(**{**HEALTHY.__dict__, **changes}))
    assert not healthy and status == f"FAILING: {words}"


def test_watchdog_pings_only_while_healthy_and_resends_status_on_change(listener):
    dog = Watchdog(Notifier({"NOTIFY_SOCKET": listener.name, "WATCHDOG_USEC": "5000000"}))
    stalled = Vitals(**{**HEALTHY.__dict__, "writer_idle_s": 70.0})
    for vitals in (
        HEALTHY,
        HEALTHY,
        stalled,
        Vitals(**{**stalled.__dict__, "writer_idle_s": 71.0}),
        HEALTHY,
    ):
        dog.tick(vitals)
    wait_until(lambda: len(listener.lines) >= 6, 10, what="the datagrams")
    time.sleep(0.2)
    assert [line for _, line in listener.lines] == [
        "STATUS=running: 2 device runner(s), writer running, MQTT connected",
        "WATCHDOG=1",
        "WATCHDOG=1",
        "STATUS=FAILING: writer stuck for 70 s",
        "STATUS=running: 2 device runner(s), writer running, MQTT connected",
        "WATCHDOG=1",
    ]


# ptrace(2): SEIZE then INTERRUPT stops one thread of a process and nothing else (no SIGSTOP,
# which would stop them all); DETACH lets it run on. The test process is the daemon's parent,
# which ptrace allows.
PTRACE_SEIZE, PTRACE_INTERRUPT, PTRACE_DETACH = 0x4206, 0x4207, 17
WALL = 0x40000000  # __WALL: wait for a thread of another process's group too


def ptrace(request: int, tid: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    if libc.ptrace(request, tid, None, None) != 0:
        errno = ctypes.get_errno()
        pytest.skip(f"ptrace({request:#x}) refused here: {os.strerror(errno)}")


def writer_thread(pid: int) -> int:
    """The Writer's thread id: `Daemon.run` starts it first, and Linux numbers threads in the
    order they are made (the test checks it froze the writer: STATUS names it)."""
    return sorted(int(tid) for tid in os.listdir(f"/proc/{pid}/task"))[1]


def test_run_is_ready_feeds_the_watchdog_and_withholds_it_while_the_writer_hangs(
    tmp_path, listener, daemons
):
    emulator = PtyEmulator("mppt", link=str(tmp_path / "tty-mppt"), interval=0.5, seed=1)
    emulator.start()
    db = tmp_path / "edged.db"
    config = write_config(
        tmp_path,
        devices=f'[[devices]]\nid = "mppt"\ndriver = "vedirect"\nport = "{emulator.path}"\n'
        "interval = 0.5\n",
        broker_port=None,
        commit_interval=1.0,
    )
    daemon = daemons(config, env={"NOTIFY_SOCKET": listener.name, "WATCHDOG_USEC": "10000000"})
    try:
        wait_until(lambda: listener.times("READY=1"), 60, what="READY=1")
        assert listener.statuses()[0] == "running: 1 device runner(s) started"
        wait_until(lambda: len(listener.times("WATCHDOG=1")) >= 3, 60, what="watchdog pings")
        wait_until(lambda: db_rows(db, "SELECT 1 FROM samples LIMIT 1"), 60, what="a sample")

        # Another program (through the daemon's door, the only way in) holds the database's
        # write lock for 15 s: each commit waits out the busy timeout (5 s) and fails. The
        # writer is failing, not hung: pings go on.
        holder = exclusive.connect(db, readonly=False)
        assert isinstance(holder, DoorConnection)
        holder.execute("BEGIN EXCLUSIVE")
        locked = time.monotonic()
        time.sleep(15)
        holder.execute("ROLLBACK")
        holder.close()
        assert [t for t in listener.times("WATCHDOG=1") if t > locked + 8]
        assert not any(s.startswith("FAILING") for s in listener.statuses())

        # The writer thread itself stops, as if stuck in the kernel on a dying SD card.
        before = db_rows(db, "SELECT max(seq) FROM samples")[0][0]
        tid = writer_thread(daemon.proc.pid)
        ptrace(PTRACE_SEIZE, tid)
        try:
            ptrace(PTRACE_INTERRUPT, tid)
            os.waitpid(tid, WALL)
            stuck = wait_until(
                lambda: [t for t, s in list(listener.lines) if s.startswith("STATUS=FAILING")],
                90,
                what="the FAILING status",
            )[0]
            time.sleep(5)
            assert not [t for t in listener.times("WATCHDOG=1") if t > stuck]
            assert listener.statuses()[-1].startswith("FAILING: writer stuck for 1")
        finally:
            ptrace(PTRACE_DETACH, tid)
        thawed = time.monotonic()
        wait_until(lambda: listener.times("WATCHDOG=1")[-1] > thawed, 90, what="pings again")
        assert listener.statuses()[-1].startswith("running: 1 device runner(s), writer running")
        assert daemon.terminate(60) == 0
        wait_until(lambda: listener.times("STOPPING=1"), 10, what="STOPPING=1")
        logs = daemon.logs()
        assert "watchdog: FAILING: writer stuck for" in logs
        assert "watchdog: healthy again" in logs
        # what was read while the writer was stuck was kept and stored after
        assert db_rows(db, "SELECT max(seq) FROM samples")[0][0] > before + 5
    finally:
        emulator.stop()
