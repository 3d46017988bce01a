"""Several Modbus-RTU slaves on one RS485 bus: two epever drivers on one pseudo-terminal, the
slave side served by the RTU simulator answering two addresses (real peers, no mocks)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import pytest
import serial

from drivers.base import DeviceUnavailable
from drivers.modbus.bus import open_buses
from drivers.modbus.simulator import SITE, EpeverSimulator
from drivers.modbus.spec import EPEVER

TIMEOUT = 0.15
RETRIES = 1  # what the epever spec builds with
HOLD = TIMEOUT * (RETRIES + 1)  # the longest a silent slave may keep the bus per poll

# Slave 2 differs from slave 1 in every planned block (0x3100.., 0x3200.., 0x330C..), so an
# answer taken for the wrong slave shows in the values.
SECOND = SITE["epever-tracer"] | {
    "pv_voltage": 41.5,
    "battery_voltage": 26.7,
    "battery_soc": 44,
    "charger_state": "bulk",
    "yield_total": 987.6,
    "battery_current": 3.25,
}


@pytest.fixture
def bus(tmp_path):
    sim = EpeverSimulator(address=(1, 2), link=str(tmp_path / "ttyRS485"))
    sim.bank.load(2, sim.bank.maps[1], SECOND)
    sim.start()
    yield sim
    sim.stop()


def driver(port: str, address: int, **opts):
    options = {"port": port, "baudrate": 115200, "address": address, "timeout": TIMEOUT}
    d = EPEVER.factory(options | {"map": None} | opts)
    d.open()
    return d


def poll(d, budget: float = 3.0) -> dict:
    (reading,) = d.read(time.monotonic() + budget)
    return reading.metrics


def pair(sim: EpeverSimulator):
    """Slave 1 through the tty itself, slave 2 through the by-id style symlink to it."""
    return driver(sim.tty, 1), driver(str(sim.link), 2)


def in_thread(work: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # surfaced by the test thread
            errors.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, errors


def test_two_slaves_on_one_port_share_one_bus_and_its_port_closes_with_the_last(bus):
    a, b = pair(bus)
    real = os.path.realpath(bus.port)
    assert open_buses() == {real: 2}  # the symlink and the tty are one bus, one open port
    assert poll(a)["battery_soc"] == 95 and poll(b)["battery_soc"] == 44
    a.close()
    assert open_buses() == {real: 1}
    assert poll(b)["charger_state"] == "bulk"
    b.close()
    assert open_buses() == {}
    with serial.Serial(bus.port, exclusive=True):  # pymodbus's lock is gone: the port is shut
        pass


def test_other_baudrate_on_an_open_bus_is_refused(bus):
    a = driver(bus.port, 1)
    with pytest.raises(DeviceUnavailable, match="115200 baud"):
        driver(str(bus.link), 2, baudrate=9600)
    a.close()


def test_concurrent_polls_of_two_slaves_never_garble(bus):
    a, b = pair(bus)
    expected = {1: poll(a), 2: poll(b)}
    assert expected[1]["pv_voltage"] == 19.31 and expected[2]["pv_voltage"] == 41.5
    assert expected[2]["yield_total"] == 987.6 and expected[2]["battery_current"] == 3.25
    seen: dict[int, list[dict]] = {1: [], 2: []}

    def loop(d, unit: int) -> Callable[[], None]:
        return lambda: seen[unit].extend(poll(d) for _ in range(40))

    threads = [in_thread(loop(a, 1)), in_thread(loop(b, 2))]
    for t, _ in threads:
        t.join(30)
    assert [e for _, errors in threads for e in errors] == []
    for unit in (1, 2):
        assert len(seen[unit]) == 40
        assert all(m == expected[unit] for m in seen[unit])
    # never garbled: the values above, and nothing refused but a late answer on a loaded
    # machine (TIMEOUT is short), which a retry covered
    assert set(a.counters.reasons) <= {"timeout"} and set(b.counters.reasons) <= {"timeout"}
    a.close()
    b.close()


def test_silent_slave_is_bounded_and_the_other_keeps_polling(bus):
    a, b = pair(bus)
    alone = rate_of_polls(a, 0.5)
    bus.silent.add(2)
    stop = threading.Event()
    dead: list[float] = []

    def dead_runner() -> None:
        """What the core's runner does with a dead device, without its interval: worst case."""
        while not stop.is_set():
            start = time.monotonic()
            with pytest.raises(DeviceUnavailable):
                b.read(start + 5)
            dead.append(time.monotonic() - start)
            b.close()
            b.open()

    t, errors = in_thread(dead_runner)
    wait_for(lambda: len(dead) >= 1, 5)
    shared = rate_of_polls(a, 1.5)
    stop.set()
    t.join(5)
    assert errors == []
    # Each dead poll gives up after its first block: two attempts per poll, never more (three
    # blocks would count six), and long before its 5 s deadline: TIMEOUT x (RETRIES + 1), plus
    # the healthy poll it waited behind, plus what a loaded 2-core machine adds.
    assert b.counters.reasons["timeout"] == 2 * len(dead)
    assert max(dead) < HOLD + 2.0, dead
    # The healthy slave polls at least once per dead-slave turn (the bus lock is first come,
    # first served); we ask for half that and report both rates.
    print(f"healthy polls/s alone {alone:.0f}, beside a dead slave {shared:.1f}")
    assert shared >= 0.5 / HOLD
    bus.silent.clear()
    assert poll(b)["battery_soc"] == 44
    a.close()
    b.close()


def test_vanished_port_fails_both_then_both_reopen(bus):
    a, b = pair(bus)
    assert poll(a)["battery_soc"] == 95 and poll(b)["battery_soc"] == 44
    bus.stop()
    with pytest.raises(DeviceUnavailable):
        a.read(time.monotonic() + 2)
    assert a.counters.reasons == {"connection": 1}
    # a found the port gone and marked the bus broken: b learns it without touching the port
    with pytest.raises(DeviceUnavailable, match="vanished"):
        b.read(time.monotonic() + 2)
    a.close()
    b.close()
    assert open_buses() == {}
    with pytest.raises(DeviceUnavailable):
        driver(str(bus.link), 1)
    bus.start()  # a new pty behind the same link: the reopen must follow the link
    a, b = driver(str(bus.link), 1), driver(str(bus.link), 2)
    assert poll(a)["battery_soc"] == 95 and poll(b)["battery_soc"] == 44
    assert open_buses() == {os.path.realpath(bus.port): 2}
    a.close()
    b.close()


def rate_of_polls(d, seconds: float) -> float:
    """Successful polls per second of `d`, polled back to back; any failure fails the test."""
    n, start = 0, time.monotonic()
    while time.monotonic() - start < seconds:
        assert poll(d, budget=2.0)["battery_soc"] == 95
        n += 1
    return n / (time.monotonic() - start)


def wait_for(cond: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)
