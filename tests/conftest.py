"""Shared fixtures: real peers (mosquitto, `edged run`) that many test modules use."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The CLI speaks French unless --lang, $EDGED_LANG or `[site] language` says English; the tests
# that read its words expect French whatever a developer's shell exports. A test of the choice
# itself sets these variables with monkeypatch.
os.environ["EDGED_LANG"] = "fr"

from tests.peers.broker import Broker
from tests.peers.daemon import DaemonProcess


@pytest.fixture
def broker(tmp_path):
    """A running mosquitto on a free loopback port; tests may stop()/start() it."""
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


@pytest.fixture
def daemons(tmp_path):
    """`make(config, env=None)` starts `edged run` on a config (log: tmp_path/daemon.log, extra
    environment `env`); every daemon still running at the end of the test is killed."""
    started: list[DaemonProcess] = []

    def make(config: Path, env: dict[str, str] | None = None) -> DaemonProcess:
        d = DaemonProcess(config, tmp_path / "daemon.log", env)
        started.append(d)
        d.start()
        return d

    yield make
    for d in started:
        d.stop()


@pytest.fixture
def gx():
    """A Victron GX emulator (pymodbus) on a free loopback Modbus-TCP port; `gx.bank` sets its
    registers, stop()/start() take it off the network and back."""
    from drivers.modbus.simulator import GxSimulator, free_port  # pymodbus only where used

    sim = GxSimulator(free_port())
    sim.start()
    yield sim
    sim.stop()
