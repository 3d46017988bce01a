"""The docs that users read stay in step with the code they describe."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from drivers.registry import registry
from edged.metrics import CATALOGUE

ROOT = Path(__file__).resolve().parent.parent


def test_every_catalogue_metric_is_documented():
    doc = (ROOT / "docs" / "metrics.md").read_text()
    missing = [name for name in CATALOGUE if f"| `{name}` |" not in doc]
    assert not missing, f"add to docs/metrics.md: {missing}"


def test_every_driver_is_named_in_the_configuration_reference():
    doc = (ROOT / "docs" / "configuration.md").read_text()
    missing = [
        name for name in registry() if f"`{name}`" not in doc and f'driver = "{name}"' not in doc
    ]
    assert not missing, f"add to docs/configuration.md: {missing}"


def test_example_config_is_valid():
    from edged.config.loader import load

    config = load(str(ROOT / "docs" / "edged.example.toml"))
    assert config.site.id == "kalaban-coro"


def test_readme_names_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    assert "./scripts/simulate" in readme and "./scripts/test" in readme
    assert "./scripts/test" in (ROOT / ".ci" / "run").read_text()


# Pieces of a path into a neighbouring checkout, assembled so that this file does not match itself.
OUTSIDE = re.compile("|".join([r"\bshared" + "/", r"\bcontract" + r"\.md", "/" + "work/"]))


def outside_references(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return found


def test_no_file_refers_to_anything_outside_the_repository():
    assert OUTSIDE.search("see " + "shared" + "/protocols.md"), "the pattern must see a leak"
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode == 0:
        paths = [ROOT / name for name in listed.stdout.splitlines() if (ROOT / name).is_file()]
    else:  # an exported tree without git: every file but the venv's
        skip = {".git", ".venv"}
        paths = [p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.parts)]
    found = outside_references(paths)
    assert not found, "\n".join(found)
