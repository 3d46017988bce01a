"""The central side reads the MQTT contract only: it imports none of the daemon's packages."""

from __future__ import annotations

from pathlib import Path

from tests.test_import_direction import ROOT, imports_of

DAEMON = {"edged", "drivers", "telemetry", "maintenance"}


def test_fleet_imports_nothing_from_the_daemon():
    found = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "fleet").rglob("*.py"))
        for name in imports_of(path)
        if name.split(".")[0] in DAEMON
    ]
    assert not found, "\n".join(found)
    assert len(list((ROOT / "fleet").rglob("*.py"))) >= 5  # the walk found the package


def test_the_check_sees_a_daemon_import(tmp_path: Path):
    bad = tmp_path / "bad.py"
    bad.write_text("from telemetry.topics import decode_payload\n")
    assert {n.split(".")[0] for n in imports_of(bad)} & DAEMON
