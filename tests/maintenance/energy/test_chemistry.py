"""The chemistry defaults against the datasheets docs/battery.md cites (issue 13, item 5).

Each figure here is copied from the datasheet, not from maintenance.energy.chemistry, so a
default drifting outside what the datasheets say fails.
"""

from __future__ import annotations

import pytest

from maintenance.energy.chemistry import profile

# Trojan T-105 data sheet: rested cell voltage at 100, 90 ... 10 % charge
T105_OCV = (2.122, 2.103, 2.083, 2.062, 2.040, 2.017, 1.993, 1.969, 1.943, 1.918)
# %/month: Trojan T-105 "5-15 % per month"; Victron "Energy Unlimited" at 20 °C (x2 per 10 °C,
# so x1.41 at 25 °C): AGM 3 %, gel 2 %; Victron "Gel and AGM batteries": VRLA < 2 % at 20 °C
SELF_DISCHARGE_MONTH_25C = {
    "flooded": (5.0, 15.0),
    "agm": (2.0, 3.0 * 2**0.5),
    "gel": (1.4, 2.0 * 2**0.5),
}
# years at 20 °C: Energy Unlimited (semi-traction 5, AGM 8), Victron gel datasheet (12)
CALENDAR_YEARS = {"flooded": 5.0, "agm": 8.0, "gel": 12.0}


def test_flooded_rested_voltages_are_the_t105_table():
    table = dict(profile("flooded").ocv)
    for soc, volts in zip(range(100, 0, -10), T105_OCV, strict=True):
        assert table[float(soc)] == pytest.approx(volts, abs=0.0015)


@pytest.mark.parametrize("chemistry", SELF_DISCHARGE_MONTH_25C)
def test_self_discharge_is_within_the_datasheets(chemistry):
    low, high = SELF_DISCHARGE_MONTH_25C[chemistry]
    per_month = profile(chemistry).self_discharge_pct_day * 30.0
    assert low <= per_month <= high


@pytest.mark.parametrize("chemistry", CALENDAR_YEARS)
def test_calendar_life_is_the_datasheets(chemistry):
    assert profile(chemistry).calendar_life_years == CALENDAR_YEARS[chemistry]


def test_flooded_cycle_life_follows_the_t105_curve():
    """T-105 life curve: about 1200 cycles at 50 % DoD and 750 at 80 %."""
    cycles = dict(profile("flooded").cycle_life)
    assert cycles[0.5] == pytest.approx(1200.0, rel=0.1)
    assert cycles[0.8] == pytest.approx(750.0, rel=0.1)
