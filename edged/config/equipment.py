"""`[[equipment]]`: the site's equipment register (the report's costs, `edged maintenance log`).

Each item is the report's own `maintenance.report.registry.Item`, checked by its own validator
so that the rules live in one place; this turns its problems into the config's key paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from maintenance.report.registry import Item, validate_equipment


def equipment(v: Any, raw: Mapping[str, Any]) -> tuple[Item, ...]:
    """`[[equipment]]` through the report's own validator, so the rules live in one place."""
    if "equipment" not in raw:
        return ()
    items, problems = validate_equipment(raw["equipment"])
    for path, expected in problems:
        v.add(path, "unknown key" if expected == "no such key" else f"expected {expected}")
    return tuple(items)
