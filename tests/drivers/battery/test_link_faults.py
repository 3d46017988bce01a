"""What every BMS driver must survive on its serial link, over a real pty against its emulator:
noise before answers, a malformed answer, a partial one, a device gone silent then back, a port
that vanishes. One table of the four protocols, one test per fault: a new BMS driver adds a row."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from drivers.battery.daly import emulator as daly_emulator
from drivers.battery.daly.driver import DalyDriver
from drivers.battery.jbd import emulator as jbd_emulator
from drivers.battery.jbd.driver import JbdDriver
from drivers.battery.jkbms import emulator as jkbms_emulator
from drivers.battery.jkbms.driver import JkBmsDriver
from drivers.battery.pylontech import emulator as pylontech_emulator
from drivers.battery.pylontech.driver import PylontechDriver
from tests.drivers.battery.bms_support import (
    check_malformed_answer,
    check_noise_tolerated,
    check_partial_answer,
    check_silent_then_back,
    check_vanished_port,
)


@dataclass(frozen=True)
class Link:
    """One protocol's emulator and driver, and what a reading after noise must hold."""

    emulator: Callable[[], Any]
    driver: Callable[[str], Any]
    answers: int
    """How many answers one read takes (the noise check feeds noise before each)."""
    metric: str
    value: float


LINKS = {
    "jbd": Link(
        jbd_emulator.PtyBmsEmulator, JbdDriver, answers=2, metric="battery_voltage", value=13.24
    ),
    "daly": Link(
        lambda: daly_emulator.PtyBmsEmulator(daly_emulator.PackState(failures=1 << 40)),
        DalyDriver,
        answers=7,
        metric="cell_count",
        value=8,
    ),
    "jkbms": Link(
        jkbms_emulator.PtyBmsEmulator, JkBmsDriver, answers=1, metric="battery_soc", value=64
    ),
    "pylontech": Link(
        lambda: pylontech_emulator.PtyBmsEmulator(
            {
                2: pylontech_emulator.PackState(),
                3: pylontech_emulator.PackState(current_raw=55, status1=0x01),
            }
        ),
        lambda path: PylontechDriver(path, address=2),
        answers=2,
        metric="battery_soc",
        value=65.0,
    ),
}


@pytest.fixture(params=sorted(LINKS))
def link(request) -> Link:
    return LINKS[request.param]


@pytest.fixture
def emulator(link: Link) -> Iterator[Any]:
    emu = link.emulator().start()
    yield emu
    emu.stop()


@pytest.fixture
def driver(link: Link, emulator) -> Iterator[Any]:
    d = link.driver(emulator.path)
    d.open()
    yield d
    d.close()


def test_noise_before_answers_is_counted_not_fatal(link, driver, emulator):
    reading = check_noise_tolerated(driver, emulator, link.answers)
    assert reading.metrics[link.metric] == link.value


def test_malformed_answer_raises_protocol_error_and_counts(driver, emulator):
    check_malformed_answer(driver, emulator, "checksum")


def test_partial_answer_raises_protocol_error_at_the_deadline(driver, emulator):
    check_partial_answer(driver, emulator)


def test_silent_device_is_unavailable_within_the_deadline(driver, emulator):
    check_silent_then_back(driver, emulator)


def test_vanished_port_is_unavailable(driver, emulator):
    check_vanished_port(driver, emulator)
