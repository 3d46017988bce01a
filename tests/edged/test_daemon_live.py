"""The daemon's live file (`edged status`) is written by the main loop only. A technician's
remote `status` runs on the remote service's thread and wants this second's view: it asks the
main loop for one and waits, rather than writing it itself. Writing from two threads lost the
file (one temporary file, two renames) and read the runners', alarms' and power service's state,
and the clock's jump detection, from a thread that does not own them."""

from __future__ import annotations

import threading
import time
import tomllib

import pytest

from edged import daemon as daemon_module
from edged import live
from edged.config.loader import parse
from edged.daemon import Daemon
from edged.readings import DeviceState, Liveness
from tests.peers.daemon import write_config
from tests.peers.replay import wait_until


@pytest.fixture
def running(tmp_path, monkeypatch):
    """A real Daemon (no device, no broker) running in this process, its live writes recorded."""
    monkeypatch.setattr(daemon_module, "LIVE_EVERY", 3600.0)  # only asked-for views
    writes: list[tuple[str, float]] = []
    real_write = live.write

    def recording(path, view):
        writes.append((threading.current_thread().name, view["written"]))
        real_write(path, view)

    monkeypatch.setattr(live, "write", lambda p, v: recording(p, {"written": time.time(), **v}))
    config = parse(tomllib.loads(write_config(tmp_path, devices="", broker_port=None).read_text()))
    d = Daemon(config)
    loop = threading.Thread(target=d.run, name="main-loop", daemon=True)
    loop.start()
    try:
        wait_until(d.writer.is_alive, 30, what="the daemon started")
        yield d, writes
    finally:
        d.stop()
        loop.join(60)
    assert not loop.is_alive()


def test_a_remote_status_gets_a_view_the_main_loop_wrote_for_it(running):
    d, writes = running
    answers: list = []
    asked = time.time()
    remote = threading.Thread(target=lambda: answers.append(d._status()), name="edged-remote")
    remote.start()
    remote.join(30)
    assert answers and answers[0]["daemon"] == "running", answers
    assert {name for name, _ in writes} == {"main-loop"}  # never the remote thread
    assert any(written >= asked for _, written in writes)  # one written after it asked
    assert not d.live_failed


def test_many_status_requests_at_once_each_get_an_answer(running):
    d, writes = running
    answers: list = []
    threads = [threading.Thread(target=lambda: answers.append(d._status())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(answers) == 8 and all(a["daemon"] == "running" for a in answers)
    assert {name for name, _ in writes} == {"main-loop"}


def test_a_device_state_change_gets_a_fresh_view_at_the_next_pass(running):
    """A nurse running `edged status` just after a device came up (or went stale) sees it then,
    not up to `LIVE_EVERY` later: the runner's change asks the main loop for a view."""
    d, writes = running
    wait_until(lambda: writes, 30, what="the first view")  # the one written at start
    changed_at = time.time()
    came_up = DeviceState(Liveness.OK, changed_at)
    runner = threading.Thread(target=d._device_state, args=("mppt", came_up, True), name="runner")
    runner.start()
    runner.join(30)
    wait_until(lambda: any(w >= changed_at for _, w in writes), 30, what="a view after it")
    assert {name for name, _ in writes} == {"main-loop"}


def test_a_request_made_while_a_view_is_built_gets_the_next_one():
    requests = live.ViewRequests()
    requests.ask()
    requests.building()  # this view serves the ask above
    assert not requests.wanted
    requests.ask()  # a device changed while the view was being built
    requests.written()
    assert requests.wanted


def test_a_waiting_ask_is_answered_by_a_view_written_after_it_not_before():
    requests = live.ViewRequests()
    requests.written()  # an earlier view
    assert requests.ask_and_wait(0.05) is False
    threading.Timer(0.05, requests.written).start()
    assert requests.ask_and_wait(30) is True
