"""Topic and payload builders: the exact bytes dashboards depend on, and history batching."""

from __future__ import annotations

import gzip
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from edged.readings import DeviceState, Liveness, Record
from telemetry import topics


def record(device="mppt", ts=60.0, synced=True, rid=1, **metrics) -> Record:
    return Record(device, ts, synced, 12, metrics or {"battery_voltage": 13.2}, id=rid)


def test_topics_follow_the_contract():
    root = "edged/kalaban-coro"
    assert topics.status_topic(root) == "edged/kalaban-coro/status"
    assert topics.telemetry_topic(root, "mppt") == "edged/kalaban-coro/telemetry/mppt"
    assert topics.history_topic(root, "mppt") == "edged/kalaban-coro/history/mppt"
    assert topics.device_topic(root, "bms") == "edged/kalaban-coro/device/bms"
    assert (topics.STATUS_ONLINE, topics.STATUS_OFFLINE) == (b"online", b"offline")


def test_telemetry_payload_is_compact_json_with_clock_quality():
    r = record(ts=1700000040.0, synced=False, battery_voltage=13.25, charger_state="float")
    assert topics.telemetry_payload(r) == (
        b'{"ts":1700000040,"metrics":{"battery_voltage":13.25,"charger_state":"float"},'
        b'"clock":"unsynced","sample_count":12}'
    )


def test_fractional_ts_and_whole_floats_and_non_finite_values():
    r = record(ts=60.5, battery_power=120.0, battery_current=float("nan"), pv_power=float("inf"))
    assert json.loads(topics.telemetry_payload(r)) == {
        "ts": 60.5,
        "metrics": {"battery_power": 120, "battery_current": None, "pv_power": None},
        "clock": "synced",
        "sample_count": 12,
    }


def test_history_payload_oldest_first_plain_and_gzip():
    records = [record(ts=60.0, rid=1), record(ts=120.0, synced=False, rid=2)]
    plain = topics.history_payload(records, compress=False)
    assert json.loads(plain) == {
        "samples": [
            {"ts": 60, "metrics": {"battery_voltage": 13.2}, "clock": "synced"},
            {"ts": 120, "metrics": {"battery_voltage": 13.2}, "clock": "unsynced"},
        ]
    }
    packed = topics.history_payload(records, compress=True)
    assert packed[:2] == b"\x1f\x8b"
    assert gzip.decompress(packed) == plain
    assert topics.history_payload(records, compress=True) == packed, "reproducible bytes"
    assert topics.decode_payload(packed) == topics.decode_payload(plain)


def test_history_compression_pays_on_a_realistic_batch():
    metrics = {"battery_voltage": 13.21, "battery_current": 4.5, "battery_soc": 87, "pv_power": 210}
    records = [record(ts=60.0 * i, rid=i, **metrics) for i in range(60)]
    plain = topics.history_payload(records, compress=False)
    packed = topics.history_payload(records, compress=True)
    assert len(packed) * 4 < len(plain)


def test_device_state_payload_flattens_info_without_overriding_state():
    state = DeviceState(
        Liveness.OK, 1700000000.0, {"product": "BMV-712", "serial": "HQ1234", "state": "bogus"}
    )
    assert json.loads(topics.device_state_payload(state)) == {
        "state": "ok",
        "last_seen": 1700000000,
        "counters": {},
        "product": "BMV-712",
        "serial": "HQ1234",
    }


backlogs = st.lists(st.sampled_from(["a", "b", "c"]), max_size=80).map(
    lambda devices: [record(device=d, ts=60.0 * i, rid=i + 1) for i, d in enumerate(devices)]
)


@settings(max_examples=200, deadline=None)
@given(backlogs, st.integers(1, 7), st.integers(1, 12), st.booleans())
def test_history_batches(records, batch, max_messages, complete):
    batches = topics.history_batches(records, batch, max_messages, complete)
    assert len(batches) <= max_messages
    assert all(0 < len(b) <= batch and len({r.device for r in b}) == 1 for b in batches)
    sent = [r for b in batches for r in b]
    assert len({r.id for r in sent}) == len(sent), "a record is in one batch only"
    for device in "abc":  # per device: the oldest of the slice, in order, without gaps
        mine = [r.id for r in records if r.device == device]
        out = [r.id for b in batches for r in b if r.device == device]
        assert out == mine[: len(out)]
    if records:
        assert batches[0][0] is records[0], "the oldest record always leaves first"
    if complete and max_messages >= len(records):
        assert len(sent) == len(records)
    if not complete:
        assert all(len(b) == batch for b in batches[1:]), "short batches wait to be filled"
