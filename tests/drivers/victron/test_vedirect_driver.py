"""VeDirectDriver against real pseudo-terminals: the emulator, replayed captures, unplug/replug.

Nothing is mocked: the driver opens a pty slave with pyserial exactly as it opens a USB cable.
"""

from __future__ import annotations

import os
import time

import pytest

from drivers.base import DeviceUnavailable
from drivers.registry import registry
from drivers.victron.vedirect.codec import encode_block
from drivers.victron.vedirect.driver import VeDirectDriver
from drivers.victron.vedirect.emulator import PtyEmulator
from drivers.victron.vedirect.spec import check_port
from edged.readings import Reading
from tests.drivers.victron.test_vedirect_codec import capture_hex
from tests.peers.replay import ReplayPty, wait_until


def collect(driver: VeDirectDriver, count: int, timeout: float = 5.0) -> list[Reading]:
    """Read in short slices, as the runner does, until `count` readings arrived."""
    readings: list[Reading] = []
    end = time.monotonic() + timeout
    while len(readings) < count and time.monotonic() < end:
        readings += driver.read(time.monotonic() + 0.1)
    assert len(readings) >= count, f"only {len(readings)} readings, counters {driver.counters}"
    return readings


@pytest.fixture
def mppt(tmp_path):
    emulator = PtyEmulator("mppt", link=str(tmp_path / "ttyVE0"), interval=0.03, seed=7).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def driver(mppt):
    d = VeDirectDriver(mppt.path)
    d.open()
    yield d
    d.close()


def test_reads_the_emulated_mppt(mppt, driver):
    readings = collect(driver, 4)
    sent_v = {int(b["V"]) / 1000 for b in list(mppt.sent) if "V" in b}
    sent_yield = {int(b["H19"]) / 100 for b in list(mppt.sent) if "H19" in b}
    for r in readings:
        assert r.metrics["battery_voltage"] in sent_v
        assert r.metrics["yield_total"] in sent_yield  # both blocks merged into one reading
    assert driver.info == {
        "pid": "0xA05F",
        "product": "SmartSolar MPPT 100/20",
        "firmware": "v1.63",
        "serial": mppt.sent[0]["SER#"],
    }
    assert driver.counters.accepted >= 8
    assert set(driver.counters.reasons) <= {"partial_first_block"}
    wait_until(
        lambda: driver.read(time.monotonic() + 0.1) is not None and driver.hex_frames > 0,
        5,
        what="async HEX frames seen and skipped",
    )


def test_unplug_raises_unavailable_and_replug_resumes(mppt, driver):
    collect(driver, 1)
    mppt.unplug()
    start = time.monotonic()
    with pytest.raises(DeviceUnavailable):
        driver.read(time.monotonic() + 30)
    # noticed at once, not at the deadline: far from 30 s even on a loaded machine
    assert time.monotonic() - start < 10.0
    with pytest.raises(DeviceUnavailable):
        driver.open()  # the link is gone, like /dev/serial/by-id/... after unplugging
    mppt.replug()
    driver.open()
    before = len(mppt.sent)
    readings = collect(driver, 2)
    assert len(mppt.sent) > before and readings[-1].metrics["battery_voltage"] > 0


def test_missing_port_and_unopened_driver_are_unavailable(tmp_path):
    driver = VeDirectDriver(str(tmp_path / "no-such-tty"))
    with pytest.raises(DeviceUnavailable):
        driver.open()
    with pytest.raises(DeviceUnavailable):
        driver.read(time.monotonic() + 0.1)


def test_a_silent_port_returns_nothing_at_the_deadline():
    master, slave = os.openpty()
    try:
        driver = VeDirectDriver(os.ttyname(slave))
        driver.open()
        start = time.monotonic()
        assert driver.read(start + 0.3) == []
        # it waits for the deadline, never less; how late it returns after is the scheduler's
        # business on a loaded machine, so only a hang (or a wait of its own) fails the bound
        assert 0.3 <= time.monotonic() - start < 0.3 + 3.0
        driver.close()
    finally:
        os.close(master)
        os.close(slave)


def test_garbage_and_implausible_records_are_counted_and_reading_goes_on(mppt, driver):
    collect(driver, 1)
    mppt.inject(b"\x00\xff line noise \x13")
    mppt.inject(encode_block([("PID", "0xA05F"), ("V", "150000"), ("I", "100")]))
    wait_until(
        lambda: (
            driver.read(time.monotonic() + 0.1) is not None
            and {"garbage", "out_of_range"} <= set(driver.counters.reasons)
        ),
        5,
        what="garbage and out_of_range counted",
    )
    assert collect(driver, 2)


def test_replayed_bmv_capture_gives_exact_values(tmp_path):
    replay = ReplayPty(tmp_path / "tty-bmv", [capture_hex("vedirect_a3_bmv700_main_history.hex")])
    replay.period = 0.03
    replay.start()
    try:
        driver = VeDirectDriver(str(replay.link))
        driver.open()
        reading = collect(driver, 1)[0]
        driver.close()
    finally:
        replay.stop()
    assert reading.metrics["battery_voltage"] == 12.065
    assert reading.metrics["battery_soc"] == 83.9
    assert reading.metrics["energy_charged_total"] == 85.27
    assert reading.info["product"] == "BMV-700"


def test_spec_registration_and_port_check_without_io(tmp_path):
    spec = registry()["vedirect"]
    assert spec.push and spec.default_interval == 1.0
    assert spec.options["port"].required and spec.options["port"].check is check_port
    assert check_port("/dev/serial/by-id/usb-VictronEnergy_BV_VE_Direct_cable_X-if00-port0") is None
    for bad in ("ttyUSB0", "", "/dev/", "/dev/tty\0"):
        assert check_port(bad).startswith("expected ")
    driver = spec.factory({"port": str(tmp_path / "absent")})  # building opens nothing
    assert isinstance(driver, VeDirectDriver) and driver.port == str(tmp_path / "absent")
