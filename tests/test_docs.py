"""The docs that users read stay in step with the code they describe."""

from __future__ import annotations

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
