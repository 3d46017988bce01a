"""The layout of style.md holds: drivers -> readings -> store -> publishers/alarms/reports.

Walks every module's imports with `ast` (no import is executed).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# package -> top-level packages it must never import
FORBIDDEN = {
    "drivers": {"telemetry", "maintenance"},
    "telemetry": {"drivers", "maintenance"},
    "maintenance": {"drivers"},
}
# core modules that every layer may use: value types only, importing nothing heavier
SHARED_CORE = {
    "edged.readings",
    "edged.metrics",
    "edged.settings",
    "edged.i18n",
    "edged.liveness",
    "edged.event_log",
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_layers_import_only_downstream():
    violations = []
    for package, forbidden in FORBIDDEN.items():
        for path in (ROOT / package).rglob("*.py"):
            for name in imports_of(path):
                top = name.split(".")[0]
                if top in forbidden:
                    violations.append(f"{path.relative_to(ROOT)} imports {name}")
                if top == "edged" and name not in SHARED_CORE and package != "edged":
                    violations.append(f"{path.relative_to(ROOT)} imports core module {name}")
    assert not violations, "\n".join(violations)


def test_shared_core_imports_no_layer():
    for module in SHARED_CORE:
        path = ROOT / (module.replace(".", "/") + ".py")
        tops = {name.split(".")[0] for name in imports_of(path)}
        assert not tops & {"drivers", "telemetry", "maintenance"}, module


def test_the_checker_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from telemetry.store import open_db\nimport maintenance.x\n")
    assert imports_of(bad) == {"telemetry.store", "maintenance.x"}
