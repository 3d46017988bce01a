"""The equipment registry and the maintenance log, as plain data.

FENASCOM and ANTIM set each site's fees from what its equipment cost, how long it lasts and what its
upkeep costs; this is where those facts live. `validate_equipment` checks the raw TOML tables
(`[[equipment]]` in the site config, wired by `edged.config.loader`) and returns every problem with
its key path, as the config validator does; it does no I/O. Pure.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from maintenance.energy.chemistry import Chemistry


class Category(StrEnum):
    SOLAR_PANELS = "solar_panels"
    CHARGE_CONTROLLER = "charge_controller"
    BATTERY_BANK = "battery_bank"
    PIBOX = "pibox"
    SMART_GLASSES = "smart_glasses"
    OTHER = "other"


DEFAULT_CURRENCY = "FCFA"


@dataclass(frozen=True, slots=True)
class Item:
    """One piece of equipment. A battery bank also says its chemistry and rated capacity."""

    item: str
    category: Category
    make: str = ""
    model: str = ""
    serial: str = ""
    install_date: dt.date | None = None
    purchase_cost: float = 0.0
    currency: str = DEFAULT_CURRENCY
    expected_life_years: float | None = None
    expected_cycles: float | None = None  # battery: equivalent full cycles over its life
    measured_by: str = ""  # device id (records) or health component
    chemistry: Chemistry | None = None
    capacity_ah: float | None = None


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One line of the maintenance log: what was done to which item, and what it cost."""

    date: dt.date
    item: str
    action: str
    parts_cost: float = 0.0
    labour_cost: float = 0.0
    note: str = ""

    @property
    def cost(self) -> float:
        return self.parts_cost + self.labour_cost

    def row(self, currency: str, recorded_at: float) -> dict[str, Any]:
        """Its `maintenance_log` row (`telemetry.queries.add_maintenance`)."""
        return {
            "date": self.date.isoformat(),
            "item": self.item,
            "action": self.action,
            "parts_cost": self.parts_cost,
            "labour_cost": self.labour_cost,
            "currency": currency,
            "note": self.note,
            "recorded_at": recorded_at,
        }


Problem = tuple[str, str]
_TEXT = ("make", "model", "serial", "currency", "measured_by")
_POSITIVE = ("expected_life_years", "expected_cycles", "capacity_ah")
_KNOWN = {"item", "category", "install_date", "purchase_cost", "chemistry", *_TEXT, *_POSITIVE}


def _date(value: object) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _number(value: object, positive: bool) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if (value > 0 if positive else value >= 0) else None


def _check_item(raw: object, path: str, seen: set[str]) -> tuple[Item | None, list[Problem]]:
    if not isinstance(raw, dict):
        return None, [(path, "a table")]
    problems: list[Problem] = [(f"{path}.{k}", "no such key") for k in sorted(set(raw) - _KNOWN)]
    item = raw.get("item")
    if not isinstance(item, str) or not item or item in seen:
        problems.append((f"{path}.item", "a unique, non-empty name"))
    category = raw.get("category")
    if category not in set(Category):
        problems.append((f"{path}.category", "one of " + ", ".join(Category)))
    install = _date(raw.get("install_date")) if "install_date" in raw else None
    if "install_date" in raw and install is None:
        problems.append((f"{path}.install_date", "a date (YYYY-MM-DD)"))
    cost = _number(raw.get("purchase_cost", 0.0), positive=False)
    if cost is None:
        problems.append((f"{path}.purchase_cost", "a number >= 0"))
    numbers = {k: _number(raw[k], positive=True) for k in _POSITIVE if k in raw}
    problems += [(f"{path}.{k}", "a number > 0") for k, v in numbers.items() if v is None]
    problems += [(f"{path}.{k}", "a string") for k in _TEXT if not isinstance(raw.get(k, ""), str)]
    chemistry = raw.get("chemistry")
    if chemistry is not None and chemistry not in set(Chemistry):
        problems.append((f"{path}.chemistry", "one of " + ", ".join(Chemistry)))
    if category == Category.BATTERY_BANK and not ("expected_cycles" in raw or chemistry):
        problems.append((f"{path}.chemistry", "a chemistry or expected_cycles for a battery"))
    if problems:
        return None, problems
    seen.add(item)
    return Item(
        item,
        Category(category),
        raw.get("make", ""),
        raw.get("model", ""),
        raw.get("serial", ""),
        install,
        cost,
        raw.get("currency", DEFAULT_CURRENCY),
        numbers.get("expected_life_years"),
        numbers.get("expected_cycles"),
        raw.get("measured_by", ""),
        Chemistry(chemistry) if chemistry else None,
        numbers.get("capacity_ah"),
    ), []


def validate_equipment(raw: object, key: str = "equipment") -> tuple[list[Item], list[Problem]]:
    """Items from the raw `[[equipment]]` list, and every problem as (key path, expected)."""
    if not isinstance(raw, list):
        return [], [(key, "a list of tables ([[equipment]])")]
    items: list[Item] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw):
        item, found = _check_item(entry, f"{key}[{index}]", seen)
        problems += found
        if item is not None:
            items.append(item)
    return items, problems


def validate_log(
    raw: object, items: set[str], key: str = "maintenance_log"
) -> tuple[list[LogEntry], list[Problem]]:
    """Log entries from raw tables {date, item, action, parts_cost, labour_cost, note}."""
    if not isinstance(raw, list):
        return [], [(key, "a list of tables")]
    entries, problems = [], []
    for index, entry in enumerate(raw):
        path = f"{key}[{index}]"
        if not isinstance(entry, dict):
            problems.append((path, "a table"))
            continue
        found = []
        when = _date(entry.get("date"))
        if when is None:
            found.append((f"{path}.date", "a date (YYYY-MM-DD)"))
        if entry.get("item") not in items:
            found.append((f"{path}.item", "the name of an [[equipment]] item"))
        if not isinstance(entry.get("action"), str) or not entry.get("action"):
            found.append((f"{path}.action", "a non-empty string"))
        costs = {
            k: _number(entry.get(k, 0.0), positive=False) for k in ("parts_cost", "labour_cost")
        }
        found += [(f"{path}.{k}", "a number >= 0") for k, v in costs.items() if v is None]
        if not isinstance(entry.get("note", ""), str):
            found.append((f"{path}.note", "a string"))
        if found:
            problems += found
            continue
        entries.append(
            LogEntry(
                when,
                entry["item"],
                entry["action"],
                costs["parts_cost"],
                costs["labour_cost"],
                entry.get("note", ""),
            )
        )
    return entries, problems
