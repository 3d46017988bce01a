"""The LEDs with the real daemon: `edged run` drives a fake /sys/class/leds tree through
`[leds]`, shows the verdict from its main loop, turns them to "stopped" when it stops, and runs
on when a LED or a pin named in the config is not there (counted in the live view, logged)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.edged.indicators.fakesys import board_state, make_leds
from tests.peers.daemon import DaemonProcess, write_config
from tests.peers.replay import wait_until

ON, OFF = ("none", "255"), ("none", "0")


def leds_config(tmp_path, body: str):
    return write_config(tmp_path, devices="", broker_port=None, extra=f"[leds]\n{body}\n")


def live(tmp_path) -> dict:
    try:
        return json.loads((tmp_path / "live.json").read_text())
    except (OSError, ValueError):
        return {}


def test_the_daemon_shows_all_well_then_stopped_when_it_stops(tmp_path):
    root = make_leds(tmp_path / "leds")
    config = leds_config(
        tmp_path,
        f'backend = "sysfs"\ngreen = "green"\namber = "amber"\nred = "red"\nsysfs_root = "{root}"',
    )
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    daemon.start()
    try:
        wait_until(
            lambda: board_state(root) == {"green": ON, "amber": OFF, "red": OFF},
            60,
            what="all well",
        )
        wait_until(
            lambda: (live(tmp_path).get("leds") or {}).get("condition") == "all_well",
            60,
            what="the live view's LED verdict",
        )
        assert daemon.terminate(timeout=60) == 0
    finally:
        daemon.stop()
    assert board_state(root) == {"green": OFF, "amber": OFF, "red": OFF}, daemon.logs()


def test_a_missing_led_is_counted_and_the_daemon_runs_on(tmp_path):
    root = make_leds(tmp_path / "leds", ("green", "amber"))
    config = leds_config(
        tmp_path,
        f'backend = "sysfs"\ngreen = "green"\namber = "amber"\nred = "gone"\nsysfs_root = "{root}"',
    )
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    daemon.start()
    try:
        errors = lambda: (live(tmp_path).get("leds") or {}).get("errors", {}).get("red", 0)  # noqa: E731
        wait_until(lambda: errors() >= 3, 60, what="the missing LED counted")
        assert board_state(root, ("green",)) == {"green": ON}
        assert daemon.proc.poll() is None
        assert daemon.terminate(timeout=60) == 0
    finally:
        daemon.stop()
    assert daemon.logs().count("status red") == 1  # logged once, counted after


def test_a_pin_the_board_does_not_have_is_counted_and_the_daemon_runs_on(tmp_path):
    config = leds_config(
        tmp_path, 'green = "GPIO17"\namber = "GPIO40"\nred = "GPIO22"\nbutton = "GPIO45"'
    )
    env = {"GPIOZERO_PIN_FACTORY": "mock"}  # gpiozero's mock Pi: GPIO0-27
    daemon = DaemonProcess(config, tmp_path / "daemon.log", env=env)
    daemon.start()
    try:
        view = lambda: live(tmp_path).get("leds") or {}  # noqa: E731
        wait_until(
            lambda: view().get("errors", {}).get("amber", 0) >= 2,
            60,
            what="the missing pin counted",
        )
        assert view()["button_errors"] == 1 and view()["errors"]["green"] == 0
        assert view()["condition"] == "all_well"
        assert daemon.terminate(timeout=60) == 0
    finally:
        daemon.stop()
    logs = daemon.logs()
    assert logs.count("status amber") == 1 and "GPIO45" in logs


def test_after_a_crash_edged_leds_show_stopped_darkens_the_board(tmp_path):
    """What systemd's ExecStopPost= runs after the daemon died without its orderly stop."""
    root = make_leds(tmp_path / "leds")
    config = leds_config(tmp_path, f'backend = "sysfs"\ngreen = "green"\nsysfs_root = "{root}"')
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    daemon.start()
    try:
        wait_until(lambda: board_state(root, ("green",)) == {"green": ON}, 60, what="all well")
        daemon.kill()  # SIGKILL: no orderly stop, the LED stays as it was
        assert board_state(root, ("green",)) == {"green": ON}
    finally:
        daemon.stop()
    out = subprocess.run(
        [sys.executable, "-m", "edged.cli", "leds", "show", "stopped", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert board_state(root, ("green",)) == {"green": OFF}
    assert "Surveillance arrêtée" in out.stdout


def test_a_device_gone_offline_turns_the_board_red(tmp_path):
    """The verdict from the daemon's own alarms: a controller that never answers."""
    root = make_leds(tmp_path / "leds")
    device = (
        f'[[devices]]\nid = "mppt"\ndriver = "vedirect"\nport = "{tmp_path / "no-such-tty"}"\n'
        "stale_after = 1\noffline_after = 2\n"
    )
    config = write_config(
        tmp_path,
        devices=device,
        broker_port=None,
        extra=f'[alarms.device_offline]\ndelay = 0\n\n[leds]\nbackend = "sysfs"\n'
        f'green = "green"\namber = "amber"\nred = "red"\nsysfs_root = "{root}"\n',
    )
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    daemon.start()
    try:
        wait_until(
            lambda: board_state(root) == {"green": OFF, "amber": OFF, "red": ON},
            90,
            what="red: technician needed",
        )
        wait_until(
            lambda: (live(tmp_path).get("leds") or {}).get("condition") == "technician",
            60,
            what="the live view's verdict",
        )
        assert daemon.terminate(timeout=60) == 0
    finally:
        daemon.stop()
    assert board_state(root) == {"green": OFF, "amber": OFF, "red": OFF}
