"""Health of the machine edged runs on (the clinic's PiBox or a Pi beside it).

Reads psutil for load, memory, disk and uptime, and sysfs (under `root`, so tests can point at a
fake tree) for the CPU temperature and the Raspberry Pi firmware's power and throttling flags. On
other hardware the Pi-only values are None: a missing file is a fact about the board, never a
failure. This module decides nothing about thresholds (the alarm engine does) and does not loop.

Firmware flags: `/sys/devices/platform/soc/soc:firmware/get_throttled` (drivers/firmware/
raspberrypi.c, printed as `%x`, no 0x prefix; deprecated in newer kernels in favour of hwmon) holds
the same word as `vcgencmd get_throttled`. The raspberrypi-hwmon driver registers a hwmon device
named `rpi_volt` whose `in0_lcrit_alarm` is 1 while the supply is under-voltage; its hwmonN index is
not stable, so it is found by name.

| value | unit | source |
|---|---|---|
| load_1m, load_5m, load_15m | runnable tasks | psutil.getloadavg |
| cpu_percent | % of all cores since the previous call | psutil.cpu_percent |
| cpu_count | count | psutil.cpu_count |
| memory_used_percent | % | psutil.virtual_memory |
| disk_used_percent | % of the data partition | psutil.disk_usage(data_path) |
| disk_free_bytes | bytes | psutil.disk_usage(data_path) |
| cpu_temperature | °C | thermal_zone0 under root, else psutil.sensors_temperatures |
| uptime_s | s | psutil.boot_time |
| throttled_raw | int (bit field) | get_throttled |
| under_voltage_now, freq_capped_now, throttled_now, soft_temp_limit_now | bool | bits 0–3 |
| under_voltage_occurred, freq_capped_occurred, ... (same four) | bool | bits 16–19, since boot |
| under_voltage_alarm | bool | hwmon `rpi_volt` in0_lcrit_alarm |
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import psutil

from maintenance.health.reading import HealthReading, HealthValue

log = logging.getLogger(__name__)

THROTTLED_PATH = "sys/devices/platform/soc/soc:firmware/get_throttled"
THERMAL_PATH = "sys/class/thermal/thermal_zone0/temp"
HWMON_DIR = "sys/class/hwmon"

# bit -> flag name; bit + 16 is the "has occurred since boot" twin of each.
THROTTLE_BITS: dict[int, str] = {
    0: "under_voltage",
    1: "freq_capped",
    2: "throttled",
    3: "soft_temp_limit",
}
OCCURRED_SHIFT = 16
# psutil sensor groups that are the CPU, most specific first (Pi, Intel, AMD).
CPU_SENSORS = ("cpu_thermal", "coretemp", "k10temp", "cpu-thermal", "soc_thermal")


def decode_throttled(word: int | None) -> dict[str, HealthValue]:
    """The firmware word as named booleans; all None when the word is unknown."""
    values: dict[str, HealthValue] = {"throttled_raw": word}
    for bit, name in THROTTLE_BITS.items():
        now = None if word is None else bool(word >> bit & 1)
        ever = None if word is None else bool(word >> (bit + OCCURRED_SHIFT) & 1)
        values[f"{name}_now"] = now
        values[f"{name}_occurred"] = ever
    return values


def parse_throttled(text: str) -> int | None:
    """The sysfs text (`50005\\n`; tolerant of a `throttled=0x` prefix) as an int, or None."""
    text = text.strip().removeprefix("throttled=")
    try:
        word = int(text, 16)
    except ValueError:
        return None
    return word if word >= 0 else None


def read_throttled(root: Path) -> int | None:
    try:
        text = (root / THROTTLED_PATH).read_text()
    except OSError:
        return None
    word = parse_throttled(text)
    if word is None:
        log.debug("unreadable get_throttled %r", text)
    return word


def read_undervoltage_alarm(root: Path) -> bool | None:
    """The rpi_volt hwmon alarm, found by name since its hwmonN index moves between boots."""
    for hwmon in sorted((root / HWMON_DIR).glob("hwmon*")):
        try:
            if (hwmon / "name").read_text().strip() != "rpi_volt":
                continue
            return (hwmon / "in0_lcrit_alarm").read_text().strip() not in ("", "0")
        except OSError:
            continue
    return None


def read_cpu_temperature(root: Path) -> float | None:
    """°C from thermal_zone0 (millidegrees) under root, else from psutil on the real root."""
    try:
        return int((root / THERMAL_PATH).read_text().strip()) / 1000.0
    except (OSError, ValueError):
        pass
    if root != Path("/") or not hasattr(psutil, "sensors_temperatures"):
        return None
    groups = psutil.sensors_temperatures()
    for name in (*CPU_SENSORS, *groups):
        if groups.get(name):
            return float(groups[name][0].current)
    return None


def _psutil_values(data_path: str) -> tuple[dict[str, HealthValue], list[str]]:
    values: dict[str, HealthValue] = {}
    problems: list[str] = []
    load = psutil.getloadavg()
    values.update(load_1m=load[0], load_5m=load[1], load_15m=load[2])
    values["cpu_percent"] = psutil.cpu_percent(interval=None)
    values["cpu_count"] = psutil.cpu_count()
    values["memory_used_percent"] = psutil.virtual_memory().percent
    try:
        disk = psutil.disk_usage(data_path)
        values["disk_used_percent"], values["disk_free_bytes"] = disk.percent, disk.free
    except OSError as exc:
        values["disk_used_percent"] = values["disk_free_bytes"] = None
        problems.append(f"data partition {data_path!r} unreadable: {exc.strerror}")
    values["uptime_s"] = round(time.time() - psutil.boot_time(), 1)
    return values, problems


def collect_host(root: Path = Path("/"), data_path: str = "/var/lib") -> HealthReading:
    """One observation of the host. `root` prefixes sysfs only; `data_path` is a real path."""
    values, problems = _psutil_values(data_path)
    values["cpu_temperature"] = read_cpu_temperature(root)
    values.update(decode_throttled(read_throttled(root)))
    values["under_voltage_alarm"] = read_undervoltage_alarm(root)
    if values["under_voltage_now"] or values["under_voltage_alarm"]:
        problems.append("under-voltage now")
    if values["throttled_now"]:
        problems.append("CPU throttled now")
    return HealthReading("pibox", values, ok=not problems, detail="; ".join(problems))
