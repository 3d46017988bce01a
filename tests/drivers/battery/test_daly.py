"""Daly codec on the documented/demo frames, parser properties, driver ↔ emulator over a pty."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.battery.common import Rejected
from drivers.battery.daly import codec
from drivers.battery.daly.codec import Frame, ResponseParser, build_request, encode_response
from drivers.battery.daly.driver import DalyDriver
from drivers.battery.daly.emulator import PackState, PtyBmsEmulator
from drivers.battery.daly.fields import decode
from drivers.registry import registry
from tests.drivers.battery.bms_support import (
    assert_catalogue,
    corrupt_one_byte,
    feed_all,
    frames_of,
    load_capture,
)

CAP = load_capture("bms_daly_g")
DEMO = b"".join(v for k, v in CAP.items() if k.startswith("demo_") and k != "demo_96")


def parse(data: bytes) -> list:
    return feed_all(ResponseParser(), data)


def test_worked_example_request_and_response():
    assert build_request(codec.SOC_VOLTAGE_CURRENT) == CAP["worked_request_90"]
    r = decode(parse(CAP["worked_response_90"]))
    assert r.metrics == {"battery_voltage": 76.4, "battery_current": 11.3, "battery_soc": 0.0}
    inverted = decode(parse(CAP["worked_response_90"]), current_sign="inverted")
    assert inverted.metrics["battery_current"] == -11.3


def test_demo_frames_decode_exactly():
    events = parse(DEMO)
    assert len(events) == 8 and all(isinstance(e, Frame) for e in events)
    r = decode(events)
    assert_catalogue(r)
    assert r.metrics == {
        "battery_voltage": 24.8,
        "battery_current": 0.0,
        "battery_soc": 38.5,
        "cell_voltage_max": 3.154,
        "cell_voltage_min": 2.923,
        "cell_voltage_delta": 0.231,
        "battery_temperature": 21,
        "charge_enabled": 1,
        "discharge_enabled": 0,
        "battery_remaining_ah": 40.425,
        "cell_count": 8,
        "battery_cycles": 1,
    }
    assert r.extra == {
        "state": "stationary",
        "temperature_min": 21,
        "cell_voltages": "2.923,3.138,3.139,3.132,3.154,3.139,3.072,3.144",
    }


def test_mock_frames_and_leading_garbage():
    assert decode(parse(CAP["mock_90"])).metrics["battery_current"] == 25.6
    events = parse(CAP["mock_94_with_garbage"])
    assert events[0] == Rejected("garbage", 2)
    assert decode(events[1:]).metrics == {"cell_count": 14, "battery_cycles": 0}


def test_failure_flags_are_named():
    data = bytes([0b0000_0001, 0, 0b0000_0100, 0, 0, 0, 0b0000_0100])
    r = decode(parse(encode_response(codec.FAILURES, data)))
    assert r.metrics["battery_alarms"] == (
        "cell_voltage_high_level1,discharge_overcurrent_level1,short_circuit_protection_failure"
    )
    assert decode(parse(encode_response(codec.FAILURES, bytes(8)))).metrics == {
        "battery_alarms": "none"
    }


def test_encode_response_reproduces_the_documented_bytes():
    (frame,) = parse(CAP["worked_response_90"])
    assert encode_response(frame.command, frame.data, frame.address) == CAP["worked_response_90"]


def test_every_single_byte_corruption_is_rejected():
    frame = CAP["demo_93"]
    for i in range(len(frame)):
        for xor in (0x01, 0x80, 0xFF):
            events = parse(corrupt_one_byte(frame, i, xor))
            assert frames_of(events) == [], (i, xor)
            assert sum(e.nbytes for e in events) == len(frame)


def test_every_truncation_is_rejected_and_the_next_frame_survives():
    nxt = CAP["demo_90"]
    for n in range(1, 13):
        events = parse(CAP["demo_93"][:n] + nxt)
        assert frames_of(events) == [Frame(0x01, 0x90, nxt[4:12])], n
        assert sum(e.nbytes for e in events if isinstance(e, Rejected)) == n


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_random_garbage_never_yields_frames_or_raises(data):
    events = parse(data)
    # A 13-byte window passing a 1-byte sum can occur by chance in long random input; what must
    # hold is that every byte is accounted for and any frame is well-formed.
    assert sum(13 if isinstance(e, Frame) else e.nbytes for e in events) == len(data)
    assert all(codec.encode(f.address, f.command, f.data) in data for f in frames_of(events))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=12).filter(lambda b: 0xA5 not in b))
def test_short_garbage_never_yields_frames(data):
    assert frames_of(parse(data)) == []


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=40).filter(lambda b: 0xA5 not in b),
    st.lists(st.integers(0, 200), max_size=8),
)
def test_split_invariance_and_resync_after_garbage(noise, cuts):
    data = noise + DEMO + noise
    whole = parse(data)
    assert feed_all(ResponseParser(), data, cuts) == whole
    assert len(frames_of(whole)) == 8


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(range(0x90, 0x99)), st.binary(max_size=8)), max_size=9))
def test_decode_never_raises_on_any_verified_frames(answers):
    frames = frames_of(parse(b"".join(encode_response(c, d) for c, d in answers)))
    decode(frames)


# --- driver ↔ emulator over a real pty ------------------------------------------------------


@pytest.fixture
def emulator():
    emu = PtyBmsEmulator(PackState(failures=1 << 40)).start()
    yield emu
    emu.stop()


@pytest.fixture
def driver(emulator):
    d = DalyDriver(emulator.path)
    d.open()
    yield d
    d.close()


def test_driver_reads_the_emulated_pack(driver, emulator):
    (r,) = driver.read(time.monotonic() + 2)
    assert_catalogue(r)
    assert emulator.requests_seen == 7
    assert r.metrics["battery_voltage"] == 26.4
    assert r.metrics["battery_current"] == -7.5
    assert r.metrics["battery_soc"] == 76.5
    assert r.metrics["cell_count"] == 8
    assert r.metrics["cell_voltage_delta"] == 0.012
    assert r.metrics["battery_alarms"] == "afe_chip_failure"
    assert r.extra["cell_voltages"] == "3.301,3.305,3.298,3.31,3.302,3.299,3.304,3.307"
    assert r.extra["state"] == "discharging"
    assert driver.counters.accepted == 5 + 3 + 1 and driver.counters.rejected == 0


def test_spec_registers_and_builds_a_working_driver():
    import drivers.battery.daly.spec as spec

    assert registry()["daly"] is spec.SPEC
    assert spec.SPEC.options["address"].check(0) is not None
    with PtyBmsEmulator(board=2) as emu:
        d = spec.SPEC.factory({"port": emu.path, "address": 2, "current_sign": "inverted"})
        d.open()
        try:
            assert d.read(time.monotonic() + 2)[0].metrics["battery_current"] == 7.5
        finally:
            d.close()
