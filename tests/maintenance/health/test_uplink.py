"""Uplink health: /proc/net/dev counters across resets and month boundaries (figures by hand),
the connected-time ratio, publish round trips, and a real broker's TCP connect latency."""

from __future__ import annotations

import datetime as dt
import json
import statistics
from collections import deque
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maintenance.health.traffic import (
    BOOT_ID,
    NET_DEV,
    TrafficAccumulator,
    cycle_key,
    parse_net_dev,
    read_net_dev,
)
from maintenance.health.uplink import ConnectionTracker, RoundTrip, collect_uplink, median
from tests.maintenance.health.test_peers import write_tree

HEADER = (
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
    "drop fifo colls carrier compressed\n"
)


def net_dev(**ifaces: tuple[int, int]) -> str:
    lines = [
        f"{name:>6}: {rx:>8} 10 0 0 0 0 0 0 {tx:>8} 20 0 0 0 0 0 0"
        for name, (rx, tx) in ifaces.items()
    ]
    return HEADER + "\n".join(lines) + "\n"


def utc(*args: int) -> float:
    return dt.datetime(*args, tzinfo=dt.UTC).timestamp()


def test_parse_net_dev_reads_rx_and_tx_bytes():
    text = net_dev(lo=(123456, 123456), ppp0=(1000, 2000)) + "  bad: 1 2\nwwan0:5 0 0 0 0 0 0 0 7\n"
    assert parse_net_dev(text) == {"lo": (123456, 123456), "ppp0": (1000, 2000), "wwan0": (5, 7)}


def test_the_real_proc_net_dev_has_loopback():
    counters = read_net_dev(Path("/"), "lo")
    assert counters is not None and counters[0] >= 0
    assert read_net_dev(Path("/"), "no-such-if0") is None


def test_deltas_across_resets_vanishing_interface_and_a_month_boundary():
    acc = TrafficAccumulator()
    steps = [  # (time, counters, boot id) -> running February totals noted by hand
        (utc(2025, 1, 31, 23, 0), (1000, 500), "A"),  # baseline: nothing counted
        (utc(2025, 1, 31, 23, 50), (4000, 1500), "A"),  # +3000/+1000 into January
        (utc(2025, 2, 1, 0, 10), (5000, 2500), "A"),  # +1000/+1000 into February (later reading)
        (utc(2025, 2, 1, 6, 0), (300, 200), "B"),  # reboot: +300/+200     -> 1300/1200
        (utc(2025, 2, 1, 7, 0), (100, 900), "B"),  # ppp0 re-created: +100, +700 -> 1400/1900
        (utc(2025, 2, 1, 8, 0), None, "B"),  # interface gone
        (utc(2025, 2, 1, 9, 0), (50, 60), "B"),  # back from zero: +50/+60 -> 1450/1960
        (utc(2025, 2, 1, 10, 0), (10_000, 20_000), "C"),  # reboot, higher: -> 11450/21960
    ]
    january = None
    for ts, counters, boot in steps:
        acc.update(ts, counters, boot)
        if ts == utc(2025, 1, 31, 23, 50):
            january = acc.figures(ts + 60, budget_bytes=100_000)
    assert january is not None
    assert (january["rx_bytes_today"], january["tx_bytes_today"]) == (3000, 1000)
    assert january["bytes_month"] == 4000 and january["budget_used_percent"] == 4.0
    feb = acc.figures(utc(2025, 2, 1, 12, 0), budget_bytes=100_000)
    assert feb == {
        "rx_bytes_today": 11450,
        "tx_bytes_today": 21960,
        "bytes_today": 33410,
        "rx_bytes_month": 11450,
        "tx_bytes_month": 21960,
        "bytes_month": 33410,
        "budget_bytes": 100_000,
        "budget_used_percent": 33.41,
    }
    next_day = acc.figures(utc(2025, 2, 2, 0, 1))
    assert next_day["bytes_today"] == 0 and next_day["bytes_month"] == 33410
    assert next_day["budget_used_percent"] is None
    assert acc.figures(utc(2025, 3, 1, 0, 0))["bytes_month"] == 0


def test_a_clock_back_in_1970_keeps_counting_into_the_current_buckets():
    acc = TrafficAccumulator()
    acc.update(utc(2025, 2, 1, 10, 0), (1000, 1000), "A")
    acc.update(utc(2025, 2, 1, 11, 0), (1500, 1200), "A")
    acc.update(5.0, (100, 100), "B")  # rebooted without RTC, before NTP
    figures = acc.figures(10.0)
    assert figures["bytes_today"] == 500 + 200 + 200 and figures["bytes_month"] == 900
    acc.update(utc(2025, 2, 1, 11, 5), (150, 130), "B")  # NTP synced
    assert acc.figures(utc(2025, 2, 1, 11, 5))["bytes_month"] == 900 + 50 + 30


def test_billing_cycle_and_time_zone():
    assert cycle_key(dt.date(2025, 2, 14), 15) == "2025-01"
    assert cycle_key(dt.date(2025, 2, 15), 15) == "2025-02"
    assert cycle_key(dt.date(2025, 1, 3), 15) == "2024-12"
    acc = TrafficAccumulator(cycle_day=15, timezone="Europe/Paris")
    acc.update(utc(2025, 3, 14, 22, 0), (0, 0))  # 23:00 in Paris, cycle of Feb 15
    acc.update(utc(2025, 3, 14, 22, 30), (100, 0))  # still the 14th in Paris
    acc.update(utc(2025, 3, 14, 23, 30), (300, 0))  # 00:30 on the 15th in Paris: new cycle
    figures = acc.figures(utc(2025, 3, 14, 23, 45))
    assert figures["bytes_month"] == 200 and figures["bytes_today"] == 200
    assert acc.cycle == "2025-03" and acc.day == "2025-03-15"


def test_accumulator_state_survives_a_restart():
    acc = TrafficAccumulator(cycle_day=1, timezone="Africa/Bamako")
    acc.update(utc(2025, 5, 2, 8, 0), (10, 10), "A")
    acc.update(utc(2025, 5, 2, 9, 0), (110, 60), "A")
    restored = TrafficAccumulator.from_dict(json.loads(json.dumps(acc.to_dict())))
    assert restored == acc
    restored.update(utc(2025, 5, 2, 10, 0), (5, 5), "B")  # rebooted while the daemon was off
    assert restored.figures(utc(2025, 5, 2, 10, 0))["bytes_month"] == 100 + 50 + 10


def test_connected_ratio_by_hand():
    link = ConnectionTracker(window=86400)
    assert link.figures(0.0) == {"connected": None, "connected_ratio": None, "disconnects": 0}
    for ts, state in [(0, True), (3600, False), (5400, True), (9000, False)]:
        link.event(ts, state)
    # up 0-3600 and 5400-9000 = 7200 s of 10800 observed
    assert link.figures(10800) == {"connected": False, "connected_ratio": 0.6667, "disconnects": 2}
    short = ConnectionTracker(window=3600)
    for ts, state in [(0, True), (3600, False), (5400, True), (9000, False)]:
        short.event(ts, state)
    # window 7200-10800: connected 7200-9000 (state since 5400), one disconnect inside
    assert short.figures(10800) == {"connected": False, "connected_ratio": 0.5, "disconnects": 1}


def test_connection_events_with_a_clock_stepping_back_make_no_negative_time():
    link = ConnectionTracker()
    link.event(1000, True)
    link.event(900, False)  # clamped to 1000
    link.event(1100, True)
    assert link.figures(1200) == {"connected": True, "connected_ratio": 0.5, "disconnects": 1}


def test_round_trip_figures():
    rtt = RoundTrip(size=3)
    rtt.sent(1, 10.0)
    rtt.sent(2, 10.5)
    assert rtt.acked(1, 10.2) == pytest.approx(0.2)
    assert rtt.acked(2, 11.0) == pytest.approx(0.5)
    assert rtt.acked(99, 12.0) is None
    rtt.add(0.1)
    rtt.sent(3, 11.0)
    assert rtt.figures(14.0) == {
        "rtt_last_ms": 100.0,
        "rtt_median_ms": 200.0,
        "rtt_max_ms": 500.0,
        "unacked": 1,
        "oldest_unacked_s": 3.0,
    }
    rtt.add(0.3)  # size 3: the 0.2 s sample falls out
    rtt.forget_pending()
    figures = rtt.figures(14.0)
    assert figures["rtt_median_ms"] == 300.0 and figures["unacked"] == 0


def test_uplink_reading_with_a_real_broker_going_down(tmp_path, broker):
    write_tree(tmp_path, {NET_DEV: net_dev(ppp0=(1000, 1000)), BOOT_ID: "boot-a\n"})
    traffic, link = TrafficAccumulator(), ConnectionTracker()
    link.event(utc(2025, 2, 1, 9, 0), True)
    now = utc(2025, 2, 1, 10, 0)
    where = (broker.host, broker.port)
    first = collect_uplink(now, traffic, "ppp0", link, broker=where, root=tmp_path)
    assert first.ok and first.component == "uplink" and first.detail == ""
    assert first.values["broker_connect_ms"] > 0 and first.values["connected_ratio"] == 1.0
    write_tree(tmp_path, {NET_DEV: net_dev(ppp0=(61_000, 41_000))})
    broker.stop()
    link.event(now + 30, False)
    second = collect_uplink(
        now + 60, traffic, "ppp0", link, RoundTrip(), 200_000, where, root=tmp_path
    )
    assert not second.ok and second.values["broker_connect_ms"] is None
    assert second.detail == f"broker disconnected; {broker.host}:{broker.port} refused"
    assert second.values["budget_used_percent"] == 50.0  # 60_000 + 40_000 of 200_000
    assert second.values["connected_ratio"] == 0.9918  # 3630 s up of 3660 s observed
    assert second.values["unacked"] == 0


def test_budget_spent_and_absent_interface_are_named(tmp_path):
    write_tree(tmp_path, {NET_DEV: net_dev(ppp0=(0, 0))})
    traffic = TrafficAccumulator()
    collect_uplink(utc(2025, 2, 1), traffic, "ppp0", root=tmp_path)
    write_tree(tmp_path, {NET_DEV: net_dev(ppp0=(800, 300))})
    spent = collect_uplink(utc(2025, 2, 2), traffic, "ppp0", budget_bytes=1000, root=tmp_path)
    assert not spent.ok and spent.detail == "monthly data budget spent"
    assert spent.values["budget_used_percent"] == 110.0
    write_tree(tmp_path, {NET_DEV: net_dev(eth0=(5, 5))})
    gone = collect_uplink(utc(2025, 2, 3), traffic, "ppp0", root=tmp_path)
    assert not gone.ok and gone.detail == "interface 'ppp0' absent"


@given(st.lists(st.floats(0, 1e4, allow_nan=False), min_size=1, max_size=60))
def test_median_is_the_standard_librarys(values: list[float]) -> None:
    assert median(deque(values)) == pytest.approx(statistics.median(values), rel=1e-12, abs=1e-12)
