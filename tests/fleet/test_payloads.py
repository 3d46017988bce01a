"""fleet.payloads: the daemon's payloads read exactly; anything else rejected, never raised."""

from __future__ import annotations

import gzip
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet import payloads as p

TOPICS = [
    "status",
    "telemetry/d",
    "history/d",
    "device/d",
    "alarm/a.b",
    "health/c",
    "job/j",
    "power/shedding",
    "event/job",
    "report/2026-10",
    "unknown/x",
    "",
    "telemetry",
    "a/b/c",
]


def parse(rest: str, payload: bytes):
    return p.parse(f"edged/site-1/{rest}", payload, "edged")


def test_telemetry_as_the_daemon_writes_it_with_an_unknown_key():
    body = (
        b'{"ts":1764000000,"metrics":{"battery_voltage":12.53},"clock":"synced",'
        b'"sample_count":60,"seq":9}'
    )
    (rec,) = parse("telemetry/mppt", body)
    assert rec == p.Record(
        "site-1", "mppt", 1764000000.0, {"battery_voltage": 12.53}, True, 60, True
    )


LIVE = b'{"ts":1764000000,"metrics":{"v":1},"clock":"synced"'


def test_the_count_of_an_edged_before_issue_13_is_read_too():
    (old,) = parse("telemetry/mppt", LIVE + b',"samples":59}')  # the count's old key
    (both,) = parse("telemetry/mppt", LIVE + b',"sample_count":58,"samples":[1]}')
    (none,) = parse("telemetry/mppt", LIVE + b"}")
    assert (old.samples, both.samples, none.samples) == (59, 58, None)  # the new key wins


@pytest.mark.parametrize(
    ("tail", "reason"),
    [
        (b',"sample_count":[1,2]}', "sample_count is not an integer"),
        (b',"sample_count":true}', "sample_count is not an integer"),
        (b',"sample_count":60.5}', "sample_count is not an integer"),
        (b',"sample_count":-1}', "sample_count -1 out of range"),
        (b',"sample_count":4294967296}', "sample_count 4294967296 out of range"),
        (b',"sample_count":"60"}', "sample_count is not an integer"),
        (b',"samples":[{"ts":1}]}', "samples is not an integer"),  # history's list, live
    ],
)
def test_a_count_that_is_not_one_is_rejected(tail, reason):
    result = parse("telemetry/mppt", LIVE + tail)
    assert isinstance(result, p.Rejected) and reason in result.reason


def test_gzip_history_oldest_first_with_clock_quality():
    samples = [{"ts": 1764000000 + i, "metrics": {"v": i}, "clock": "unsynced"} for i in range(3)]
    data = gzip.compress(json.dumps({"samples": samples}).encode(), mtime=0)
    recs = parse("history/bmv", data)
    assert [(r.ts, r.synced, r.live, r.samples) for r in recs] == [
        (1764000000.0 + i, False, False, None) for i in range(3)
    ]


def test_prefix_with_levels_and_topics_outside_it():
    assert p.parse("a/b/s/status", b"online", "a/b") == [p.Status("s", True)]
    assert isinstance(p.parse("other/s/status", b"online", "edged"), p.Rejected)
    assert isinstance(p.parse("edged/s/alarm/x/y", b"{}", "edged"), p.Rejected)


def test_an_empty_retained_message_is_ignored_not_rejected():
    assert isinstance(parse("alarm/a.b", b""), p.Ignored)
    assert isinstance(parse("telemetry/d", b""), p.Rejected)


def test_a_gzip_bomb_is_rejected_without_inflating_it_all():
    bomb = gzip.compress(b"[" + b" " * (p.MAX_JSON_BYTES + 10) + b"]")
    result = parse("history/d", bomb)
    assert isinstance(result, p.Rejected) and "expands past" in result.reason


def test_gzip_on_a_topic_that_is_never_compressed_is_rejected():
    assert "gzip" in parse("telemetry/d", gzip.compress(b"{}")).reason


def test_deep_nesting_and_huge_numbers_are_rejected():
    assert "not JSON" in parse("device/d", b"[" * 100_000 + b"]" * 100_000).reason
    assert "out of range" in parse("device/d", b'{"x":1e999}').reason


def test_a_job_end_event_carries_the_run_result():
    body = {
        "job": "b",
        "ts": 5,
        "action": "end",
        "started": 1,
        "ended": 5,
        "outcome": "failed",
        "exit_code": 2,
        "duration_s": 4,
    }
    event, result = parse("event/job", json.dumps(body).encode())
    assert isinstance(event, p.Event) and len(event.digest) == 32
    assert (result.job, result.outcome, result.exit_code) == ("b", "failed", 2)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(TOPICS), st.binary(max_size=300))
def test_never_raises_on_random_bytes(rest, payload):
    result = parse(rest, payload)
    assert isinstance(result, list | p.Rejected | p.Ignored)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(TOPICS), json_values)
def test_never_raises_on_random_json(rest, body):
    payload = json.dumps(body).encode()  # NaN and Infinity included: not JSON, rejected
    result = parse(rest, payload)
    assert isinstance(result, list | p.Rejected | p.Ignored)
    if isinstance(result, list):
        for item in result:  # what is accepted can be stored: finite numbers, no NUL
            json.dumps(item.__dict__, allow_nan=False)
