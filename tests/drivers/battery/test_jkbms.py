"""JK BMS codec on captured frames, parser properties, and driver ↔ emulator over a real pty."""

from __future__ import annotations

import dataclasses
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.battery.common import Rejected
from drivers.battery.jkbms.codec import (
    CELLS,
    Frame,
    ResponseParser,
    build_request,
    encode,
    encode_response,
    is_read_all_answer,
    split_fields,
)
from drivers.battery.jkbms.driver import JkBmsDriver
from drivers.battery.jkbms.emulator import PackState, PtyBmsEmulator
from drivers.battery.jkbms.fields import decode
from drivers.registry import registry
from tests.drivers.battery.bms_support import (
    assert_catalogue,
    corrupt_one_byte,
    feed_all,
    frames_of,
    load_capture,
)

CAP = load_capture("bms_jkbms_h")
H1, H2 = CAP["h1_response"], CAP["h2_response"]


def parse(data: bytes) -> list:
    return feed_all(ResponseParser(), data)


def test_request_matches_both_captures():
    assert build_request() == CAP["h1_request"] == CAP["h2_request"]


def test_h1_decodes_exactly():
    (frame,) = parse(H1)
    assert (frame.command, frame.source, frame.transport, frame.unparsed) == (6, 0, 1, b"")
    r = decode(frame)
    assert_catalogue(r)
    assert r.metrics == {
        "battery_voltage": 26.58,
        "battery_current": 0.0,
        "battery_soc": 90,
        "battery_cycles": 0,
        "cell_count": 7,
        "battery_capacity": 117,
        "bms_temperature": 28,
        "battery_temperature": 28,
        "battery_alarms": "none",
        "charge_enabled": 1,
        "discharge_enabled": 1,
        "balancing": 0,
        "cell_voltage_min": 3.794,
        "cell_voltage_max": 3.803,
        "cell_voltage_delta": 0.009,
    }
    assert r.extra == {
        "temperatures": "28,28,28",
        "total_cycle_capacity_ah": 5,
        "cell_voltages": "3.794,3.794,3.794,3.794,3.803,3.803,3.803",
    }
    assert r.info == {
        "device_id": "Input Us",
        "firmware": "11.XA_S11.51",
        "product": "Input UserdaJK_B1A8S20P",
    }


def test_h2_decodes_charging_current_by_protocol_version():
    (frame,) = parse(H2)
    assert frame.unparsed == b"" and len(frame.fields) == 59  # every id line of the doc
    r = decode(frame)
    assert r.metrics["battery_voltage"] == 53.59
    assert r.metrics["battery_current"] == 2.08  # 0x80D0, version 1: bit 15 = charging
    assert r.metrics["battery_soc"] == 15
    assert r.metrics["balancing"] == 1
    assert r.metrics["cell_count"] == 14
    assert (r.metrics["cell_voltage_min"], r.metrics["cell_voltage_max"]) == (3.811, 3.835)
    assert r.extra["temperatures"] == "29,30,28"
    assert r.info["firmware"] == "H6.X__S6.1.3S"
    assert decode(frame, current_encoding="offset").metrics["battery_current"] == -229.76
    assert decode(frame, current_sign="inverted").metrics["battery_current"] == -2.08


def test_round_trip_rebuilds_the_captured_frames():
    for raw in (H1, H2):
        (frame,) = parse(raw)
        assert encode_response(list(frame.fields.items())) == raw


def test_unknown_id_keeps_what_came_before():
    fields, rest = split_fields(bytes([0x85, 50, 0xEE, 1, 2, 0x83, 0, 1]))
    assert fields == {0x85: b"\x32"} and rest == bytes([0xEE, 1, 2, 0x83, 0, 1])
    assert split_fields(bytes([CELLS, 6, 1, 0x0D])) == ({}, bytes([CELLS, 6, 1, 0x0D]))


def test_every_single_byte_corruption_is_rejected():
    unused = {len(H1) - 4, len(H1) - 3}  # the checksum's two unused bytes carry nothing
    for i in set(range(len(H1))) - unused:
        for xor in (0x01, 0x80):
            events = parse(corrupt_one_byte(H1, i, xor))
            assert frames_of(events) == [], (i, xor)
            assert sum(e.nbytes for e in events) == len(H1)


def test_every_truncation_is_rejected_and_the_next_frame_survives():
    for n in range(1, len(H1), 7):
        events = parse(H1[:n] + H2)
        assert [type(e) for e in events][-1] is Frame, n
        assert sum(e.nbytes for e in events if isinstance(e, Rejected)) == n


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_random_garbage_never_yields_frames_or_raises(data):
    events = parse(b"NW" + data)
    assert frames_of(events) == []
    assert sum(e.nbytes for e in events) == len(data) + 2


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=40).filter(lambda b: b"N" not in b),
    st.lists(st.integers(0, 600), max_size=8),
)
def test_split_invariance_and_resync_after_garbage(noise, cuts):
    data = noise + H1 + noise + H2 + noise
    whole = parse(data)
    assert feed_all(ResponseParser(), data, cuts) == whole
    assert len(frames_of(whole)) == 2


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(["auto", "sign_bit", "offset"]))
def test_decode_never_raises_on_any_verified_information(info, encoding):
    (frame,) = parse(encode(6, info, 1, 0))
    decode(frame, current_encoding=encoding)


# --- driver ↔ emulator over a real pty ------------------------------------------------------


@pytest.fixture
def emulator():
    emu = PtyBmsEmulator().start()
    yield emu
    emu.stop()


@pytest.fixture
def driver(emulator):
    d = JkBmsDriver(emulator.path)
    d.open()
    yield d
    d.close()


def test_driver_reads_the_emulated_pack(driver):
    (r,) = driver.read(time.monotonic() + 2)
    assert_catalogue(r)
    assert r.metrics["battery_voltage"] == 26.57
    assert r.metrics["battery_current"] == -4.25
    assert r.metrics["battery_temperature"] == -3
    assert r.metrics["cell_voltage_delta"] == 0.007
    assert r.metrics["battery_capacity"] == 100
    assert driver.info == {"firmware": "11.XW_S11.26", "product": "EMULATED"}
    assert driver.counters.accepted == 1 and driver.counters.rejected == 0


def test_an_answer_with_command_byte_0x03_is_read():
    """Some firmware (11.XW) answers read-all with command 0x03: the pack must still go ok."""
    with PtyBmsEmulator(PackState(command=0x03)) as emu:
        d = JkBmsDriver(emu.path)
        d.open()
        try:
            assert d.read(time.monotonic() + 5)[0].metrics["battery_voltage"] == 26.57
        finally:
            d.close()


def test_only_a_response_with_read_all_fields_is_an_answer():
    (echo,) = ResponseParser().feed(build_request())
    assert not is_read_all_answer(echo)  # an RS485 adapter echoing our request
    (ack,) = ResponseParser().feed(encode_response([], command=0x02))
    assert not is_read_all_answer(ack)  # a write acknowledged, no measurements
    (captured,) = ResponseParser().feed(H1)  # the real 11.XA answer, command 0x06
    assert captured.command == 0x06 and is_read_all_answer(captured)
    assert is_read_all_answer(dataclasses.replace(captured, command=0x03))


def test_version_0_current_encoding_round_trips():
    with PtyBmsEmulator(PackState(version=0, current=12.5)) as emu:
        d = JkBmsDriver(emu.path)
        d.open()
        try:
            assert d.read(time.monotonic() + 2)[0].metrics["battery_current"] == 12.5
        finally:
            d.close()


def test_spec_registers_and_builds_a_working_driver(emulator):
    import drivers.battery.jkbms.spec as spec

    assert registry()["jkbms"] is spec.SPEC
    assert spec.SPEC.options["baudrate"].default == 115200
    assert spec.SPEC.options["current_encoding"].check("v2") is not None
    d = spec.SPEC.factory({"port": emulator.path, "current_sign": "inverted"})
    d.open()
    try:
        assert d.read(time.monotonic() + 2)[0].metrics["battery_current"] == 4.25
    finally:
        d.close()
