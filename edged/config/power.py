"""The power-aware sections, `[[jobs]]`, `[power]`, `[shedding]` and `[budget]`: their frozen
settings and checks (docs/configuration.md; the rules they feed: docs/power-policy.md).

Every problem with its key path, unknown keys are errors, no I/O beyond the time-zone database. The
pure policy objects (`JobSpec`, `SheddingThresholds`) check their own consistency; their ValueError
becomes a problem at the table's path. A voltage is written as one number at the bank's nominal
voltage and becomes the `{nominal: volts}` table the policies look up (scaled for other nominal
voltages).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from edged.config.batteries import BatteryConfig, device_ids
from edged.config.checks import kind, positive, time_zone
from maintenance.energy.policy import JobKind, JobSpec
from maintenance.energy.pv_profile import minutes
from maintenance.energy.shedding import SheddingThresholds, Threshold, lead_acid_volts, volts_for

JOB_NAME = re.compile(r"^[a-z0-9_-]{1,64}$")
UNIT = re.compile(r"^[A-Za-z0-9:_.@\\-]+$")
ON_LOW_BATTERY = ("stop", "suspend")
JOB_NUMBERS = {
    "max_duration": "max_duration_s",
    "power_w": "power_w",
    "energy_wh": "energy_wh",
    "deadline": "deadline_s",
    "min_interval": "min_interval_s",
    "min_soc": "min_soc",
    "urgent_min_soc": "urgent_min_soc",
    "min_voltage": "min_voltage",
    "urgent_min_voltage": "urgent_min_voltage",
    "urgent_before": "urgent_before_s",
}
"""TOML key: JobSpec field (voltages become {nominal: volts}; the rest keep JobSpec's defaults)."""
JOB_KEYS = (
    "name",
    "kind",
    "command",
    *JOB_NUMBERS,
    "windows",
    "on_low_battery",
    "stop_grace",
    "workdir",
    "env",
)
LEVELS = {"warn": "warn", "stop": "stop_services", "shutdown": "shutdown"}  # key prefix: level
LEVEL_KEYS = ("soc", "recover_soc", "voltage", "recover_voltage")
COMMANDS = ("stop_command", "start_command", "shutdown_command")
SHED_KEYS = (
    "enabled",
    "services",
    *COMMANDS,
    "command_timeout",
    "protection_voltage",
    "protection_margin",
    *(f"{p}_{k}" for p in LEVELS for k in LEVEL_KEYS),
)


@dataclass(frozen=True, slots=True)
class JobConfig:
    """One `[[jobs]]` entry (docs/power-policy.md): a backup, sync or report run when the energy
    allows. `policy` is the pure rule's `JobSpec` built from the same table; the rest is how the
    job is run."""

    policy: JobSpec
    command: tuple[str, ...] = ()
    """argv, no shell; empty only for `kind = "report"` (the built-in monthly report)."""
    on_low_battery: str = "stop"
    """`stop` (SIGTERM, then SIGKILL after stop_grace) or `suspend` (SIGSTOP, SIGCONT when the
    battery allows again) when SOC falls to the floor while it runs."""
    stop_grace: float = 30.0
    workdir: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.policy.name)


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
class SheddingConfig:
    """`[shedding]`: what the PiBox does on a critical battery. `policy` is the pure
    rule's `SheddingThresholds` built from the thresholds (None: its defaults)."""

    policy: SheddingThresholds | None = None
    enabled: bool = True
    services: tuple[str, ...] = ()
    """systemd units stopped at `stop_services` (in order; started again in reverse order)."""
    stop_command: tuple[str, ...] = ("systemctl", "stop", "{service}")
    start_command: tuple[str, ...] = ("systemctl", "start", "{service}")
    shutdown_command: tuple[str, ...] = ("systemctl", "poweroff")
    command_timeout: float = 120.0


@dataclass(frozen=True, slots=True)
class Budget:
    """`[budget]`: what the site budgets, uplink data per month and the maintenance fees it
    collected (the monthly report's costs). Here, not in maintenance.report, so that reading
    a config does not import the report's code into the daemon (bench/bench_imports.py)."""

    uplink_bytes: int | None = None
    fees_collected: float | None = None


def power_sections(
    v, raw: Mapping[str, Any], banks: tuple[BatteryConfig, ...]
) -> tuple[tuple[JobConfig, ...], PowerConfig, SheddingConfig, Budget | None]:
    """`[[jobs]]`, `[power]`, `[shedding]`, `[budget]`; problems go to `v` with their key paths.
    `banks` are the validated `[[batteries]]`: their nominal voltage places the voltages."""
    nominal = _bank_nominal(raw, banks)
    jobs = _jobs(v, raw, nominal)
    written = raw.get("jobs") if isinstance(raw.get("jobs"), list) else []
    power = _power(v, raw, bool(written), banks[0].id if banks else None)
    shedding = _shedding(v, raw, nominal)
    budget = v.section(raw, "budget", Budget, _BUDGET_CHECKS) if "budget" in raw else None
    return jobs, power, shedding, budget


def _bank_nominal(raw: Mapping[str, Any], banks: tuple[BatteryConfig, ...]) -> int | None:
    """The nominal voltage of the bank the policies read (as `edged.power.energy_view` picks it):
    power.battery's bank, else the first bank; None when that is a device or there is none."""
    power = raw.get("power")
    name = power.get("battery") if isinstance(power, Mapping) else None
    if not isinstance(name, str):
        name = banks[0].id if banks else None
    return next((b.nominal_voltage for b in banks if b.id == name), None)


def _volts(value: float, nominal: int | None) -> dict[int, float]:
    """One voltage at the bank's nominal voltage, else at the one the value itself implies."""
    return {nominal or _implied_nominal(value): float(value)}


def _implied_nominal(value: float) -> int:
    return 12 if value < 18.0 else 24 if value < 36.0 else 48


def _jobs(v, raw: Mapping[str, Any], nominal: int | None) -> tuple[JobConfig, ...]:
    items = v.array(raw.get("jobs", []), "jobs")
    out: list[JobConfig] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        path = f"jobs[{i}]"
        if not isinstance(item, Mapping):
            v.add(path, f"expected a table, got {kind(item)}")
            continue
        job = _job(v, item, path, nominal)
        name = item.get("name")
        if isinstance(name, str) and name in seen:
            v.add(f"{path}.name", f"expected a unique job name, {name!r} is used twice")
        elif job is not None:
            out.append(job)
        seen.add(name if isinstance(name, str) else "")
    return tuple(out)


def _job(v, item: Mapping[str, Any], path: str, nominal: int | None) -> JobConfig | None:
    start = len(v.problems)
    v.unknown(item, path + ".", JOB_KEYS)
    name = v.value(item, "name", str, path, required=True, check=_name)
    kind = v.value(item, "kind", str, path, required=True, check=_one_of(tuple(JobKind)))
    command = _strings(v, item, "command", path)
    if kind == JobKind.REPORT and command:
        v.add(f"{path}.command", 'expected none for kind = "report" (the built-in report)')
    elif kind is not None and kind != JobKind.REPORT and ("command" not in item or command == ()):
        v.add(f"{path}.command", f"required for kind {kind!r}: a non-empty array (argv, no shell)")
    spec = _spec_fields(v, item, path, nominal)
    on_low = v.value(item, "on_low_battery", str, path, "stop", check=_one_of(ON_LOW_BATTERY))
    grace = v.value(item, "stop_grace", float, path, 30.0, check=positive)
    workdir = v.value(item, "workdir", str, path)
    env = item.get("env", {})
    if not _is_env(env):
        v.add(f"{path}.env", f'expected a table of NAME = "string", got {env!r}')
    if len(v.problems) > start:
        return None
    try:
        policy = JobSpec(name=name, kind=JobKind(kind), **spec)
    except ValueError as exc:
        v.add(path, str(exc))
        return None
    return JobConfig(policy, command or (), on_low, float(grace), workdir, dict(env))


def _spec_fields(v, item: Mapping[str, Any], path: str, nominal: int | None) -> dict[str, Any]:
    """The JobSpec keyword arguments written in the table."""
    spec: dict[str, Any] = {}
    for key, attr in JOB_NUMBERS.items():
        check = (
            _percent
            if key.endswith("soc")
            else _not_negative
            if key == "urgent_before"
            else (positive)
        )
        val = v.value(item, key, float, path, required=key == "max_duration", check=check)
        if val is not None:
            spec[attr] = _volts(val, nominal) if key.endswith("voltage") else float(val)
    if ("power_w" in item) == ("energy_wh" in item):
        v.add(f"{path}.power_w", "expected exactly one of power_w and energy_wh")
    interval, deadline = spec.get("min_interval_s"), spec.get("deadline_s", 86400.0)
    if interval is not None and interval > deadline:
        v.add(f"{path}.min_interval", f"expected at most deadline ({deadline:g}), got {interval:g}")
    windows = _windows(v, item, path)
    if windows is not None:
        spec["windows"] = windows
    return spec


def _windows(v, item: Mapping[str, Any], path: str) -> tuple[tuple[str, str], ...] | None:
    if "windows" not in item:
        return None
    val = item["windows"]
    if not isinstance(val, list) or not val:
        v.add(f"{path}.windows", f'expected a non-empty array of ["HH:MM", "HH:MM"], got {val!r}')
        return None
    good = True
    for i, w in enumerate(val):
        ok = isinstance(w, list) and len(w) == 2 and all(isinstance(t, str) for t in w)
        ends = [minutes(t) for t in w] if ok else [None]
        if None in ends or ends[0] == ends[1]:
            what = 'expected ["HH:MM", "HH:MM"], two different times 00:00-24:00'
            v.add(f"{path}.windows[{i}]", f"{what}, got {w!r}")
            good = False
    return tuple((w[0], w[1]) for w in val) if good else None


def _power(v, raw: Mapping[str, Any], has_jobs: bool, first_bank: str | None) -> PowerConfig:
    """power.battery names a device or bank as written (one with its own problems counts)."""
    power = v.section(raw, "power", PowerConfig, _POWER_CHECKS)
    if power is None:
        return PowerConfig()
    devices, banks = device_ids(raw.get("devices", [])), device_ids(raw.get("batteries", []))
    source = power.battery or first_bank
    if power.battery is not None and power.battery not in devices | banks:
        v.add(
            "power.battery",
            f"expected the id of a [[devices]] or [[batteries]] entry, got {power.battery!r}",
        )
    elif has_jobs and power.capacity_wh is None and source not in banks:
        v.add(
            "power.capacity_wh",
            "required when there are [[jobs]] and no [[batteries]] bank "
            "to take it from (capacity_ah x nominal_voltage)",
        )
    return power


def _shedding(v, raw: Mapping[str, Any], nominal: int | None) -> SheddingConfig:
    """Absent: no load shedding. Present (even empty): the pure defaults, as overridden."""
    if "shedding" not in raw:
        return SheddingConfig()
    table = raw["shedding"]
    if not isinstance(table, Mapping):
        v.add("shedding", f"expected a table, got {kind(table)}")
        return SheddingConfig()
    start = len(v.problems)
    v.unknown(table, "shedding.", SHED_KEYS)
    enabled = v.value(table, "enabled", bool, "shedding", True)
    services = _strings(v, table, "services", "shedding", _units)
    commands = {
        key: _strings(
            v, table, key, "shedding", _not_empty if key == "shutdown_command" else _has_service
        )
        for key in COMMANDS
    }
    timeout = v.value(table, "command_timeout", float, "shedding", 120.0, check=positive)
    policy = _shed_policy(v, table, nominal)
    if len(v.problems) > start:
        return SheddingConfig()
    given = {key: val for key, val in commands.items() if val is not None}
    return SheddingConfig(policy, enabled, services or (), **given, command_timeout=float(timeout))


def _shed_policy(v, table: Mapping[str, Any], nominal: int | None) -> SheddingThresholds | None:
    start = len(v.problems)
    levels: dict[str, Threshold | None] = {}
    given: dict[str, dict] = {}
    for prefix, level in LEVELS.items():
        before = len(v.problems)
        written = {
            k: v.value(
                table,
                f"{prefix}_{k}",
                float,
                "shedding",
                check=_percent if k.endswith("soc") else positive,
            )
            for k in LEVEL_KEYS
        }
        if len(v.problems) == before:  # else its defaults would be judged against a typo
            levels[level] = _threshold(v, prefix, getattr(_SHED_DEFAULTS, level), written, nominal)
            given[prefix] = written
    _level_order(v, levels, given)
    extra: dict[str, dict[int, float]] = {}
    cut = v.value(table, "protection_voltage", float, "shedding", check=positive)
    margin = v.value(table, "protection_margin", float, "shedding", check=_not_negative)
    at = nominal or (_implied_nominal(cut) if cut is not None else 12)
    if cut is not None:
        extra["protection_voltage"] = {at: float(cut)}
    if margin is not None:
        extra["protection_margin_v"] = {at: float(margin)}
    _above_cut_off(v, levels.get("shutdown"), extra.get("protection_voltage"), given)
    if len(v.problems) > start:
        return None
    try:
        return SheddingThresholds(**levels, **extra)
    except ValueError as exc:
        v.add("shedding", str(exc).removeprefix("shedding: "))
        return None


def _level_order(v, levels: dict[str, Threshold | None], given: dict[str, dict]) -> None:
    """Each level is entered below the one before it (warn, then stop_services, then shutdown),
    by SOC and by voltage: a stop_soc above warn_soc would stop the clinic's services before
    anyone was warned. Judged here, with key paths, whatever else is wrong in the file (the
    pure SheddingThresholds only sees a table that has no other problem)."""
    order = [(p, levels[lv]) for p, lv in LEVELS.items() if levels.get(lv) is not None]
    for (up, upper), (low, lower) in zip(order, order[1:], strict=False):
        n = min(lower.voltage)  # the nominal voltage the lower level's value is written at
        for key, high, value in (
            ("soc", upper.soc, lower.soc),
            ("voltage", volts_for(upper.voltage, n), lower.voltage[n]),
        ):
            mine, theirs = given[low][key], given[up][key]
            if value < high or key == "voltage" and mine is None and theirs is None:
                continue  # default voltages follow the SOCs: their problem is said once
            if mine is not None or theirs is None:
                v.add(
                    f"shedding.{low}_{key}", f"expected below {up}_{key} ({high:g}), got {value:g}"
                )
            else:
                v.add(
                    f"shedding.{up}_{key}", f"expected above {low}_{key} ({value:g}), got {high:g}"
                )


def _above_cut_off(v, shutdown: Threshold | None, cut: dict | None, given: dict) -> None:
    """The shutdown level must come before the battery's own cut-off, else the box dies before
    it halts cleanly. Said with its key path beside any other problem of the table."""
    if shutdown is None:
        return
    n = min(shutdown.voltage)
    volts, limit = shutdown.voltage[n], volts_for(cut or _SHED_DEFAULTS.protection_voltage, n)
    if volts <= limit:
        key = "voltage" if given["shutdown"]["voltage"] is not None else "soc"
        v.add(
            f"shedding.shutdown_{key}",
            f"expected a shutdown voltage above protection_voltage ({limit:g} V), got {volts:g} V",
        )


def _threshold(v, prefix: str, base: Threshold | None, written: dict, nominal: int | None):
    """The level's Threshold: written values over the defaults. The shutdown level has none:
    it exists only with shutdown_soc; its recovery defaults to 10 points higher and its
    voltages to the flooded lead-acid rested voltages at those SOCs."""
    soc, recover, at = written["soc"], written["recover_soc"], f"shedding.{prefix}_"
    if base is None:
        if soc is None:
            for key in (k for k in LEVEL_KEYS[1:] if written[k] is not None):
                v.add(at + key, f"expected only with {prefix}_soc")
            return None
        back = min(float(soc) + 10.0, 100.0) if recover is None else float(recover)
        base = Threshold(float(soc), back, lead_acid_volts(soc), lead_acid_volts(back))
    soc = base.soc if soc is None else float(soc)
    recover = base.recover_soc if recover is None else float(recover)
    if recover <= soc and written["recover_soc"] is not None:
        v.add(at + "recover_soc", f"expected above {prefix}_soc ({soc:g}), got {recover:g}")
    elif recover <= soc and written["soc"] is not None:
        v.add(at + "soc", f"expected below {prefix}_recover_soc ({recover:g}), got {soc:g}")
    volts, back_volts = written["voltage"], written["recover_voltage"]
    if volts is not None and back_volts is not None and back_volts <= volts:
        v.add(
            at + "recover_voltage",
            f"expected above {prefix}_voltage ({volts:g}), got {back_volts:g}",
        )
    return Threshold(
        soc,
        recover,
        base.voltage if volts is None else _volts(volts, nominal),
        base.recover_voltage if back_volts is None else _volts(back_volts, nominal),
    )


def _strings(v, table: Mapping[str, Any], key: str, path: str, check=None):
    """An array of non-empty strings as a tuple; None when absent or wrong (problem added)."""
    if key not in table:
        return None
    val = table[key]
    ok = isinstance(val, list) and all(isinstance(s, str) and s for s in val)
    message = (check(val) if check else None) if ok else "expected an array of non-empty strings"
    if message:
        v.add(f"{path}.{key}", f"{message}, got {val!r}")
        return None
    return tuple(val)


def _one_of(names: tuple[str, ...]) -> Callable[[Any], str | None]:
    return lambda val: None if val in names else f"expected one of {', '.join(names)}"


def _is_env(val: Any) -> bool:
    return isinstance(val, Mapping) and all(
        isinstance(k, str) and k and "=" not in k and isinstance(x, str) for k, x in val.items()
    )


def _check(ok: Callable[[Any], bool], expected: str) -> Callable[[Any], str | None]:
    return lambda val: None if ok(val) else expected


_name = _check(JOB_NAME.match, "expected only [a-z0-9_-] characters")
_percent = _check(lambda x: 0 <= x <= 100, "expected a state of charge 0-100 (%)")
_not_negative = _check(lambda x: x >= 0, "expected a number >= 0")
_units = _check(lambda x: all(UNIT.match(s) for s in x), "expected systemd unit names")
_has_service = _check(
    lambda x: any("{service}" in s for s in x), 'expected "{service}" in an element'
)
_not_empty = _check(bool, "expected a non-empty array (argv, no shell)")
_POWER_CHECKS = {
    "capacity_wh": positive,
    "timezone": time_zone,
    "tick": positive,
    "stale_after": positive,
    "history_days": positive,
}
_BUDGET_CHECKS = {"uplink_bytes": positive, "fees_collected": _not_negative}
_SHED_DEFAULTS = SheddingThresholds()
