"""VE.Direct codec on real captured wire bytes (tests/captures/vedirect_*) and properties.

The captures are the authority: exact decoded fields and HEX payloads are asserted. The property
tests fuzz the framing rules of protocols.md 1.2: never raise, split invariance, resync after
garbage, single-byte corruption never passes, encode/decode identity.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.victron.vedirect.codec import (
    MAX_FIELDS,
    Block,
    HexFrame,
    Rejected,
    TextCodec,
    encode_block,
    encode_hex,
)

CAPTURES = Path(__file__).resolve().parents[2] / "captures"
PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _body(name: str) -> str:
    return (CAPTURES / name).read_text(encoding="utf-8").split("#---\n", 1)[1]


def capture_hex(name: str) -> bytes:
    """Wire bytes of a `.hex` capture."""
    return bytes.fromhex(_body(name))


def wire_bytes(name: str) -> bytes:
    """Wire bytes of a verbatim `.txt` capture: the store shows CR LF as LF (the checksums only
    hold with CR LF), HEX frames end in a bare LF, checksum bytes are Latin-1 characters.
    Characters beyond Latin-1 (U+FFFD replacing a lost byte) stay as their UTF-8 bytes."""
    text = re.sub(r"(:[0-9A-F]+)\r\n", r"\1\n", _body(name).replace("\n", "\r\n"))
    return b"".join(c.encode("latin-1" if ord(c) < 256 else "utf-8") for c in text)


def events(data: bytes, drop_first: bool = True) -> list:
    return TextCodec(drop_first=drop_first).feed(data)


def blocks(evs: list) -> list[dict[str, str]]:
    return [dict(e.fields) for e in evs if isinstance(e, Block)]


A1_FIRST = (
    ("PID", "0xA042"),
    ("FW", "123"),
    ("SER#", "HQ1411MYIKN"),
    ("V", "12530"),
    ("I", "620"),
    ("VPV", "33580"),
    ("PPV", "8"),
    ("CS", "3"),
    ("ERR", "0"),
    ("LOAD", "ON"),
    ("IL", "0"),
    ("H19", "8272"),
    ("H20", "0"),
    ("H21", "11"),
    ("H22", "25"),
    ("H23", "119"),
    ("HSDS", "274"),
)


def history_1050(frame: HexFrame) -> dict[str, int]:
    """The few 0x1050 (today's history) fields the capture notes cross-check."""
    assert frame.command == 0xA and frame.data[:3] == b"\x50\x10\x00"
    rec = frame.data[3:]
    assert len(rec) == 34
    le = int.from_bytes
    return {
        "v_max": le(rec[9:11], "little"),
        "v_min": le(rec[11:13], "little"),
        "bulk_min": le(rec[18:20], "little"),
        "p_max": le(rec[24:28], "little"),
        "pv_max": le(rec[30:32], "little"),
        "day": le(rec[32:34], "little"),
    }


# --- real captures -------------------------------------------------------------------------


def test_a1_block_decodes_to_the_exact_fields():
    raw = capture_hex("vedirect_a1_block1.hex")
    assert len(raw) == 164 and raw[-1] == 0xB0
    assert events(raw, drop_first=False) == [Block(A1_FIRST)]


def test_first_block_after_open_is_always_dropped_even_when_valid():
    raw = capture_hex("vedirect_a1_block1.hex")
    assert events(raw) == [Rejected("partial_first_block", 164)]
    assert events(raw + raw) == [Rejected("partial_first_block", 164), Block(A1_FIRST)]


def test_a1_verbatim_text_restores_to_the_captured_wire_bytes():
    wire = wire_bytes("vedirect_a1_bluesolar_75_15_start.txt")
    assert wire[0] == 0xB4  # checksum byte of the block before, whose start was not captured
    assert wire[1:165] == capture_hex("vedirect_a1_block1.hex")
    evs = events(wire)
    assert evs[0] == Rejected("partial_first_block", 165)
    (second,) = blocks(evs)
    assert (second["I"], second["VPV"]) == ("640", "31390")
    assert wire[-1] == 0xB1


@pytest.mark.parametrize(
    ("name", "checksum", "changed", "pv_max"),
    [
        (
            "vedirect_a1_hex_after_checksum.hex",
            0xAA,
            {"V": "12540", "I": "650", "VPV": "32790"},
            0x0DC8,
        ),
        ("vedirect_a1_ad_block.hex", 0xAD, {"I": "390", "VPV": "37930", "PPV": "4"}, 0x0E04),
    ],
)
def test_a1_hex_frame_right_after_the_checksum_byte(name, checksum, changed, pv_max):
    raw = capture_hex(name)
    assert raw[163:165] == bytes([checksum]) + b":"  # no separator between block and frame
    block, frame = events(raw, drop_first=False)
    assert block == Block(tuple((k, changed.get(k, v)) for k, v in A1_FIRST))
    assert history_1050(frame) == {
        "v_max": 1261,  # 12.61 V
        "v_min": 1222,
        "bulk_min": 194,
        "p_max": 11,  # = H21
        "pv_max": pv_max,  # 35.28 V, 35.88 V
        "day": 274,  # = HSDS
    }


def test_a1_three_blocks_with_async_hex_frames_in_between():
    evs = events(wire_bytes("vedirect_a1_bluesolar_75_15_ad_triple.txt"))
    kinds = [type(e).__name__ for e in evs]
    assert kinds == ["Rejected", "HexFrame", "Block", "HexFrame", "Block", "HexFrame"]
    assert evs[0].reason == "partial_first_block"
    frames = [history_1050(e)["pv_max"] for e in evs if isinstance(e, HexFrame)]
    assert frames == [0x0DD2, 0x0E04, 0x0E18]  # panel V max rising 35.38 -> 36.08 V
    assert [(b["I"], b["VPV"], b["PPV"]) for b in blocks(evs)] == [
        ("390", "37930", "4"),  # the block whose checksum byte is 0xAD
        ("490", "37040", "6"),
    ]


BMV_MAIN = {
    "PID": "0x203",
    "V": "12065",
    "I": "-7625",
    "P": "-92",
    "CE": "-65473",
    "SOC": "839",
    "TTG": "942",
    "Alarm": "OFF",
    "Relay": "OFF",
    "AR": "0",
    "BMV": "700",
    "FW": "0308",
}
BMV_HISTORY = {
    "H1": "-149322",
    "H2": "-82854",
    "H3": "0",
    "H4": "0",
    "H5": "0",
    "H6": "-5526294",
    "H7": "11733",
    "H8": "16161",
    "H9": "368003",
    "H10": "26",
    "H11": "0",
    "H12": "0",
    "H17": "6843",
    "H18": "8527",
}


def test_a3_bmv_main_and_history_blocks():
    raw = capture_hex("vedirect_a3_bmv700_main_history.hex")
    assert len(raw) == 123 + 139
    main, history = events(raw, drop_first=False)
    assert list(main.fields) == list(BMV_MAIN.items())
    assert list(history.fields) == list(BMV_HISTORY.items())


def test_a3_verbatim_stream_keeps_every_block_after_the_first():
    evs = events(wire_bytes("vedirect_a3_bmv700_start.txt"))
    assert evs[0] == Rejected("partial_first_block", 123)
    assert blocks(evs) == [
        BMV_HISTORY,
        BMV_MAIN | {"I": "-7626", "CE": "-65476"},
        BMV_HISTORY | {"H6": "-5526296", "H9": "368004"},
    ]


def test_a3_bad_packets_yield_no_block():
    """Lost checksum bytes (U+FFFD on the wire) and history blocks without a Checksum line."""
    evs = events(wire_bytes("vedirect_a3_bmv700_bad_packets.txt"))
    assert blocks(evs) == []
    assert [e.reason for e in evs] == [
        "partial_first_block",
        "checksum",  # history with no Checksum line ran into a main block with 0xEF
        "garbage",  # 0xBF 0xBD, the rest of U+FFFD
        "checksum",
        "checksum",
    ]


A10A_FRAMES = [
    HexFrame(7, bytes.fromhex("DBED009E16")),  # get 0xEDDB internal temp 57.90 C
    HexFrame(7, bytes.fromhex("ECED00FFFF")),  # get 0xEDEC battery temp n/a
    HexFrame(7, bytes.fromhex("27200054500100")),  # get 0x2027 = 0x00015054
    HexFrame(0xA, bytes.fromhex("D7ED00A000")),  # charger current 16.0 A
    HexFrame(0xA, bytes.fromhex("BCED0035500100")),  # panel power 860.69 W
    HexFrame(0xA, bytes.fromhex("D5ED008D14")),  # charger voltage 52.61 V
    HexFrame(0xA, bytes.fromhex("BBED002518")),  # panel voltage 61.81 V
    HexFrame(0xA, bytes.fromhex("022000FFFF")),
    HexFrame(0xA, bytes.fromhex("0A2000FFFFFF7F")),
    HexFrame(0xA, bytes.fromhex("132000FFFFFF7F")),
]


def test_a10_raw_dump_with_ten_hex_frames_before_a_text_block():
    raw = capture_hex("vedirect_a10a_smartsolar_100_20_48v.hex")
    evs = events(raw)
    assert evs == A10A_FRAMES  # the text block that follows is cut: nothing more, yet
    assert int.from_bytes(evs[2].data[3:], "little") == 0x00015054
    tail = raw[raw.index(b"\r\nPID") :]
    assert tail.startswith(b"\r\nPID\t0xA060\r\nFW\t163\r\nSER#\tHQ2228VY2QD\r\nV\t52590\r\n")


def test_a10b_dumps_float_and_absorption_voltages():
    evs = events(capture_hex("vedirect_a10b_smartsolar_150_35.hex"))
    assert all(isinstance(e, HexFrame) for e in evs) and len(evs) == 8
    regs = {int.from_bytes(e.data[:2], "little"): e.data[3:] for e in evs}
    assert int.from_bytes(regs[0xEDF6], "little") == 5610  # float 56.10 V
    assert int.from_bytes(regs[0xEDF7], "little") == 5700  # absorption 57.00 V
    assert int.from_bytes(regs[0xEDBC], "little") == 0xA1  # panel power 1.61 W
    nxt = events(capture_hex("vedirect_a10b_smartsolar_150_35_next.hex"))
    assert nxt == [HexFrame(0xA, bytes.fromhex("BCED00BF000000"))]  # the logger's 0xBF


@pytest.mark.parametrize(
    ("request_", "response", "expected"),
    [  # go-victron request/response pairs
        (":154\n", ":51641F9\n", HexFrame(5, bytes.fromhex("1641"))),
        (":7F0ED0071\n", ":7F0ED009600DB\n", HexFrame(7, bytes.fromhex("F0ED009600"))),
        (":451\n", ":156A05E\n", HexFrame(1, bytes.fromhex("56A0"))),
        (":7F2ED006F\n", ":7F2ED00ACF9CA\n", HexFrame(7, bytes.fromhex("F2ED00ACF9"))),
        (":777770060\n", ":77777015F\n", HexFrame(7, bytes.fromhex("777701"))),
    ],
)
def test_hex_request_response_pairs(request_, response, expected):
    (req,) = events(request_.encode())
    assert encode_hex(req.command, req.data) == request_.encode()
    assert events(response.encode()) == [expected]
    assert encode_hex(expected.command, expected.data) == response.encode()


def test_hex_library_checksum_vectors():
    assert encode_hex(7, bytes.fromhex("001000"))[-3:-1] == b"3E"
    assert encode_hex(7, bytes.fromhex("001000C800"))[-3:-1] == b"76"


# --- framing rules on constructed streams ------------------------------------------------------


def block_with_checksum(byte: int) -> bytes:
    """A real-looking block whose checksum byte is `byte`: the serial's last 4 characters
    (each '0'..'z') are chosen to shift the byte sum where it needs to be."""

    def with_serial(tail: bytes) -> bytes:
        fields = (*A1_FIRST[:2], ("SER#", "HQ1411M" + tail.decode()), *A1_FIRST[3:])
        return encode_block(fields)

    delta = (-sum(with_serial(b"0000")[:-1]) - byte) % 256  # to add over four '0' (0x30)
    tail = bytearray(b"0000")
    for i in range(4):
        step = min(delta, 0x7A - 0x30)
        tail[i] += step
        delta -= step
    raw = with_serial(bytes(tail))
    assert raw[-1] == byte
    return raw


@pytest.mark.parametrize("byte", [0x0A, 0x0D, 0x09, 0x3A, 0x00, 0xFF])
def test_checksum_byte_may_be_any_value(byte):
    good = encode_block(A1_FIRST)
    odd = block_with_checksum(byte)
    evs = events(good + odd + good + encode_hex(0xA, b"\x01\x02") + good)
    assert [e for e in evs if not isinstance(e, Block)][1:] == [HexFrame(0xA, b"\x01\x02")]
    serial = odd.split(b"SER#\t")[1].split(b"\r")[0].decode()
    assert [b["SER#"] for b in blocks(evs)] == [serial, "HQ1411MYIKN", "HQ1411MYIKN"]


def test_hex_frame_interrupting_a_block_is_excluded_from_its_checksum():
    raw = encode_block(A1_FIRST)
    cut = raw.index(b"\r\nCS")
    for at in (cut, cut + 1, cut + 2, cut + 4):  # between fields, in CR LF, in a label/value
        stream = raw + raw[:at] + encode_hex(0xA, b"\x50\x10\x00") + raw[at:]
        assert events(stream)[1:] == [HexFrame(0xA, b"\x50\x10\x00"), Block(A1_FIRST)]


def test_broken_hex_frames_are_rejected_and_the_stream_recovers():
    good = encode_block(A1_FIRST)
    bad_sum = encode_hex(0xA, b"\x01\x02")[:-3] + b"00\n"
    fe_end = encode_hex(0xA, b"\x01\x02")[:-1] + b"\xfe"  # terminator arrived as 0xFE
    evs = events(good + bad_sum + good + fe_end + good)
    assert [e.reason for e in evs if isinstance(e, Rejected)][1:] == [
        "hex_checksum",
        "bad_hex",
        "garbage",
    ]
    assert blocks(evs) == [dict(A1_FIRST)] * 2


def test_oversize_and_malformed_blocks_are_rejected():
    good = encode_block(A1_FIRST)
    many = encode_block([(f"X{i}", "1") for i in range(MAX_FIELDS + 5)])
    huge = encode_block([("SER#", "A" * 1100)])
    no_tab = b"\r\nPID 0xA042\r\nV\t12\r\nChecksum\tx"
    evs = events(good + many + good + huge + good + no_tab + good)
    reasons = [e.reason for e in evs if isinstance(e, Rejected)][1:]
    assert reasons[:1] == ["oversize"] and "oversize" in reasons[1:] and "bad_field" in reasons
    assert blocks(evs) == [dict(A1_FIRST)] * 3


def test_garbage_between_blocks_is_counted_once_resynced():
    good = encode_block(A1_FIRST)
    evs = events(good + b"\x00\xffnoise\x11" + good)
    assert evs[1:] == [Rejected("garbage", 8), Block(A1_FIRST)]


# --- properties ---------------------------------------------------------------------------------

labels = st.text(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789#_", min_size=1, max_size=8
).filter(lambda s: s != "Checksum")
values = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters=":"), max_size=20
)
field_lists = st.lists(st.tuples(labels, values), min_size=1, max_size=20)
hex_frames = st.builds(encode_hex, st.integers(0, 15), st.binary(max_size=36))
streams = st.lists(st.one_of(field_lists.map(encode_block), hex_frames), min_size=1, max_size=6)


@PROPS
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise_and_never_yield_a_block(data):
    evs = TextCodec().feed(data)
    assert not any(isinstance(e, Block) for e in evs)


@PROPS
@given(
    st.lists(
        st.sampled_from([b"\r", b"\n", b"\t", b":", b"Checksum", b"A", b"0", b"\xad"]), max_size=300
    )
)
def test_protocol_like_noise_never_raises(parts):
    TextCodec(drop_first=False).feed(b"".join(parts))


@PROPS
@given(streams, st.lists(st.integers(0, 5000), max_size=12))
def test_any_split_gives_the_same_events(parts, cuts):
    data = b"".join(parts)
    whole = TextCodec().feed(data)
    codec, split = TextCodec(), []
    bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    for a, b in zip(bounds, bounds[1:], strict=False):
        split += codec.feed(data[a:b])
    assert split == whole


@PROPS
@given(st.binary(max_size=300), st.lists(field_lists, min_size=2, max_size=5))
def test_garbage_prepended_still_yields_every_block_after_the_first(garbage, records):
    evs = TextCodec().feed(garbage + b"".join(encode_block(r) for r in records))
    assert [e.fields for e in evs if isinstance(e, Block)] == [tuple(r) for r in records[1:]]


@PROPS
@given(field_lists, st.data())
def test_a_corrupted_byte_never_lets_its_block_through(fields, data):
    good = encode_block(A1_FIRST)
    target = encode_block(fields)
    at = data.draw(st.integers(0, len(target) - 1))
    new = data.draw(st.integers(0, 255).filter(lambda b: b != target[at]))
    bad = target[:at] + bytes([new]) + target[at + 1 :]
    emitted = [e.fields for e in TextCodec().feed(good + bad + good) if isinstance(e, Block)]
    assert tuple(fields) not in emitted


@PROPS
@given(field_lists)
def test_encode_then_decode_is_identity(fields):
    assert TextCodec(drop_first=False).feed(encode_block(fields)) == [Block(tuple(fields))]


@PROPS
@given(st.integers(0, 15), st.binary(max_size=40))
def test_hex_encode_then_decode_is_identity(command, data):
    assert TextCodec().feed(encode_hex(command, data)) == [HexFrame(command, data)]
