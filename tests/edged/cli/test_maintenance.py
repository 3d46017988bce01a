"""`edged maintenance log/list` on a real SQLite file, and the visit's cost in `edged report`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edged.config.loader import parse

ROOT = Path(__file__).resolve().parents[3]
EQUIPMENT = """
[[equipment]]
item = "batterie"
category = "battery_bank"
chemistry = "lifepo4"
capacity_ah = 200
purchase_cost = 900000
expected_life_years = 8
"""


def edged(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "edged.cli", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "edged.toml"
    db = tmp_path / "db" / "edged.db"
    path.write_text(f'[site]\nid = "kati"\n[storage]\npath = "{db}"\n{EQUIPMENT}')
    return path


def test_config_equipment_is_parsed_into_items():
    raw = {"item": "pv", "category": "solar_panels", "install_date": "2024-01-15"}
    (item,) = parse({"site": {"id": "x"}, "equipment": [raw]}).equipment
    assert (item.item, item.category, str(item.install_date)) == (
        "pv",
        "solar_panels",
        "2024-01-15",
    )


def test_a_logged_visit_is_listed_and_costed_in_the_report(config, tmp_path):
    logged = edged(
        "maintenance",
        "log",
        "--config",
        str(config),
        "--item",
        "batterie",
        "--action",
        "bornes nettoyées",
        "--date",
        "2026-10-05",
        "--parts-cost",
        "1500",
        "--labour-cost",
        "5000",
        "--note",
        "corrosion",
    )
    assert logged.returncode == 0, logged.stderr
    # French by default, Babel's fr_ML grouping (a narrow no-break space)
    assert logged.stdout.startswith("#1 2026-10-05 batterie : bornes nettoyées (6\u202f500 FCFA)")
    other = edged(
        "maintenance",
        "log",
        "--config",
        str(config),
        "--item",
        "batterie",
        "--action",
        "visite",
        "--date",
        "2026-09-30",
    )
    assert other.returncode == 0, other.stderr
    listed = edged("maintenance", "list", "--config", str(config), "--month", "2026-10", "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert {k: v for k, v in row.items() if k != "recorded_at"} == {
        "id": 1,
        "date": "2026-10-05",
        "item": "batterie",
        "action": "bornes nettoyées",
        "parts_cost": 1500.0,
        "labour_cost": 5000.0,
        "currency": "FCFA",
        "note": "corrosion",
    }
    out = tmp_path / "out"
    report = edged(
        "report",
        "--config",
        str(config),
        "--month",
        "2026-10",
        "--format",
        "json",
        "--out",
        str(out),
    )
    assert report.returncode == 0, report.stderr
    costs = json.loads((out / "report-kati-2026-10.json").read_text())["costs"]
    assert costs["maintenance_spent"] == 6500  # September's visit is not this month's
    assert "batterie" in json.dumps(costs)  # the config's equipment, not a --registry


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--item", "onduleur", "--action", "x"], "--item : il faut le nom d'un équipement"),
        (["--item", "batterie", "--action", "x", "--date", "5/10"], "--date : il faut une date"),
        (["--item", "batterie", "--action", "x", "--labour-cost", "-1"], "--labour-cost : il faut"),
        (["--item", "batterie", "--action", ""], "--action : il faut un texte non vide"),
    ],
)
def test_a_bad_visit_is_refused_and_nothing_is_written(config, args, expected):
    done = edged("maintenance", "log", "--config", str(config), *args)
    assert done.returncode == 2 and done.stderr.startswith(expected), done.stderr
    listed = edged("maintenance", "list", "--config", str(config))
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == "Aucune visite de maintenance enregistrée pour l'instant.\n"
