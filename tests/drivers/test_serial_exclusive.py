"""Serial ports are opened exclusively (pyserial's flock): a second program on the same port gets
a clear DeviceUnavailable, never a share of the bytes; the first keeps reading, and once it closes
the port the other may open it."""

from __future__ import annotations

import time

import pytest

from drivers.base import Counters, DeviceUnavailable
from drivers.battery.link import SerialLink
from drivers.victron.vedirect.driver import VeDirectDriver
from drivers.victron.vedirect.emulator import PtyEmulator


@pytest.fixture
def port(tmp_path):
    emulator = PtyEmulator("mppt", link=str(tmp_path / "ttyVE0"), interval=0.05, seed=3).start()
    yield emulator.path
    emulator.stop()


def readings(driver: VeDirectDriver, timeout: float = 10.0) -> list:
    end = time.monotonic() + timeout
    got: list = []
    while not got and time.monotonic() < end:
        got = driver.read(time.monotonic() + 0.2)
    return got


def test_a_second_vedirect_opener_is_refused_clearly(port):
    first, second = VeDirectDriver(port), VeDirectDriver(port)
    first.open()
    try:
        with pytest.raises(DeviceUnavailable, match=r"cannot open .*exclusively lock port"):
            second.open()
        assert readings(first), "the first owner stopped reading"
    finally:
        first.close()
    second.open()  # released with the first
    second.close()


def test_a_bms_link_and_a_vedirect_driver_cannot_share_a_port(port):
    link = SerialLink(port, 9600, Counters())
    link.open()
    try:
        with pytest.raises(DeviceUnavailable, match="exclusively lock port"):
            VeDirectDriver(port).open()
    finally:
        link.close()
