"""drivers.registry: `module:attribute` names loaded lazily, with no import side effects."""

from __future__ import annotations

import subprocess
import sys

import pytest

from drivers.base import DriverSpec
from drivers.registry import BUILTIN, Registry, registry


def _modules_after(code: str) -> list[str]:
    probe = code + "\nprint(sorted(m for m in sys.modules if m.startswith('drivers.')))"
    out = subprocess.run(
        [sys.executable, "-c", "import sys\n" + probe], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return eval(out.stdout)  # a printed list of module names


def test_importing_the_registry_imports_no_driver():
    assert _modules_after("import drivers.registry") == ["drivers.base", "drivers.registry"]


def test_looking_one_driver_up_imports_only_that_driver():
    loaded = _modules_after("from drivers.registry import registry\nregistry()['jbd']")
    assert "drivers.battery.jbd.spec" in loaded
    assert not [m for m in loaded if m.startswith(("drivers.modbus", "drivers.victron"))]


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_entry_is_the_spec_of_its_name(name):
    spec = registry()[name]
    assert isinstance(spec, DriverSpec) and spec.name == name


def test_a_wrong_entry_is_refused_and_an_unknown_name_is_missing():
    wrong = Registry({"jbd": "drivers.battery.daly.spec:SPEC"})
    with pytest.raises(TypeError, match="'jbd'"):
        wrong["jbd"]
    assert "no-such-driver" not in registry()
