"""The report's battery charge and discharge count each bank once (issue 13, item 1).

A simulated week of the reference bank (tests/peers/battery_model.py) seen by an MPPT (its `I`
net of its load output, with a controller's errors) and a shunt (the bank's real current): both
report the bank's current, and summing every device's gave about twice the real charge. The
report must take the bank's flows from one source, its monitor when it has one, and say which.
"""

from __future__ import annotations

import pytest

from edged.readings import Record
from maintenance.report.figures import build_report
from maintenance.report.month import bounds
from maintenance.report.registry import validate_equipment
from tests.peers.battery_model import LEAD_ACID, simulate

MONTH = "2026-10"
START = bounds(MONTH)[0]
WEEK = ("sunny", "cloudy", "sunny", "rainy", "rainy", "rainy", "cloudy", "sunny", "sunny")


@pytest.fixture(scope="module")
def week():
    """(records of mppt, shunt and the bank mirroring the shunt; true charge and discharge kWh)"""
    records, charge, discharge = [], 0.0, 0.0
    for st in simulate(LEAD_ACID, WEEK, soc0=0.75):
        ts = START + st.t
        records.append(
            Record(
                "mppt",
                ts,
                True,
                60,
                {
                    "battery_voltage": st.voltage,
                    "battery_current": st.battery_a,
                    "load_current": st.load_a,
                    "load_power": st.load_a * st.voltage,
                    "charger_state": st.state,
                },
            )
        )
        shunt = {
            "battery_voltage": st.voltage,
            "battery_current": st.true_a,
            "battery_soc": st.true_soc,
        }
        records.append(Record("shunt", ts, True, 60, shunt))
        records.append(Record("bank", ts, True, 60, dict(shunt)))
        # the record's values hold for the minute that follows it, as the rollups take them
        if ts + 60 <= START + len(WEEK) * 86400:
            charge += max(0.0, st.true_a * st.voltage) * 60 / 3.6e6
            discharge += max(0.0, -st.true_a * st.voltage) * 60 / 3.6e6
    return records, charge, discharge


def _only(records, *devices):
    return [r for r in records if r.device in devices]


def test_mppt_and_shunt_on_one_bank_count_the_shunt_once(week):
    """Before: 31.4 kWh charged (MPPT 16.0 + shunt 15.4) for a real 15.4."""
    records, charge, discharge = week
    e = build_report(site="s", month=MONTH, records=_only(records, "mppt", "shunt")).energy
    assert e.battery_source == "shunt"
    assert e.charge_kwh == pytest.approx(charge, rel=1e-3)
    assert e.discharge_kwh == pytest.approx(discharge, rel=1e-3)
    assert charge > 10.0 and discharge > 10.0  # a real week of cycling, not an empty test
    days = sum(d.charge_kwh or 0.0 for d in e.days)
    assert days == pytest.approx(charge, rel=1e-3)


def test_a_configured_bank_counts_its_own_records_once(week):
    records, charge, _ = week
    banks = [("bank", "shunt")]
    e = build_report(site="s", month=MONTH, records=records, banks=banks).energy
    assert e.battery_source == "bank"
    assert e.charge_kwh == pytest.approx(charge, rel=1e-3)
    # configured before any bank record was stored: its monitor stands in for it
    e = build_report(site="s", month=MONTH, records=_only(records, "mppt", "shunt"), banks=banks)
    assert e.energy.battery_source == "shunt"
    assert e.energy.charge_kwh == pytest.approx(charge, rel=1e-3)


def test_the_registry_bank_names_the_source(week):
    records, charge, _ = week
    items, problems = validate_equipment(
        [
            {
                "item": "batterie",
                "category": "battery_bank",
                "measured_by": "shunt",
                "chemistry": "flooded",
                "capacity_ah": 200,
            }
        ]
    )
    assert problems == []
    e = build_report(site="s", month=MONTH, records=records, items=items).energy
    assert e.battery_source == "shunt"
    assert e.charge_kwh == pytest.approx(charge, rel=1e-3)


def test_a_bank_with_only_an_mppt_counts_its_net_current(week):
    """The MPPT's `I` is the bank's current (net of its load output), with its gain error."""
    records, charge, discharge = week
    e = build_report(site="s", month=MONTH, records=_only(records, "mppt")).energy
    assert e.battery_source == "mppt"
    # measured +4.1 % and -2.9 %: the controller's +1 % +0.1 A on charge, -2 % on its load
    assert e.charge_kwh == pytest.approx(charge, rel=0.05)
    assert e.discharge_kwh == pytest.approx(discharge, rel=0.05)
