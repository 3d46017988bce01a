"""VE.Direct records -> readings: field table, code tables, range checks, block assembly.

Exact values come from the captures in tests/captures (A1, A3, A7, A9, A10); A7/A9 lost their
checksum byte, so they are used here for field decoding only, never for framing.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.victron.vedirect.assembler import MAX_BLOCKS, BlockAssembler
from drivers.victron.vedirect.codec import Block, TextCodec
from drivers.victron.vedirect.fields import (
    BOUNDS,
    FIELDS,
    INFO,
    RecordRejected,
    decode,
    unknown_labels,
)
from edged.metrics import CATALOGUE
from tests.drivers.victron.test_vedirect_codec import _body, capture_hex, wire_bytes


def text_fields(name: str) -> list[tuple[str, str]]:
    """Fields of a checksum-lost text capture (TAB, or runs of spaces in A9; `..` = CR LF)."""
    rows = []
    for line in _body(name).replace("..", "").splitlines():
        label, _, value = line.replace("\t", " ").partition(" ")
        if label and label != "Checksum":
            rows.append((label, value.strip()))
    return rows


def records(raw: bytes, drop_first: bool = False) -> list[tuple[tuple[str, str], ...]]:
    assembler, out = BlockAssembler(), []
    for event in TextCodec(drop_first=drop_first).feed(raw):
        if isinstance(event, Block):
            out += assembler.add(event.fields)
    return out + assembler.flush()


A1_METRICS = {
    "battery_voltage": 12.53,
    "battery_current": 0.62,
    "pv_voltage": 33.58,
    "pv_power": 8,
    "charger_state": "bulk",
    "charger_error": 0,
    "charger_error_name": "none",
    "load_on": 1,
    "load_current": 0.0,
    "yield_total": 82.72,
    "yield_today": 0.0,
    "max_power_today": 11,
    "yield_yesterday": 0.25,
    "max_power_yesterday": 119,
    "day_sequence": 274,
}


def test_a1_bluesolar_block_decodes_to_exact_metrics():
    (record,) = records(capture_hex("vedirect_a1_block1.hex"))
    reading = decode(record)
    assert reading.metrics == A1_METRICS
    assert reading.info == {
        "pid": "0xA042",
        "product": "BlueSolar MPPT 75/15",
        "firmware": "v1.23",
        "serial": "HQ1411MYIKN",
    }
    assert reading.extra == {}


def test_a3_bmv_main_and_history_merge_into_one_exact_reading():
    (record,) = records(capture_hex("vedirect_a3_bmv700_main_history.hex"))
    reading = decode(record)
    assert reading.metrics == {
        "battery_voltage": 12.065,
        "battery_current": -7.625,
        "battery_power": -92,
        "battery_consumed_ah": -65.473,
        "battery_soc": 83.9,
        "battery_time_to_go": 942,
        "alarm_on": 0,
        "relay_on": 0,
        "alarm_reason": "none",
        "battery_deepest_discharge_ah": -149.322,
        "battery_last_discharge_ah": -82.854,
        "battery_average_discharge_ah": 0.0,
        "battery_cycles": 0,
        "battery_full_discharges": 0,
        "battery_total_ah_drawn": -5526.294,
        "battery_voltage_min_seen": 11.733,
        "battery_voltage_max_seen": 16.161,
        "battery_seconds_since_full": 368003,
        "battery_sync_count": 26,
        "battery_low_voltage_alarms": 0,
        "battery_high_voltage_alarms": 0,
        "energy_discharged_total": 68.43,
        "energy_charged_total": 85.27,
    }
    assert reading.info == {
        "pid": "0x0203",
        "product": "BMV-700",
        "model": "700",
        "firmware": "v3.08",
    }


def test_a3_stream_assembles_one_record_per_cycle():
    """Opened into the stream: history, then main+history pairs, each record whole."""
    out = records(wire_bytes("vedirect_a3_bmv700_start.txt"), drop_first=True)
    assert [len(r) for r in out] == [14 + 12, 14]  # history(1)+main(2), then history(2)
    assert dict(out[0])["H9"] == "368003" and dict(out[0])["I"] == "-7626"


def test_a7_bluesolar_absorption_fields():
    reading = decode(text_fields("vedirect_a7_bluesolar_75_10.txt"))
    assert reading.metrics == {
        "battery_voltage": 14.99,
        "battery_current": 2.77,
        "pv_voltage": 20.45,
        "pv_power": 42,
        "charger_state": "absorption",
        "charger_error": 0,
        "charger_error_name": "none",
        "load_on": 0,
        "load_current": 0.0,
        "yield_total": 60.78,
        "yield_today": 0.14,
        "max_power_today": 100,
        "yield_yesterday": 0.52,
        "max_power_yesterday": 148,
        "day_sequence": 208,
    }
    assert reading.info["product"] == "BlueSolar MPPT 75/10"
    assert reading.info["firmware"] == "v1.27"


def test_a9_smartsolar_night_fields():
    reading = decode(text_fields("vedirect_a9_smartsolar_75_15.txt"))
    m = reading.metrics
    assert (m["battery_voltage"], m["pv_voltage"], m["pv_power"]) == (12.0, 0.01, 0)
    assert (m["charger_state"], m["tracker_mode"], m["charger_off_reason"]) == (
        "off",
        "off",
        "no_input_power",
    )
    assert (m["yield_total"], m["yield_yesterday"], m["max_power_yesterday"]) == (102.06, 0.02, 8)
    assert m["day_sequence"] == 279
    assert reading.info == {
        "pid": "0xA053",
        "product": "SmartSolar MPPT 75/15",
        "firmware": "v1.50",
        "serial": "HQ9999ABCDE",
    }


def test_a10b_logger_decoded_fields():
    """The OpenDTU logger's own decoding of a SmartSolar 150/35 (note `0X` in OR)."""
    fields = [("CS", "3"), ("MPPT", "2"), ("OR", "0X00000000"), ("ERR", "0"), ("LOAD", "OFF")]
    fields += [("H19", "154381"), ("H20", "807"), ("H21", "1528"), ("H22", "849")]
    fields += [("H23", "1459"), ("HSDS", "218")]
    m = decode(fields).metrics
    assert m["tracker_mode"] == "mppt_active" and m["charger_off_reason"] == "none"
    assert (m["yield_total"], m["yield_today"], m["max_power_today"]) == (1543.81, 8.07, 1528)


def test_every_capture_label_is_known():
    labels = [k for r in records(capture_hex("vedirect_a3_bmv700_main_history.hex")) for k, _ in r]
    labels += [k for k, _ in text_fields("vedirect_a9_smartsolar_75_15.txt")]
    assert unknown_labels((k, "") for k in labels) == []


@pytest.mark.parametrize(
    ("fields", "metrics"),
    [
        ([("CS", "252")], {"charger_state": "external_control"}),
        ([("CS", "99")], {"charger_state": "code_99"}),
        ([("ERR", "2")], {"charger_error": 2, "charger_error_name": "battery_voltage_too_high"}),
        ([("ERR", "200")], {"charger_error": 200, "charger_error_name": "code_200"}),
        ([("OR", "0x00000011")], {"charger_off_reason": "no_input_power,protection_active"}),
        ([("OR", "0x00010000")], {"charger_off_reason": "other_0x10000"}),
        ([("AR", "5")], {"alarm_reason": "low_voltage,low_soc"}),
        ([("MPPT", "1")], {"tracker_mode": "voltage_current_limited"}),
        ([("MODE", "253")], {"device_mode": "hibernate"}),
        ([("TTG", "-1")], {}),  # infinite: omitted
        ([("SOC", "---")], {}),  # not available
        (
            [("DM", "-12"), ("VM", "12800")],
            {"battery_midpoint_deviation": -1.2, "battery_midpoint_voltage": 12.8},
        ),
        ([("Relay", "ON"), ("Alarm", "ON")], {"relay_on": 1, "alarm_on": 1}),
        (
            [("T", "-3"), ("VS", "12710")],
            {"battery_temperature": -3, "battery_starter_voltage": 12.71},
        ),
    ],
)
def test_code_tables_and_conversions(fields, metrics):
    assert decode(fields).metrics == metrics


@pytest.mark.parametrize(
    ("fields", "info"),
    [
        ([("PID", "0xA3A0")], {"pid": "0xA3A0", "product": "unknown (0xA3A0)"}),
        ([("PID", "0xa389")], {"pid": "0xA389", "product": "SmartShunt 500A/50mV"}),
        ([("FWE", "316FF")], {"firmware": "v3.16"}),
        ([("FWE", "0316FF")], {"firmware": "v3.16"}),
        ([("FWE", "031612")], {"firmware": "v3.16-12"}),
        ([("FW", "C208")], {"firmware": "v2.08-rcC"}),
        ([("BMV", "SmartShunt 500A/50mV")], {"model": "SmartShunt 500A/50mV"}),
    ],
)
def test_device_info(fields, info):
    assert decode(fields).info == info


def test_unknown_labels_are_kept_raw_and_listed_never_fatal():
    fields = [("V", "12800"), ("XYZ", "42"), ("V2", "13100")]
    reading = decode(fields)
    assert reading.metrics == {"battery_voltage": 12.8, "battery_voltage_2": 13.1}
    assert reading.extra == {"XYZ": "42"}
    assert unknown_labels(fields) == ["XYZ"]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ([("V", "150000")], "out_of_range"),
        ([("VPV", "600000")], "out_of_range"),
        ([("SOC", "1001")], "out_of_range"),
        ([("I", "-5000000")], "out_of_range"),
        ([("HSDS", "900")], "out_of_range"),
        ([("V", "12a30")], "bad_value"),
        ([("V", " 12")], "bad_value"),
        ([("LOAD", "MAYBE")], "bad_value"),
        ([("OR", "17")], "bad_value"),
        ([("PID", "A042")], "bad_value"),
        # crafted, valid checksum: 400 nines overflowed a float when scaled (OverflowError)
        ([("V", "9" * 400)], "bad_value"),
        ([("AC_OUT_S", "9" * 400)], "bad_value"),
        ([("H19", "-" + "9" * 400)], "bad_value"),
        ([("V", "123456789012")], "bad_value"),  # 12 digits: more than a 32-bit field holds
        ([("V2", "-90000")], "out_of_range"),
        ([("V3", "150000")], "out_of_range"),
        ([("I2", "-9000000")], "out_of_range"),
        ([("ERR", "4096")], "out_of_range"),
        ([("MON", "-90000")], "out_of_range"),
        ([("H13", "-1")], "out_of_range"),
        ([("H15", "-900000")], "out_of_range"),
        ([("AC_OUT_V", "99999")], "out_of_range"),
        ([("AC_OUT_I", "99999")], "out_of_range"),
        ([("AC_OUT_S", "99999")], "out_of_range"),
        ([("LOAD", "ON"), ("Relay", "OFF"), ("TTG", "-2")], "out_of_range"),
    ],
)
def test_implausible_records_are_rejected_whole(fields, reason):
    with pytest.raises(RecordRejected) as err:
        decode([("PPV", "8"), *fields])
    assert err.value.reason == reason


def test_every_numeric_label_has_its_own_bounds_inside_the_catalogue_bounds():
    for label, rows in FIELDS.items():
        for row in rows:
            metric = CATALOGUE.get(row.name)
            if metric is None or metric.text:
                continue
            assert row.name in BOUNDS, f"{label} ({row.name}) has no VE.Direct bounds"
            low, high = BOUNDS[row.name]
            assert metric.bounds[0] <= low < high <= metric.bounds[1], row.name


NUMBERS = st.one_of(
    st.integers(-(10**500), 10**500).map(str),
    st.from_regex(r"-?[0-9]{1,900}", fullmatch=True),
    st.text(alphabet="-0123456789x.eE ", max_size=40),
    st.text(max_size=30),
)


@settings(max_examples=400)
@given(st.lists(st.tuples(st.sampled_from([*FIELDS, *INFO]), NUMBERS), min_size=1, max_size=6))
def test_decode_raises_only_record_rejected_and_stored_values_stay_in_bounds(fields):
    try:
        reading = decode(fields)
    except RecordRejected as exc:
        assert exc.reason in ("bad_value", "out_of_range")
        return
    for name, value in reading.metrics.items():
        if not CATALOGUE[name].text:
            assert BOUNDS[name][0] <= value <= BOUNDS[name][1]


def test_every_table_row_feeds_a_catalogue_metric_or_extra_and_never_both():
    for label, rows in FIELDS.items():
        assert label not in INFO
        for row in rows:
            sample = {"LOAD": "ON", "Alarm": "ON", "Relay": "ON", "OR": "0x00000001"}
            reading = decode([(label, sample.get(label, "1"))])
            if row.name in CATALOGUE:
                assert row.name in reading.metrics and row.name not in reading.extra
            else:
                assert row.name in reading.extra


# --- assembler ------------------------------------------------------------------------------


def test_assembler_merges_split_mppt_blocks_and_emits_on_repeat():
    a = (("PID", "0xA05F"), ("V", "1"), ("OR", "0x00000000"))
    b = (("ERR", "0"), ("HSDS", "3"))
    asm = BlockAssembler()
    assert asm.add(a) == [] and asm.add(b) == []
    assert asm.add(a) == [a + b]
    assert asm.flush() == [a] and asm.flush() == []


def test_assembler_single_block_devices_emit_one_record_per_block():
    block = (("PID", "0xA042"), ("V", "1"))
    asm = BlockAssembler()
    out = [r for _ in range(3) for r in asm.add(block)]
    assert out == [block, block]


def test_assembler_bounds_a_record_when_labels_never_repeat():
    asm = BlockAssembler()
    out = [r for i in range(MAX_BLOCKS + 1) for r in asm.add(((f"L{i}", "1"),))]
    assert len(out) == 1 and len(out[0]) == MAX_BLOCKS
