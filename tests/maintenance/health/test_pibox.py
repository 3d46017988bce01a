"""The host collector: Raspberry Pi firmware flags, thermal zone and hwmon from a fake sysfs tree
(the only stand-in: this machine is no Pi), psutil figures from this real machine."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

from maintenance.health.pibox import (
    HWMON_DIR,
    THERMAL_PATH,
    THROTTLED_PATH,
    collect_host,
    decode_throttled,
    parse_throttled,
)
from tests.maintenance.health.test_peers import write_tree

FLAGS = ("under_voltage", "freq_capped", "throttled", "soft_temp_limit")


def pi_tree(root: Path, throttled: str, temp: str = "48312\n", alarm: str = "0\n") -> Path:
    """A Pi 4 as the kernel shows it: rpi_volt deliberately not hwmon0 (its index moves)."""
    return write_tree(
        root,
        {
            THROTTLED_PATH: throttled,
            THERMAL_PATH: temp,
            f"{HWMON_DIR}/hwmon0/name": "cpu_thermal\n",
            f"{HWMON_DIR}/hwmon0/temp1_input": "48312\n",
            f"{HWMON_DIR}/hwmon2/name": "rpi_volt\n",
            f"{HWMON_DIR}/hwmon2/in0_lcrit_alarm": alarm,
        },
    )


# (sysfs text as raspberrypi.c prints it: "%x\n", expected set bits by name)
PATTERNS = [
    ("0\n", set(), set()),
    ("50005\n", {"under_voltage", "throttled"}, {"under_voltage", "throttled"}),
    ("50000\n", set(), {"under_voltage", "throttled"}),
    ("80008\n", {"soft_temp_limit"}, {"soft_temp_limit"}),
    ("e0000\n", set(), {"freq_capped", "throttled", "soft_temp_limit"}),
    ("f000f\n", set(FLAGS), set(FLAGS)),
]


@pytest.mark.parametrize(("text", "now", "occurred"), PATTERNS)
def test_firmware_flags_are_decoded_by_name(tmp_path, text, now, occurred):
    reading = collect_host(pi_tree(tmp_path, text), data_path=str(tmp_path))
    values = reading.values
    assert values["throttled_raw"] == int(text, 16)
    assert {f for f in FLAGS if values[f"{f}_now"]} == now
    assert {f for f in FLAGS if values[f"{f}_occurred"]} == occurred
    assert reading.ok == ("under_voltage" not in now and "throttled" not in now)


def test_past_events_alone_leave_the_host_ok_but_visible(tmp_path):
    reading = collect_host(pi_tree(tmp_path, "50000\n"), data_path=str(tmp_path))
    assert reading.ok and reading.detail == ""
    assert reading.values["under_voltage_occurred"] is True


def test_present_trouble_is_named_in_the_detail(tmp_path):
    reading = collect_host(pi_tree(tmp_path, "50005\n"), data_path=str(tmp_path))
    assert not reading.ok
    assert reading.detail == "under-voltage now; CPU throttled now"


def test_thermal_zone_and_hwmon_alarm_are_read_under_root(tmp_path):
    reading = collect_host(pi_tree(tmp_path, "0\n", alarm="1\n"), data_path=str(tmp_path))
    assert reading.values["cpu_temperature"] == 48.312
    assert reading.values["under_voltage_alarm"] is True
    assert not reading.ok and reading.detail == "under-voltage now"


def test_parse_accepts_what_vcgencmd_prints_and_rejects_garbage():
    assert parse_throttled("throttled=0x50005\n") == 0x50005
    assert parse_throttled("") is None
    assert parse_throttled("\x00\xff") is None
    assert set(decode_throttled(None).values()) == {None}


def test_other_hardware_has_no_pi_values_and_is_no_failure(tmp_path):
    reading = collect_host(tmp_path, data_path=str(tmp_path))  # empty tree: no Pi, no thermal
    pi_only = [k for k in reading.values if k.endswith(("_now", "_occurred", "_alarm"))]
    assert len(pi_only) == 9 and all(reading.values[k] is None for k in pi_only)
    assert reading.values["throttled_raw"] is None and reading.values["cpu_temperature"] is None
    assert reading.ok and reading.component == "pibox"


def test_unreadable_firmware_files_are_treated_as_absent(tmp_path):
    write_tree(tmp_path, {THROTTLED_PATH: "garbage\n", THERMAL_PATH: "n/a\n"})
    (tmp_path / HWMON_DIR / "hwmon1").mkdir(parents=True)  # a hwmon without a name
    reading = collect_host(tmp_path, data_path=str(tmp_path))
    assert reading.values["throttled_raw"] is None and reading.values["cpu_temperature"] is None
    assert reading.values["under_voltage_alarm"] is None and reading.ok


def test_psutil_figures_of_this_machine(tmp_path):
    values = collect_host(tmp_path, data_path=str(tmp_path)).values
    load = os.getloadavg()
    assert values["load_1m"] == pytest.approx(load[0], abs=1.0)
    assert values["cpu_count"] == psutil.cpu_count()
    assert 0 <= values["cpu_percent"] <= 100
    assert 0 < values["memory_used_percent"] < 100
    disk = os.statvfs(tmp_path)
    assert values["disk_free_bytes"] == pytest.approx(disk.f_bavail * disk.f_frsize, rel=0.01)
    assert 0 < values["disk_used_percent"] < 100
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    assert values["uptime_s"] == pytest.approx(uptime, abs=5)


def test_a_missing_data_partition_is_a_failure_not_a_crash(tmp_path):
    reading = collect_host(tmp_path, data_path=str(tmp_path / "no-such-dir"))
    assert not reading.ok and "unreadable" in reading.detail
    assert reading.values["disk_used_percent"] is None and reading.values["disk_free_bytes"] is None


def test_real_root_gives_a_reading_whatever_the_hardware():
    reading = collect_host()  # this machine, real /sys: never raises, Pi values None or bool
    assert reading.values["under_voltage_now"] in (None, True, False)
    temp = reading.values["cpu_temperature"]
    assert temp is None or -40 < temp < 125
