"""Pylontech codec on captured frames, parser properties, and driver ↔ emulator over a real pty."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.base import DeviceUnavailable, ProtocolError
from drivers.battery.common import Rejected
from drivers.battery.pylontech.codec import (
    ALARM_INFO,
    ANALOG_VALUES,
    Frame,
    ResponseParser,
    build_request,
    encode_response,
    length_field,
)
from drivers.battery.pylontech.driver import PylontechDriver
from drivers.battery.pylontech.emulator import PackState, PtyBmsEmulator
from drivers.battery.pylontech.fields import decode
from drivers.registry import registry
from tests.drivers.battery.bms_support import (
    assert_catalogue,
    corrupt_one_byte,
    feed_all,
    frames_of,
    load_capture,
)

E1 = load_capture("bms_pylontech_e1")
E3 = load_capture("bms_pylontech_e3")
ANALOG = E1["analog_response_pack2"]


def parse(data: bytes) -> list:
    return feed_all(ResponseParser(), data)


def test_captured_analog_values_decode_exactly():
    (frame,) = parse(ANALOG)
    assert (frame.ver, frame.adr, frame.cid1, frame.cid2, len(frame.info)) == (0x20, 2, 0x46, 0, 61)
    r = decode(frame)
    assert_catalogue(r)
    assert r.metrics == {
        "cell_count": 15,
        "cell_voltage_min": 3.267,
        "cell_voltage_max": 3.271,
        "cell_voltage_delta": 0.004,
        "bms_temperature": 14.0,
        "battery_temperature": 12.5,
        "battery_current": -3.2,
        "battery_voltage": 49.037,
        "battery_cycles": 27,
        "battery_remaining_ah": 48.1,
        "battery_capacity": 74.0,
        "battery_soc": 65.0,
    }
    assert r.extra == {
        "cell_voltages": "3.269,3.267,3.269,3.268,3.268,3.27,3.269,3.268,3.271,3.269,3.27,3.27,"
        "3.269,3.27,3.27",
        "temperatures": "14,12,12,13,13",
    }


def with_temperatures(celsius: list[float]) -> bytes:
    """The captured analog answer with its temperature list replaced (fresh LENGTH, CHKSUM)."""
    (frame,) = parse(ANALOG)
    cells_end = 3 + 2 * frame.info[2]
    temps_end = cells_end + 1 + 2 * frame.info[cells_end]
    temps = b"".join((round(t * 10) + 2731).to_bytes(2, "big") for t in celsius)
    info = frame.info[:cells_end] + bytes([len(celsius)]) + temps + frame.info[temps_end:]
    return encode_response(frame.adr, info)


def test_sixth_temperature_is_the_mosfet_not_the_cells():
    # Issue 13 item 10: after the BMS board and four cell groups, the sixth is the MOSFET.
    (frame,) = parse(with_temperatures([14.0, 12.0, 12.0, 13.0, 13.0, 41.0]))
    r = decode(frame)
    assert_catalogue(r)
    assert r.metrics["bms_temperature"] == 14.0
    assert r.metrics["battery_temperature"] == 12.5  # not 18.2 with the MOSFET in the mean
    assert r.metrics["mosfet_temperature"] == 41.0
    assert r.metrics["battery_voltage"] == 49.037  # the rest of the frame still lines up
    assert r.extra["temperatures"] == "14,12,12,13,13,41"


def test_five_temperatures_have_no_mosfet():
    (frame,) = parse(ANALOG)  # the captured US3000: board + four cell groups
    assert "mosfet_temperature" not in decode(frame).metrics
    (one,) = parse(with_temperatures([20.0]))
    r = decode(one)
    assert r.metrics["bms_temperature"] == r.metrics["battery_temperature"] == 20.0
    assert "mosfet_temperature" not in r.metrics


def test_current_unit_and_sign_options():
    (frame,) = parse(ANALOG)
    assert decode(frame, current_unit="10mA").metrics["battery_current"] == -0.32
    assert decode(frame, current_sign="inverted").metrics["battery_current"] == 3.2


def test_requests_match_the_captured_ones():
    assert build_request(ANALOG_VALUES, 2) == E1["analog_request_pack2"]
    assert build_request(ANALOG_VALUES, 3) == E1["analog_request_pack3"]
    assert build_request(0x93, 2) == E1["serial_request_pack2"]
    assert build_request(0x93, 3) == E1["serial_request_pack3"]
    assert build_request(0x92, 0, b"") == E3["request_0x92"]
    assert build_request(ALARM_INFO, 2) == b"~20024644E00202FD31\r"


def test_length_checksum_worked_example():
    assert length_field(0x07A) == 0xF07A
    assert length_field(2) == 0xE002
    assert length_field(0) == 0


def test_return_code_frame_and_round_trip():
    (rtn,) = parse(E3["response_rtn04"])
    assert rtn == Frame(0x20, 0x00, 0x46, 0x04, b"")
    assert decode(rtn).metrics == {}
    (frame,) = parse(ANALOG)
    assert encode_response(frame.adr, frame.info, frame.cid2) == ANALOG


def test_alarm_info_decodes_flags_and_mosfets():
    info = bytes([0x11, 2, 3, 0, 2, 0, 2, 0, 1, 0, 0, 0, 0b1000_0001, 0b0100, 0, 0, 0])
    (frame,) = parse(encode_response(2, info))
    r = decode(None, frame)
    assert_catalogue(r)
    assert r.metrics == {
        "battery_alarms": "cell_voltage_high,temperature_low,module_overvoltage,"
        "module_undervoltage",
        "charge_enabled": 0,
        "discharge_enabled": 1,
    }


def test_every_single_byte_corruption_is_rejected():
    for i in range(len(ANALOG)):
        for xor in (0x01, 0x20, 0x80):
            events = parse(corrupt_one_byte(ANALOG, i, xor))
            assert frames_of(events) == [], (i, xor)
            assert sum(e.nbytes for e in events) == len(ANALOG)


def test_every_truncation_is_rejected_and_the_next_frame_survives():
    nxt = E3["response_rtn04"]
    for n in range(1, len(ANALOG)):
        events = parse(ANALOG[:n] + nxt)
        assert [type(e) for e in events] == [Rejected, Frame], n
        assert events[0].nbytes == n


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_random_garbage_never_yields_frames_or_raises(data):
    events = parse(data)
    assert frames_of(events) == []
    assert sum(e.nbytes for e in events) == len(data)


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=40).filter(lambda b: b"~" not in b),
    st.lists(st.integers(0, 400), max_size=8),
)
def test_split_invariance_and_resync_after_garbage(noise, cuts):
    data = noise + ANALOG + noise + E3["response_rtn04"] + noise
    whole = parse(data)
    assert feed_all(ResponseParser(), data, cuts) == whole
    assert [f.cid2 for f in frames_of(whole)] == [0, 4]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=120), st.binary(max_size=40))
def test_decode_never_raises_on_any_verified_info(analog, alarms):
    a, b = (parse(encode_response(2, info))[0] for info in (analog, alarms))
    decode(a, b, current_unit="10mA")


# --- driver ↔ emulator over a real pty (two packs on one bus) ------------------------------


@pytest.fixture
def emulator():
    emu = PtyBmsEmulator({2: PackState(), 3: PackState(current_raw=55, status1=0x01)}).start()
    yield emu
    emu.stop()


@pytest.fixture
def driver(emulator):
    d = PylontechDriver(emulator.path, address=2)
    d.open()
    yield d
    d.close()


def test_driver_reads_each_pack_by_address(driver, emulator):
    (r2,) = driver.read(time.monotonic() + 2)
    assert_catalogue(r2)
    assert r2.metrics["battery_voltage"] == 49.065
    assert r2.metrics["battery_current"] == -3.2
    assert r2.metrics["battery_soc"] == 65.0
    assert r2.metrics["battery_alarms"] == "none"
    assert r2.metrics["charge_enabled"] == 1 and r2.metrics["discharge_enabled"] == 1
    assert r2.metrics["bms_temperature"] == 24.0
    assert driver.counters.accepted == 2 and driver.counters.rejected == 0
    driver.close()  # ports are opened exclusively: one driver on the bus at a time
    slave = PylontechDriver(emulator.path, address=3)
    slave.open()
    try:
        (r3,) = slave.read(time.monotonic() + 2)
    finally:
        slave.close()
    assert r3.metrics["battery_current"] == 5.5
    assert r3.metrics["battery_alarms"] == "module_overvoltage"


def test_absent_pack_address_is_unavailable(emulator):
    d = PylontechDriver(emulator.path, address=5)
    d.open()
    try:
        with pytest.raises(DeviceUnavailable):
            d.read(time.monotonic() + 0.3)
    finally:
        d.close()


def test_return_code_is_a_protocol_error(emulator):
    emulator.packs[2].return_code = 0x04
    d = PylontechDriver(emulator.path)
    d.open()
    try:
        with pytest.raises(ProtocolError, match="CID2 invalid"):
            d.read(time.monotonic() + 2)
    finally:
        d.close()
    assert d.counters.reasons == {"return_code": 1}


def test_spec_registers_and_builds_a_working_driver(emulator):
    import drivers.battery.pylontech.spec as spec

    assert registry()["pylontech"] is spec.SPEC
    assert spec.SPEC.options["address"].default == 2
    assert spec.SPEC.options["current_unit"].check("1A") is not None
    d = spec.SPEC.factory({"port": emulator.path, "address": 3, "current_unit": "10mA"})
    d.open()
    try:
        assert d.read(time.monotonic() + 2)[0].metrics["battery_current"] == 0.55
    finally:
        d.close()
