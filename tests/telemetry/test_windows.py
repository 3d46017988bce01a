"""Window aggregation: exact aggregates per catalogue rule, boundaries, clock jumps, idle close."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edged.readings import Record, Sample
from telemetry.windows import WindowAggregator


def s(ts: float, synced: bool = True, device: str = "mppt", **metrics) -> Sample:
    return Sample(device, ts, synced, metrics)


def test_window_closes_on_first_sample_of_next_window_with_exact_aggregates():
    agg = WindowAggregator(60)
    assert (
        agg.add(s(120.0, battery_voltage=12.0, battery_soc=80.0, charger_state="bulk"), 1, 0) == []
    )
    agg.add(s(150.5, battery_voltage=12.5, battery_soc=81.0, charger_state="absorption"), 2, 1)
    agg.add(s(179.999, battery_voltage=13.1, battery_soc=82.5), 3, 2)
    [closed] = agg.add(s(180.0, battery_voltage=14.0), 4, 3)
    assert closed.record == Record(
        "mppt",
        120.0,
        True,
        3,
        {"battery_voltage": 12.5333, "battery_soc": 82.5, "charger_state": "absorption"},
    )
    assert closed.last_seq == 3
    [rest] = agg.flush_all()
    assert (rest.record.ts, rest.record.samples, rest.last_seq) == (180.0, 1, 4)


def test_one_unsynced_sample_marks_the_record_unsynced():
    agg = WindowAggregator(60)
    agg.add(s(0.0, battery_voltage=1.0), 1, 0)
    agg.add(s(1.0, synced=False, battery_voltage=3.0), 2, 0)
    [closed] = agg.flush_all()
    assert closed.record.clock_synced is False
    assert closed.record.metrics == {"battery_voltage": 2.0}


@pytest.mark.parametrize("jump_to", [60.0 - 3600, 60.0 + 86400])
def test_clock_jump_either_way_just_closes_the_open_window(jump_to):
    agg = WindowAggregator(60)
    agg.add(s(60.0, pv_power=10), 1, 0)
    agg.add(s(61.0, pv_power=20), 2, 0)
    [closed] = agg.add(s(jump_to, pv_power=99), 3, 0)
    assert (closed.record.ts, closed.record.samples, closed.record.metrics) == (
        60.0,
        2,
        {"pv_power": 15.0},
    )
    [new] = agg.flush_all()
    assert new.record.ts == jump_to - jump_to % 60


def test_devices_have_independent_windows():
    agg = WindowAggregator(10)
    agg.add(s(0.0, device="a", pv_power=1), 1, 0)
    agg.add(s(5.0, device="b", pv_power=2), 2, 0)
    [closed] = agg.add(s(10.0, device="a", pv_power=3), 3, 0)
    assert closed.record.device == "a"
    assert sorted(agg.open_devices) == ["a", "b"]


def test_close_idle_uses_monotonic_time_and_grace():
    agg = WindowAggregator(60, grace=5)
    agg.add(s(1000.0, pv_power=1), 1, now_mono=500.0)
    agg.add(s(1001.0, pv_power=3), 2, now_mono=501.0)
    assert agg.close_idle(501.0 + 64.9) == []
    [closed] = agg.close_idle(501.0 + 65.0)
    assert (closed.record.ts, closed.record.samples, closed.last_seq) == (960.0, 2, 2)
    assert agg.open_devices == []


def test_rejects_non_positive_interval():
    with pytest.raises(ValueError):
        WindowAggregator(0)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b"]), st.floats(0, 1000), st.floats(-50, 50)),
        max_size=60,
    )
)
def test_every_sample_lands_in_exactly_one_record(rows):
    agg = WindowAggregator(60)
    closed = []
    for seq, (device, ts, value) in enumerate(rows, start=1):
        closed += agg.add(s(ts, device=device, battery_current=value), seq, 0)
    closed += agg.flush_all()
    assert sum(c.record.samples for c in closed) == len(rows)
    for device in ("a", "b"):
        seqs = [c.last_seq for c in closed if c.record.device == device]
        assert seqs == sorted(seqs)
        assert len(seqs) == len(set(seqs))
    for c in closed:
        assert c.record.ts % 60 == 0
