"""Pure decoding of known register contents, and fuzzing: the decoder never raises on garbage."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.modbus.decode import (
    decode,
    decode_info,
    decode_string,
    encode,
    encode_string,
    unsigned,
)
from drivers.modbus.mapfile import builtin_maps, load_builtin, load_map
from edged.metrics import CATALOGUE

SYSTEM = load_builtin("victron_gx_system")
SOLAR = load_builtin("victron_gx_solarcharger")
BATTERY = load_builtin("victron_gx_battery")
EPEVER = load_builtin("epever_tracer")


def words(fc: int, start: int, *values: int) -> dict[tuple[int, int], int]:
    return {(fc, start + i): v for i, v in enumerate(values)}


def test_gx_system_scales_signs_and_traps():
    # 840 26.4 V, 841 -12.3 A (two's complement), 842 -325 W, 843 87 %, 845 185 -> -18.5 Ah,
    # 846 36 x 100 s = 3600 s = 60 min.
    w = words(3, 840, 264, 0x10000 - 123, 0x10000 - 325, 87) | words(3, 845, 185, 36)
    d = decode(SYSTEM, w)
    assert d.metrics == {
        "battery_voltage": 26.4,
        "battery_current": -12.3,
        "battery_power": -325,
        "battery_soc": 87,
        "battery_consumed_ah": -18.5,
        "battery_time_to_go": 60.0,
    }
    assert d.rejected == []


def test_negative_scale_zero_is_plain_zero():
    d = decode(SYSTEM, words(3, 845, 0))
    assert d.metrics["battery_consumed_ah"] == 0 and str(d.metrics["battery_consumed_ah"]) == "0.0"


def test_not_available_sentinel_is_absent_not_a_number():
    d = decode(SYSTEM, words(3, 845, 10, 0xFFFF))
    assert "battery_time_to_go" not in d.metrics
    assert d.rejected == ["na:battery_time_to_go"]


def test_solarcharger_state_and_error_use_vedirect_names():
    w = words(3, 775, 4) | words(3, 788, 17) | words(3, 774, 4)
    d = decode(SOLAR, w)
    assert d.metrics["charger_state"] == "absorption"
    assert d.metrics["charger_error"] == 17
    assert d.metrics["charger_error_name"] == "charger_temperature_high"
    assert d.metrics["device_mode"] == "off"
    unknown = decode(SOLAR, words(3, 775, 99) | words(3, 788, 250))
    assert unknown.metrics["charger_state"] == "code_99"
    assert unknown.metrics["charger_error_name"] == "code_250"


def test_yield_counter_wrap_from_dbus_modbustcp_9():
    # captures.md C: VictronConnect ~9428 kWh, GX register 790 read 2874.6 kWh: uint16 wrapped.
    wrapped_raw = 94280 % 65536
    d = decode(SOLAR, words(3, 790, wrapped_raw), previous=words(3, 790, 65000))
    assert d.metrics["yield_total"] == 2874.4
    assert d.extra["yield_total_modulo"] == 6553.6
    assert d.extra["yield_total_wrapped"] == 1
    steady = decode(SOLAR, words(3, 790, 28746), previous=words(3, 790, 28744))
    assert "yield_total_wrapped" not in steady.extra


def test_battery_alarm_registers_and_fields():
    w = words(3, 267, 2) | words(3, 268, 0, 2) | words(3, 278, 2)
    d = decode(BATTERY, w)
    assert d.metrics["alarm_on"] == 1
    assert d.metrics["battery_alarms"] == "high_voltage,fuse_blown"
    assert decode(BATTERY, words(3, 268, 0)).metrics["battery_alarms"] == "none"


def test_epever_32_bit_low_word_first_and_signed_current():
    # 0x3102/0x3103 PV power L/H: 0x0001_86A0 = 100000 -> 1000.00 W.
    # 0x331B/0x331C battery current: -46 as int32 -> low 0xFFD2, high 0xFFFF -> -0.46 A.
    w = words(4, 0x3102, 0x86A0, 0x0001) | words(4, 0x331B, 0xFFD2, 0xFFFF)
    d = decode(EPEVER, w)
    assert d.metrics["pv_power"] == 1000.0
    assert d.metrics["battery_current"] == -0.46
    assert unsigned(EPEVER.registers[2], w, "high_first") == 0x86A00001


def test_epever_status_bits():
    # 0x3201: D0 running, D3-2 = 1 float -> 0b0101; then boost + PV short + no input power (night).
    d = decode(EPEVER, words(4, 0x3200, 0x0000, 0b0101))
    assert d.metrics["charger_state"] == "float"
    assert d.metrics["charger_error"] == 0
    assert d.metrics["charger_error_name"] == "none"
    assert d.metrics["battery_alarms"] == "none"
    fault = decode(EPEVER, words(4, 0x3200, 0x0102 | 0x8000, 0x4000 | 0x0010 | 0x0008 | 0x0002))
    assert fault.metrics["charger_state"] == "bulk"
    # D1 while boost-charging is no fault by itself (Tracer BN set it whenever they charge).
    assert fault.metrics["charger_error"] == 0x0010
    assert fault.metrics["charger_error_name"] == "pv_input_short"  # D15-14 = 1: night
    assert fault.metrics["charger_fault_flag"] == 0
    assert (
        fault.metrics["battery_alarms"]
        == "under_voltage,inner_resistance_abnormal,wrong_rated_voltage"
    )


def test_range_rejects_tasmota_soc_2813():
    # captures.md D3: a confused read gave SOC 2813 % (arendst/Tasmota#12205).
    d = decode(EPEVER, words(4, 0x311A, 2813))
    assert "battery_soc" not in d.metrics
    assert d.rejected == ["range:battery_soc"]


def test_float32_and_word_order(tmp_path):
    path = tmp_path / "f.toml"
    path.write_text(
        '[device]\nname = "f"\nword_order = "low_first"\n'
        '[[register]]\naddress = 10\ntype = "float32"\nmetric = "pv_power"\n'
    )
    rmap = load_map(path)
    # 123.5 = 0x42F70000; low word first on the wire.
    assert decode(rmap, words(3, 10, 0x0000, 0x42F7)).metrics == {"pv_power": 123.5}
    nan = decode(rmap, words(3, 10, 0x0000, 0x7FC0))
    assert nan.metrics == {} and nan.rejected == ["range:pv_power"]


ALL_MAPS = [load_map(p) for p in builtin_maps()]


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(ALL_MAPS),
    st.dictionaries(
        st.tuples(st.sampled_from([3, 4]), st.integers(0, 0x10000)),
        st.one_of(st.integers(-(2**20), 2**20), st.booleans(), st.none(), st.floats(), st.text()),
        max_size=60,
    ),
)
def test_fuzz_decode_never_raises_and_rejects_garbage(rmap, raw):
    d = decode(rmap, raw, previous=raw)
    for name, value in d.metrics.items():
        assert name in CATALOGUE
        assert isinstance(value, str) == CATALOGUE[name].text
    for reg in rmap.registers:  # a register holding any non-16-bit word never yields a metric
        got = [raw.get((reg.function, reg.address + i)) for i in range(reg.width)]
        bad = [w for w in got if w is not None and not (type(w) is int and 0 <= w <= 0xFFFF)]
        if bad and reg.metric:
            assert f"garbage:{reg.metric}" in d.rejected


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ALL_MAPS), st.data())
def test_encode_then_decode_is_identity(rmap, data):
    reg = data.draw(st.sampled_from([r for r in rmap.registers if r.metric]))
    bits = 16 * reg.width
    lo, hi = (
        (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        if reg.type.startswith("int")
        else (0, 2**bits - 1)
    )
    raw = data.draw(st.integers(lo, hi))
    value = raw / reg.scale * reg.factor
    w = dict(
        zip(
            [(reg.function, reg.address + i) for i in range(reg.width)],
            encode(rmap, reg, value),
            strict=True,
        )
    )
    d = decode(rmap, w)
    if reg.metric in d.metrics:
        assert abs(d.metrics[reg.metric] - value) <= 1e-6 * max(1, abs(value))


# --- identity strings ([[info]] rows) ----------------------------------------------------------

SERIAL = SYSTEM.info[0]


def test_string_is_two_ascii_characters_per_register_high_byte_first():
    # the GX's own test (dbus_modbustcp test/mapping_test.h readString) sets "a1b2c3e4f5a6"
    assert decode_string([0x6131, 0x6232, 0x6333, 0x6534, 0x6635, 0x6136]) == "a1b2c3e4f5a6"
    assert decode_string([0x6131, 0x6232, 0x6333, 0x6534, 0, 0]) == "a1b2c3e4"  # readShortString
    assert decode_string([0x2020, 0x4142, 0x4320, 0x2000]) == "ABC"  # space padding, either end
    assert decode_string([0x4100, 0x4142]) == "A"  # text ends at the first NUL, as in C
    assert decode_string([0, 0, 0]) == ""  # the GX's "invalid": nothing said
    assert decode_string([]) == ""


def test_string_with_a_non_printable_byte_or_a_non_word_is_not_text():
    assert decode_string([0x6131, 0x0732]) is None  # BEL
    assert decode_string([0x61E9]) is None  # Latin-1 é: outside ASCII
    assert decode_string([0x6131, 0x10000]) is None
    assert decode_string([0x6131, None]) is None
    assert decode_string([True]) is None


def test_decode_info_says_why_a_key_is_absent():
    serial = encode_string(SERIAL, "c0619ab1e2f3")
    assert decode_info(SYSTEM, words(3, 800, *serial)) == ({"serial": "c0619ab1e2f3"}, [])
    assert decode_info(SYSTEM, words(3, 800, *[0] * 6)) == ({}, ["na:serial"])
    assert decode_info(SYSTEM, words(3, 800, 0x1B5B, *[0] * 5)) == ({}, ["garbage:serial"])
    assert decode_info(SYSTEM, words(3, 800, *serial[:5])) == ({}, ["garbage:serial"])  # short
    assert decode_info(SYSTEM, words(3, 840, 264)) == ({}, [])  # not read at all (exception)


def test_encode_string_pads_with_nul_and_refuses_what_does_not_fit():
    assert encode_string(SERIAL, "ab") == [0x6162, 0, 0, 0, 0, 0]
    try:
        encode_string(SERIAL, "x" * 13)
    except ValueError as exc:
        assert "does not fit in 6 registers" in str(exc)
    else:
        raise AssertionError("13 characters fitted in 6 registers")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 0xFFFF), max_size=10))
def test_any_words_decode_to_none_or_clean_printable_text(ws):
    text = decode_string(ws)
    assert text is None or (text == text.strip(" ") and all(" " <= c <= "~" for c in text))
    assert decode_info(SYSTEM, words(3, 800, *ws[:6]))  # never raises, whatever the words


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(st.integers(), st.none(), st.booleans(), st.text(max_size=2)), max_size=8)
)
def test_string_decoder_never_raises_on_values_that_are_not_words(ws):
    assert decode_string(ws) is None or all(isinstance(w, int) for w in ws)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=12))
def test_encode_then_decode_string_is_identity(text):
    assert decode_string(encode_string(SERIAL, text)) == text
