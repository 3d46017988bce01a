"""The walls of the layout (docs/architecture.md), read from every module's imports with `ast`.

drivers -> readings -> store -> publishers / alarms / reports. No import is executed: imports
inside functions count like the others, so a lazy import cannot hide a wrong direction or a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("edged", "drivers", "telemetry", "maintenance", "fleet")
# The value types, the metric catalogue and the lock-free stop signals: what every part may import.
SHARED = ("edged.readings", "edged.metrics", "edged.stop_signals")
MQTT = ("paho", "telemetry.mqtt", "telemetry.mqtt_client", "telemetry.delivery", "telemetry.topics")
CODEC_NAMES = {"codec", "fields", "tables", "assembler", "common", "decode", "plan"}
CODEC_FORBIDDEN = ("serial", "socket", "time", "logging", "threading", "select", "pymodbus")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path = ROOT) -> set[str]:
    """Every module `path` imports, anywhere in the file, as absolute dotted names."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path, root).split(".") if path.is_relative_to(root) else []
    if path.name != "__init__.py":
        package = package[:-1]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            # `from pkg import mod` imports the module pkg.mod when there is one
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def modules(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    return {
        module_name(path, root): path
        for package in packages
        for path in sorted((root / package).rglob("*.py"))
    }


def graph(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> dict[str, set[str]]:
    """Module -> the modules of the project it imports."""
    known = modules(root, packages)
    return {
        name: {n for n in imports_of(path, root) if n in known and n != name}
        for name, path in known.items()
    }


def within(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def violations() -> list[str]:
    found = []
    for name, path in modules().items():
        for imported in imports_of(path):
            top = imported.split(".")[0]
            why = wall(name, imported, top)
            if why:
                found.append(f"{name} imports {imported}: {why}")
    return found


def wall(name: str, imported: str, top: str) -> str | None:
    """Why `name` may not import `imported`, or None when it may."""
    if within(imported, *SHARED):
        return None
    if within(name, *SHARED) and top in PACKAGES:
        return "the shared leaves import nothing of the project"
    if within(name, "drivers") and top in {"edged", "telemetry", "maintenance"}:
        return "drivers import no telemetry, maintenance or edged module"
    if within(name, "telemetry") and top in {"drivers", "maintenance"}:
        return "telemetry imports no drivers or maintenance"
    if within(name, "maintenance"):
        if top == "drivers":
            return "maintenance imports no drivers"
        if within(imported, *MQTT):
            return "maintenance does not speak MQTT"
    if (
        within(name, "telemetry", "maintenance")
        and top == "edged"
        and not within(imported, "edged.config")
    ):
        return "only the config's settings: no edged runtime"
    if within(name, "edged.config") and within(
        imported, "edged.cli", "edged.services", "edged.power", "edged.daemon", "edged.runner"
    ):
        return "the config knows no runtime"
    if within(name, "edged.services", "edged.power") and within(imported, "edged.cli"):
        return "the daemon's parts import no command"
    is_codec = name.startswith("drivers.") and name.rsplit(".", 1)[1] in CODEC_NAMES
    if is_codec and within(imported, *CODEC_FORBIDDEN):
        return "a codec is pure: no port, socket, clock, logging or thread"
    return None


def test_every_module_imports_only_across_its_walls():
    found = violations()
    assert not found, "\n".join(found)


def test_no_import_cycle_between_modules_even_inside_functions():
    found = cycles(graph())
    assert not found, "\n".join(" <-> ".join(c) for c in found)


SQL_WORDS = ("SELECT ", "INSERT ", "UPDATE ", "DELETE ", "CREATE ", "PRAGMA ")


def runs_sql(path: Path) -> bool:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
        if is_text and node.value.lstrip().upper().startswith(SQL_WORDS):
            return True
    return bool({"sqlite3", "sqlite_utils"} & imports_of(path))


def _sql_outside_telemetry(root: Path = ROOT) -> set[str]:
    """Site modules (not the central `fleet`, whose PostgreSQL store is its own application)
    that run SQL or import a database driver outside telemetry/."""
    return {
        n
        for n, p in modules(root).items()
        if not within(n, "telemetry") and not within(n, "fleet") and runs_sql(p)
    }


def test_only_telemetry_runs_sql():
    found = _sql_outside_telemetry()
    assert not found, f"SQL outside telemetry/ (move it into a telemetry function): {found}"


# --- the checkers themselves see what they must see -----------------------------------------


def test_the_checker_reads_imports_inside_functions_and_relative_ones(tmp_path):
    pkg = tmp_path / "drivers" / "x"
    pkg.mkdir(parents=True)
    (tmp_path / "drivers" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    bad = pkg / "codec.py"
    bad.write_text("def f():\n    from telemetry.store import open_db\n    from . import fields\n")
    names = imports_of(bad, tmp_path)
    assert {"telemetry.store", "drivers.x", "drivers.x.fields"} <= names
    assert wall("drivers.x.codec", "telemetry.store", "telemetry")
    assert wall("drivers.x.codec", "time", "time")
    assert wall("maintenance.energy.policy", "edged.runner", "edged")
    assert wall("maintenance.energy.policy", "paho.mqtt.client", "paho")
    assert wall("edged.power.service", "edged.cli.status", "edged")
    assert wall("drivers.base", "edged.readings", "edged") is None


def test_the_cycle_finder_sees_a_cycle_through_a_function_import(tmp_path):
    pkg = tmp_path / "edged"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from edged.b import g\n")
    (pkg / "b.py").write_text("def g():\n    from edged import a\n")
    (pkg / "c.py").write_text("import edged.a\n")
    assert cycles(graph(tmp_path, ["edged"])) == [["edged.a", "edged.b"]]


def test_the_sql_finder_sees_sql_and_database_drivers_outside_telemetry_only(tmp_path):
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "edged" / "demo.py").write_text(
        "def build(conn):\n    conn.execute('  create table patients (id INTEGER)')\n"
    )
    (tmp_path / "maintenance" / "dump.py").write_text("def f():\n    import sqlite3\n")
    (tmp_path / "drivers" / "clean.py").write_text("TEXT = 'selected driver: jbd'\n")
    (tmp_path / "telemetry" / "store.py").write_text("import sqlite3\nQ = 'SELECT 1'\n")
    (tmp_path / "fleet" / "store.py").write_text("Q = 'INSERT INTO sites VALUES (1)'\n")
    assert _sql_outside_telemetry(tmp_path) == {"edged.demo", "maintenance.dump"}
