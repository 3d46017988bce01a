"""`edged doctor` as a technician runs it, beside a real daemon: a VE.Direct capture replayed on a
pseudo-terminal, a mosquitto on a free port. Each line's verdict, the language, the exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from edged.services.doctor import Level
from tests.e2e.test_vedirect import capture_bytes, device_toml
from tests.peers.daemon import write_config
from tests.peers.replay import ReplayPty, wait_until

ROOT = Path(__file__).resolve().parents[3]


def doctor(config: Path, *args: str, env: dict[str, str] | None = None):
    environ = {k: v for k, v in os.environ.items() if k not in ("LANG", "EDGED_LANG")}
    return subprocess.run(
        [sys.executable, "-m", "edged.cli", "doctor", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**environ, **(env or {})},
    )


def test_doctor_beside_a_running_daemon(tmp_path, broker, daemons):
    port = ReplayPty(tmp_path / "tty-mppt", [capture_bytes("vedirect_a3_bmv700_main_history.hex")])
    port.start()
    try:
        config = write_config(
            tmp_path, devices=device_toml("bmv", port.link, interval=0.2), broker_port=broker.port
        )
        daemon = daemons(config)  # started
        wait_until(lambda: (tmp_path / "live.json").exists(), 60, what="the live view")

        out = doctor(config, "--json", "--lang", "en")
        lines = {c["topic"]: c for c in json.loads(out.stdout)}
        assert lines["config"]["level"] == "OK"
        assert lines["service"] == {
            "topic": "service",
            "level": "OK",
            "text": "edged daemon running",
            "hint": "",
        }
        assert lines["port"]["level"] == "OK" and "used by edged" in lines["port"]["text"]
        assert lines["database"]["level"] == "OK"
        assert lines["mqtt"]["text"] == f"broker 127.0.0.1:{broker.port} reachable, access granted"
        worst = max(Level[c["level"]] for c in lines.values())
        assert out.returncode == int(worst)

        daemon.terminate()
        french = doctor(config, env={"LANG": "en_GB.UTF-8"})  # a Pi: French all the same
        assert french.stdout.startswith("edged doctor : vérifications\n")
        assert "[ÉCHEC    ] démon edged arrêté" in french.stdout
        assert "→ sudo systemctl restart edged" in french.stdout
        assert "présent et libre" in french.stdout  # the daemon let go of its port
        assert french.stdout.endswith("Problème à corriger (voir ÉCHEC).\n")
        assert french.returncode == 2
        english = doctor(config, env={"EDGED_LANG": "en"})
        assert "[FAIL   ] edged daemon stopped" in english.stdout
    finally:
        port.stop()


def test_doctor_on_a_config_that_does_not_load(tmp_path):
    config = tmp_path / "edged.toml"
    config.write_text("[site]\nid = 42\n")
    out = doctor(config, "--lang", "en")
    assert out.returncode == 2
    assert out.stdout.splitlines()[1].startswith("[FAIL   ] configuration invalid: ")
    assert "edged check-config" in out.stdout
