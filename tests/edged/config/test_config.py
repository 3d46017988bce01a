"""Config validation: every problem named with its key path; `check-config` and `run` refuse.

Bad configs live as case folders (tests/configs/bad/<case>/edged.toml + expected.txt holding the
exact lines `edged check-config` must print).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from drivers.registry import registry
from edged.config.loader import ConfigError, config_path, load, parse

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
BAD_CASES = sorted(p.name for p in (CONFIGS / "bad").iterdir() if p.is_dir())


def edged(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edged.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_full_example_loads_with_defaults_filled():
    config = load(str(CONFIGS / "good" / "full.toml"))
    assert config.site.id == "kalaban-coro"
    assert config.mqtt.port == 8883 and config.mqtt.tls.ca_file == "/etc/edged/ca.pem"
    assert config.telemetry.compress_history is True
    assert config.topic_root == "edged/kalaban-coro"
    mppt, bmv = config.devices
    assert mppt.options["port"].endswith("if00-port0")
    assert (mppt.display_name, bmv.display_name) == ("Régulateur solaire", "bmv")
    assert config.site.contact == "Moussa Diarra (ANTIM), 76 12 34 56"
    assert mppt.interval == 1.0 and mppt.stale_after == 10.0 and mppt.offline_after == 60.0
    assert (bmv.interval, bmv.stale_after, bmv.offline_after) == (5.0, 20.0, 120.0)
    assert "s3cret" not in repr(config.mqtt)
    assert config.remote.allow == ("ping", "status", "alarm_ack") and config.remote.max_ttl == 3600
    assert config.remote.key and config.remote.key not in repr(config)
    assert config.homeassistant.discovery and config.homeassistant.prefix == "homeassistant"


def test_minimal_config_uses_contract_defaults():
    config = parse({"site": {"id": "x"}})
    assert not config.remote.enabled and config.remote.key is None
    assert config.remote.allow == ("ping", "status", "support_summary")
    assert not config.homeassistant.discovery
    assert config.storage.path == "/var/lib/edged/edged.db"
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.topic_prefix) == (
        "127.0.0.1",
        1883,
        "edged",
    )
    assert config.telemetry.publish_interval == 60
    assert config.devices == ()


@pytest.mark.parametrize("case", BAD_CASES)
def test_check_config_prints_each_problem_with_its_key(case):
    path = CONFIGS / "bad" / case / "edged.toml"
    expected = (CONFIGS / "bad" / case / "expected.txt").read_text()
    expected = expected.replace("{file}", str(path)).replace(
        "{drivers}", ", ".join(sorted(registry()))
    )
    # the validators' own words (English, what the daemon's journal says); the French of the
    # common kinds of problem is tests/edged/cli/test_config_problems.py's
    result = edged("check-config", "--config", str(path), env={**os.environ, "EDGED_LANG": "en"})
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == expected.splitlines()
    with pytest.raises(ConfigError):
        load(str(path))


def test_check_config_accepts_a_good_file():
    result = edged("check-config", "--config", str(CONFIGS / "good" / "full.toml"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith(" : OK (2 appareils)\n"), result.stdout
    english = edged(
        "check-config",
        "--config",
        str(CONFIGS / "good" / "full.toml"),
        env={**os.environ, "EDGED_LANG": "en"},
    )
    assert english.stdout.endswith(": OK (2 devices)\n"), english.stdout


def test_daemon_refuses_to_start_on_a_bad_config(tmp_path):
    path = CONFIGS / "bad" / "port-not-string" / "edged.toml"
    result = edged("run", "--config", str(path))
    assert result.returncode == 2
    assert "devices[1].port" in result.stderr
    assert "refusing to start" in result.stderr


def test_missing_file_is_named(tmp_path):
    result = edged("check-config", "--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"{tmp_path / 'nope.toml'} : (fichier) : fichier introuvable"
    english = edged(
        "check-config",
        "--config",
        str(tmp_path / "nope.toml"),
        env={**os.environ, "EDGED_LANG": "en"},
    )
    assert english.stderr.strip() == f"{tmp_path / 'nope.toml'}: (file): file not found"


def test_config_path_precedence(monkeypatch):
    monkeypatch.delenv("EDGED_CONFIG", raising=False)
    assert config_path(None) == "/etc/edged/edged.toml"
    monkeypatch.setenv("EDGED_CONFIG", "/tmp/a.toml")
    assert config_path(None) == "/tmp/a.toml"
    assert config_path("/tmp/b.toml") == "/tmp/b.toml"


def test_env_variable_is_used_by_the_cli(tmp_path):
    import os

    env = {**os.environ, "EDGED_CONFIG": str(CONFIGS / "bad" / "missing-site" / "edged.toml")}
    result = edged("check-config", env=env)
    assert result.returncode == 2 and "site : table obligatoire absente" in result.stderr


@pytest.mark.parametrize(
    ("raw", "path", "expected"),
    [
        ({"site": {"id": "x"}, "mqtt": {"port": 70000}}, "mqtt.port", "expected a TCP port"),
        ({"site": {"id": "x"}, "mqtt": {"tls": {"ca": "x"}}}, "mqtt.tls.ca", "unknown key"),
        ({"site": {"id": "x"}, "devices": {"id": "a"}}, "devices", "expected an array"),
        ({"site": {"id": "x"}, "telemetry": {"compress_history": "yes"}}, "", "true or false"),
        ({"site": "x"}, "site", "expected a table"),
        (
            {"site": {"id": "x"}, "storage": {"keep_raw_samples": "yes"}},
            "storage.keep_raw_samples",
            "true or false",
        ),
    ],
)
def test_problem_paths(raw, path, expected):
    with pytest.raises(ConfigError) as info:
        parse(raw)
    lines = str(info.value).splitlines()
    assert any(f": {path}" in line and expected in line for line in lines), lines


def test_the_commented_leds_example_is_valid():
    text = (CONFIGS.parent.parent / "docs" / "edged.example.toml").read_text()
    block = text.partition("## Status LEDs")[2].partition("\n\n")[0]
    leds = "\n".join(ln[2:] for ln in block.splitlines() if ln.startswith("# "))
    assert leds.startswith("[leds]")
    config = parse({"site": {"id": "x"}, **tomllib.loads(leds)})
    assert config.leds is not None
    assert (config.leds.green, config.leds.button) == ("GPIO17", "GPIO24")
