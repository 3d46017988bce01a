"""A stop signal is noted, never acted on inside the handler.

A handler runs in the main thread between two bytecodes, possibly while that thread holds the
lock of the very Event the handler would set: `edged run` once hung on SIGTERM that way, under
load, until the test's SIGABRT. These tests flood the process with signals so that a handler
taking any lock of the main thread's wait would land inside it; the old handler hung on the
first flood tried by hand.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

from edged.stop_signals import StopSignals
from tests.peers.daemon import DaemonProcess, write_config
from tests.peers.replay import wait_until

FLOOD = 3000

WAITER = textwrap.dedent(
    """
    import signal, sys, threading
    from edged.stop_signals import StopSignals

    stops = StopSignals().install(signal.SIGUSR1, signal.SIGTERM)
    busy = threading.Event()  # never set: the wait is the main thread's own Event.wait
    print("ready", flush=True)
    while not stops.wait(0.001, busy):
        pass
    stops.block()  # the flood goes on: at exit, the default action would end the process
    print(stops.received.name, flush=True)
    """
)


def _flood(pid: int, sig: signal.Signals, count: int) -> None:
    for _ in range(count):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return


def test_a_flood_of_signals_during_the_wait_stops_the_waiter():
    proc = subprocess.Popen(
        [sys.executable, "-c", WAITER], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        _flood(proc.pid, signal.SIGUSR1, FLOOD)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0
        assert out.strip() == "SIGUSR1"  # the first signal noted, the others changed nothing
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_wait_returns_on_the_event_and_after_the_timeout_without_a_signal():
    stops, event = StopSignals(), threading.Event()
    started = time.monotonic()
    assert stops.wait(0.3, event) is False
    assert time.monotonic() - started >= 0.3
    threading.Timer(0.1, event.set).start()
    assert stops.wait(60, event) is True
    assert stops.received is None


def test_the_daemon_stops_in_order_under_a_flood_of_sigterm(tmp_path):
    config = write_config(tmp_path, devices="", broker_port=None)
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    daemon.start()
    try:
        wait_until(lambda: "edged starting" in daemon.logs(), 60, what="the daemon's start")
        assert daemon.proc is not None
        _flood(daemon.proc.pid, signal.SIGTERM, FLOOD)
        assert daemon.terminate() == 0, daemon.logs()[-2000:]
        assert "edged stopping" in daemon.logs()
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait()
