"""JBD codec on captured frames, parser properties, and driver ↔ emulator over a real pty."""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.base import DeviceUnavailable, ProtocolError
from drivers.battery.common import Rejected
from drivers.battery.jbd import codec
from drivers.battery.jbd.codec import Frame, ResponseParser, build_request, encode_response
from drivers.battery.jbd.driver import JbdDriver
from drivers.battery.jbd.emulator import PackState, PtyBmsEmulator, basic_payload
from drivers.battery.jbd.fields import decode
from drivers.battery.ptyemu import PtyEmulator
from drivers.registry import registry
from tests.drivers.battery.bms_support import (
    assert_catalogue,
    corrupt_one_byte,
    feed_all,
    frames_of,
    load_capture,
)

CAP = load_capture("bms_jbd_f1")
GOOD = CAP["basic_info"] + CAP["cell_voltages"] + CAP["hardware"]


def parse(data: bytes) -> list:
    return feed_all(ResponseParser(), data)


def test_captured_basic_info_and_cells_decode_exactly():
    events = parse(CAP["basic_info"] + CAP["cell_voltages"])
    assert [type(e) for e in events] == [Frame, Frame]
    r = decode(events)
    assert_catalogue(r)
    assert r.metrics == {
        "battery_voltage": 15.6,
        "battery_current": -2.87,
        "battery_remaining_ah": 4.98,
        "battery_capacity": 5.0,
        "battery_cycles": 42,
        "battery_soc": 100,
        "cell_count": 4,
        "balancing": 0,
        "battery_alarms": "none",
        "charge_enabled": 1,
        "discharge_enabled": 1,
        "battery_temperature": 22.0,  # NTC 2 and 3; NTC 1 (22.4) is the MOSFET
        "mosfet_temperature": 22.4,
        "cell_voltage_min": 3.417,
        "cell_voltage_max": 3.432,
        "cell_voltage_delta": 0.015,
    }
    assert r.extra == {
        "production_date": "2022-03-28",
        "temperatures": "22.4,22.3,21.7",
        "cell_voltages": "3.43,3.425,3.432,3.417",
    }
    assert r.info == {"firmware": "8.0"}


def with_ntcs(celsius: list[float]) -> bytes:
    """The captured 0x03 frame with its NTC list replaced (same layout, fresh checksum)."""
    (frame,) = parse(CAP["basic_info"])
    head = frame.payload[:22]
    temps = b"".join((round(t * 10) + 2731).to_bytes(2, "big") for t in celsius)
    return encode_response(codec.BASIC_INFO, head + bytes([len(celsius)]) + temps)


def test_first_of_several_ntcs_is_the_mosfet_not_the_cells():
    # Issue 13 item 10: a JBD pack with several NTCs reports its MOSFET on the first. Under a
    # charge current the FETs run hot: battery_temperature must stay the cells'.
    r = decode(parse(with_ntcs([58.0, 24.0, 25.0])))
    assert r.metrics["battery_temperature"] == 24.5
    assert r.metrics["mosfet_temperature"] == 58.0
    assert r.extra["temperatures"] == "58,24,25"
    two = decode(parse(with_ntcs([41.0, 23.5])))
    assert (two.metrics["battery_temperature"], two.metrics["mosfet_temperature"]) == (23.5, 41.0)


def test_a_single_ntc_is_the_cells():
    r = decode(parse(with_ntcs([23.0])))
    assert r.metrics["battery_temperature"] == 23.0
    assert "mosfet_temperature" not in r.metrics
    none = decode(parse(with_ntcs([])))
    assert "battery_temperature" not in none.metrics and "mosfet_temperature" not in none.metrics


def test_current_sign_option_flips_only_the_current():
    r = decode(parse(CAP["basic_info"]), current_sign="inverted")
    assert r.metrics["battery_current"] == 2.87
    assert r.metrics["battery_voltage"] == 15.6


def test_hardware_frame_and_protection_bits():
    (hw,) = parse(CAP["hardware"])
    assert (hw.register, hw.status, hw.payload) == (0x05, 0, b"0123456789")
    assert decode(parse(CAP["protection_bit0"])).metrics["battery_alarms"] == "cell_overvoltage"
    assert decode(parse(CAP["protection_bit15"])).metrics["battery_alarms"] == "bit15"


def test_broken_captures_are_rejected_with_reasons():
    wrong_end = parse(CAP["wrong_end"])
    assert frames_of(wrong_end) == []
    assert wrong_end[0] == Rejected("framing", 1)
    assert parse(CAP["wrong_crc"]) == [Rejected("checksum", 36)]


def test_requests_match_the_protocol_document():
    assert build_request(codec.BASIC_INFO) == bytes.fromhex("DDA50300FFFD77")
    assert build_request(codec.CELL_VOLTAGES) == bytes.fromhex("DDA50400FFFC77")
    assert build_request(0x00, b"\x56\x78", codec.WRITE) == CAP["write_mode_request"]


def test_encode_response_reproduces_captured_bytes():
    for name in ("basic_info", "cell_voltages", "hardware"):
        (frame,) = parse(CAP[name])
        assert encode_response(frame.register, frame.payload, frame.status) == CAP[name]


def test_every_single_byte_corruption_is_rejected():
    for frame in (CAP["basic_info"], CAP["cell_voltages"]):
        for i in range(len(frame)):
            for xor in (0x01, 0x80, 0xFF):
                events = parse(corrupt_one_byte(frame, i, xor))
                if i == 1:
                    # The register byte is outside the checksum (protocol weakness): the frame
                    # passes but names another register, which the driver does not accept.
                    assert [f.register for f in events] == [frame[1] ^ xor]
                    continue
                assert frames_of(events) == [], (i, xor)
                assert sum(e.nbytes for e in events) == len(frame)


def test_every_truncation_is_rejected():
    frame = CAP["basic_info"]
    for n in range(1, len(frame)):
        events = parse(frame[:n])
        assert frames_of(events) == []
        assert events[-1] == Rejected("truncated", n)


def test_a_truncated_frame_followed_by_a_good_one_loses_only_itself():
    events = parse(CAP["basic_info"][:20] + CAP["cell_voltages"])
    assert [e.register for e in frames_of(events)] == [codec.CELL_VOLTAGES]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_random_garbage_never_yields_frames_or_raises(data):
    events = parse(data)
    assert frames_of(events) == []
    assert sum(e.nbytes for e in events) == len(data)


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=40).filter(lambda b: 0xDD not in b),
    st.lists(st.integers(0, 200), max_size=8),
)
def test_split_invariance_and_resync_after_garbage(noise, cuts):
    data = noise + GOOD + noise
    whole = parse(data)
    assert feed_all(ResponseParser(), data, cuts) == whole
    assert [f.register for f in frames_of(whole)] == [0x03, 0x04, 0x05]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([0x03, 0x04]), st.integers(0, 255), st.binary(max_size=60))
def test_decode_never_raises_on_any_verified_payload(register, status, payload):
    (frame,) = parse(encode_response(register, payload, status))
    decode([frame])


# --- driver ↔ emulator over a real pty ------------------------------------------------------


@pytest.fixture
def emulator():
    emu = PtyBmsEmulator().start()
    yield emu
    emu.stop()


@pytest.fixture
def driver(emulator):
    d = JbdDriver(emulator.path)
    d.open()
    yield d
    d.close()


def test_driver_reads_the_emulated_pack(driver):
    (r,) = driver.read(time.monotonic() + 2)
    assert_catalogue(r)
    assert r.metrics["battery_voltage"] == 13.24
    assert r.metrics["battery_current"] == 5.5
    assert r.metrics["battery_soc"] == 80
    assert r.metrics["cell_voltage_min"] == 3.305
    assert r.extra["cell_voltages"] == "3.31,3.312,3.305,3.313"
    assert r.extra["temperatures"] == "29,25,26"
    assert (r.metrics["mosfet_temperature"], r.metrics["battery_temperature"]) == (29.0, 25.5)
    assert driver.counters.accepted == 2 and driver.counters.rejected == 0
    assert driver.info == {"firmware": "8.0"}


def test_answering_only_the_first_request_is_a_protocol_error():
    # A device that spoke during the poll is misbehaving, not gone.
    first = encode_response(codec.BASIC_INFO, basic_payload(PackState()))
    with PtyEmulator({build_request(codec.BASIC_INFO): None}, lambda _key: first) as emu:
        d = JbdDriver(emu.path)
        d.open()
        try:
            with pytest.raises(ProtocolError, match="incomplete"):
                d.read(time.monotonic() + 0.3)
        finally:
            d.close()
    assert d.counters.accepted == 1


def test_open_of_a_missing_port_is_unavailable(tmp_path):
    with pytest.raises(DeviceUnavailable):
        JbdDriver(str(tmp_path / "ttyUSB9")).open()


def test_spec_registers_and_builds_a_working_driver(emulator):
    import drivers.battery.jbd.spec as spec

    assert registry()["jbd"] is spec.SPEC
    assert spec.SPEC.options["baudrate"].default == 9600
    assert spec.SPEC.options["current_sign"].check("sideways") is not None
    d = spec.SPEC.factory({"port": emulator.path, "baudrate": 9600, "current_sign": "inverted"})
    d.open()
    try:
        assert d.read(time.monotonic() + 2)[0].metrics["battery_current"] == -5.5
    finally:
        d.close()


def test_a_stopped_emulators_port_never_leads_to_the_next_emulator():
    # The kernel recycles pty numbers: a driver reopening a stopped emulator's /dev/pts/N would
    # become a second reader of the next emulator's pty and steal its answers.
    old = PtyBmsEmulator().start()
    stale = old.path
    old.stop()
    new = PtyBmsEmulator().start()
    try:
        with pytest.raises(DeviceUnavailable):
            JbdDriver(stale).open()
        d = JbdDriver(new.path)
        d.open()
        try:
            for _ in range(10):
                (reading,) = d.read(time.monotonic() + 5)
                assert reading.metrics["battery_voltage"] == 13.24
        finally:
            d.close()
    finally:
        new.stop()
    assert not os.path.lexists(new.path)
