"""epever driver over a real pseudo-terminal, the slave side served by the RTU simulator."""

from __future__ import annotations

import os
import select
import time
from pathlib import Path

import pytest

from drivers.base import DeviceUnavailable, ProtocolError
from drivers.modbus.bus import open_buses
from drivers.modbus.simulator import EpeverSimulator
from drivers.modbus.spec import EPEVER
from maintenance.alarms.engine import AlarmEngine
from maintenance.alarms.rules import BUILTIN

CAPTURES = Path(__file__).resolve().parents[2] / "captures"


def capture(name: str) -> dict[str, bytes]:
    """`key: hex bytes` lines of a capture file (lines starting with # are provenance)."""
    out = {}
    for line in (CAPTURES / name).read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, hexbytes = line.partition(":")
            out[key.strip()] = bytes.fromhex(hexbytes)
    return out


OPENED: list = []
"""Drivers opened by a test, closed after it: one left open keeps its bus (and its pty) in the
process-wide registry, where the next test file's `open_buses()` checks would find it."""


@pytest.fixture(autouse=True)
def _close_drivers():
    yield
    while OPENED:
        OPENED.pop().close()
    assert open_buses() == {}


@pytest.fixture
def epever():
    sim = EpeverSimulator(address=1)
    sim.start()
    yield sim
    sim.stop()


def driver(sim: EpeverSimulator, **opts):
    options = {"port": sim.port, "baudrate": 115200, "address": 1, "timeout": 0.3, "map": None}
    d = EPEVER.factory(options | opts)
    OPENED.append(d)
    d.open()
    return d


def poll(d):
    (reading,) = d.read(time.monotonic() + 3)
    return reading


def test_values_match_register_contents(epever):
    bank = epever.bank
    bank.set_words(1, 4, 0x3100, [1931, 0, 0, 0, 1339])  # PV 19.31 V, 0 A, 0 W, battery 13.39 V
    bank.set_words(1, 4, 0x311A, [95])
    bank.set_words(1, 4, 0x3201, [0b0101])  # running, float
    bank.set_words(1, 4, 0x330C, [35, 0])  # generated today 0.35 kWh
    bank.set_words(1, 4, 0x3312, [0x86A0, 0x0001])  # total 1000.00 kWh (low word first)
    bank.set_words(1, 4, 0x331B, [0xFFD2, 0xFFFF])  # -0.46 A
    d = driver(epever)
    r = poll(d)
    assert r.metrics["pv_voltage"] == 19.31
    assert r.metrics["battery_voltage"] == 13.39
    assert r.metrics["battery_soc"] == 95
    assert r.metrics["charger_state"] == "float"
    assert r.metrics["yield_today"] == 0.35
    assert r.metrics["yield_total"] == 1000.0
    assert r.metrics["battery_current"] == -0.46
    assert d.counters.accepted == 3 and d.counters.rejected == 0
    d.close()


def test_simulator_answers_the_captured_request_byte_for_byte(epever):
    # captures.md D1: the simulator must frame and CRC exactly like the Tracer AN did.
    cap = capture("epever_tracer_an_9003_read.txt")
    volts = [1600, 1500, 1500, 1460, 1440, 1380, 1320, 1260, 1220, 1200, 1110, 1060]
    epever.bank.set_words(1, 3, 0x9003, volts)
    fd = os.open(epever.port, os.O_RDWR | os.O_NOCTTY)
    try:
        os.write(fd, cap["request"])
        got = b""
        deadline = time.monotonic() + 2
        while len(got) < len(cap["response"]) and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.1)[0]:
                got += os.read(fd, 256)
    finally:
        os.close(fd)
    assert got == cap["response"]


def test_other_address_that_never_answers_is_bounded_and_unavailable(epever):
    # pymodbus locks the port exclusively: sharing one bus between addresses is the core's job,
    # so here the two drivers take turns; what matters is that the silent one costs bounded time.
    silent = driver(epever, address=2)
    start = time.monotonic()
    with pytest.raises(DeviceUnavailable):
        silent.read(start + 5)
    # retries=1: two attempts of 0.3 s; pymodbus's own 3 s timeout would take 6 s. The margin
    # is what a loaded 2-core machine may add, far from the failure the bound guards against.
    assert time.monotonic() - start < 0.6 + 3.0
    assert silent.counters.reasons == {"timeout": 2}
    silent.close()
    ok = driver(epever)
    assert poll(ok).metrics["battery_soc"] == 95
    ok.close()


def test_deadline_bounds_a_silent_address(epever):
    silent = driver(epever, address=9, timeout=30.0)
    start = time.monotonic()
    with pytest.raises(DeviceUnavailable):
        silent.read(start + 0.4)
    assert time.monotonic() - start < 0.4 + 5.0  # the deadline, not the 30 s timeout
    silent.close()


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda frame: frame[:-1] + bytes([frame[-1] ^ 0xFF]), id="crc"),
        pytest.param(
            lambda _frame: capture("epever_rs485_echo.txt")["response"], id="rs485-echo-capture"
        ),
        pytest.param(
            lambda _frame: capture("epever_shared_bus_garbage.txt")["response"],
            id="shared-bus-capture",
        ),
    ],
)
def test_garbled_answers_are_protocol_errors(epever, mangle):
    epever.mangle = mangle
    d = driver(epever, timeout=0.2)
    with pytest.raises(ProtocolError):
        d.read(time.monotonic() + 3)
    assert d.counters.reasons == {"garbled": 2}
    epever.mangle = None
    assert poll(d).metrics["battery_voltage"] == 13.39  # the link recovers, no reopen needed


def test_illegal_address_exception_leaves_metrics_absent(epever):
    del epever.bank.units[1][(4, 0x3201)]
    r = poll(driver(epever))
    assert "charger_state" not in r.metrics and "battery_alarms" not in r.metrics
    assert r.metrics["pv_voltage"] == 19.31


def test_unplugged_port_is_unavailable_and_replug_resumes(tmp_path):
    link = str(tmp_path / "ttyEPEVER")
    sim = EpeverSimulator(link=link)
    sim.start()
    d = EPEVER.factory(
        {"port": link, "baudrate": 115200, "address": 1, "timeout": 0.3, "map": None}
    )
    d.open()
    assert poll(d).metrics["battery_soc"] == 95
    sim.stop()
    with pytest.raises(DeviceUnavailable):
        d.read(time.monotonic() + 2)
    d.close()
    with pytest.raises(DeviceUnavailable):
        d.open()
    sim.start()
    try:
        d.open()
        assert poll(d).metrics["battery_soc"] == 95
        d.close()
    finally:
        sim.stop()


# 0x3201 bits (EPEver V2.5): D0 running, D1 fault, D3-2 charging status (1 float, 2 boost),
# D15-14 input voltage (0 normal, 1 no input power).
RUNNING, FAULT, FLOAT, BOOST, NO_INPUT = 0x0001, 0x0002, 0x0004, 0x0008, 0x4000


def sunny_day_alarms(sim: EpeverSimulator, words: list[int]) -> list[str]:
    """Poll the pty simulator every 10 minutes of a simulated day and run the built-in alarms."""
    engine = AlarmEngine(list(BUILTIN))
    d = driver(sim)
    raised = []
    try:
        for i, word in enumerate(words):
            sim.bank.set_words(1, 4, 0x3201, [word])
            r = poll(d)
            numeric = {k: v for k, v in r.metrics.items() if k.startswith("charger_")}
            raised += [
                e.alarm_id
                for e in engine.observe_many("tracer", numeric, i * 600.0)
                if e.kind == "raised"
            ]
    finally:
        d.close()
    return raised


def test_tracer_bn_fault_bit_while_charging_is_no_alarm(epever):
    # Issue 13 item 9: some Tracer BN units set D1 whenever they charge, their own meter showing
    # normal. With charger_error = every fault bit that was an alarm every sunny day.
    night, day = RUNNING | NO_INPUT, [RUNNING | FAULT | BOOST] * 24 + [RUNNING | FAULT | FLOAT] * 24
    epever.bank.set_words(1, 4, 0x3201, [RUNNING | FAULT | BOOST])
    d = driver(epever)
    r = poll(d)
    d.close()
    assert r.metrics["charger_state"] == "bulk"
    assert r.metrics["charger_error"] == 0
    assert r.metrics["charger_error_name"] == "none"
    assert r.metrics["charger_fault_flag"] == 0
    assert sunny_day_alarms(epever, [night] * 6 + day + [night] * 6) == []


def test_fault_bit_with_pv_present_and_no_charging_is_a_fault(epever):
    # Corroborated: the input is normal (PV present) yet the controller does not charge.
    epever.bank.set_words(1, 4, 0x3201, [RUNNING | FAULT])
    d = driver(epever)
    r = poll(d)
    d.close()
    assert r.metrics["charger_fault_flag"] == 1
    assert r.metrics["charger_error_name"] == "fault"
    assert r.metrics["charger_error"] == 0  # no specific fault bit: the flag says it
    assert sunny_day_alarms(epever, [RUNNING | FAULT] * 4) == ["charger_fault.tracer"]


def test_fault_bit_at_night_or_with_a_specific_fault(epever):
    night = RUNNING | FAULT | NO_INPUT  # no PV: not charging is normal, D1 alone says nothing
    epever.bank.set_words(1, 4, 0x3201, [night])
    d = driver(epever)
    assert poll(d).metrics["charger_fault_flag"] == 0
    epever.bank.set_words(1, 4, 0x3201, [RUNNING | FAULT | FLOAT | 0x2000])  # charging MOSFET short
    r = poll(d)
    d.close()
    assert r.metrics["charger_error"] == 0x2000
    assert r.metrics["charger_error_name"] == "charging_mosfet_short"
    assert sunny_day_alarms(epever, [RUNNING | FAULT | FLOAT | 0x2000] * 4) == [
        "charger_error.tracer"
    ]


def test_a_stopped_simulators_port_leads_nowhere_even_when_its_pty_is_reused():
    # Issue 13 item 19: the kernel gives a freed /dev/pts/N to the next pty opened on the
    # machine (another test, another run). Had the simulator handed out that name, a driver
    # reopening it would attach to someone else's device, or lock it out. It hands out a link
    # that goes with it; whichever number the next pty gets, the old port is simply gone.
    first = EpeverSimulator()
    first.start()
    port = first.port
    assert not port.startswith("/dev/pts/") and os.path.realpath(port).startswith("/dev/pts/")
    d = driver(first)
    assert poll(d).metrics["battery_soc"] == 95
    d.close()
    first.stop()
    second = EpeverSimulator()
    second.start()  # often the very pty number the first one freed
    try:
        assert not os.path.lexists(port)
        with pytest.raises(DeviceUnavailable):
            EPEVER.factory(
                {"port": port, "baudrate": 115200, "address": 1, "timeout": 0.3, "map": None}
            ).open()
        assert second.port != port
        d = driver(second)
        assert poll(d).metrics["battery_soc"] == 95
        d.close()
    finally:
        second.stop()
