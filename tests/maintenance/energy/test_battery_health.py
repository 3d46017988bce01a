"""Battery health figures against a history whose every figure is worked out by hand below.

The history: 3 UTC days of 1-minute records of a 100 Ah (rated) LiFePO4 bank whose real
capacity is 90 Ah (its BMS SOC knows it; the current is what it is):
- days 0 and 1: minutes 0-599 discharge at 4.5 A, SOC (1200 - m)/12 from 100 to 50;
  minutes 600-899 charge at 9 A, SOC 50 -> 100; then 100 % at rest (0 A).
- day 2: minutes 0-599 discharge at 8.1 A, SOC (2000 - 3m)/20 from 100 to 10;
  minutes 600-899 charge at 16.2 A, SOC 10 + 0.3 (m - 600); then 100 % at rest.
- 45 °C on day 1 from 12:00 for 2 h (minutes 720-839), exactly 40 °C at 14:00; 25 °C otherwise.
- cell delta 10 mV on day 0, 16 mV on day 1, 22 mV on day 2.
- the first 30 records were stamped before the clock was synchronised.
"""

from __future__ import annotations

import pytest

from edged.readings import Record
from maintenance.energy.battery_health import (
    BatteryHealth,
    DodBin,
    battery_health,
    calendar_days_left,
    rainflow,
    remaining_days,
    reversals,
)
from maintenance.energy.chemistry import profile

T0 = 20_000 * 86400.0  # a UTC midnight
CURVE = ((0.5, 1000.0), (0.9, 250.0))  # cycles to end of life at 50 % and 90 % DoD


def minute(day: int, m: int) -> dict[str, float]:
    deep = day == 2
    rate = 8.1 if deep else 4.5
    if m < 600:
        soc = (2000 - 3 * m) / 20 if deep else (1200 - m) / 12
        current = -rate
    elif m < 900:
        soc = 10 + 0.3 * (m - 600) if deep else 50 + (m - 600) / 6
        current = 2 * rate
    else:
        soc, current = 100.0, 0.0
    temp = 45.0 if day == 1 and 720 <= m < 840 else 40.0 if day == 1 and m == 840 else 25.0
    delta = (0.010, 0.016, 0.022)[day]
    return {
        "battery_soc": soc,
        "battery_current": current,
        "battery_voltage": 26.4,
        "battery_temperature": temp,
        "cell_voltage_min": 3.30,
        "cell_voltage_max": 3.30 + delta,
    }


def history() -> list[Record]:
    return [
        Record("bms", T0 + 60.0 * (1440 * d + m), d > 0 or m >= 30, 12, minute(d, m))
        for d in range(3)
        for m in range(1440)
    ]


@pytest.fixture(scope="module")
def health() -> BatteryHealth:
    return battery_health(history(), 100.0, "lifepo4", cycle_life_curve=CURVE)


def test_counts_and_time(health):
    assert (health.records, health.records_unsynced, health.gaps, health.clock_jumps) == (
        4320,
        30,
        0,
        0,
    )
    assert health.observed_h == pytest.approx(4319 / 60)  # 4319 one-minute intervals


def test_equivalent_full_cycles(health):
    # discharging intervals: 600 a day; 600 x 4.5 A x 1/60 h = 45 Ah (days 0, 1), 600 x 8.1 / 60
    # = 81 Ah (day 2): 171 Ah over 100 Ah rated = 1.71 cycles
    assert health.discharged_ah == pytest.approx(171.0)
    assert health.equivalent_full_cycles == pytest.approx(1.71)
    assert health.efc_method == "current"


def test_dod_histogram_by_rainflow(health):
    # turning points 100, 50, 100, 50, 100, 10, 100 -> rainflow: 50 % x 2 cycles, 90 % x 1
    expected = [0.0] * 10
    expected[4], expected[8] = 2.0, 1.0  # bins (40, 50] and (80, 90]
    assert health.dod_histogram == tuple(
        DodBin(10.0 * i, 10.0 * (i + 1), c) for i, c in enumerate(expected)
    )


def test_low_soc_and_heat(health):
    # below 40 %: day 2, discharge m = 401..599 (199 min) and charge m - 600 = 0..99 (100 min)
    assert health.hours_below_40 == pytest.approx(299 / 60)
    # below 20 %: discharge m = 534..599 (66 min), charge m - 600 = 0..33 (34 min)
    assert health.hours_below_20 == pytest.approx(100 / 60)
    # above 40 °C: 120 records at 45 °C; the one at exactly 40 °C does not count
    assert health.hours_above_40c == pytest.approx(2.0)


def test_cell_imbalance_trend(health):
    assert [day for day, _ in health.imbalance_daily_v] == [20_000, 20_001, 20_002]
    assert [v for _, v in health.imbalance_daily_v] == pytest.approx([0.010, 0.016, 0.022])
    assert health.imbalance_slope_mv_day == pytest.approx(6.0)  # +6 mV a day, exactly linear


def test_capacity_from_full_to_deep_discharge(health):
    # day 0: last "full" record (>= 99.5 %) is m = 6 (99.5 %); from it to m = 600 (50 %):
    # 594 min x 4.5 A / 60 = 44.55 Ah for 49.5 % -> 90 Ah. Day 1 the same. Day 2: from m = 3
    # (99.55 %) to m = 600 (10 %): 597 x 8.1 / 60 = 80.595 Ah for 89.55 % -> 90 Ah.
    assert health.capacity_ah == pytest.approx(90.0)
    assert health.capacity_fade_pct == pytest.approx(10.0)


def test_damage_and_remaining_life(health):
    # Miner: 2 / N(50 %) + 1 / N(90 %) = 2/1000 + 1/250 = 0.006 over 4319/1440 days
    days = 4319 / 1440
    assert health.damage == pytest.approx(0.006)
    assert health.remaining_life_days == pytest.approx((1 - 0.006) / (0.006 / days))
    # throughput: LiFePO4 default 2500 equivalent full cycles, 1.71 used, would be 4,383 days:
    # more than the 10 years of calendar life left, which caps it
    assert (2500 - 1.71) / (1.71 / days) > 10 * 365.25
    assert health.remaining_life_throughput_days == pytest.approx(10 * 365.25 - days)


def test_remaining_life_is_capped_by_calendar_life():
    """A month of light use once read as 48 years of life left (issue 13, item 4)."""
    assert remaining_days(1.0, 0.0006, 30 * 24.0) == pytest.approx(49_970.0)
    capped = remaining_days(1.0, 0.0006, 30 * 24.0, calendar_days_left(profile("agm"), 30.0))
    assert capped == pytest.approx(8 * 365.25 - 30.0)
    assert remaining_days(1.0, 0.0, 24.0, 100.0) == 100.0  # no wear seen: age alone
    assert remaining_days(1.0, None, 24.0, 100.0) is None
    assert calendar_days_left(profile("flooded"), 10_000.0) == 0.0


def test_every_figure_has_a_unit(health):
    figures = health.figures()
    assert figures["capacity_fade_pct"] == (pytest.approx(10.0), "%")
    assert all(unit for _, unit in figures.values())


def test_no_data_gives_unknowns_not_zeros():
    h = battery_health([], 100.0, "flooded")
    assert (h.records, h.observed_h, h.gaps, h.clock_jumps) == (0, 0.0, 0, 0)
    known = {name for name, (value, _) in h.figures().items() if value is not None}
    assert known == {"records", "records_unsynced", "gaps", "clock_jumps", "observed_h"}


def test_one_record_gives_no_rates():
    h = battery_health([Record("b", T0, True, 1, minute(0, 0))], 100.0, "agm")
    assert h.records == 1 and h.observed_h == 0.0
    assert h.equivalent_full_cycles is None and h.dod_histogram is None and h.damage is None
    assert h.remaining_life_days is None and h.capacity_ah is None
    assert h.imbalance_daily_v == ((20_000, pytest.approx(0.010)),)  # one day: a value, no slope
    assert h.imbalance_slope_mv_day is None


def flat(ts: float, soc: float) -> Record:
    return Record("b", ts, True, 1, {"battery_soc": soc, "battery_current": -6.0})


def test_gap_is_not_integrated_across():
    # 10 records at 80 %, 10 minutes of nothing, 10 records at 30 %: two segments of 9 minutes
    before = [flat(T0 + 60.0 * i, 80.0) for i in range(10)]
    after = [flat(T0 + 540.0 + 600.0 + 60.0 * i, 30.0) for i in range(10)]
    h = battery_health(before + after, 100.0, "flooded")
    assert (h.gaps, h.clock_jumps) == (1, 0)
    assert h.observed_h == pytest.approx(18 / 60)
    assert h.discharged_ah == pytest.approx(6.0 * 18 / 60)  # 1.8 Ah, not 6 A over the gap
    assert sum(b.cycles for b in h.dod_histogram) == 0.0  # the 50 % drop is not a seen cycle


def test_clock_jump_back_skips_that_interval_and_is_counted():
    first = [flat(T0 + 60.0 * i, 80.0) for i in range(10)]
    second = [
        Record("b", T0 - 3600.0 + 60.0 * i, False, 1, {"battery_soc": 80.0}) for i in range(5)
    ]
    h = battery_health(first + second, 100.0, "flooded")
    assert (h.gaps, h.clock_jumps, h.records_unsynced) == (0, 1, 5)
    assert h.observed_h == pytest.approx(13 / 60)  # 9 + 4 intervals; the jump is not one
    assert h.efc_method == "mixed"  # current where recorded, SOC decrements where not


def test_soc_only_history_counts_cycles_from_soc_decrements():
    recs = [Record("b", T0 + 60.0 * i, True, 1, {"battery_soc": 100.0 - i}) for i in range(41)]
    h = battery_health(recs, 100.0, "gel")
    assert h.equivalent_full_cycles == pytest.approx(0.40) and h.efc_method == "soc"
    assert h.discharged_ah is None and h.capacity_ah is None  # no current: no Ah, no capacity
    assert h.dod_histogram[3].cycles == 0.5  # one half cycle of 40 %, bin (30, 40]


def test_shallow_discharge_gives_no_capacity():
    recs = [flat(T0 + 60.0 * i, 100.0 - i) for i in range(31)]  # 100 -> 70 %: only 30 % deep
    assert battery_health(recs, 100.0, "flooded").capacity_ah is None


def test_reversals_ignore_noise_and_rainflow_matches_astm_e1049():
    assert reversals([50.0, 50.4, 49.8, 60.0, 59.5, 60.2, 40.0]) == [50.0, 60.2, 40.0]
    counted: dict[float, float] = {}
    for depth, n in rainflow([-2, 1, -3, 5, -1, 3, -4, 4, -2]):  # ASTM E1049-85 fig. 6 example
        counted[depth] = counted.get(depth, 0.0) + n
    assert counted == {3: 0.5, 4: 1.5, 6: 0.5, 8: 1.0, 9: 0.5}
