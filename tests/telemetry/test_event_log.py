"""The daemon's own log stays bounded under faults: a source logs `burst` transitions per window,
counts the rest and sums them up in one line; end to end, a cable flapping on a pty for half a
minute writes a handful of lines, while `edged status` counts every transition."""

from __future__ import annotations

import json
import logging
import re
import threading

from telemetry.event_log import EventLog
from tests.e2e.test_vedirect import capture_bytes, device_toml
from tests.peers.daemon import write_config
from tests.peers.replay import ReplayPty, wait_until


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records]


def test_each_transition_is_logged_while_they_are_rare(caplog):
    clock = FakeClock()
    events = EventLog(logging.getLogger("t.rare"), "device x", burst=3, window=60, clock=clock)
    with caplog.at_level(logging.INFO, logger="t.rare"):
        for i in range(10):  # one every 5 minutes: never muted
            events.log(logging.WARNING, "device x lost (%d)", i)
            clock.now += 300
            events.tick()
    assert lines(caplog) == [f"device x lost ({i})" for i in range(10)]
    assert (events.events, events.muted) == (10, 0)


def test_a_flapping_source_is_counted_and_summed_up_once_per_window(caplog):
    clock = FakeClock()
    events = EventLog(logging.getLogger("t.flap"), "device x", burst=3, window=60, clock=clock)
    with caplog.at_level(logging.INFO, logger="t.flap"):
        for i in range(600):  # a transition every second for 10 minutes
            events.log(logging.INFO if i % 2 else logging.WARNING, "device x event %d", i)
            clock.now += 1.0
            events.tick()
        clock.now += 120
        events.tick()  # nothing more to sum up
    logged = lines(caplog)
    assert (events.events, events.muted) == (600, 600 - 10 * 3)
    assert len(logged) == 10 * (3 + 2)  # per window: burst, the flapping notice, the summary
    assert logged[:4] == [
        "device x event 0",
        "device x event 1",
        "device x event 2",
        "device x is flapping (3 transitions within 60 s): the next ones are only counted,"
        " one line sums them up when the 60 s are over",
    ]
    assert logged[4] == (
        "device x: 57 transitions not logged in the last 60 s; the last one: device x event 59"
    )
    assert logged[-1] == (
        "device x: 57 transitions not logged in the last 60 s; the last one: device x event 599"
    )
    summary = [r for r in caplog.records if "not logged" in r.getMessage()]
    assert all(r.levelno == logging.WARNING for r in summary)


def test_a_flapping_cable_writes_a_bounded_log(tmp_path, daemons):
    port = ReplayPty(tmp_path / "tty-bmv", [capture_bytes("vedirect_a3_bmv700_main_history.hex")])
    port.start()
    config = write_config(
        tmp_path, devices=device_toml("bmv", port.link, interval=0.2), broker_port=None
    )
    daemon = daemons(config)
    stop = threading.Event()
    cycles = 0

    def flap() -> None:  # the cable's contact fails for a moment, every couple of seconds
        nonlocal cycles
        while not stop.wait(1.5):
            port.unplug()
            stop.wait(0.5)
            port.replug()
            cycles += 1

    flapper = threading.Thread(target=flap, daemon=True)

    def transitions() -> dict:
        try:
            view = json.loads((tmp_path / "live.json").read_text())
        except (OSError, ValueError):
            return {}
        return view["devices"][0]["transitions"]

    try:
        wait_until(lambda: transitions().get("total", 0) >= 1, 60, what="the device read")
        flapper.start()
        wait_until(lambda: transitions().get("not_logged", 0) >= 12, 180, what="flapping")
    finally:
        stop.set()
        flapper.join(10)
        port.stop()
    counted = transitions()
    assert daemon.terminate(60) == 0
    pattern = re.compile(r" (INFO|WARNING|ERROR) edged\.runner: device bmv")
    device_lines = [ln for ln in daemon.logs().splitlines() if pattern.search(ln)]
    # offline -> ok, then lost / reading again... : 4 lines, and the notice that it flaps
    assert len(device_lines) == 5, device_lines
    assert "device bmv is flapping" in device_lines[-1]
    assert counted["total"] >= 16 and cycles >= 6, (counted, cycles)
