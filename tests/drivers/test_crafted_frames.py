"""Crafted frames with valid checksums on every binary and ASCII-hex protocol, every numeric
field at its widest (all bits set) or oversized: the codec and decoder must not raise, and the
catalogue check (`edged.metrics.check`, applied by the runner to every reading) must refuse
what no device can mean, so nothing implausible is stored. VE.Direct's text fields are covered
in tests/drivers/victron/test_vedirect_fields.py (400-digit values), the daemon end to end in
tests/e2e/test_faults_inputs.py.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.battery.daly import codec as daly_codec
from drivers.battery.daly import fields as daly_fields
from drivers.battery.jbd import codec as jbd_codec
from drivers.battery.jbd import fields as jbd_fields
from drivers.battery.jkbms import codec as jk_codec
from drivers.battery.jkbms import fields as jk_fields
from drivers.battery.pylontech import codec as pylon_codec
from drivers.battery.pylontech import fields as pylon_fields
from drivers.modbus.decode import decode as modbus_decode
from drivers.modbus.mapfile import builtin_maps, load_map
from edged.metrics import CATALOGUE, check
from edged.readings import Reading


def frames(parser, wire: bytes) -> list:
    events = parser.feed(wire)
    assert all(type(e).__name__ == "Frame" for e in events), events  # the checksum held
    return events


def assert_checked(reading: Reading, refused: set[str]) -> None:
    """`check` refuses exactly `refused` and keeps every other value, all within bounds."""
    kept, rejections = check(reading.metrics)
    assert {r.metric for r in rejections} == refused, rejections
    for name, value in kept.items():
        bounds = CATALOGUE[name].bounds
        assert bounds is None or bounds[0] <= value <= bounds[1], (name, value)


def jbd_reading(basic: bytes, cells: bytes) -> Reading:
    wire = jbd_codec.encode_response(jbd_codec.BASIC_INFO, basic)
    wire += jbd_codec.encode_response(jbd_codec.CELL_VOLTAGES, cells)
    return jbd_fields.decode(frames(jbd_codec.ResponseParser(), wire))


def test_jbd_all_ones_payloads():
    reading = jbd_reading(b"\xff" * 255, b"\xff" * 254)  # 255 NTCs claimed, 116 present
    assert reading.metrics["battery_soc"] == 255 and reading.metrics["cell_count"] == 127
    refused = {"battery_soc", "battery_temperature", "cell_voltage_min", "cell_voltage_max"}
    assert_checked(reading, refused | {"mosfet_temperature"})


def test_pylontech_all_ones_info_of_the_largest_length():
    wire = pylon_codec.encode_response(2, b"\xff" * 2047)  # LENID 4094: the 12-bit maximum
    (analog,) = frames(pylon_codec.ResponseParser(), wire)
    reading = pylon_fields.decode(analog, analog)
    # 255 cells of 65.535 V, 255 temperatures of 6280.4 °C; current and voltage stay plausible
    refused = {"cell_voltage_min", "cell_voltage_max", "bms_temperature", "battery_temperature"}
    assert_checked(reading, refused | {"mosfet_temperature"})


def test_daly_all_ones_answers():
    commands = [*daly_fields.TABLES, daly_codec.CELL_VOLTAGES, daly_codec.FAILURES]
    wire = b"".join(daly_codec.encode_response(cmd, b"\xff" * 8) for cmd in commands)
    reading = daly_fields.decode(frames(daly_codec.ResponseParser(), wire))
    refused = {"battery_voltage", "battery_soc", "cell_voltage_min", "cell_voltage_max"}
    refused |= {
        "battery_temperature",
        "charge_enabled",
        "discharge_enabled",
        "battery_remaining_ah",
    }
    assert_checked(reading, refused)


def test_jkbms_every_known_id_all_ones_and_the_longest_cell_list():
    known = [(ident, b"\xff" * size) for ident, size in jk_codec.SIZES.items()]
    wire = jk_codec.encode_response([(jk_codec.CELLS, b"\xff" * 255), *known])
    (frame,) = frames(jk_codec.ResponseParser(), wire)
    reading = jk_fields.decode(frame)
    refused = {"battery_soc", "battery_capacity", "cell_voltage_min", "cell_voltage_max"}
    assert_checked(reading, refused | {"bms_temperature", "battery_temperature"})


def test_modbus_maps_with_every_word_all_ones():
    for path in builtin_maps():
        rmap = load_map(path)
        words = {
            (reg.function, a): 0xFFFF
            for reg in rmap.registers
            for a in range(reg.address, reg.address + reg.width)
        }
        decoded = modbus_decode(rmap, words)
        kept, _ = check(decoded.metrics)
        for name, value in kept.items():
            bounds = CATALOGUE[name].bounds
            assert bounds is None or bounds[0] <= value <= bounds[1], (path.name, name)


PAYLOADS = st.binary(min_size=0, max_size=300)


@settings(max_examples=200)
@given(PAYLOADS, PAYLOADS)
def test_jbd_any_payload_decodes_and_checks_without_raising(basic, cells):
    assert_bounded(jbd_reading(basic[:255], cells[:255]))


@settings(max_examples=200)
@given(st.lists(st.tuples(st.sampled_from(sorted(jk_codec.SIZES)), st.integers(0, 2**32))))
def test_jkbms_oversized_numeric_fields_decode_and_check_without_raising(values):
    fields = [
        (ident, (v % 256 ** jk_codec.SIZES[ident]).to_bytes(jk_codec.SIZES[ident], "big"))
        for ident, v in values
    ]
    (frame,) = frames(jk_codec.ResponseParser(), jk_codec.encode_response(fields))
    assert_bounded(jk_fields.decode(frame))


@settings(max_examples=200)
@given(st.binary(max_size=600))
def test_pylontech_any_info_decodes_and_checks_without_raising(info):
    (frame,) = frames(pylon_codec.ResponseParser(), pylon_codec.encode_response(2, info))
    assert_bounded(pylon_fields.decode(frame, frame))


def assert_bounded(reading: Reading) -> None:
    kept, _ = check(reading.metrics)
    for name, value in kept.items():
        bounds = CATALOGUE[name].bounds
        assert bounds is None or bounds[0] <= value <= bounds[1], (name, value)
