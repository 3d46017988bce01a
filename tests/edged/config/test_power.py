"""`[power]` and `[budget]`, and a full power-aware config: validated into the frozen policy
objects the daemon runs (edged/config/power.py; jobs and shedding: test_jobs.py,
test_shedding.py), every problem named with its key path; voltages placed at the nominal voltage.

The bad-config case folders (tests/configs/bad/jobs-problems, shedding-problems) run through
`edged check-config` in tests/edged/config/test_config.py; this file checks the objects built and
each rule.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from edged.config.jobs import JobConfig
from edged.config.loader import ConfigError, parse
from edged.config.power import PowerConfig
from edged.config.shedding import SheddingConfig
from maintenance.energy.policy import JobKind, JobSpec
from maintenance.energy.shedding import SheddingThresholds
from maintenance.report.figures import Budget
from tests.peers.site_month import MONTH, write_month

ROOT = Path(__file__).resolve().parents[3]

FULL = """
[site]
id = "kati"

[[devices]]
id = "mppt"
driver = "vedirect"
port = "/dev/ttyUSB0"

[[batteries]]
id = "bank"
chemistry = "flooded"
nominal_voltage = 24
capacity_ah = 200
controller = "mppt"

[[jobs]]
name = "backup-openclinic"
kind = "backup"
command = ["/opt/edged/scripts/backup-openclinic", "--dest", "/media/usb/backups"]
max_duration = 3600
power_w = 8.0
deadline = 86400
min_interval = 43200
windows = [["10:00", "16:00"], ["22:00", "24:00"]]
min_soc = 60
urgent_min_soc = 40
min_voltage = 24.8
urgent_min_voltage = 24.4
urgent_before = 14400
on_low_battery = "suspend"
stop_grace = 20
workdir = "/var/lib/edged"
env = { MYSQL_PWD_FILE = "/etc/edged/mysql.cnf" }

[[jobs]]
name = "monthly-report"
kind = "report"
max_duration = 600
energy_wh = 2

[power]
battery = "bank"
capacity_wh = 4800
timezone = "Africa/Bamako"
tick = 30
stale_after = 120
history_days = 5

[shedding]
enabled = true
warn_soc = 35
warn_recover_soc = 45
stop_soc = 20
stop_recover_soc = 30
shutdown_soc = 12
shutdown_recover_soc = 25
warn_voltage = 23.8
warn_recover_voltage = 25.0
stop_voltage = 23.4
shutdown_voltage = 23.0
protection_voltage = 22.2
protection_margin = 0.6
services = ["openclinic", "mariadb.service"]
stop_command = ["sh", "-c", "systemctl stop {service}"]
start_command = ["systemctl", "start", "{service}"]
shutdown_command = ["systemctl", "poweroff"]
command_timeout = 60

[budget]
uplink_bytes = 500000000
fees_collected = 25000
"""


def load_text(text: str):
    return parse(tomllib.loads(text))


def problems(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse({"site": {"id": "x"}, **raw})
    return [f"{p.path}: {p.expected}" for p in info.value.problems]


def test_full_config_builds_the_exact_policy_objects():
    config = load_text(FULL)
    backup, report = config.jobs
    assert backup == JobConfig(
        policy=JobSpec(
            name="backup-openclinic",
            kind=JobKind.BACKUP,
            max_duration_s=3600.0,
            power_w=8.0,
            deadline_s=86400.0,
            windows=(("10:00", "16:00"), ("22:00", "24:00")),
            min_soc=60.0,
            urgent_min_soc=40.0,
            min_voltage={24: 24.8},  # at the named bank's nominal voltage
            urgent_min_voltage={24: 24.4},
            urgent_before_s=14400.0,
            min_interval_s=43200.0,
        ),
        command=("/opt/edged/scripts/backup-openclinic", "--dest", "/media/usb/backups"),
        on_low_battery="suspend",
        stop_grace=20.0,
        workdir="/var/lib/edged",
        env={"MYSQL_PWD_FILE": "/etc/edged/mysql.cnf"},
    )
    assert backup.name == "backup-openclinic" and isinstance(backup.command, tuple)
    assert report == JobConfig(JobSpec("monthly-report", JobKind.REPORT, 600.0, energy_wh=2.0))
    assert config.power == PowerConfig("bank", 4800, "Africa/Bamako", 30, 120, 5)
    assert config.budget == Budget(500_000_000, 25_000)


def test_unwritten_keys_keep_the_pure_defaults():
    config = parse(
        {
            "site": {"id": "x"},
            "jobs": [
                {"name": "b", "kind": "sync", "command": ["s"], "max_duration": 60, "power_w": 5}
            ],
            "power": {"capacity_wh": 1200},
            "shedding": {},
        }
    )
    assert config.jobs == (JobConfig(JobSpec("b", JobKind.SYNC, 60.0, power_w=5.0), ("s",)),)
    assert config.shedding == SheddingConfig(policy=SheddingThresholds())
    assert config.budget is None
    bare = parse({"site": {"id": "x"}})
    assert (bare.jobs, bare.power, bare.budget) == ((), PowerConfig(), None)
    assert bare.shedding.policy is None  # no [shedding]: no load shedding


BANK = {
    "id": "bank",
    "chemistry": "agm",
    "nominal_voltage": 48,
    "capacity_ah": 100,
    "controller": "mppt",
}
MPPT = {"id": "mppt", "driver": "vedirect", "port": "/dev/ttyUSB0"}


@pytest.mark.parametrize(
    ("power", "banks", "volts", "expected"),
    [
        ({"battery": "bank"}, [BANK], 49.6, {48: 49.6}),
        ({}, [BANK], 49.6, {48: 49.6}),  # the first bank
        ({"battery": "mppt", "capacity_wh": 900}, [BANK], 12.4, {12: 12.4}),  # a device: implied
        ({"capacity_wh": 900}, [], 12.4, {12: 12.4}),
        ({"capacity_wh": 900}, [], 24.8, {24: 24.8}),
        ({"capacity_wh": 900}, [], 49.6, {48: 49.6}),
    ],
)
def test_voltages_are_placed_at_the_nominal_voltage(power, banks, volts, expected):
    job = {
        "name": "b",
        "kind": "backup",
        "command": ["b"],
        "max_duration": 60,
        "power_w": 1,
        "min_voltage": volts,
        "urgent_min_voltage": volts * 0.9,
    }
    shedding = {"warn_voltage": volts, "warn_recover_voltage": volts * 1.1}
    config = parse(
        {
            "site": {"id": "x"},
            "devices": [MPPT],
            "batteries": banks,
            "jobs": [job],
            "power": power,
            "shedding": shedding,
        }
    )
    assert config.jobs[0].policy.min_voltage == expected
    assert config.shedding.policy.warn.voltage == expected


JOB = {"name": "b", "kind": "backup", "command": ["b"], "max_duration": 60, "power_w": 5}
CAP = {"capacity_wh": 1000}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"jobs": [JOB]}, "power.capacity_wh: required when there are [[jobs]]"),
        ({"power": {"battery": "nope"}}, "power.battery: expected the id of a [[devices]] or"),
        ({"power": {"timezone": "Bamako"}}, "power.timezone: expected an IANA time zone"),
        ({"power": {"tick": 0}}, "power.tick: expected a positive number"),
        ({"power": {"colour": 1}}, "power.colour: unknown key"),
        ({"budget": {"uplink_bytes": 1.5}}, "budget.uplink_bytes: expected an integer"),
        ({"budget": {"fees_collected": -5}}, "budget.fees_collected: expected a number >= 0"),
        ({"budget": {"currency": "XOF"}}, "budget.currency: unknown key"),
        ({"budget": 5}, "budget: expected a table"),
        (
            {"power": {}, "jobs": [], "shedding": {}, "budget": {}, "sheding": {}},
            "sheding: unknown",
        ),
    ],
)
def test_each_problem_is_named_with_its_key_path(raw, expected):
    found = problems(raw)
    assert any(line.startswith(expected) for line in found), found


def test_capacity_comes_from_a_bank_when_there_is_one():
    config = parse({"site": {"id": "x"}, "devices": [MPPT], "batteries": [BANK], "jobs": [JOB]})
    assert config.power.capacity_wh is None and config.jobs[0].name == "b"


def _uncommented_example() -> str:
    """The example's commented-out power sections, uncommented, after its live part."""
    text = (ROOT / "docs" / "edged.example.toml").read_text()
    live, _, block = text.partition("\n## Power-aware")
    assert "# [[jobs]]" in block, "the example lost its commented-out power sections"
    lines = [ln[2:] if ln.startswith("# ") else "" for ln in block.splitlines()[1:]]
    return live + "\n" + "\n".join(lines)


def test_the_commented_example_is_complete_and_valid():
    config = load_text(_uncommented_example())
    assert [j.name for j in config.jobs] == ["backup-openclinic"]
    assert config.power.battery == "mppt" and config.shedding.policy.shutdown is not None
    assert config.budget == Budget(500_000_000, 25_000)
    documented = set(re.findall(r"^\| `(\w+)`", (ROOT / "docs/configuration.md").read_text(), re.M))
    raw = tomllib.loads(_uncommented_example())
    for section in ("power", "shedding", "budget"):
        assert set(raw[section]) <= documented | _pairs(), section
    assert set(raw["jobs"][0]) | {"energy_wh"} <= documented


def _pairs() -> set[str]:
    """Keys documented two to a row (`warn_soc`, `warn_recover_soc`)."""
    doc = (ROOT / "docs/configuration.md").read_text()
    return set(re.findall(r"`(\w+)`", "\n".join(ln for ln in doc.splitlines() if "`, `" in ln)))


def test_the_power_policy_page_example_is_valid():
    doc = (ROOT / "docs" / "power-policy.md").read_text()
    block = re.search(r"### Configuring an OpenClinic.*?```toml\n(.*?)```", doc, re.S).group(1)
    config = parse(
        {**tomllib.loads(block), "site": {"id": "x"}, "devices": [{**MPPT, "id": "bmv"}]}
    )
    assert [j.policy.kind for j in config.jobs] == [JobKind.BACKUP, JobKind.SYNC, JobKind.REPORT]


def _check(path: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "edged.cli", "check-config", "--config", str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_check_config_exit_codes(tmp_path):
    good = tmp_path / "edged.toml"
    good.write_text(FULL)
    done = _check(good)
    assert done.returncode == 0 and "OK" in done.stdout, done.stderr
    good.write_text(FULL.replace('kind = "report"', 'kind = "reports"'))
    done = _check(good)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"{good} : jobs[1].kind : valeur attendue parmi backup, sync, report ; trouvé 'reports'"
    )


def _report(tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "edged.cli.report",
        "--month",
        MONTH,
        "--format",
        "json",
        "--out",
        str(out),
        "--config",
        str(tmp_path / "edged.toml"),
        *extra,
    ]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads((out / f"report-kati-{MONTH}.json").read_text())


def test_the_report_uses_the_config_budget_unless_the_registry_has_one(tmp_path):
    write_month(tmp_path / "e.db", empty=True)
    (tmp_path / "edged.toml").write_text(
        f'[site]\nid = "kati"\n[storage]\npath = "{tmp_path / "e.db"}"\n'
        "[budget]\nfees_collected = 25000\n"
    )
    assert _report(tmp_path)["costs"]["fees_collected"] == 25000
    registry = tmp_path / "registry.toml"
    registry.write_text("")  # no [budget]: the config's
    assert _report(tmp_path, "--registry", str(registry))["costs"]["fees_collected"] == 25000
    registry.write_text("[budget]\nfees_collected = 7000\n")
    assert _report(tmp_path, "--registry", str(registry))["costs"]["fees_collected"] == 7000
