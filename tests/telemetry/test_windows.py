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


def test_forward_clock_jump_just_closes_the_open_window():
    agg = WindowAggregator(60)
    agg.add(s(60.0, pv_power=10), 1, 0)
    agg.add(s(61.0, pv_power=20), 2, 0)
    jump_to = 60.0 + 86400
    [closed] = agg.add(s(jump_to, pv_power=99), 3, 0)
    assert (closed.record.ts, closed.record.samples, closed.record.metrics) == (
        60.0,
        2,
        {"pv_power": 15.0},
    )
    [new] = agg.flush_all()
    assert new.record.ts == jump_to - jump_to % 60


def test_small_backward_jump_folds_into_the_open_window_and_never_reopens_a_closed_one():
    agg = WindowAggregator(60)
    agg.add(s(100.0, pv_power=1), 1, 0.0)
    [first] = agg.add(s(125.0, pv_power=2), 2, 25.0)  # 120: closes 60
    assert first.record.ts == 60.0
    # the clock steps back 75 s: 50 falls in window 0, before the closed 60 and the open 120
    assert agg.add(s(50.0, pv_power=4), 3, 26.0) == []
    assert agg.add(s(70.0, pv_power=6), 4, 46.0) == []  # 60: closed, never reopened
    [second] = agg.add(s(110.0, pv_power=8), 5, 86.0)  # open window 120 is 61 s old
    assert (second.record.ts, second.record.samples) == (120.0, 3)
    assert second.record.clock_synced is False  # its samples' ts are not its time
    [third] = agg.flush_all()
    assert (third.record.ts, third.record.samples, third.last_seq) == (180.0, 1, 5)
    assert third.record.clock_synced is False


def test_large_backward_jump_makes_one_window_per_interval_not_one_giant_one():
    agg = WindowAggregator(60)
    agg.add(s(86400.0, pv_power=1), 1, 0.0)
    closed = []
    for i in range(1, 301):  # a day back, one sample a second for 5 minutes
        closed += agg.add(s(1.0 + i, pv_power=i), i + 1, float(i))
    closed += agg.flush_all()
    starts = [c.record.ts for c in closed]
    assert starts == [86400.0 + 60 * k for k in range(len(starts))]
    assert 5 <= len(starts) <= 7
    assert max(c.record.samples for c in closed) <= 61
    assert sum(c.record.samples for c in closed) == 301


def test_resume_keeps_a_stored_window_closed_after_a_restart():
    agg = WindowAggregator(60)
    agg.resume("mppt", 120.0)
    agg.add(s(130.0, pv_power=1), 1, 0.0)  # window 120 is stored: the next one takes it
    [closed] = agg.flush_all()
    assert (closed.record.ts, closed.record.clock_synced) == (180.0, False)


def test_drop_open_forgets_the_window_but_not_its_start():
    agg = WindowAggregator(60)
    agg.add(s(61.0, pv_power=1), 1, 0.0)
    dropped = agg.drop_open("mppt")
    assert (dropped.record.ts, dropped.last_seq) == (60.0, 1)
    agg.add(s(62.0, pv_power=2), 2, 1.0)
    [closed] = agg.flush_all()
    assert closed.record.ts == 120.0


def test_devices_have_independent_windows():
    agg = WindowAggregator(10)
    agg.add(s(0.0, device="a", pv_power=1), 1, 0)
    agg.add(s(5.0, device="b", pv_power=2), 2, 0)
    [closed] = agg.add(s(10.0, device="a", pv_power=3), 3, 0)
    assert closed.record.device == "a"
    assert sorted(agg.open_devices) == ["a", "b"]


def test_close_due_counts_from_the_first_samples_place_in_the_window_on_the_monotonic_clock():
    agg = WindowAggregator(60, grace=5)
    agg.add(s(1000.0, pv_power=1), 1, now_mono=500.0)  # 20 s before the end, + 1 s settle
    agg.add(s(1001.0, pv_power=3), 2, now_mono=501.0)
    assert agg.close_due(520.9) == []
    [closed] = agg.close_due(521.0)
    assert (closed.record.ts, closed.record.samples, closed.last_seq) == (960.0, 2, 2)
    assert agg.open_devices == []


def test_a_window_closes_at_its_end_plus_the_settle_time_on_the_monotonic_clock():
    """A 1 Hz device's next sample may come a second after the window ends: with 1 s windows
    the record would never be live if the window waited for it."""
    agg = WindowAggregator(1.0)
    agg.add(s(100.1, pv_power=1), 1, now_mono=5.0)  # 0.9 s before the end: due at 5.9 + 0.25
    agg.add(s(100.9, pv_power=3), 2, now_mono=5.8)
    assert agg.settle == 0.25
    assert agg.close_due(6.1) == []  # ended 0.2 s ago: a sample may be on its way
    [closed] = agg.close_due(6.2)
    assert (closed.record.ts, closed.record.samples) == (100.0, 2)
    assert WindowAggregator(60).settle == 1.0


def test_a_sample_stamped_before_the_end_but_folded_after_the_close_goes_to_the_next_window():
    agg = WindowAggregator(10.0)
    agg.add(s(100.0, pv_power=1), 1, now_mono=0.0)
    [closed] = agg.close_due(11.0)
    agg.add(s(109.9, pv_power=2), 2, now_mono=11.1)
    assert agg.open_start("mppt") == 110.0  # the next window, never the closed one again
    [late] = agg.close_due(100.0)
    assert (closed.record.ts, late.record.ts, late.record.clock_synced) == (100.0, 110.0, True)


def test_rejects_non_positive_interval():
    with pytest.raises(ValueError):
        WindowAggregator(0)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b"]),
            st.floats(0, 1000),
            st.floats(-50, 50),
            st.floats(0, 100),
        ),
        max_size=60,
    )
)
def test_every_sample_lands_in_exactly_one_record(rows):
    """Whatever the wall clock does (any ts order), one record per (device, ts)."""
    agg = WindowAggregator(60)
    closed, mono = [], 0.0
    for seq, (device, ts, value, elapsed) in enumerate(rows, start=1):
        mono += elapsed
        closed += agg.add(s(ts, device=device, battery_current=value), seq, mono)
        closed += agg.close_due(mono)
    closed += agg.flush_all()
    keys = [(c.record.device, c.record.ts) for c in closed]
    assert len(keys) == len(set(keys))
    assert sum(c.record.samples for c in closed) == len(rows)
    for device in ("a", "b"):
        seqs = [c.last_seq for c in closed if c.record.device == device]
        assert seqs == sorted(seqs)
        assert len(seqs) == len(set(seqs))
    for c in closed:
        assert c.record.ts % 60 == 0
