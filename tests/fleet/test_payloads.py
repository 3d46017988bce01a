"""fleet.payloads: the daemon's payloads read exactly; anything else rejected, never raised."""

from __future__ import annotations

import gzip
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet import payloads as p
from fleet.items import Health, Record

TOPICS = [
    "status",
    "telemetry/d",
    "history/d",
    "batch",
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


# -- the compact form (docs/mqtt.md, "Compact records") ---------------------------------------

COMPACT = b'{"v":1,"t":1764000000,"c":1,"n":60,"m":{"0":1253,"1":-46,"l":"float","9":3287}}'


def test_compact_telemetry_as_the_docs_show_it():
    (rec,) = parse("telemetry/mppt", COMPACT)
    assert rec == p.Record(
        "site-1",
        "mppt",
        1764000000.0,
        {
            "battery_voltage": 12.53,
            "battery_current": -0.46,
            "charger_state": "float",
            "cell_voltage_min": 3.287,
        },
        True,
        60,
        True,
    )


def test_a_key_that_is_no_code_is_a_metric_name_with_its_value():
    (rec,) = parse("telemetry/mppt", b'{"v":1,"t":1,"c":0,"m":{"new_metric":1.5,"zz":7}}')
    assert rec.metrics == {"new_metric": 1.5, "zz": 7} and not rec.synced


def test_the_collector_table_is_the_daemon_table():
    from telemetry import compact as site

    assert p.compact.KEYS_V1 == site.KEYS_V1
    assert {code: name for name, (code, _) in site.CODES.items()} == {
        code: name for code, (name, _, _) in p.compact.TABLE_V1.items()
    }


@pytest.mark.parametrize(
    ("rest", "body", "reason"),
    [
        ("telemetry/d", b'{"v":2,"t":1,"m":{}}', "unknown compact version"),
        ("telemetry/d", b'{"v":true,"t":1,"m":{}}', "unknown compact version"),
        ("telemetry/d", b'{"v":"1","t":1,"m":{}}', "unknown compact version"),
        ("telemetry/d", b'{"v":1,"m":{}}', "t is not a number"),
        ("telemetry/d", b'{"v":1,"t":1,"m":[1]}', "m is not an object"),
        ("telemetry/d", b'{"v":1,"t":1,"m":{"0":[1]}}', "battery_voltage is not a number"),
        ("telemetry/d", b'{"v":1,"t":1,"m":{"0":1e300}}', "battery_voltage out of range"),
        ("telemetry/d", b'{"v":1,"t":1,"m":{"0":' + b"9" * 400 + b"}}", "out of range"),
        ("telemetry/d", b'{"v":1,"t":1,"n":-3,"m":{}}', "n -3 out of range"),
        ("history/d", b'{"v":1,"s":{}}', "s is not a list"),
        ("history/d", b'{"v":1,"s":[{"t":1,"m":{}},7]}', "expected a JSON object"),
    ],
)
def test_a_bad_compact_body_is_a_refusal_with_its_reason(rest, body, reason):
    result = parse(rest, body)
    assert isinstance(result, p.Rejected) and reason in result.reason, result


compact_bodies = st.fixed_dictionaries(
    {"v": st.sampled_from([1, 1, 1, 0, 2, None, True, "1"])},
    optional={
        "t": json_values,
        "c": json_values,
        "n": json_values,
        "m": st.dictionaries(
            st.sampled_from(["0", "1", "l", "9", "1z", "20", "x", ""]) | st.text(max_size=3),
            json_values,
            max_size=6,
        )
        | json_values,
    },
)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["telemetry/d", "history/d"]), compact_bodies, st.booleans())
def test_never_raises_on_hostile_compact_bodies(rest, body, as_history):
    if as_history:
        body = {"v": body["v"], "s": [body, body]}
    payload = json.dumps(body).encode()
    for data in (payload, gzip.compress(payload)):
        result = parse(rest, data)
        assert isinstance(result, list | p.Rejected | p.Ignored)
        if isinstance(result, list):
            for item in result:  # what is accepted can be stored: finite numbers, no NUL
                json.dumps(item.__dict__, allow_nan=False)


def _metric_values():
    from edged.metrics import CATALOGUE

    def value(metric):
        if metric.text:
            return st.text(max_size=12).filter(lambda s: "\x00" not in s)
        low, high = metric.bounds
        return st.floats(low, high, allow_nan=False) | st.integers(int(low), int(high))

    names = st.sampled_from(sorted(CATALOGUE))
    return names.flatmap(lambda n: st.tuples(st.just(n), value(CATALOGUE[n])))


@settings(max_examples=300, deadline=None)
@given(st.lists(_metric_values(), max_size=8), st.booleans(), st.integers(0, 10_000))
def test_what_the_site_encodes_the_collector_reads_to_the_resolution(pairs, synced, count):
    from edged.metrics import resolution
    from edged.readings import Record as SiteRecord
    from telemetry import topics

    values = dict(pairs)
    record = SiteRecord("mppt", 1764000000, synced, count, values)
    (live,) = parse("telemetry/mppt", topics.telemetry_payload(record, "compact"))
    (old,) = parse("history/mppt", topics.history_payload([record], True, "compact"))
    assert (live.ts, live.synced, live.samples, live.live) == (1764000000.0, synced, count, True)
    assert (old.synced, old.samples, old.live) == (synced, None, False)
    for got in (live.metrics, old.metrics):
        assert set(got) == set(values)
        for name, value in values.items():
            step = resolution(name)
            if step is None:
                assert got[name] == value
            else:  # half a step of rounding, and a float's relative error on large counts
                assert abs(got[name] - value) <= step / 2 + abs(value) * 1e-12, name


def test_a_frugal_batch_as_the_site_encodes_it_is_every_record_and_health_row():
    from edged.readings import Record as SiteRecord
    from telemetry import topics

    records = [
        SiteRecord("mppt", 1764000000.0 + 60 * i, True, 60, {"pv_power": 120.0 + i}, id=i)
        for i in range(3)
    ] + [SiteRecord("bmv", 1764000000.0, False, 60, {"battery_voltage": 12.53}, id=9)]
    health = [("pibox", {"ts": 1764000030.0, "ok": True, "values": {"cpu_temp": 51.2}})]
    payload = topics.batch_payload(records, health)
    assert payload[:2] == b"\x1f\x8b"
    items = parse("batch", payload)
    got = [(i.device, i.ts, i.metrics, i.synced, i.live) for i in items if isinstance(i, Record)]
    assert got == [
        ("mppt", 1764000000.0, {"pv_power": 120}, True, False),
        ("mppt", 1764000060.0, {"pv_power": 121}, True, False),
        ("mppt", 1764000120.0, {"pv_power": 122}, True, False),
        ("bmv", 1764000000.0, {"battery_voltage": 12.53}, False, False),
    ]
    [row] = [i for i in items if isinstance(i, Health)]
    assert (row.component, row.ts, row.ok) == ("pibox", 1764000030.0, True)
    assert row.values == {"cpu_temp": 51.2}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"v":2,"r":{},"h":{}}', "unknown compact version"),
        (b'{"v":1,"r":[],"h":{}}', "r and h must be objects"),
        (b'{"v":1,"r":{"d/x":[]}}', "expected one topic level"),
        (b'{"v":1,"r":{},"h":{"c":{}}}', "h holds a list per component"),
        (b'{"v":1,"r":{"d":[{"t":1,"m":{"0":[1]}}]}}', "battery_voltage is not a number"),
    ],
)
def test_a_bad_batch_is_a_refusal_with_its_reason(body, reason):
    result = parse("batch", body)
    assert isinstance(result, p.Rejected) and reason in result.reason, result
