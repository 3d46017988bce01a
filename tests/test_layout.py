"""House rules a reviewer would otherwise have to remember: the formatter decides the layout."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("edged", "drivers", "telemetry", "maintenance", "fleet", "tests", "bench", "scripts")
MARKER = "# fmt: " + "skip"  # split: this file must not hold the marker itself
PACKAGES = ("edged", "drivers", "telemetry", "maintenance", "fleet")
ARCHITECTURE = ROOT / "docs" / "architecture.md"
DESCRIPTION_COLUMN = 26
"""Where the tree's second column starts: the names left of it are the entries."""
NAME = re.compile(r"[A-Za-z0-9_.*-]+(?:/[A-Za-z0-9_.*-]+)*/?")


def test_no_line_escapes_the_formatter():
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for folder in SOURCES
        for path in sorted((ROOT / folder).rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if MARKER in line
    ]
    assert not found, "lines squeezed past ruff format:\n" + "\n".join(found)


def tree_block(text: str) -> list[str]:
    """The lines of the fenced block under "## The tree" in docs/architecture.md."""
    section = text.split("\n## The tree\n", 1)[1]
    return section.split("```\n", 2)[1].splitlines()


def named_paths(lines: list[str]) -> set[str]:
    """Every folder (`x/`) and module (`x.py`) the tree names, as paths from the repository's
    root. An entry at column 0 is a top folder, one at column 2 lies in it; a name in the
    description lies in its line's entry folder, unless it starts with a folder of the root."""
    found: set[str] = set()
    top = here = ""
    for line in lines:
        entries, description = line[:DESCRIPTION_COLUMN], line[DESCRIPTION_COLUMN:]
        if entries.strip() and not line.startswith(" "):
            top = here = entries.split()[0]
            found.add(top)
        elif entries.strip() and not line.startswith("   "):
            names = entries.split()
            found.update(top + name for name in names)
            here = top + names[0] if names[0].endswith("/") else top
        for name in NAME.findall(description):
            if not name.endswith(("/", ".py")) and "*" not in name:
                continue
            rooted = "/" in name and (ROOT / name.split("/", 1)[0]).is_dir()
            found.add(name if rooted else here + name)
    return found


def test_every_folder_and_module_the_architecture_tree_names_exists():
    named = named_paths(tree_block(ARCHITECTURE.read_text(encoding="utf-8")))
    missing = sorted(p for p in named if not list(ROOT.glob(p.rstrip("/"))))
    assert not missing, f"docs/architecture.md names what does not exist: {missing}"


def test_every_package_is_in_the_architecture_tree():
    named = named_paths(tree_block(ARCHITECTURE.read_text(encoding="utf-8")))
    folders = {p.rstrip("/") for p in named if p.endswith("/")}
    folders |= {str(Path(f).parent) for f in folders}  # victron/vedirect/ shows victron/
    packages = {
        str(init.parent.relative_to(ROOT))
        for top in PACKAGES
        for init in (ROOT / top).glob("*/__init__.py")
    }
    absent = sorted(packages - folders)
    assert not absent, f"packages docs/architecture.md does not show: {absent}"


def test_the_tree_reader_sees_names_where_the_tree_puts_them():
    lines = [
        "edged/                    runtime",
        "  daemon.py               builds things",
        "  power/                    service.py; jobs/: supervisor",
        "                            shedding.py (continued)",
        "drivers/                  base.py",
        "  modbus/                   maps/*.toml (data)",
        "tests/                    mirrors the tree (tests/drivers/battery/test_jbd.py), e2e/",
        "                          only telemetry/ runs SQL",
    ]
    assert named_paths(lines) == {
        "edged/",
        "edged/daemon.py",
        "edged/power/",
        "edged/power/service.py",
        "edged/power/jobs/",
        "edged/power/shedding.py",
        "drivers/",
        "drivers/base.py",
        "drivers/modbus/",
        "drivers/modbus/maps/*.toml",
        "tests/",
        "tests/drivers/battery/test_jbd.py",
        "tests/e2e/",
        "telemetry/",
    }


def test_every_module_is_named_in_the_architecture_tree():
    """A newcomer finds any command, driver, rule or job from the tree alone: every module's
    name is in it, as a path, a bare name in its folder's line or a `render_*` pattern."""
    tree = "\n".join(tree_block(ARCHITECTURE.read_text(encoding="utf-8")))
    words = set(re.findall(r"[A-Za-z0-9_]+\*?", tree))
    patterns = [w[:-1] for w in words if w.endswith("*")]
    unnamed = sorted(
        str(path.relative_to(ROOT))
        for top in PACKAGES
        for path in (ROOT / top).rglob("*.py")
        if path.stem not in ("__init__", "__main__")
        and path.stem not in words
        and not any(path.stem.startswith(p) for p in patterns)
    )
    assert not unnamed, f"modules docs/architecture.md does not name: {unnamed}"
