"""`[power]` and `[budget]`: where the scheduler reads the battery and how often it decides, and
what the site budgets (docs/configuration.md; the rules they feed: docs/power-policy.md).

The battery `[power]` names also places every voltage the jobs and load shedding write: one
number at that bank's nominal voltage becomes the `{nominal: volts}` table the policies look up
(scaled for other nominal voltages).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edged.config.batteries import BatteryConfig, device_ids
from edged.config.checks import not_negative, positive, time_zone


@dataclass(frozen=True, slots=True)
class PowerConfig:
    """`[power]`: where the scheduler reads the battery, and how often it decides."""

    battery: str | None = None
    """Device or `[[batteries]]` bank id whose battery_soc/battery_voltage the policy reads;
    None: the first bank, else the first device reporting battery_soc or battery_voltage."""
    capacity_wh: float | None = None
    """Usable bank energy for the job projections; None: from the bank's capacity_ah x nominal
    voltage (required when there is no `[[batteries]]` bank)."""
    timezone: str = "UTC"
    tick: float = 60.0
    """Seconds between decisions (each job and the load-shedding level)."""
    stale_after: float = 300.0
    """A battery reading older than this counts as no reading (jobs wait, running jobs stop)."""
    history_days: float = 7.0
    """Days of PV records used to find the sunniest hours."""
    auto_report: bool = True
    """Add the built-in monthly report job (`edged.power.service.DEFAULT_REPORT`) when no
    `[[jobs]]` entry of kind "report" is configured."""
    timesync_flag: str = "/run/systemd/timesync/synchronized"
    """File whose presence says NTP has synchronised the clock since boot (systemd-timesyncd
    creates it), checked besides the kernel's own flag (edged.clock)."""


@dataclass(frozen=True, slots=True)
class Budget:
    """`[budget]`: what the site budgets, uplink data per month and the maintenance fees it
    collected (the monthly report's costs). Here, not in maintenance.report, so that reading
    a config does not import the report's code into the daemon (bench/bench_imports.py)."""

    uplink_bytes: int | None = None
    fees_collected: float | None = None


def power(v: Any, raw: Mapping[str, Any], banks: tuple[BatteryConfig, ...]) -> PowerConfig:
    """`[power]`; power.battery names a device or bank as written (one with its own problems
    counts). Without a bank to take it from, [[jobs]] need capacity_wh."""
    has_jobs = bool(raw.get("jobs")) if isinstance(raw.get("jobs"), list) else False
    first_bank = banks[0].id if banks else None
    settings = v.section(raw, "power", PowerConfig, _POWER_CHECKS)
    if settings is None:
        return PowerConfig()
    devices, bank_ids = device_ids(raw.get("devices", [])), device_ids(raw.get("batteries", []))
    source = settings.battery or first_bank
    if settings.battery is not None and settings.battery not in devices | bank_ids:
        v.add(
            "power.battery",
            f"expected the id of a [[devices]] or [[batteries]] entry, got {settings.battery!r}",
        )
    elif has_jobs and settings.capacity_wh is None and source not in bank_ids:
        v.add(
            "power.capacity_wh",
            "required when there are [[jobs]] and no [[batteries]] bank "
            "to take it from (capacity_ah x nominal_voltage)",
        )
    return settings


def budget(v: Any, raw: Mapping[str, Any]) -> Budget | None:
    """`[budget]`, None when absent."""
    return v.section(raw, "budget", Budget, _BUDGET_CHECKS) if "budget" in raw else None


def bank_nominal(raw: Mapping[str, Any], banks: tuple[BatteryConfig, ...]) -> int | None:
    """The nominal voltage of the bank the policies read (as `edged.power.energy_view` picks it):
    power.battery's bank, else the first bank; None when that is a device or there is none."""
    power = raw.get("power")
    name = power.get("battery") if isinstance(power, Mapping) else None
    if not isinstance(name, str):
        name = banks[0].id if banks else None
    return next((b.nominal_voltage for b in banks if b.id == name), None)


def at_nominal(value: float, nominal: int | None) -> dict[int, float]:
    """One voltage at the bank's nominal voltage, else at the one the value itself implies."""
    return {nominal or implied_nominal(value): float(value)}


def implied_nominal(value: float) -> int:
    return 12 if value < 18.0 else 24 if value < 36.0 else 48


_POWER_CHECKS = {
    "capacity_wh": positive,
    "timezone": time_zone,
    "tick": positive,
    "stale_after": positive,
    "history_days": positive,
}
_BUDGET_CHECKS = {"uplink_bytes": positive, "fees_collected": not_negative}
