"""The files scripts/install puts on the Pi: the polkit rules (parsed and run by node, with a
stand-in for polkit's `polkit` object, since polkitd needs a system bus this container lacks),
the unit list scripts/install writes into them from [shedding] services (its own shell function,
run here), and edged.service (checked by `systemd-analyze verify` where it is installed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_jobs import config

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "systemd" / "50-edged.rules"
NODE = shutil.which("node")

# Loads a rules file the way polkit does (one function body sharing the `polkit` global), then
# asks its rule about each case: [action id, user, {detail: value}] -> "yes" or null.
EVAL = """
const text = require("fs").readFileSync(0, "utf8");
let rule = null;
const polkit = {Result: {YES: "yes", NO: "no", NOT_HANDLED: null},
                addRule: function (f) { rule = f; }};
new Function("polkit", text)(polkit);
const cases = JSON.parse(process.argv[1]);
console.log(JSON.stringify(cases.map(function (c) {
    const action = {id: c[0], lookup: function (key) { return c[2][key]; }};
    const answer = rule(action, {user: c[1]});
    return answer === undefined ? null : answer;
})));
"""
UNITS = "org.freedesktop.systemd1.manage-units"
OFF = "org.freedesktop.login1.power-off"


def ask(rules: str, cases: list) -> list:
    out = subprocess.run(
        [NODE, "-e", EVAL, json.dumps(cases)],
        input=rules,
        text=True,
        capture_output=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def polkit_rules(config_path: Path) -> subprocess.CompletedProcess:
    """scripts/install's own `polkit_rules` function, run with this venv's python."""
    script = (ROOT / "scripts" / "install").read_text()
    function = script[script.index("polkit_rules() {") : script.index("\n}\n") + 3]
    return subprocess.run(
        ["bash", "-c", f'{function}polkit_rules "$0" "$1"', sys.executable, str(config_path)],
        env={"SRC": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_shipped_rules_allow_edged_only_its_units_and_power_off():
    cases = [
        [UNITS, "edged", {"unit": "tomcat9.service", "verb": "stop"}],
        [UNITS, "edged", {"unit": "mariadb.service", "verb": "start"}],
        [UNITS, "edged", {"unit": "tomcat9.service", "verb": "mask"}],
        [UNITS, "edged", {"unit": "ssh.service", "verb": "stop"}],
        [UNITS, "pi", {"unit": "tomcat9.service", "verb": "stop"}],
        [OFF, "edged", {}],
        [OFF + "-multiple-sessions", "edged", {}],
        [OFF, "pi", {}],
        ["org.freedesktop.login1.reboot", "edged", {}],
    ]
    answers = ask(RULES.read_text(), cases)
    assert answers == ["yes", "yes", None, None, None, "yes", "yes", None, None]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_install_writes_the_shedding_services_into_the_rules(tmp_path):
    shedding = '[shedding]\nservices = ["openclinic", "tomcat9.service", "mnt-usb\\\\x2d1.mount"]\n'
    cfg = config(tmp_path, "/dev/null", None, "", extra=shedding)
    out = polkit_rules(cfg)
    assert out.returncode == 0, out.stderr
    assert '["openclinic.service", "tomcat9.service", "mnt-usb\\\\x2d1.mount"]' in out.stdout
    cases = [
        [UNITS, "edged", {"unit": u, "verb": "stop"}]
        for u in ("openclinic.service", "mnt-usb\\x2d1.mount", "mariadb.service")
    ] + [[OFF, "edged", {}]]
    assert ask(out.stdout, cases) == ["yes", "yes", None, "yes"]  # mariadb: not listed now


def test_install_keeps_the_shipped_list_when_the_config_is_invalid(tmp_path):
    bad = tmp_path / "edged.toml"
    bad.write_text("[site\n")
    out = polkit_rules(bad)
    assert out.returncode == 0 and out.stdout == RULES.read_text()
    assert "polkit rules: shipped unit list kept" in out.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_the_unit_file_verifies(tmp_path):
    unit = tmp_path / "edged.service"  # the venv is not installed here: /bin/true stands in
    text = (ROOT / "systemd" / "edged.service").read_text()
    assert "ReadWritePaths=/var/lib/edged -/media -/mnt\n" in text
    unit.write_text(text.replace("/opt/edged/.venv/bin/edged", "/bin/true"))
    out = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and out.stderr == "", out.stderr


MAX_EXPOSURE = 2.0
"""`systemd-analyze security` rates 0 (locked down) to 10 (exposed); the README quotes ours."""


def unit_here(tmp_path: Path) -> Path:
    """edged.service with /bin/true for the venv's edged, which is not installed here."""
    unit = tmp_path / "edged.service"
    text = (ROOT / "systemd" / "edged.service").read_text()
    unit.write_text(text.replace("/opt/edged/.venv/bin/edged", "/bin/true"))
    return unit


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_the_unit_exposure_is_at_most_two(tmp_path):
    out = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(unit_here(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for edged\.service: (\d+\.\d)", out.stdout)
    assert match, out.stdout + out.stderr
    assert float(match[1]) <= MAX_EXPOSURE, out.stdout


def test_the_unit_is_a_notify_service_with_a_watchdog_and_bounded_restarts():
    text = (ROOT / "systemd" / "edged.service").read_text()
    keys = dict(line.split("=", 1) for line in text.splitlines() if re.match(r"^\w+=", line))
    assert keys["Type"] == "notify" and keys["NotifyAccess"] == "main"
    assert int(keys["WatchdogSec"]) >= 60  # a watchdog interval, not a hair trigger
    assert int(keys["StartLimitBurst"]) <= 10 and int(keys["StartLimitIntervalSec"]) > 0
    assert keys["RestartPreventExitStatus"] == "2"  # `edged run` on an invalid config
    assert keys["LogRateLimitBurst"] and keys["LogRateLimitIntervalSec"]
    assert "DeviceAllow=char-ttyUSB rw" in text and "SupplementaryGroups=dialout" in text


# Sets the kernel's memory-deny-write-execute rule on itself (what MemoryDenyWriteExecute= asks
# of systemd, inherited across exec), proves it refuses a writable+executable mapping, then
# becomes `edged simulate`.
MDWE = """
import ctypes, mmap, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
    sys.exit(77)
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_WRITE | mmap.PROT_EXEC)
except OSError:
    pass
else:
    sys.exit("the rule is not in force: a W+X mapping was allowed")
os.execv(sys.executable, [sys.executable, "-m", "edged.cli", *sys.argv[1:]])
"""


def test_the_simulated_site_runs_without_writable_executable_memory(tmp_path):
    args = ["simulate", "--dir", str(tmp_path), "--no-mqtt", "--seconds", "12"]
    out = subprocess.run(
        [sys.executable, "-c", MDWE, *args], capture_output=True, text=True, timeout=120
    )
    if out.returncode == 77:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux < 6.3)")
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr[-3000:]
    status = subprocess.run(
        [
            sys.executable,
            "-m",
            "edged.cli",
            "status",
            "--json",
            "--config",
            str(tmp_path / "edged.toml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    devices = json.loads(status.stdout)["devices"]
    assert len(devices) == 7 and all(d["latest"] for d in devices), devices


def test_the_unit_turns_the_status_leds_to_stopped_after_any_exit():
    text = (ROOT / "systemd" / "edged.service").read_text()
    assert "ExecStopPost=+/opt/edged/.venv/bin/edged leds show stopped\n" in text
    assert "DeviceAllow=char-gpiochip rw" in text
