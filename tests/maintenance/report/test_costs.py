"""The cost model and the registry validator: formulas on known numbers, problems with paths."""

from __future__ import annotations

import datetime as dt

import pytest

from maintenance.report.costs import amortisation, battery_provision, costs, lifetime_cycles
from maintenance.report.registry import Category, Item, LogEntry, validate_equipment, validate_log

PANELS = Item(
    "panels",
    Category.SOLAR_PANELS,
    purchase_cost=1_200_000.0,
    install_date=dt.date(2025, 1, 10),
    expected_life_years=2,
)
BATTERY = Item(
    "battery",
    Category.BATTERY_BANK,
    purchase_cost=600_000.0,
    install_date=dt.date(2025, 1, 10),
    expected_life_years=5,
    expected_cycles=1500,
)


def test_straight_line_amortisation_runs_from_install_to_end_of_life():
    assert amortisation(PANELS, "2024-12").amount == 0.0  # before install
    assert amortisation(PANELS, "2025-01").amount == 50_000.0  # month 1 of 24
    assert amortisation(PANELS, "2026-12").amount == 50_000.0  # month 24
    assert amortisation(PANELS, "2027-01").amount == 0.0  # after its life
    assert "1 200 000 FCFA / 24 mois" in amortisation(PANELS, "2025-06").formula_fr
    assert amortisation(Item("x", Category.OTHER), "2025-06").amount is None  # no life: said


def test_battery_provision_is_wear_or_age_whichever_costs_more():
    calendar = 600_000 / 60
    assert battery_provision(BATTERY, "2025-06", 10.0).amount == pytest.approx(max(calendar, 4000))
    heavy = battery_provision(BATTERY, "2025-06", 45.0)
    assert heavy.amount == pytest.approx(45 / 1500 * 600_000)  # 18 000 > 10 000
    assert battery_provision(BATTERY, "2025-06", None).amount == calendar  # no data: age only
    lfp = Item("b", Category.BATTERY_BANK, chemistry="lifepo4")
    assert lifetime_cycles(lfp) == 2500.0 and lifetime_cycles(BATTERY) == 1500


def test_contribution_maintenance_and_recovery():
    log = [
        LogEntry(dt.date(2025, 6, 3), "panels", "nettoyage", 0, 12_000),
        LogEntry(dt.date(2025, 1, 20), "battery", "borne", 24_000, 0),
        LogEntry(dt.date(2024, 5, 1), "battery", "trop ancien", 99_000, 0),
    ]
    c = costs(
        [PANELS, BATTERY], log, "2025-06", battery_efc={"battery": 45.0}, fees_collected=39_000
    )
    assert c.maintenance_spent == 12_000
    reserve = (12_000 + 24_000) / 12
    assert c.contribution == pytest.approx(50_000 + 18_000 + reserve, abs=0.01)
    assert c.cost_recovery_pct == pytest.approx(100 * 39_000 / c.contribution, abs=0.1)
    assert all(ln.formula_fr and ln.formula_en and ln.assumptions_en for ln in c.lines)


def test_validate_equipment_collects_every_problem_with_its_key_path():
    items, problems = validate_equipment(
        [
            {
                "item": "p",
                "category": "solar_panels",
                "purchase_cost": 10,
                "install_date": "2025-01-01",
            },
            {"item": "p", "category": "battery_bank", "purchase_cost": -1, "colour": "red"},
            "nope",
            {
                "item": "g",
                "category": "smart_glasses",
                "install_date": "2025-13-01",
                "expected_life_years": 0,
            },
        ]
    )
    assert [i.item for i in items] == ["p"] and items[0].install_date == dt.date(2025, 1, 1)
    assert set(problems) == {
        ("equipment[1].colour", "no such key"),
        ("equipment[1].item", "a unique, non-empty name"),
        ("equipment[1].purchase_cost", "a number >= 0"),
        ("equipment[1].chemistry", "a chemistry or expected_cycles for a battery"),
        ("equipment[2]", "a table"),
        ("equipment[3].install_date", "a date (YYYY-MM-DD)"),
        ("equipment[3].expected_life_years", "a number > 0"),
    }
    assert validate_equipment({"item": "x"})[1] == [
        ("equipment", "a list of tables ([[equipment]])")
    ]


def test_validate_log():
    entries, problems = validate_log(
        [
            {"date": "2025-02-01", "item": "p", "action": "x", "parts_cost": 5},
            {"date": "x", "item": "q", "action": "", "labour_cost": "a"},
        ],
        {"p"},
    )
    assert entries == [LogEntry(dt.date(2025, 2, 1), "p", "x", 5.0, 0.0)]
    assert {p[0] for p in problems} == {
        "maintenance_log[1].date",
        "maintenance_log[1].item",
        "maintenance_log[1].action",
        "maintenance_log[1].labour_cost",
    }


def test_no_registered_equipment_gives_no_contribution_not_zero():
    """Nothing registered (or nothing with a known cost): the figure is unknown, not 0 FCFA,
    and cost recovery is not computed from it."""
    empty = costs([], [], "2025-06", fees_collected=40_000.0)
    assert empty.contribution is None and empty.cost_recovery_pct is None
    unknown = costs([Item("x", Category.OTHER)], [], "2025-06", fees_collected=40_000.0)
    assert unknown.contribution is None and unknown.cost_recovery_pct is None
    # An item past its life is a known 0: the site owes nothing for it this month.
    assert costs([PANELS], [], "2030-01").contribution == 0.0
